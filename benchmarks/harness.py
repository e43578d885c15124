"""What the benchmark scripts share: child processes measured one by one, cached synthetic data, the machine.

- :func:`measure` runs one command in its own fresh process and returns its wall time and peak memory
  (the largest process of its tree, exact, from ``wait4``; and the sum over the tree, sampled), or why it
  failed: its command, exit status and the tail of its stderr, out of memory said as such.
- :func:`synthetic` makes (once) and caches the files of ``listkit synth`` for a set of parameters;
  :func:`repeated_log` makes a longer CSV log by repeating one's data rows.
- :func:`run_stages` reads the stage timings of a ``listkit run`` (its manifest, else its progress lines).
- :func:`machine` describes the machine and the versions measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

GIB = 1024**3
#: Lines of a failed child's stderr kept in its result and shown in the report.
STDERR_TAIL_LINES = 12
#: How often the process tree's memory is sampled (the largest process is measured exactly anyway), and
#: every how many samples its processes are listed again (about 2 ms with 80 processes on the machine).
SAMPLE_SECONDS = 0.05
TREE_EVERY = 5

# What a process that ran out of memory leaves on stderr: Python's MemoryError, Rust's (polars')
# allocation failure before it aborts, the C library's ENOMEM, a Jupyter kernel killed under the report.
_OUT_OF_MEMORY = re.compile(
    r"MemoryError|memory allocation of \d+ bytes failed|Cannot allocate memory|std::bad_alloc"
    r"|DeadKernelError|Kernel died"
)


class HarnessError(RuntimeError):
    """The benchmark harness cannot go on (data generation failed, no disk space...); the message says why.

    ``measured`` is the failed command, when a command failed.
    """

    def __init__(self, message: str, measured: Measured | None = None) -> None:
        super().__init__(message)
        self.measured = measured


@dataclass
class Measured:
    """One command measured in its own process (sizes in bytes, times in seconds)."""

    name: str
    command: list[str]
    status: str  # "ok", "failed", "out of memory" or "timeout"
    returncode: int | None
    wall_seconds: float
    #: The largest single process of the tree (``ru_maxrss`` of ``wait4`` in the wrapper: the command and
    #: every descendant it reaped), exact; the Jupyter kernel of the report is one such descendant.
    peak_process_bytes: int
    #: The sum of the tree's resident sets, sampled every :data:`SAMPLE_SECONDS` (``None`` without psutil):
    #: what the processes held at once, such as listkit and its report kernel.
    peak_tree_bytes: int | None
    #: CPU seconds (user + system) of the child and the descendants it reaped: cpu_seconds / wall is the
    #: number of cores it kept busy.
    cpu_seconds: float
    #: Cores kept busy meanwhile by every other process of the machine (other jobs, the harness itself):
    #: the machine's busy time from /proc/stat less the child's, over the wall time. None off Linux.
    others_cores: float | None
    stderr_tail: str = ""
    detail: str = ""  # why it failed, in words
    extra: dict = field(default_factory=dict)  # what the caller adds (stage timings, counts)
    #: Bytes the machine read from its disks meanwhile (``pgpgin`` of /proc/vmstat; None off Linux): near
    #: 0 when the inputs stay in the page cache, which the harness fills before each command.
    disk_read_bytes: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the command succeeded."""
        return self.status == "ok"

    @property
    def peak_bytes(self) -> int:
        """Peak memory: the larger of the tree's sampled sum and its largest process's exact peak."""
        return max(self.peak_process_bytes, self.peak_tree_bytes or 0)

    def to_dict(self) -> dict:
        """The measurement as JSON-ready values (with ``peak_bytes`` and ``ok``)."""
        return asdict(self) | {"peak_bytes": self.peak_bytes, "ok": self.ok}


#: The tiny process between the harness and each command (``python -I -S``: no site, about 10 MB). A child's
#: ``ru_maxrss`` includes the memory of the process it was forked from (Linux keeps the high-water mark
#: across ``exec``), so a command forked straight from the harness would count the harness's few hundred MB
#: (polars, numpy); forked from this, it counts about 10 MB. It spawns the command, waits with ``wait4`` and
#: writes the exit status, the largest ``ru_maxrss`` (KiB) and the CPU seconds of the command's tree.
_WRAPPER = """
import os, sys
report, command = sys.argv[1], sys.argv[2:]
pid = os.posix_spawnp(command[0], command, os.environ)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as file:
    file.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
"""


def measure(
    name: str,
    command: list[str],
    *,
    log_dir: Path,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Measured:
    """Run ``command`` in a fresh process (its own session) and measure it; never raises for a failing child.

    Its stdout and stderr go to ``log_dir/<name>.stdout`` and ``.stderr``. Wall time runs from the start
    of the process to its exit (interpreter start-up included; the wrapper adds about 20 ms). After
    ``timeout`` seconds its whole process group is killed and the status is ``"timeout"``.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.stdout", log_dir / f"{name}.stderr"
    report = log_dir / f"{name}.rusage"
    report.unlink(missing_ok=True)
    machine_before, read_before = machine_busy_seconds(), machine_disk_read_bytes()
    peak_tree: list[int | None] = [None]
    timed_out = threading.Event()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        try:
            wrapper = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WRAPPER, str(report), *command],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,  # its own process group: a timeout kills the kernel it started too
            )
        except OSError as error:
            return Measured(
                name, command, "failed", None, 0.0, 0, None, 0.0, None, detail=f"cannot start: {error}"
            )
        finished = threading.Event()
        sampler = threading.Thread(target=_sample_tree, args=(wrapper.pid, finished, peak_tree), daemon=True)
        sampler.start()
        timer = threading.Timer(timeout, _kill_group, args=(wrapper.pid, timed_out)) if timeout else None
        if timer:
            timer.start()
        try:
            wrapper.wait()
        except BaseException:  # Ctrl-C of the harness: the command (and its kernel) must not run on
            _kill_group(wrapper.pid, timed_out)
            finished.set()
            raise
        wall, machine_after = time.perf_counter() - started, machine_busy_seconds()
        read_after = machine_disk_read_bytes()
        finished.set()
        if timer:
            timer.cancel()
        sampler.join()
    stderr_tail = tail(err_path)
    try:
        code, maxrss, cpu = report.read_text().split()
        returncode, peak, cpu_seconds = int(code), int(maxrss) * 1024, float(cpu)
    except (OSError, ValueError):  # the wrapper was killed (timeout, OOM killer) or could not start it
        returncode, peak, cpu_seconds = wrapper.returncode, 0, 0.0
    result = Measured(
        name, command, "ok", returncode, wall, peak, peak_tree[0], cpu_seconds, None, stderr_tail
    )
    if machine_before is not None and machine_after is not None and wall > 0:
        result.others_cores = max(0.0, machine_after - machine_before - cpu_seconds) / wall
    if read_before is not None and read_after is not None:
        result.disk_read_bytes = read_after - read_before
    if returncode != 0:
        result.status, result.detail = _failure(returncode, stderr_tail, timed_out.is_set(), timeout)
    return result


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (every core; /proc/stat), None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...: all but idle and iowait are busy (guest time is
    # part of user already).
    ticks = [int(x) for x in fields[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def machine_disk_read_bytes() -> int | None:
    """Bytes the whole machine has read from its disks since boot (/proc/vmstat), None off Linux."""
    try:
        lines = Path("/proc/vmstat").read_text().splitlines()
    except OSError:
        return None
    counts = dict(line.split() for line in lines if line.count(" ") == 1)
    return int(counts["pgpgin"]) * 1024 if "pgpgin" in counts else None  # pgpgin counts KiB


def _failure(returncode: int, stderr_tail: str, timed_out: bool, timeout: float | None) -> tuple[str, str]:
    """The status and the words for a child that exited with ``returncode``."""
    if timed_out:
        return "timeout", f"killed after the timeout of {timeout:,.0f} s"
    if returncode == -signal.SIGKILL:
        # Nothing here sends SIGKILL but the timeout; on a machine without swap it is the kernel's OOM killer.
        return "out of memory", "killed by SIGKILL (the kernel's out-of-memory killer, most likely)"
    if _OUT_OF_MEMORY.search(stderr_tail):
        return "out of memory", f"exit status {returncode}: ran out of memory (see its stderr)"
    if returncode < 0:
        return "failed", f"killed by signal {signal.Signals(-returncode).name}"
    return "failed", f"exit status {returncode}"


def _kill_group(pid: int, flag: threading.Event) -> None:
    flag.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _sample_tree(pid: int, finished: threading.Event, peak: list[int | None]) -> None:
    """Keep in ``peak[0]`` the largest sum of resident sets of the wrapper ``pid``'s descendants seen.

    The command (the wrapper's child) always counts; a process it starts counts once it has been listed
    twice (alive for 250 ms or more): a helper run through ``vfork`` (``lscpu``, run by a library at import)
    shares its parent's memory until its ``exec``, and its resident set would count that memory twice.
    """
    try:
        import psutil
    except ImportError:  # the exact per-process peak still stands; the tree's sum is then unknown
        return
    try:
        wrapper = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    tree: list = []
    listed: set[int] = set()
    best, samples = 0, 0
    while not finished.is_set():
        if samples % TREE_EVERY == 0:  # finding descendants scans every process of the machine: less often
            with contextlib.suppress(psutil.Error):
                command = wrapper.children()
                descendants = [p for c in command for p in c.children(recursive=True)]
                tree = command + [p for p in descendants if p.pid in listed]
                listed = {p.pid for p in descendants}
        total = 0
        for process in tree:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        best, samples = max(best, total), samples + 1
        peak[0] = best
        finished.wait(SAMPLE_SECONDS)


def tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file (at most its last 64 KiB), decoded leniently."""
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - 65536))
        text = file.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def describe_failure(result: Measured) -> str:
    """A failed child in words: its name, status, command and stderr tail."""
    return (
        f"{result.name}: {result.status} ({result.detail})\n  command: {' '.join(result.command)}\n"
        + "\n".join(f"  | {line}" for line in result.stderr_tail.splitlines())
    )


# --- stage timings of a listkit run

_PROGRESS_LINE = re.compile(r"^listkit: (?P<label>[^:()]+?)(?:: .*)? \((?P<seconds>[\d,]+\.\d+) s\)$")


def stages_from_progress(stderr: str) -> dict[str, float]:
    """Seconds per stage from the ``--progress`` lines of ``listkit run`` (``listkit.cli.stage_line``).

    Labels are turned back into stage names with ``listkit.cli.STAGE_LABELS``; a stage shown twice is summed.
    """
    from listkit.cli import STAGE_LABELS

    names = {label: stage for stage, label in STAGE_LABELS.items()}
    stages: dict[str, float] = {}
    for line in stderr.splitlines():
        match = _PROGRESS_LINE.match(line.strip())
        if match is None or match["label"] in ("warning", "error", "internal error"):
            continue
        stage = names.get(match["label"], match["label"].replace(" ", "_"))
        stages[stage] = round(stages.get(stage, 0.0) + float(match["seconds"].replace(",", "")), 3)
    return stages


def run_stages(out_dir: Path, stderr_path: Path) -> tuple[dict[str, float], str]:
    """The stage timings of the ``listkit run`` that wrote ``out_dir``, and where they came from.

    ``manifest.json["run_time"]["stages"]`` (stage -> seconds) when the run wrote it, else the progress
    lines of its stderr; ``({}, "none")`` when neither has any.
    """
    manifest = out_dir / "manifest.json"
    if manifest.is_file():
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            stages = json.loads(manifest.read_text()).get("run_time", {}).get("stages")
            if isinstance(stages, dict) and stages:
                return {str(k): float(v) for k, v in stages.items()}, "manifest"
    if stderr_path.is_file():
        stages = stages_from_progress(stderr_path.read_text(errors="replace"))
        if stages:
            return stages, "progress lines"
    return {}, "none"


# --- cached data


@dataclass(frozen=True)
class SynthSpec:
    """The parameters of one ``listkit synth`` call (its cache key)."""

    subscribers: int
    campaigns_per_year: int = 12
    seed: int = 0
    format: str = "csv"

    @property
    def key(self) -> str:
        """The cache folder's name."""
        return f"synth-{self.subscribers}-cpy{self.campaigns_per_year}-seed{self.seed}-{self.format}"

    def path(self, data_dir: Path, name: str) -> Path:
        """The file ``name`` (``subscribers`` or ``events``) of this data set in ``data_dir``."""
        return data_dir / self.key / f"{name}.{self.format}"


def listkit_command() -> list[str]:
    """The ``listkit`` console script of this interpreter's environment (else ``python -m listkit.cli``)."""
    script = Path(sys.executable).parent / "listkit"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "listkit.cli"]


def synthetic(
    spec: SynthSpec, data_dir: Path, *, regenerate: bool = False, log: Callable[[str], None] = print
) -> Path:
    """The folder of ``listkit synth``'s files for ``spec`` under ``data_dir``, generated unless cached.

    Generation writes into a temporary folder renamed into place at the end, with ``parameters.json``, so a
    killed generation is never taken for a complete one.
    """
    folder = data_dir / spec.key
    marker = folder / "parameters.json"
    if not regenerate and marker.is_file() and json.loads(marker.read_text()) == asdict(spec):
        return folder
    data_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(data_dir, spec.key)
    staging = data_dir / f".{spec.key}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        *listkit_command(),
        "synth",
        "--subscribers",
        str(spec.subscribers),
        "--seed",
        str(spec.seed),
        "--campaigns-per-year",
        str(spec.campaigns_per_year),
        "--format",
        spec.format,
        "--out",
        str(staging),
    ]
    log(f"generating {spec.key} ({' '.join(command[1:])})")
    result = measure(f"synth-{spec.key}", command, log_dir=data_dir / "logs")
    if not result.ok:
        shutil.rmtree(staging, ignore_errors=True)
        raise HarnessError(f"generating the data failed\n{describe_failure(result)}", result)
    (staging / "parameters.json").write_text(json.dumps(asdict(spec), indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    log(f"  {result.wall_seconds:,.0f} s, peak {result.peak_bytes / GIB:.1f} GiB")
    return folder


def data_counts(spec: SynthSpec, data_dir: Path) -> dict:
    """Rows of the list and of the log of a generated data set, and their sizes on disk (cached beside them).

    Counted by a polars scan in this process: a count keeps no rows, so it costs little memory.
    """
    import polars as pl

    cache = data_dir / spec.key / "counts.json"
    if cache.is_file():
        return json.loads(cache.read_text())

    def scan(path: Path) -> pl.LazyFrame:
        return pl.scan_csv(path, infer_schema=False) if spec.format == "csv" else pl.scan_parquet(path)

    counts = {}
    for name in ("subscribers", "events"):
        path = spec.path(data_dir, name)
        counts[name] = scan(path).select(pl.len()).collect().item()
        counts[f"{name}_bytes"] = path.stat().st_size
    cache.write_text(json.dumps(counts) + "\n")
    return counts


def _remove_stale(data_dir: Path, key: str) -> None:
    """Remove the temporary folders of generations of ``key`` whose process is gone (a killed harness)."""
    for staging in data_dir.glob(f".{key}.tmp-*"):
        pid = int(staging.name.rsplit("-", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(staging, ignore_errors=True)
        except PermissionError:
            pass  # another user's running generation


def repeated_log(source: Path, times: int, target: Path, *, log: Callable[[str], None] = print) -> Path:
    """``target``: the CSV ``source`` with its data rows ``times`` over under its one header line (cached).

    Copied in 16 MiB blocks (never held in memory); refused before writing when the disk lacks the room.
    """
    marker = target.with_name(target.name + ".complete")
    expected = {"source": str(source), "source_bytes": source.stat().st_size, "times": times}
    if marker.is_file() and target.is_file() and json.loads(marker.read_text()) == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as file:
        header = file.readline()
    body = source.stat().st_size - len(header)
    needed = len(header) + times * (body + 1)
    free = shutil.disk_usage(target.parent).free
    if free < needed * 1.05:
        raise HarnessError(
            f"{target}: needs {needed / GIB:.1f} GiB of disk, {free / GIB:.1f} GiB free; "
            "free some, or give --data a folder on a larger disk"
        )
    log(f"writing {target} ({times} x the {body / GIB:.2f} GiB of data rows of {source})")
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as out:
        out.write(header)
        for _ in range(times):
            with source.open("rb") as file:
                file.readline()
                shutil.copyfileobj(file, out, 16 * 1024 * 1024)
                file.seek(-1, os.SEEK_END)
                if file.read(1) != b"\n":  # the last row must end before the next copy's first row
                    out.write(b"\n")
    partial.rename(target)
    marker.write_text(json.dumps(expected) + "\n")
    return target


def warm_cache(*paths: Path) -> None:
    """Read files once so every measured child finds them in the page cache alike (the first is no slower)."""
    for path in paths:
        with path.open("rb") as file:
            while file.read(16 * 1024 * 1024):
                pass


# --- the machine

#: Packages whose versions a result names.
VERSIONED = ("listkit", "polars", "pyarrow", "pandas", "email-validator", "scikit-learn", "numpy", "psutil")


def machine(repo: Path) -> dict:
    """Cores, memory, CPU model, Python and package versions, listkit's commit, the date and the load."""
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    memory = 0
    with contextlib.suppress(OSError, StopIteration, ValueError):
        line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal:"))
        memory = int(line.split()[1]) * 1024
    versions = {}
    for package in VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_bytes": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit + ("+changes" if dirty else ""),
        "load_average": list(os.getloadavg()),
    }
