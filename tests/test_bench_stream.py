"""bench/bench_stream.py: the live replay of measured compute times behind the latency figures of docs/streaming.md."""
import numpy as np
import pytest

from bench.bench_stream import simulate_live


def test_a_pipeline_that_keeps_up_has_the_lookahead_plus_its_compute_as_latency():
    """Frames every 1/30 s, 10 ms of compute each, the pose of frame t - 3 released by frame t."""
    n, lookahead = 20, 3
    emitted = [[t - lookahead] if t >= lookahead else [] for t in range(n)]
    latencies, rtf = simulate_live([0.010] * n, emitted, fps=30)
    np.testing.assert_allclose(latencies, lookahead / 30 + 0.010)
    assert rtf == pytest.approx(0.3)


def test_a_pipeline_that_falls_behind_queues_frames_and_its_latency_grows():
    n = 20
    latencies, rtf = simulate_live([0.050] * n, [[t] for t in range(n)], fps=30)
    assert rtf == pytest.approx(1.5)
    # frame t is done at 0.05 (t + 1) s but arrived at t / 30 s
    np.testing.assert_allclose(latencies, 0.05 * (np.arange(n) + 1) - np.arange(n) / 30)
