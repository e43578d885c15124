"""Kill ``listkit run`` at random moments, over and over, and check that nothing is ever half there or left.

Each iteration starts ``listkit run`` as a subprocess on a small synthetic list (300 subscribers, seed 1;
with its event log and without, in turn, so that the previous run and the new one differ) and SIGKILLs
it at a seeded random moment: anywhere in the run, or while it writes its outputs (with the report:
while the report's kernel runs). After each kill the output folder must hold a whole run (every file
manifest.json lists, with its sha256, and nothing else) that is the previous run or the new one. After
a last clean run nothing may be left: no staging folder beside the output, no file in the temporary and
Jupyter runtime folders the runs were given, no kernel process still running.

By hand (``--listkit-root`` runs another checkout's code, to compare)::

    .venv/bin/python tests/kill_loop.py --iterations 200 --report-every 10 [--seed 1] [--workdir DIR]

``tests/test_output_safety.py`` runs a few iterations.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

OUT = "out"
#: Seconds a killed run's kernel may take to notice its parent is gone (ipykernel polls every second).
KERNEL_GRACE = 10.0


@dataclass
class Outcome:
    """What the loop saw: iterations killed or finished, and every broken promise."""

    killed: int = 0
    killed_with_kernel: int = 0  # killed while a report's kernel ran
    finished: int = 0
    #: After a kill: the output folder was not whole, or was neither the previous run nor the new one.
    broken: list[str] = field(default_factory=list)
    #: What killed runs left before the last clean run, and what was still there after it.
    left_before_cleanup: list[str] = field(default_factory=list)
    left_after_cleanup: list[str] = field(default_factory=list)


def whole_run(out: Path) -> tuple[dict[str, str] | None, str | None]:
    """The manifest's ``files`` of the run in ``out`` (None when there is none), or what is wrong with it."""
    if not out.exists():
        return None, None
    try:
        files = json.loads((out / "manifest.json").read_text())["files"]
    except (OSError, ValueError, KeyError) as error:
        return None, f"no readable manifest ({error})"
    listed = {*files, "manifest.json"}
    folders = {str(parent) for name in listed for parent in Path(name).parents if str(parent) != "."}
    present = {str(p.relative_to(out)) for p in out.rglob("*")}
    if present != listed | folders:
        return None, f"unlisted {sorted(present - listed - folders)}, missing {sorted(listed - present)}"
    changed = [
        n
        for n, entry in files.items()
        if hashlib.sha256((out / n).read_bytes()).hexdigest() != entry["sha256"]
    ]
    digests = {name: entry["sha256"] for name, entry in files.items()}
    return (None, f"sha256 differs: {changed}") if changed else (digests, None)


def sha256(path: Path) -> str:
    """The sha256 of a file, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def staging_folders(workdir: Path) -> set[str]:
    """The staging folders beside the output."""
    return {p.name for p in (workdir / "outputs").iterdir() if p.name.startswith(f".{OUT}.listkit-")}


def leftovers(workdir: Path) -> list[str]:
    """Staging folders beside the output, files in the runs' temporary and runtime folders, live kernels."""
    found = [f"staging folder {name}" for name in sorted(staging_folders(workdir))]
    for name in ("tmp", "runtime"):
        found += [f"{name}/{p.name}" for p in sorted((workdir / name).iterdir())]
    return found + [f"kernel process {pid}: {command}" for pid, command in kernels(workdir).items()]


def kernels(workdir: Path) -> dict[int, str]:
    """Jupyter kernels of the runs in ``workdir``: their command line names a connection file in it."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # not a process, or one that just ended
            continue
        if "ipykernel" in command and str(workdir) in command:
            found[int(entry.name)] = command.strip()[:300]
    return found


def wait_until(process: subprocess.Popen[bytes], condition: Callable[[], bool], timeout: float = 120) -> None:
    """Poll ``condition`` until it holds, ``process`` ends, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and not condition() and time.monotonic() < deadline:
        time.sleep(0.002)


def kill_loop(
    workdir: Path, *, iterations: int, seed: int, report_every: int = 0, listkit_root: Path | None = None
) -> Outcome:
    """Run the loop in ``workdir`` (created; inputs, outputs and the runs' temporary folders live there)."""
    from listkit import run_files
    from listkit.export import export
    from listkit.synth import synthesize, write_synthetic

    workdir = workdir.resolve()
    for name in ("data", "outputs", "tmp", "runtime", "reference"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    inputs = write_synthetic(synthesize(300, seed=1), workdir / "data")
    variants = [("--events", str(inputs["events"])), ()]
    # What each variant's outputs are, from the same code in this process (promise 5: same bytes).
    expected = []
    for number, variant in enumerate(variants):
        events = inputs["events"] if variant else None
        export(run_files(inputs["subscribers"], events), workdir / "reference" / str(number), report=False)
        expected.append(whole_run(workdir / "reference" / str(number))[0])
    env = os.environ | {"TMPDIR": str(workdir / "tmp"), "JUPYTER_RUNTIME_DIR": str(workdir / "runtime")}
    if listkit_root is not None:
        env["PYTHONPATH"] = str(listkit_root)
    out = workdir / "outputs" / OUT
    rng = random.Random(seed)
    outcome = Outcome()

    def start(variant: tuple[str, ...], report: bool) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "listkit.cli", "run", "--subscribers", str(inputs["subscribers"]),
                   *variant, "--out", str(out), *(() if report else ("--no-report",))]  # fmt: skip
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    for iteration in range(iterations):
        number = iteration % len(variants)
        report = bool(report_every) and iteration % report_every == report_every - 1
        before, _ = whole_run(out)
        stale, old_kernels = staging_folders(workdir), set(kernels(workdir))
        process = start(variants[number], report)
        if report or iteration % 2:  # while it writes: once its staging folder (and kernel) is there
            wait_until(process, lambda: bool(staging_folders(workdir) - stale))  # noqa: B023 - called here
            if report:
                wait_until(process, lambda: bool(set(kernels(workdir)) - old_kernels))  # noqa: B023
            delay = rng.uniform(0, 2.0 if report else 0.2)
        else:
            delay = rng.uniform(0, 3.0)
        try:
            process.wait(delay)
            outcome.finished += 1
            if process.returncode != 0:
                error = process.stderr.read().decode(errors="replace").strip()
                outcome.broken.append(f"iteration {iteration}: exit {process.returncode}: {error}")
        except subprocess.TimeoutExpired:
            outcome.killed_with_kernel += bool(set(kernels(workdir)) - old_kernels)
            process.kill()
            process.wait()
            outcome.killed += 1
        process.stderr.close()
        after, problem = whole_run(out)
        core = {name: digest for name, digest in (after or {}).items() if name != "report.html"}
        if problem:
            outcome.broken.append(f"iteration {iteration}: {problem}")
        elif after is None and before is not None:
            outcome.broken.append(f"iteration {iteration}: the output folder is gone")
        elif after is not None and after != before and core != expected[number]:
            outcome.broken.append(f"iteration {iteration}: neither the previous run nor the new one")

    outcome.left_before_cleanup = leftovers(workdir)
    final = start(variants[0], report=False)
    final_error = final.communicate(timeout=300)[1].decode(errors="replace").strip()
    if final.returncode != 0:
        outcome.broken.append(f"final run: exit {final.returncode}: {final_error}")
    deadline = time.monotonic() + KERNEL_GRACE
    while kernels(workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    outcome.left_after_cleanup = leftovers(workdir)
    for pid in kernels(workdir):  # our runs' kernels: not left running, whatever the outcome
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report-every", type=int, default=10, help="every Nth run has the report (0: none)")
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    parser.add_argument("--listkit-root", type=Path, help="a checkout whose listkit package the runs use")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kill-loop-"))
    started = time.monotonic()
    outcome = kill_loop(workdir, iterations=args.iterations, seed=args.seed, report_every=args.report_every,
                        listkit_root=args.listkit_root)  # fmt: skip
    print(f"{args.iterations} iterations in {time.monotonic() - started:.0f} s ({workdir}): "
          f"{outcome.killed} killed ({outcome.killed_with_kernel} with a kernel running), "
          f"{outcome.finished} finished")  # fmt: skip
    for title, items in (("broken", outcome.broken), ("left by killed runs", outcome.left_before_cleanup),
                         ("left after a clean run", outcome.left_after_cleanup)):  # fmt: skip
        print(f"{title}: {len(items)}", *(f"  {item}" for item in items), sep="\n")
    return 1 if outcome.broken or outcome.left_after_cleanup else 0


if __name__ == "__main__":
    sys.exit(main())
