"""The chip engine on task graphs: hand-computed schedules, one clock, replays,
priorities, shared bandwidth across engines, and properties of random graphs."""

from __future__ import annotations

import pytest
import simpy
from attnsim.sim.engine import Machine, run_graph
from attnsim.sim.engine.chip import ChipSim, estimate_s
from attnsim.sim.scheduling import POLICIES, SchedulingError
from attnsim.sim.tasks import GraphTask, Kernel, TaskGraph, TileClass
from hypothesis import given, settings
from hypothesis import strategies as st

US = 1e-6
#: Two engine kinds (a matrix core and a nonlinear unit) sharing one DRAM of 1 GB/s.
CHIP = Machine(units={"mx": 1, "nl": 1}, shared_bandwidth={"dram": 1e9})


def tile(seconds: float, dram: float = 0.0, name: str = "t") -> TileClass:
    return TileClass(name, {"e": seconds}, seconds, {"dram": dram}, {})


def kernel(unit: str, seconds: float, *, tiles: int = 1, dram: float = 0.0, launch: float = 0.0):
    return Kernel(f"{unit}-{seconds}", unit, 1, ((tile(seconds, dram), tiles),), launch_s=launch)


def task(name, unit, seconds, deps=(), role="matrix", **kw) -> GraphTask:
    return GraphTask(name, kernel(unit, seconds, **kw), tuple(deps), role)


def makespan(tasks, machine=CHIP, **kw) -> float:
    return run_graph(TaskGraph(tuple(tasks)), machine, **kw).makespan_s


def test_two_engines_overlap_independent_work():
    # a 3 us matrix task and a 2 us nonlinear task with no dependency run side by side
    assert makespan([task("a", "mx", 3 * US), task("b", "nl", 2 * US)]) == pytest.approx(3 * US)


def test_a_dependency_chain_adds_up_across_engines():
    # mx 1 us -> nl 2 us -> mx 1 us: nothing can overlap
    tasks = [task("a", "mx", US), task("b", "nl", 2 * US, [0]), task("c", "mx", US, [1])]
    run = run_graph(TaskGraph(tuple(tasks)), CHIP)
    assert run.makespan_s == pytest.approx(4 * US)
    assert [t.ready_s for t in run.tasks] == pytest.approx([0, US, 3 * US])


def test_tasks_on_one_engine_queue_in_priority_order():
    tasks = [task("a", "mx", US), task("b", "mx", 2 * US)]
    first = run_graph(TaskGraph(tuple(tasks)), CHIP)
    assert first.tasks[0].end_s == pytest.approx(US)
    swapped = run_graph(TaskGraph(tuple(tasks)), CHIP, priorities=[1.0, 0.0])
    assert swapped.tasks[1].end_s == pytest.approx(2 * US)
    assert swapped.tasks[0].end_s == pytest.approx(3 * US)


def _two_heads() -> TaskGraph:
    """Per head: a 2 us matrix task on mx, then a 1 us nonlinear task on nl (its softmax)."""
    return TaskGraph(
        (
            task("mm0", "mx", 2 * US),
            task("nl0", "nl", US, [0], "nonlinear"),
            task("mm1", "mx", 2 * US),
            task("nl1", "nl", US, [2], "nonlinear"),
        )
    )


def test_das_hides_nonlinear_work_behind_the_next_head():
    # mx: mm0 0-2, mm1 2-4; nl: nl0 2-3, nl1 4-5
    das = POLICIES["das"]
    g = das.prepare(_two_heads())
    run = run_graph(g, CHIP, priorities=das.priorities(g, [0.0] * 4))
    assert run.makespan_s == pytest.approx(5 * US)
    assert run.tasks[1].end_s == pytest.approx(3 * US)


def test_in_order_makes_nonlinear_work_a_barrier():
    # mm1 waits for nl0: mm0 0-2, nl0 2-3, mm1 3-5, nl1 5-6
    in_order = POLICIES["in-order"]
    g = in_order.prepare(_two_heads())
    assert g.tasks[2].deps == (1,)
    run = run_graph(g, CHIP, priorities=in_order.priorities(g, [0.0] * 4))
    assert run.makespan_s == pytest.approx(6 * US)
    assert run.tasks[2].ready_s == pytest.approx(3 * US)


def test_critical_path_serves_the_task_with_most_work_behind_it():
    # a (1 us) has nothing behind it; b (1 us) has c (3 us on nl) behind it
    g = TaskGraph((task("a", "mx", US), task("b", "mx", US), task("c", "nl", 3 * US, [1])))
    pol = POLICIES["critical-path"]
    est = [estimate_s(t.kernel, CHIP) for t in g.tasks]
    run = run_graph(g, CHIP, priorities=pol.priorities(g, est))
    assert run.makespan_s == pytest.approx(4 * US)  # program order would give 5 us
    assert makespan(g.tasks) == pytest.approx(5 * US)


def test_engines_share_dram_bandwidth():
    # two 1000 B transfers on different engines, 1 GB/s DRAM: 2 us together, 1 us alone
    alone = makespan([task("a", "mx", 1e-9, dram=1000.0)])
    both = makespan([task("a", "mx", 1e-9, dram=1000.0), task("b", "nl", 1e-9, dram=1000.0)])
    assert alone == pytest.approx(US, rel=1e-6)
    assert both == pytest.approx(2 * US, rel=1e-6)


def test_launch_overhead_delays_the_first_tile():
    run = run_graph(TaskGraph((task("a", "mx", US, launch=2 * US),)), CHIP)
    assert run.makespan_s == pytest.approx(3 * US)
    assert run.tasks[0].time_s == pytest.approx(3 * US)


def test_identical_isolated_kernels_are_replayed_exactly():
    k = kernel("mx", US, tiles=7, dram=300.0)
    chain = TaskGraph.chain([k, kernel("nl", US), k])
    replayed = run_graph(chain, CHIP, record=True)
    simulated = run_graph(chain, CHIP, record=True, replay=False)
    assert replayed.tasks[2].replayed and not simulated.tasks[2].replayed
    assert replayed.tasks[2].jobs == 0
    assert replayed.makespan_s == pytest.approx(simulated.makespan_s, rel=1e-12)
    shifted = [(s.tile, s.count, s.end_s - s.start_s) for s in replayed.tasks[2].spans]
    assert shifted == [(s.tile, s.count, s.end_s - s.start_s) for s in simulated.tasks[2].spans]


def test_no_replay_when_other_work_shares_the_chip():
    k = kernel("mx", US)
    g = TaskGraph(
        (
            GraphTask("a", k),
            GraphTask("b", kernel("nl", 10 * US)),
            GraphTask("c", k, (0,)),
        )
    )
    run = run_graph(g, CHIP)
    assert not any(t.replayed for t in run.tasks)
    assert run.makespan_s == pytest.approx(10 * US)


def test_graphs_share_one_clock_one_after_another():
    env = simpy.Environment()
    chip = ChipSim(env, CHIP, {"mx": 1, "nl": 1})
    runs = []

    def main():
        for g in (_two_heads(), _two_heads()):
            runs.append((yield chip.run(g)))

    env.process(main())
    env.run()
    assert runs[0].makespan_s == pytest.approx(5 * US)
    assert runs[1].start_s == pytest.approx(5 * US)
    assert runs[1].end_s == pytest.approx(10 * US)


def test_occupancy_limits_which_slots_a_kernel_uses():
    # unit with 2 slots: a 1-slot kernel of 2 tiles takes 2 us, a 2-slot one shares the
    # unit between its tiles (each at half speed): also 2 us
    m = Machine(units={"mx": 1}, shared_bandwidth={"dram": 1e9})
    one = Kernel("one", "mx", 1, ((tile(US), 2),))
    two = Kernel("two", "mx", 2, ((tile(US), 2),))
    assert run_graph(TaskGraph((GraphTask("a", one),)), m).makespan_s == pytest.approx(2 * US)
    assert run_graph(TaskGraph((GraphTask("a", two),)), m).makespan_s == pytest.approx(2 * US)


def test_graph_rejects_forward_or_self_dependencies():
    with pytest.raises(ValueError, match=r"task 0 \('a'\) depends on 0; expected the index"):
        TaskGraph((task("a", "mx", US, [0]),))
    with pytest.raises(ValueError, match=r"task 1 \('b'\) depends on 5"):
        TaskGraph((task("a", "mx", US), task("b", "mx", US, [5])))


def test_machine_and_engine_reject_bad_arguments():
    with pytest.raises(ValueError, match="Machine.units must name at least one unit kind"):
        Machine(units={}, shared_bandwidth={})
    with pytest.raises(ValueError, match=r"Machine.units\['mx'\] must be an integer >= 1, got 0"):
        Machine(units={"mx": 0}, shared_bandwidth={})
    with pytest.raises(ValueError, match=r"shared_bandwidth\['dram'\] must be > 0"):
        Machine(units={"mx": 1}, shared_bandwidth={"dram": 0.0})
    with pytest.raises(ValueError, match=r"unit_bandwidth_cap names unit 'sm'"):
        Machine(units={"mx": 1}, shared_bandwidth={}, unit_bandwidth_cap={"sm": {"dram": 1.0}})
    env = simpy.Environment()
    with pytest.raises(ValueError, match=r"slots_per_unit names unit 'sm'"):
        ChipSim(env, CHIP, {"sm": 1})
    chip = ChipSim(env, CHIP, {"mx": 1})
    with pytest.raises(ValueError, match=r"runs on unit 'tensor'; the machine has mx, nl"):
        chip.run(TaskGraph((task("a", "tensor", US),)))
    wide = GraphTask("w", Kernel("w", "mx", 4, ((tile(US), 1),)))
    with pytest.raises(ValueError, match=r"needs 4 slots per mx; the engine was built with 1"):
        chip.run(TaskGraph((wide,)))
    with pytest.raises(ValueError, match="priorities has 1 entries; expected one per task"):
        chip.run(_two_heads(), [0.0])


def test_unknown_policy_names_the_known_ones():
    with pytest.raises(SchedulingError, match="das"):
        POLICIES.lookup("dsa")


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 12))
    tasks = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, max(0, i - 1)), max_size=3)) if i else []
        unit = draw(st.sampled_from(["mx", "nl"]))
        secs = draw(st.floats(0.1, 5.0)) * US
        tiles = draw(st.integers(1, 4))
        dram = draw(st.sampled_from([0.0, 500.0, 3000.0]))
        role = draw(st.sampled_from(["matrix", "nonlinear"]))
        k = Kernel(f"k{i}", unit, 1, ((tile(secs, dram), tiles),))
        tasks.append(GraphTask(f"t{i}", k, tuple(sorted(set(deps))), role))
    return TaskGraph(tuple(tasks))


MACHINE2 = Machine(units={"mx": 2, "nl": 1}, shared_bandwidth={"dram": 1e9})


@settings(max_examples=60, deadline=None)
@given(graphs(), st.sampled_from(sorted(POLICIES)))
def test_random_graphs_respect_dependencies_and_bounds(graph, policy):
    pol = POLICIES[policy]
    g = pol.prepare(graph)
    est = [estimate_s(t.kernel, MACHINE2) for t in g.tasks]
    run = run_graph(g, MACHINE2, priorities=pol.priorities(g, est), record=True)
    for i, t in enumerate(g.tasks):
        for d in t.deps:  # a task starts only after its dependencies end
            assert run.tasks[i].ready_s >= run.tasks[d].end_s - 1e-15
    for tr in run.tasks:  # every tile runs inside its task's span
        for s in tr.spans:
            assert s.start_s >= tr.ready_s - 1e-15 and s.end_s <= tr.end_s + 1e-15
    # no unit kind does more than one second of compute per second per instance
    for unit, n in MACHINE2.units.items():
        work = sum(
            tl.compute_s * c for t in g.tasks if t.kernel.unit == unit for tl, c in t.kernel.runs
        )
        assert work / n <= run.makespan_s * (1 + 1e-9)
    # DRAM never moves more than its bandwidth allows
    dram = sum(tl.bytes_at("dram") * c for t in g.tasks for tl, c in t.kernel.runs)
    assert dram / 1e9 <= run.makespan_s * (1 + 1e-9)
    # and the run is no longer than doing everything one after another
    serial = sum(
        sum(max(tl.compute_s, tl.bytes_at("dram") / 1e9) * c for tl, c in t.kernel.runs)
        for t in g.tasks
    )
    assert run.makespan_s <= serial * (1 + 1e-9)


@settings(max_examples=30, deadline=None)
@given(graphs())
def test_graph_runs_are_deterministic(graph):
    a = run_graph(graph, MACHINE2, record=True)
    b = run_graph(graph, MACHINE2, record=True)
    assert a == b


def test_a_gpu_simulation_uses_one_environment_for_every_block(toy_gpu, monkeypatch):
    """Every block runs on one clock. (Lowering may simulate candidate plans of a single
    kernel before that -- GEMM tiles, split-K, decode splits are chosen by simulated
    makespan, sim.lowering.choose -- each on its own scratch clock; they are not counted.)"""
    import sys

    from attnsim.sim import simulate
    from attnsim.workloads import Block, GemmOp, Workload
    from simkit import attention

    sim_module = sys.modules["attnsim.sim.simulate"]
    made = []
    running = [False]
    original = simpy.Environment.__init__
    original_run_plans = sim_module.run_plans

    def counting(self, *args, **kwargs):
        if running[0]:
            made.append(self)
        original(self, *args, **kwargs)

    def run_plans(*args, **kwargs):
        running[0] = True
        try:
            return original_run_plans(*args, **kwargs)
        finally:
            running[0] = False

    monkeypatch.setattr(simpy.Environment, "__init__", counting)
    monkeypatch.setattr(sim_module, "run_plans", run_plans)
    g = GemmOp("g", "fp16", 256, 256, 256, weight_operand="b")
    w = Workload("w", (Block("a", (attention(seq=512), g), 3), Block("b", (g, g), 1)))
    r = simulate(toy_gpu, w)
    assert len(made) == 1
    assert r.stats["replayed"] >= 1  # the second identical GEMM of block b is replayed


def test_precision_fallbacks_are_stated_per_op(toy_gpu):
    from attnsim.sim import simulate
    from attnsim.workloads import GemmOp
    from simkit import one_op

    # the toy GPU has no fp32 matmul engine: the GEMM runs as vector FMAs, and says so
    r = simulate(toy_gpu, one_op(GemmOp("g", "fp32", 256, 256, 256, weight_operand="b")))
    (line,) = r.precision_fallbacks
    assert "matmul in fp32 ran as vector in fp32 on cuda" in line
    assert "precision_fallback" in r.ops[0].notes
