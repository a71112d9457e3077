"""Where runs execute: in this process, a local process pool, or Dask distributed.

Every executor offers the same three calls -- :meth:`Executor.start` (hand the
:class:`~attnsim.sweep.worker.WorkerContext` to the workers once), :meth:`submit` (a chunk
of consecutive :class:`~attnsim.sweep.worker.RunTask` objects, run one after another by one
worker, which saves round trips) and :meth:`wait` (the futures finished so far)
-- so a sweep runs on a laptop or a cluster with no other change.

* ``serial`` -- in this process, one run at a time (tests, debugging);
* ``local`` -- a process pool of ``workers`` processes (``forkserver``: workers never
  inherit threads or a half-imported torch from the parent);
* ``dask`` -- Dask distributed: a ``LocalCluster`` of ``workers`` processes on loopback,
  or the scheduler at ``scheduler`` (``tcp://host:8786``); the context is scattered to
  every worker once.

A worker process that dies takes only its runs with it: they come back as ``failed``
(the local pool is rebuilt; Dask reschedules and then gives up on the task).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from attnsim.registry import Registry
from attnsim.sweep.errors import SweepError
from attnsim.sweep.worker import (
    RunResult,
    RunTask,
    WorkerContext,
    init_worker,
    run_in_pool,
    run_task,
)

__all__ = ["Executor", "EXECUTORS", "make_executor", "default_workers"]


def default_workers() -> int:
    """Worker processes when none are asked for: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Executor(ABC):
    """Runs :class:`RunTask` objects somewhere; futures resolve to :class:`RunResult`."""

    name: str = ""

    def __init__(self, workers: int, scheduler: str | None = None) -> None:
        self.workers = workers
        self.scheduler = scheduler

    @abstractmethod
    def start(self, context: WorkerContext) -> None:
        """Make ``context`` available to every worker."""

    @abstractmethod
    def submit(self, tasks: Sequence[RunTask]) -> Any:
        """Start a chunk of tasks on one worker; returns a future of their results."""

    @abstractmethod
    def wait(self, futures: Iterable[Any], timeout: float | None = None) -> set[Any]:
        """The futures among ``futures`` that have finished (waits for at least one,
        or ``timeout`` seconds)."""

    @abstractmethod
    def result(self, future: Any, tasks: Sequence[RunTask]) -> list[RunResult]:
        """The results of a finished future (a worker lost on the way gives ``failed``)."""

    @abstractmethod
    def close(self) -> None:
        """Stop the workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lost(tasks: Sequence[RunTask], why: str) -> list[RunResult]:
    return [RunResult(t.run_key, "failed", why, {}, {}, (), 0.0, "", t.timeout_s) for t in tasks]


class SerialExecutor(Executor):
    """Runs each task in this process when it is submitted."""

    name = "serial"

    def start(self, context: WorkerContext) -> None:
        self._context = context

    def submit(self, tasks: Sequence[RunTask]) -> cf.Future[list[RunResult]]:
        future: cf.Future[list[RunResult]] = cf.Future()
        future.set_result([run_task(self._context, t) for t in tasks])
        return future

    def wait(self, futures: Iterable[Any], timeout: float | None = None) -> set[Any]:
        return {f for f in futures if f.done()}

    def result(self, future: Any, tasks: Sequence[RunTask]) -> list[RunResult]:
        return future.result()  # type: ignore[no-any-return]

    def close(self) -> None:
        pass


class LocalExecutor(Executor):
    """A pool of ``workers`` processes (``concurrent.futures.ProcessPoolExecutor``)."""

    name = "local"

    def start(self, context: WorkerContext) -> None:
        self._context = context
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=init_worker,
            initargs=(self._context,),
        )

    def submit(self, tasks: Sequence[RunTask]) -> cf.Future[list[RunResult]]:
        try:
            return self._pool.submit(run_in_pool, list(tasks))
        except cf.process.BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(run_in_pool, list(tasks))

    def wait(self, futures: Iterable[Any], timeout: float | None = None) -> set[Any]:
        done, _ = cf.wait(list(futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return set(done)

    def result(self, future: Any, tasks: Sequence[RunTask]) -> list[RunResult]:
        try:
            return future.result()  # type: ignore[no-any-return]
        except cf.process.BrokenProcessPool:
            return _lost(tasks, "the worker process died (killed or out of memory)")
        except Exception as exc:  # pickling or transport problems: the runs are lost, not the sweep
            return _lost(tasks, f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _dask_run(context: WorkerContext, tasks: list[RunTask]) -> list[RunResult]:
    from attnsim.sweep import worker

    return [worker.run_task(context, t) for t in tasks]


class DaskExecutor(Executor):
    """Dask distributed: a loopback ``LocalCluster`` or an existing scheduler."""

    name = "dask"

    def start(self, context: WorkerContext) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SweepError(
                "--executor dask: the distributed package is not installed; expected "
                "pip install 'attnsim[cluster]'"
            ) from None
        self._cluster = None
        if self.scheduler:
            try:
                self._client = Client(self.scheduler, timeout="20s")
            except OSError as exc:
                raise SweepError(
                    f"--scheduler {self.scheduler}: cannot connect ({exc}); expected the address "
                    "of a running Dask scheduler, such as tcp://127.0.0.1:8786"
                ) from None
        else:
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=40,
            )
            self._client = Client(self._cluster)
        self._context = self._client.scatter(context, broadcast=True, hash=False)

    def submit(self, tasks: Sequence[RunTask]) -> Any:
        return self._client.submit(_dask_run, self._context, list(tasks), pure=False)

    def wait(self, futures: Iterable[Any], timeout: float | None = None) -> set[Any]:
        from distributed import wait

        pending = list(futures)
        if not pending:
            return set()
        try:
            done, _ = wait(pending, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set()
        return set(done)

    def result(self, future: Any, tasks: Sequence[RunTask]) -> list[RunResult]:
        try:
            return future.result()  # type: ignore[no-any-return]
        except Exception as exc:  # KilledWorker, lost connection: the runs fail, the sweep goes on
            return _lost(tasks, f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        if getattr(self, "_cluster", None) is not None:
            self._cluster.close()  # type: ignore[union-attr]


EXECUTORS: Registry[type[Executor]] = Registry("executor", SweepError)
EXECUTORS.register("serial", SerialExecutor)
EXECUTORS.register("local", LocalExecutor)
EXECUTORS.register("dask", DaskExecutor)


def make_executor(name: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor ``name`` with ``workers`` processes (default: the CPUs available)."""
    cls = EXECUTORS.lookup(name, where="--executor")
    n = default_workers() if workers is None else workers
    if n < 1:
        raise SweepError(f"--workers: {n}; expected at least 1 worker")
    if scheduler and name != "dask":
        raise SweepError(f"--scheduler: only with --executor dask (got --executor {name})")
    return cls(n, scheduler)
