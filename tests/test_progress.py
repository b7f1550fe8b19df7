"""lib/utils/progress.py: one bar over the stages of a run, counted in expected seconds."""
import threading

import pytest

from lib.utils.progress import RunProgress


def test_the_bar_counts_each_stage_in_its_expected_seconds():
    with RunProgress({"detect": (10, 0.1), "render": (0, 0.02)}, disable=True) as progress:
        assert progress.total == pytest.approx(1.0)
        progress.plan("render", 50)  # known only later
        assert progress.total == pytest.approx(2.0)
        for _ in range(10):
            progress.advance("detect")
        assert progress.n == pytest.approx(1.0)
        progress.stage("render")(25)
        assert progress.n == pytest.approx(1.5)
        assert progress.done == {"detect": 10, "render": 25}


def test_more_work_than_planned_never_runs_past_the_end():
    with RunProgress({"write": (3, 0.1)}, disable=True) as progress:
        for _ in range(5):
            progress.advance("write")
        assert progress.n == pytest.approx(progress.total)


def test_threads_advance_it_together():
    with RunProgress({"render": (4000, 0.001)}, disable=True) as progress:
        threads = [threading.Thread(target=lambda: [progress.advance("render") for _ in range(1000)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert progress.done["render"] == 4000
