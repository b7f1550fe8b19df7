"""lib/utils/benchmark.py: the busy rule on a fake /proc, the order of the rounds, the median/spread maths and the
refusal. No timing is asserted."""
import argparse
import json

import pytest

from lib.utils import benchmark
from lib.utils.benchmark import (EXIT_BUSY, UNDER_LOAD, BenchmarkRun, ProcReader, Rounds, Spread, busy_seconds,
                                 cpu_description, format_table, in_turn, mark, time_in_turn)

CPUINFO = ("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n\n"
           "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")


class FakeProc(ProcReader):
    """A machine whose other processes use ``others[i]`` cores during the i-th sleep (the last value repeats),
    and this process ``own`` cores; /proc/stat counts both, at 100 ticks per second."""
    ticks_per_second = 100

    def __init__(self, others, cores=2, own=0.0, load1=1.5):
        self.others, self.cores, self.own_rate, self.load1 = list(others), cores, own, load1
        self.time, self.own, self.busy_ticks, self.idle_ticks = 1000.0, 3.0, 5000.0, 90000.0

    def read(self, path):
        if path == "/proc/stat":
            per_cpu = self.busy_ticks / self.cores
            # user nice system idle iowait irq softirq steal guest guest_nice: the busy ticks split over user,
            # system, irq, softirq and steal; idle, iowait and guest (already in user) must not count
            busy = [0.6 * per_cpu, 0, 0.2 * per_cpu, self.idle_ticks, 777, 0.1 * per_cpu, 0.05 * per_cpu,
                    0.05 * per_cpu, 12345, 0]
            cpu_lines = [f"cpu{i} " + " ".join(str(round(v)) for v in busy) for i in range(self.cores)]
            return "\n".join(["cpu  1 2 3 4 5 6 7 8 9 10"] + cpu_lines + ["intr 1 2 3", "ctxt 99"]) + "\n"
        if path == "/proc/loadavg":
            return f"{self.load1} 0.80 0.50 2/300 4242\n"
        if path == "/proc/cpuinfo":
            return CPUINFO
        raise FileNotFoundError(path)

    def cpus(self):
        return list(range(self.cores))

    def own_cpu_seconds(self):
        return self.own

    def now(self):
        return self.time

    def sleep(self, seconds):
        others = self.others.pop(0) if len(self.others) > 1 else self.others[0]
        self.time += seconds
        self.own += self.own_rate * seconds
        self.busy_ticks += (others + self.own_rate) * seconds * self.ticks_per_second


def quiet_run(others=(0.1,), allow_busy=False, **kwargs):
    return BenchmarkRun("bench_x.py", allow_busy=allow_busy, reader=FakeProc(others, **kwargs))


# ------------------------------------------------------------------ the machine and the load check

def test_cpu_description_reads_the_model_and_the_relevant_flags():
    name, flags = cpu_description(CPUINFO)
    assert name == "Test CPU 9000"
    assert flags["avx2"] and flags["avx512f"] and flags["avx512_vnni"]
    assert not flags["avx512_bf16"] and not flags["amx_bf16"]
    assert set(flags) == set(benchmark.CPU_FLAGS)


def test_busy_seconds_counts_the_busy_columns_of_the_given_cpus_only():
    stat = "cpu  9 9 9 9 9 9 9 9\ncpu0 100 10 50 9000 70 5 3 2 40 0\ncpu1 200 0 0 9000 0 0 0 0 0 0\nintr 5\n"
    assert busy_seconds(stat, [0], 100) == pytest.approx((100 + 10 + 50 + 5 + 3 + 2) / 100)
    assert busy_seconds(stat, [0, 1], 100) == pytest.approx((170 + 200) / 100)
    with pytest.raises(OSError):
        busy_seconds(stat, [2], 100)


def test_the_check_measures_other_processes_and_not_this_one():
    run = quiet_run(others=[0.7], own=1.2)  # this process spinning (e.g. OpenMP threads) is not load
    check = run.check("now", 2.0)
    assert check.others == pytest.approx(0.7, abs=0.02)
    assert check.cores == 2 and check.limit == pytest.approx(1.0) and not check.busy
    assert check.load1 == 1.5  # recorded, not used: it counts our own recent work


def test_a_timing_run_on_a_busy_machine_is_refused_in_one_line_with_exit_code_2(capsys):
    run = quiet_run(others=[1.6])
    with pytest.raises(SystemExit) as exit_:
        run.start()
    assert exit_.value.code == EXIT_BUSY
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench_x.py: the machine is busy: other processes used 1.60 of 2")
    assert "--allow-busy" in err


def test_a_busy_machine_is_allowed_with_allow_busy_and_marked(capsys):
    run = quiet_run(others=[1.6], allow_busy=True).start()
    assert UNDER_LOAD in capsys.readouterr().out
    rounds = time_in_turn({"a": lambda: None}, 2, run)
    assert rounds.under_load == [True, True]  # the check before the first and after each round: all busy
    record = run.finish()
    assert record["load"]["under_load"] and record["load"]["allow_busy"]
    assert record["load"]["load1_before"] == 1.5 and record["load"]["others_before"] == pytest.approx(1.6, abs=0.02)
    assert "they are not results" in capsys.readouterr().out
    json.dumps(record)  # a JSON file can take it


def test_a_run_that_times_nothing_is_not_refused():
    run = BenchmarkRun("bench_x.py", timed=False, reader=FakeProc([1.9])).start()
    assert run.finish()["load"]["under_load"] is False


def test_a_round_followed_by_a_busy_check_is_measured_again_once_the_machine_is_quiet(capsys):
    # start quiet; after round 1 busy; one waiting check quiet; round 1 again; then quiet
    run = quiet_run(others=[0.1, 1.8, 0.2, 0.1]).start()
    calls = []
    rounds = in_turn({"a": lambda: calls.append("a") or 1.0, "b": lambda: calls.append("b") or 2.0}, 2, run)
    assert calls == ["a", "b", "a", "b", "a", "b"]  # round 1 twice
    assert rounds.values == {"a": [1.0, 1.0], "b": [2.0, 2.0]} and rounds.under_load == [False, False]
    assert run.repeated == 1 and not run.under_load
    assert "measuring it again" in capsys.readouterr().err
    record = run.finish()["load"]
    assert record["rose_during_run"] and not record["under_load"] and record["repeated_measurements"] == 1


def test_a_machine_that_stays_busy_during_the_run_is_refused(capsys):
    run = quiet_run(others=[0.1, 1.8]).start()  # busy from the first round on: the waiting runs out
    with pytest.raises(SystemExit) as exit_:
        in_turn({"a": lambda: 1.0}, 3, run)
    assert exit_.value.code == EXIT_BUSY
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("bench_x.py: the machine became busy during the run and stayed busy")


def test_with_allow_busy_only_the_rounds_next_to_a_busy_check_are_marked():
    run = quiet_run(others=[0.1, 0.1, 1.5, 0.1, 0.1], allow_busy=True).start()
    rounds = in_turn({"a": lambda: 1.0}, 4, run)
    # checks: before (quiet), after round 1 (quiet), after round 2 (busy), after 3 and 4 (quiet)
    assert rounds.under_load == [False, True, True, False]
    assert rounds.spread("a").under_load and run.under_load and run.load_rose


# ------------------------------------------------------------------ the order of the rounds

def test_the_compared_calls_take_turns_after_one_warm_up_each():
    order = []
    rounds = in_turn({name: (lambda n=name: order.append(n) or len(order)) for name in ("A", "B", "C")}, 3,
                     warmup=True)
    assert order == ["A", "B", "C"] + ["A", "B", "C"] * 3
    assert rounds.values["A"] == [4, 7, 10] and rounds.under_load == [False] * 3


def test_checks_after_each_call_repeat_only_the_call_before_the_busy_check():
    run = quiet_run(others=[0.1, 0.1, 1.7, 0.1, 0.1]).start()  # busy after round 1's B
    order = []
    in_turn({"A": lambda: order.append("A"), "B": lambda: order.append("B")}, 2, run, check_each_call=True)
    assert order == ["A", "B", "B", "A", "B"]


def test_time_in_turn_gives_seconds_per_round():
    rounds = time_in_turn({"a": lambda: None, "b": lambda: None}, 4)
    assert [len(v) for v in rounds.values.values()] == [4, 4]
    assert all(s >= 0 for s in rounds.values["a"])


# ------------------------------------------------------------------ median and spread

def test_spread_is_the_median_and_the_min_max():
    s = Spread.of([3.0, 1.0, 2.0, 10.0])
    assert (s.median, s.low, s.high) == (2.5, 1.0, 10.0)
    assert Spread.of([5, 1, 3]).median == 3
    assert s.cell(1) == "2.5 (1.0–10.0)" and Spread.of([0.5]).cell(2, "x") == "0.50x"
    assert s.as_dict() == {"median": 2.5, "min": 1.0, "max": 10.0, "rounds": [3.0, 1.0, 2.0, 10.0],
                           "under_load": False}
    with pytest.raises(ValueError):
        Spread.of([])


def test_the_ratio_is_taken_round_by_round_not_of_the_medians():
    rounds = Rounds({"original": [2.0, 4.0, 9.0], "project": [1.0, 4.0, 3.0]}, [False, False, True])
    ratio = rounds.ratio("original", "project")
    assert ratio.values == (2.0, 1.0, 3.0) and ratio.median == 2.0 and (ratio.low, ratio.high) == (1.0, 3.0)
    assert ratio.median != rounds.spread("original").median / rounds.spread("project").median
    assert ratio.under_load  # one of its rounds was
    assert rounds.spread("project", value=lambda s: 12 / s).values == (12.0, 3.0, 4.0)


def test_marks_tables_and_arguments():
    assert mark("fp32", True) == f"fp32 [{UNDER_LOAD}]" and mark("fp32", False) == "fp32"
    assert format_table(["a", "bb"], [["1", "2"], ["333", "4"]]).splitlines() == [
        "| a   | bb |", "|-----|----|", "| 1   | 2  |", "| 333 | 4  |"]
    parser = benchmark.add_timing_arguments(argparse.ArgumentParser())
    cli = parser.parse_args([])
    assert cli.rounds == 5 and cli.allow_busy is False
    assert parser.parse_args(["--rounds", "1", "--allow-busy"]).allow_busy
    with pytest.raises(SystemExit):
        parser.parse_args(["--rounds", "0"])
