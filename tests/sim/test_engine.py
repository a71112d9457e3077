"""The simpy engine: exact small cases, contention, chunking against tile-by-tile."""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from attnsim.sim.engine import FluidPool, MachineShape, TileQueue, simulate_kernel
from attnsim.sim.tasks import Kernel, TileClass
from hypothesis import given, settings
from hypothesis import strategies as st


def tile(compute: float = 1e-6, hbm: float = 0.0, name: str = "t", fixed: float = 0.0) -> TileClass:
    return TileClass(
        name, {"tensor": compute}, compute, {"hbm": hbm}, {}, fixed, {("matmul", "fp16"): 1.0}, 1.0
    )


SHAPE = MachineShape(units=4, shared_bandwidth={"hbm": 1e9})


def run(runs, slots=1, shape=SHAPE, **kw):
    return simulate_kernel(Kernel("k", "sm", slots, tuple(runs)), shape, **kw)


def test_one_wave_takes_one_tile_time():
    assert run([(tile(), 4)]).time_s == pytest.approx(1e-6)


def test_one_tile_more_than_units_takes_a_second_wave():
    # wave quantisation: 5 tiles on 4 units need two tile times
    assert run([(tile(), 5)]).time_s == pytest.approx(2e-6)


def test_coresident_tiles_share_their_unit():
    # 8 tiles, 2 slots per unit: all start at once, each gets half a unit
    assert run([(tile(), 8)], slots=2).time_s == pytest.approx(2e-6)


def test_shared_bandwidth_is_shared():
    # 4 memory-bound tiles of 1000 B at 1 GB/s total: 4 us, not 1 us
    r = run([(tile(compute=1e-9, hbm=1000.0), 4)])
    assert r.time_s == pytest.approx(4e-6, rel=1e-6)
    assert r.shared_level_busy_s["hbm"] == pytest.approx(4e-6, rel=1e-6)


def test_unit_bandwidth_cap_limits_a_lone_tile():
    shape = MachineShape(units=4, shared_bandwidth={"hbm": 1e12}, unit_bandwidth_cap={"hbm": 1e9})
    assert run([(tile(compute=1e-9, hbm=1000.0), 1)], shape=shape).time_s == pytest.approx(1e-6)


def test_fixed_latency_and_launch_add_up():
    k = Kernel("k", "sm", 1, ((tile(fixed=5e-7), 4),), launch_s=2e-6)
    r = simulate_kernel(k, SHAPE)
    assert r.time_s == pytest.approx(2e-6 + 5e-7 + 1e-6)
    assert r.launch_s == pytest.approx(2e-6)


def test_causal_like_imbalance_longest_first_finishes_sooner():
    # 4 units; tiles of 4, 1, 1, 1, 1 us: longest first gives 4 us, shortest first gives 5 us
    long_t, short_t = tile(4e-6, name="long"), tile(1e-6, name="short")
    assert run([(long_t, 1), (short_t, 4)]).time_s == pytest.approx(4e-6)
    assert run([(short_t, 4), (long_t, 1)]).time_s == pytest.approx(5e-6)


def test_totals_count_every_tile():
    r = run([(tile(hbm=10.0), 7), (tile(2e-6, hbm=5.0, name="b"), 3)])
    assert r.tiles == 10
    assert r.distinct_tiles == 2
    assert r.read_bytes["hbm"] == pytest.approx(85.0)
    assert r.ops[("matmul", "fp16")] == pytest.approx(10.0)
    assert r.engine_busy_s["tensor"] == pytest.approx(7e-6 + 6e-6)


def test_chunking_needs_few_jobs_for_many_identical_tiles():
    r = run([(tile(), 100_000)])
    assert r.time_s == pytest.approx(25_000e-6)
    assert r.jobs < 200


def test_deterministic():
    runs = [(tile(1e-6, 300.0), 37), (tile(3e-6, 100.0, name="b"), 11)]
    a, b = run(runs, slots=2, record=True), run(runs, slots=2, record=True)
    assert a == b


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(1e-7, 5e-6), st.floats(0.0, 5000.0), st.integers(1, 40)),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 6),
    st.integers(1, 2),
)
def test_chunked_agrees_with_tile_by_tile(spec, units, slots):
    runs = [(tile(c, b, name=f"t{i}"), n) for i, (c, b, n) in enumerate(spec)]
    shape = MachineShape(units=units, shared_bandwidth={"hbm": 2e9})
    exact = run(runs, slots=slots, shape=shape, chunking=False).time_s
    chunked = run(runs, slots=slots, shape=shape).time_s
    # guided chunks keep identical tiles together; the makespan differs by at most one
    # tile time of the longest class
    longest = max(max(c, b / 2e9 * units * slots) for c, b, _ in spec)
    assert abs(chunked - exact) <= longest + 1e-12


def test_queue_hands_out_shrinking_chunks():
    q = TileQueue([(tile(), 100)], slots=10)
    sizes = []
    while (item := q.take()) is not None:
        sizes.append(item[1])
    assert sum(sizes) == 100
    assert sizes[0] == 10 and sizes[-1] == 1
    assert q.remaining == 0


def test_pool_rejects_bad_arguments():
    env = simpy.Environment()
    with pytest.raises(ValueError, match="n_slots must be >= 1, got 0"):
        FluidPool(env, 0, 1, np.array([1.0]))
    with pytest.raises(ValueError, match="level_bandwidth must be finite and > 0"):
        FluidPool(env, 1, 1, np.array([0.0]))
    pool = FluidPool(env, 1, 1, np.array([1.0]))
    with pytest.raises(ValueError, match=r"unit must be in \[0, 1\), got 3"):
        pool.submit(0, 3, 1.0, np.array([0.0]), 1.0, lambda slot: None)
    with pytest.raises(ValueError, match="nominal_s must be > 0"):
        pool.submit(0, 0, 1.0, np.array([0.0]), 0.0, lambda slot: None)


def test_tasks_reject_bad_values():
    with pytest.raises(ValueError, match="compute_s and fixed_s must be >= 0"):
        TileClass("x", {}, -1.0, {}, {})
    with pytest.raises(ValueError, match=r"read_bytes\['hbm'\] must be >= 0"):
        TileClass("x", {}, 1.0, {"hbm": -1.0}, {})
    with pytest.raises(ValueError, match="slots_per_unit must be >= 1"):
        Kernel("k", "sm", 0, ())
    with pytest.raises(ValueError, match="must have count >= 1"):
        Kernel("k", "sm", 1, ((tile(), 0),))
    with pytest.raises(ValueError, match="units must be >= 1"):
        MachineShape(units=0, shared_bandwidth={})
    with pytest.raises(ValueError, match=r"shared_bandwidth\['hbm'\] must be > 0"):
        MachineShape(units=1, shared_bandwidth={"hbm": 0.0})


def test_water_filling_gives_small_demands_all_they_ask():
    from attnsim.sim.engine.fluid import _water_fill

    got = _water_fill(np.array([10.0, 1.0, 2.0]), 9.0)
    # 1 and 2 fit under the fair level (9 - 3) = 6 for the last one: it gets 6 of its 10
    assert got.tolist() == pytest.approx([0.6, 1.0, 1.0])
    assert _water_fill(np.array([1.0, 1.0]), 5.0).tolist() == [1.0, 1.0]


def test_a_compute_bound_tile_is_not_slowed_by_memory_bound_ones():
    """DRAM divided max-min fairly in bytes/s: the long compute-bound tile asks for less
    than an equal share, so it runs at its own speed while three memory-bound tiles
    oversubscribe DRAM; the memory-bound ones share the rest."""
    long_t = tile(compute=10e-6, hbm=1000.0, name="long")  # 100 MB/s alone
    burst = tile(compute=1e-9, hbm=3000.0, name="burst")  # 3 TB/s alone
    shape = MachineShape(units=4, shared_bandwidth={"hbm": 1e9})
    r = run([(long_t, 1), (burst, 3)], shape=shape)
    assert r.time_s == pytest.approx(10e-6, rel=1e-6)  # 9 kB at (1 GB/s - 0.1 GB/s) = 10 us


def test_a_coresident_job_takes_the_compute_a_level_slowed_neighbour_leaves():
    # unit 0 runs A (compute and 1 B of the 1 B/s level) and B (compute only); units 1-3
    # each run a 1 B memory job. The level gives each of its 4 jobs 0.25 B/s, so A runs at
    # a quarter speed and uses a quarter of unit 0: B gets the other three quarters and
    # ends at 4/3 s (it ended at 2 s, held at the half it had before A was slowed).
    env = simpy.Environment()
    pool = FluidPool(env, 5, 4, np.array([1.0]))
    ends: dict[int, float] = {}
    jobs = [(0, 1.0, 1.0), (0, 1.0, 0.0), (1, 0.0, 1.0), (2, 0.0, 1.0), (3, 0.0, 1.0)]
    for slot, (unit, work, level_bytes) in enumerate(jobs):
        pool.submit(
            slot, unit, work, np.array([level_bytes]), 1.0, lambda s: ends.setdefault(s, env.now)
        )
    env.run()
    assert ends[1] == pytest.approx(4.0 / 3.0)
    assert [ends[s] for s in (0, 2, 3, 4)] == pytest.approx([4.0] * 4)  # the level stays full
