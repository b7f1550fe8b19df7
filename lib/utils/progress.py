"""One progress bar for a whole run of several stages, with the time left.

A video run decodes and detects, then lifts, places in the world, writes and renders; each stage alone would show
its own bar and its own time left, none of them the run's. :class:`RunProgress` counts every stage's work in the
seconds it is expected to take, so that one bar fills at an even pace and tqdm's estimate of the time left is the
run's. A stage is declared with its units of work (frames) and its expected seconds per unit on the project's
2-core machines; tqdm's time left follows the measured pace, so on a faster or slower machine it is right in
proportion.
"""
import contextlib
import os
import sys
import threading
import time

from tqdm import tqdm
from tqdm.contrib import DummyTqdmFile


class RunProgress:
    """``stages``: ``{name: (units, seconds per unit)}`` in the order they run. :meth:`advance` counts the units done
    in a stage; :meth:`plan` changes a stage's units (how many people to lift is known only after detection)."""

    def __init__(self, stages, desc="run", disable=False):
        self.stages = {name: [float(units), float(cost)] for name, (units, cost) in stages.items()}
        self.done = {name: 0.0 for name in self.stages}
        self._lock = threading.Lock()  # renders advance it from several threads
        self._stdout = contextlib.ExitStack()
        self.n, self.total = 0.0, self._total()  # expected seconds done and in all (also with the bar disabled)
        self.bar = tqdm(total=self.total, desc=desc, disable=disable, unit="s",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")

    def _total(self):
        return sum(units * cost for units, cost in self.stages.values())

    def _refresh_total(self):
        self.total = max(self._total(), self.n)
        self.bar.total = self.total
        self.bar.refresh()

    def plan(self, name, units, cost=None):
        """Set the units (and optionally the expected seconds per unit) of the stage ``name``."""
        self.stages[name][0] = float(units)
        if cost is not None:
            self.stages[name][1] = float(cost)
        self._refresh_total()

    def advance(self, name, units=1):
        """``units`` more of the stage ``name`` are done."""
        with self._lock:
            self.done[name] += units
            self.bar.set_description_str(name, refresh=False)
            step = max(0.0, min(units * self.stages[name][1], self.total - self.n))  # never past the end
            self.n += step
            self.bar.update(step)

    def stage(self, name):
        """A function ``advance(units=1)`` for the stage ``name`` (for code that takes a progress callback)."""
        return lambda units=1: self.advance(name, units)

    def close(self):
        self.bar.n = self.bar.total
        self.bar.close()

    def __enter__(self):
        # what the stages print goes above the bar, not through it
        self._stdout.enter_context(contextlib.redirect_stdout(DummyTqdmFile(sys.stdout)))
        return self

    def __exit__(self, *exc):
        self._stdout.close()
        if exc[0] is None:
            self.close()
        else:
            self.bar.close()
        return False


def seconds_since_process_start():
    """Wall-clock seconds since this process started (Linux: ``/proc``; 10 ms resolution), or None elsewhere: a
    run's start-up, interpreter and imports included."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class StageClock:
    """When each stage of a run ended (``mark(name)``), for the run's closing line: ``{stage: seconds}``."""

    def __init__(self):
        self.last = time.perf_counter()
        self.seconds = {}

    def mark(self, name):
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.last = now

    def line(self, total, frames=None):
        parts = [f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items()]
        rate = f", {frames / total:.1f} frames/s" if frames and total > 0 else ""
        return f"done in {total:.1f} s{rate} ({', '.join(parts)})"
