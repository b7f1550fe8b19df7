"""What every benchmark (``bench/*.py``) shares: the machine it ran on, whether that machine was quiet,
computations timed in turn over rounds, and the median and spread of each figure.

A speed ratio measured while other processes compete for the cores is not a result: the original-style
computation suffered more from contention than the project, so the backbone's speed-ups measured under
load were 1.5-1.8 times what a quiet machine gave (docs/performance.md, "How figures are measured").

**The busy rule.** The 1-minute load average counts this run's own work and that of the run just
before it, and lags by about a minute, so it is recorded (before and after) but not used. Instead a
check samples, over a short window while this process sleeps, the CPU time that ``/proc/stat``
accounts as busy (user, nice, system, irq, softirq, steal) on the CPUs this process may run on, minus
this process's own CPU time and that of its finished children (``getrusage``). What is left is the
other processes' load, in cores; above :data:`BUSY_PER_CORE` per core the machine is busy:

* before a timing run (a :data:`START_WINDOW_S` window): the run is refused, in one line, exit code 2;
* after each measured round (a :data:`ROUND_WINDOW_S` window): the round may have shared the cores
  with that load, so it is discarded; the run waits (up to :data:`QUIET_WAIT_S`) for a quiet window and
  measures the round again (at most :data:`MAX_REPEATS` times), else it is refused like at the start;
* with ``--allow-busy`` nothing is refused or repeated: every figure with a round that had a busy check
  before or after it is marked :data:`UNDER_LOAD` (tables and JSON), and so is the run;
* after the run, a last check: a run whose load rose during it says so.

Runs that time nothing (accuracy, memory) record the machine and the load but are never refused.
"""
import math
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass

BUSY_PER_CORE = 0.5  # other processes' load (cores) per core above which the machine is busy
START_WINDOW_S = 2.0  # the check before a run
ROUND_WINDOW_S = 0.5  # the check after each round (short: it is paid every round)
QUIET_WAIT_S = 60.0  # how long a run waits for a busy machine to become quiet again before refusing
MAX_REPEATS = 3  # repeats of one round after busy checks before the run is refused
DEFAULT_ROUNDS = 5
EXIT_BUSY = 2  # the exit code of a refused run (as argparse's for a bad command line)
UNDER_LOAD = "UNDER LOAD"
# /proc/cpuinfo flags that decide which kernels PyTorch and oneDNN can use
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")
# the same as torch.cpu.get_capabilities() names them
TORCH_CAPABILITIES = ("avx2", "avx512_f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile", "amx_bf16",
                      "amx_int8", "num_physical_cores", "num_logical_cores")
# busy columns of a /proc/stat cpu line (guest time is already counted in user and nice)
_USER, _NICE, _SYSTEM, _IRQ, _SOFTIRQ, _STEAL = 0, 1, 2, 5, 6, 7


# ------------------------------------------------------------------ the machine

class ProcReader:
    """Where the benchmarks read the machine (Linux ``/proc``, ``getrusage``, the clock); tests pass a fake."""
    ticks_per_second = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def read(self, path):
        with open(path) as f:
            return f.read()

    def cpus(self):
        """The CPUs this process may run on."""
        if hasattr(os, "sched_getaffinity"):
            return sorted(os.sched_getaffinity(0))
        return list(range(os.cpu_count() or 1))

    def own_cpu_seconds(self):
        """CPU time of this process (all its threads) and of its finished children."""
        return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                    resource.getrusage(resource.RUSAGE_CHILDREN)))

    def now(self):
        return time.monotonic()

    def sleep(self, seconds):
        time.sleep(seconds)


def cpu_description(cpuinfo):
    """``(model name, {flag: bool} for CPU_FLAGS)`` from the text of /proc/cpuinfo."""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first CPU's
    flags = set(fields.get("flags", "").split())
    name = fields.get("model name") or platform.processor() or platform.machine()
    return name, {flag: flag in flags for flag in CPU_FLAGS}


def describe_machine(reader=None, with_torch=False):
    """The machine a figure was measured on: CPU model and flags, cores, Python, and with ``with_torch`` the
    torch version, its CPU code path, the CPU features it detected and its threads."""
    reader = reader or ProcReader()
    try:
        name, flags = cpu_description(reader.read("/proc/cpuinfo"))
    except OSError:
        name, flags = platform.processor() or platform.machine(), {}
    machine = {"cpu": name, "cpu_flags": flags, "cores": len(reader.cpus()), "cpus_online": os.cpu_count(),
               "python": platform.python_version(), "platform": platform.platform()}
    if with_torch:
        import torch
        machine["torch"] = torch.__version__
        machine["torch_threads"] = torch.get_num_threads()
        machine["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()  # ATEN_CPU_CAPABILITY applies
        if hasattr(torch.cpu, "get_capabilities"):  # torch >= 2.5
            capabilities = torch.cpu.get_capabilities()
            machine["torch_capabilities"] = {k: capabilities[k] for k in TORCH_CAPABILITIES if k in capabilities}
    return machine


def machine_line(machine):
    """One line of :func:`describe_machine`."""
    flags = ", ".join(f"{flag} {'yes' if on else 'no'}" for flag, on in machine["cpu_flags"].items())
    line = f"machine: {machine['cpu']}, {machine['cores']} cores (of {machine['cpus_online']} online); {flags}"
    if "torch" in machine:
        line += (f"; torch {machine['torch']} (CPU code path {machine['torch_cpu_capability']}, "
                 f"{machine['torch_threads']} threads)")
    return line


# ------------------------------------------------------------------ the load

def busy_seconds(stat, cpus, ticks_per_second):
    """CPU time (s) since boot that the text of /proc/stat accounts as busy on ``cpus``."""
    per_cpu = {}
    for line in stat.splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            per_cpu[int(name[3:])] = [int(v) for v in values]
    missing = [cpu for cpu in cpus if cpu not in per_cpu]
    if missing:
        raise OSError(f"/proc/stat has no line for CPU {missing[0]}")
    return sum(sum(per_cpu[cpu][i] for i in (_USER, _NICE, _SYSTEM, _IRQ, _SOFTIRQ, _STEAL)
                   if i < len(per_cpu[cpu])) for cpu in cpus) / ticks_per_second


@dataclass(frozen=True)
class LoadCheck:
    """The load seen over one window: ``others`` is the other processes' load in cores (NaN: unknown)."""
    when: str
    others: float
    cores: int
    limit: float  # others above this (cores) is busy
    load1: float  # the 1-minute load average at the window's end (our own work included)
    window: float

    @property
    def busy(self):
        return self.others > self.limit  # False when unknown (NaN)

    def describe(self):
        others = ("other processes' load unknown (no /proc/stat)" if math.isnan(self.others) else
                  f"other processes used {self.others:.2f} of {self.cores} cores over {self.window:g} s "
                  f"(busy above {self.limit:.2f})")
        return f"{others}, 1-min load average {self.load1:.2f}"

    def as_dict(self):
        return {"when": self.when, "others_cores": self.others, "busy": self.busy, "load1": self.load1,
                "window_s": self.window}


def refuse(script, message):
    """End a run that must not time now: one line on stderr, exit code :data:`EXIT_BUSY`."""
    print(f"{script}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_BUSY)


class BenchmarkRun:
    """One run of a benchmark: its machine, its load checks and which of its figures were taken under load.

    ``timed``: whether the run times something (only then is a busy machine refused); ``run(fn, label)``
    measures one thing between load checks (:func:`in_turn` calls it for each round); ``finish()`` checks
    once more and gives the record for a JSON file.
    """

    def __init__(self, script, allow_busy=False, timed=True, with_torch=False, reader=None,
                 busy_per_core=BUSY_PER_CORE):
        self.script = os.path.basename(script)
        self.allow_busy, self.timed, self.with_torch = allow_busy, timed, with_torch
        self.reader = reader or ProcReader()
        self.cores = len(self.reader.cpus())
        self.limit = busy_per_core * self.cores
        self.busy_per_core = busy_per_core
        self.machine = None
        self.checks = []
        self.repeated = 0
        self.under_load = False  # a figure was kept although a check next to it was busy (--allow-busy)

    # -------------------------------------------------------------- checks

    def _sample(self):
        try:
            busy = busy_seconds(self.reader.read("/proc/stat"), self.reader.cpus(), self.reader.ticks_per_second)
        except (OSError, ValueError):
            busy = float("nan")
        return self.reader.now(), busy, self.reader.own_cpu_seconds()

    def _load1(self):
        try:
            return float(self.reader.read("/proc/loadavg").split()[0])
        except (OSError, ValueError, IndexError):
            return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    def check(self, when, window):
        """Sample the other processes' load over ``window`` seconds (this process sleeping)."""
        t0, busy0, own0 = self._sample()
        self.reader.sleep(window)
        t1, busy1, own1 = self._sample()
        if math.isnan(busy0) or math.isnan(busy1):
            others = float("nan")
        else:  # never negative: the kernel's tick accounting and getrusage differ by a tick or so
            others = max(0.0, (busy1 - busy0 - (own1 - own0)) / max(t1 - t0, 1e-9))
        check = LoadCheck(when, others, self.cores, self.limit, self._load1(), window)
        self.checks.append(check)
        return check

    def start(self):
        """Describe the machine, check the load and print both; refuse a timing run on a busy machine."""
        self.machine = describe_machine(self.reader, self.with_torch)
        print(machine_line(self.machine), flush=True)
        check = self.check("before the run", START_WINDOW_S)
        if check.busy and self.timed and not self.allow_busy:
            refuse(self.script, f"the machine is busy: {check.describe()}; timing now would measure the "
                                f"contention, not the code: wait for a quiet machine or pass --allow-busy "
                                f"(every figure is then marked {UNDER_LOAD})")
        print(f"before the run: {check.describe()}" + (f" -- {UNDER_LOAD} (--allow-busy)" if check.busy and
                                                        self.timed else ""), flush=True)
        return self

    def _wait_until_quiet(self, label):
        deadline = self.reader.now() + QUIET_WAIT_S
        while True:
            check = self.check(f"waiting after {label}", 2 * ROUND_WINDOW_S)
            if not check.busy:
                return
            if self.reader.now() >= deadline:
                refuse(self.script, f"the machine became busy during the run and stayed busy for "
                                    f"{QUIET_WAIT_S:.0f} s (after {label}: {check.describe()}); the figures so "
                                    f"far are discarded: run it on a quiet machine or pass --allow-busy")

    def run(self, fn, label):
        """``(fn(), under_load)``. Without ``--allow-busy``, a busy check after it means it may have shared the
        cores: it is discarded and run again once the machine is quiet (:data:`MAX_REPEATS` times at most)."""
        for repeat in range(MAX_REPEATS + 1):
            busy_before = bool(self.checks) and self.checks[-1].busy  # only with --allow-busy
            result = fn()
            after = self.check(f"after {label}", ROUND_WINDOW_S)
            if not after.busy or self.allow_busy:
                under_load = busy_before or after.busy
                self.under_load |= under_load
                return result, under_load
            if repeat == MAX_REPEATS:
                refuse(self.script, f"the machine was busy after {label} {MAX_REPEATS + 1} times "
                                    f"({after.describe()}); run it on a quiet machine or pass --allow-busy")
            print(f"  {label}: {after.describe()}: measuring it again once the machine is quiet",
                  file=sys.stderr, flush=True)
            self._wait_until_quiet(label)
            self.repeated += 1

    @property
    def load_rose(self):
        """Whether a check after the start found the machine busy (the start's being quiet)."""
        return bool(self.checks) and not self.checks[0].busy and any(c.busy for c in self.checks[1:])

    def finish(self):
        """The last check; prints it (and a warning if figures were taken under load); returns :meth:`record`."""
        check = self.check("after the run", START_WINDOW_S)
        print(f"after the run: {check.describe()}", flush=True)
        if self.timed and self.load_rose:
            what = ("the figures marked so were kept (--allow-busy)" if self.allow_busy else
                    f"{self.repeated} measurement(s) were repeated once it was quiet again" if self.repeated else
                    "only after the last measurement")
            print(f"!! the load rose during the run: {what}", flush=True)
        if self.timed and self.under_load:
            print(f"!! {UNDER_LOAD}: figures marked {UNDER_LOAD} were timed while other processes loaded the "
                  f"machine (--allow-busy); they are not results", flush=True)
        return self.record()

    def record(self):
        """The machine and the load of this run, for a JSON file next to the figures."""
        first = self.checks[0] if self.checks else None
        last = self.checks[-1] if len(self.checks) > 1 else None
        return {"machine": self.machine, "load": {
            "timed": self.timed, "allow_busy": self.allow_busy, "busy_per_core": self.busy_per_core,
            "limit_cores": self.limit, "under_load": self.timed and self.under_load,
            "rose_during_run": self.timed and self.load_rose, "repeated_measurements": self.repeated,
            "load1_before": first and first.load1, "load1_after": last and last.load1,
            "others_before": first and first.others, "others_after": last and last.others,
            "checks": [c.as_dict() for c in self.checks]}}


# ------------------------------------------------------------------ rounds

@dataclass
class Rounds:
    """What :func:`in_turn` measured: ``values[name]`` one value per round, ``under_load`` one flag per round."""
    values: dict
    under_load: list

    def spread(self, name, value=None):
        """The :class:`Spread` of ``name``'s rounds (``value`` maps a round's result to a number)."""
        value = value or (lambda v: v)
        return Spread.of([value(v) for v in self.values[name]], any(self.under_load))

    def ratio(self, numerator, denominator, value=None):
        """The :class:`Spread` of ``numerator / denominator`` round by round (both from the same round)."""
        value = value or (lambda v: v)
        return Spread.of([value(a) / value(b) for a, b in zip(self.values[numerator], self.values[denominator])],
                         any(self.under_load))


def in_turn(calls, rounds, run=None, warmup=False, check_each_call=False):
    """:class:`Rounds` of ``calls`` (``{name: fn}``, each returning its measurement) run in turn, A, B, A, B, ...,
    so that a drift of the machine's speed affects each alike. ``run``: a :class:`BenchmarkRun` whose load
    checks follow each round (``check_each_call``: each call, for long calls); ``warmup``: each call once first,
    not kept."""
    if warmup:
        for fn in calls.values():
            fn()
    values, under_load = {name: [] for name in calls}, []

    def measured(fn, label):
        return run.run(fn, label) if run is not None else (fn(), False)
    for number in range(1, rounds + 1):
        if check_each_call:
            loaded = False
            for name, fn in calls.items():
                value, busy = measured(fn, f"round {number}, {name}")
                values[name].append(value)
                loaded |= busy
        else:
            results, loaded = measured(lambda: {name: fn() for name, fn in calls.items()}, f"round {number}")
            for name, value in results.items():
                values[name].append(value)
        under_load.append(loaded)
    return Rounds(values, under_load)


def seconds_of(fn):
    """``fn`` as a call that returns how long it took (s)."""
    def timed():
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    return timed


def time_in_turn(fns, rounds, run=None, warmup=True, check_each_call=False):
    """:func:`in_turn` of ``fns`` timed: seconds per round."""
    return in_turn({name: seconds_of(fn) for name, fn in fns.items()}, rounds, run, warmup, check_each_call)


# ------------------------------------------------------------------ figures

@dataclass(frozen=True)
class Spread:
    """A figure over rounds: median, min and max of ``values``, and whether it was taken under load."""
    values: tuple
    under_load: bool = False

    @classmethod
    def of(cls, values, under_load=False):
        values = tuple(float(v) for v in values)
        if not values:
            raise ValueError("no rounds")
        return cls(values, bool(under_load))

    @property
    def median(self):
        return statistics.median(self.values)

    @property
    def low(self):
        return min(self.values)

    @property
    def high(self):
        return max(self.values)

    def cell(self, digits=3, unit=""):
        """``median (min–max)`` for a table, e.g. ``0.528 (0.511–0.547)`` or ``2.19x (2.07–2.35)``."""
        median = f"{self.median:.{digits}f}{unit}"
        return median if len(self.values) == 1 else f"{median} ({self.low:.{digits}f}–{self.high:.{digits}f})"

    def as_dict(self):
        return {"median": self.median, "min": self.low, "max": self.high, "rounds": list(self.values),
                "under_load": self.under_load}


def mark(label, under_load):
    """A table row's label, loudly marked when its figures were taken under load."""
    return f"{label} [{UNDER_LOAD}]" if under_load else label


def format_table(header, rows):
    """A Markdown table with aligned columns."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def positive_int(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def add_timing_arguments(parser, rounds=DEFAULT_ROUNDS, what="the compared computations, taking turns"):
    """``--rounds`` and ``--allow-busy``, alike in every benchmark that times something."""
    parser.add_argument("--rounds", type=positive_int, default=rounds,
                        help=f"rounds of {what}; the tables give the median and the min-max (default %(default)s)")
    parser.add_argument("--allow-busy", action="store_true",
                        help=f"time even when other processes load the machine (otherwise refused: more than "
                             f"{BUSY_PER_CORE} cores' load per core); every figure is then marked {UNDER_LOAD}")
    return parser


# ------------------------------------------------------------------ the rendered scenes

def ensure_scene(folder, name, size=None, seconds=None):
    """``(video, truth)`` of the scene ``name`` (``lib.data.scenes``), rendered into ``folder`` by
    ``tools/render_scenes.py`` (in a fresh process: it needs pybullet) if either file is missing; ``size``
    ("WxH") and ``seconds`` as that tool's options (default: the scene's own)."""
    import subprocess

    video, truth = os.path.join(folder, f"{name}.mp4"), os.path.join(folder, f"{name}.npz")
    if not (os.path.isfile(video) and os.path.isfile(truth)):
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        command = [sys.executable, os.path.join(repo, "tools", "render_scenes.py"), "--out", folder, "--names", name]
        if size is not None:
            command += ["--size", *size.split("x")]
        if seconds is not None:
            command += ["--seconds", f"{seconds:g}"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return video, truth
