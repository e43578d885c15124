"""The benchmark harness (benchmarks/run.py): measured children, stage timings, cached data, the doc block.

Behaviour only: no test asserts how fast anything is. The end-to-end run needs pandas (the `bench` extra)
and is skipped without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import ROOT

from listkit.cli import stage_line

sys.path.insert(0, str(ROOT / "benchmarks"))
import harness
import writeup

MIB = 1024**2


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_failing_child_is_reported_with_its_command_and_stderr_tail(tmp_path):
    code = "import sys; print('reading the list', file=sys.stderr); sys.exit('bad column in events.csv')"
    result = harness.measure("broken", python(code), log_dir=tmp_path)
    assert (result.status, result.returncode, result.ok) == ("failed", 1, False)
    assert "bad column in events.csv" in result.stderr_tail and "reading the list" in result.stderr_tail
    described = harness.describe_failure(result)
    assert "broken: failed (exit status 1)" in described and "sys.exit" in described


def test_a_child_out_of_memory_is_said_so(tmp_path):
    killed = harness.measure("killed", python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),
                             log_dir=tmp_path)  # fmt: skip
    assert killed.status == "out of memory" and "SIGKILL" in killed.detail
    raised = harness.measure("raised", python("raise MemoryError"), log_dir=tmp_path)
    assert raised.status == "out of memory"
    rust = harness.measure(
        "aborted", python("import sys; sys.stderr.write('memory allocation of 8589934592 bytes failed\\n'); "
                          "import os; os.abort()"), log_dir=tmp_path,
    )  # fmt: skip
    assert rust.status == "out of memory"


def test_a_child_past_its_timeout_is_killed_with_its_children(tmp_path):
    sleeper = "import time; time.sleep(60)"
    code = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleeper!r}]); time.sleep(60)"
    )
    result = harness.measure("slow", python(code), log_dir=tmp_path, timeout=1)
    assert result.status == "timeout" and "timeout" in result.detail


def test_peak_memory_counts_a_grandchild_and_what_the_tree_holds_at_once(tmp_path):
    pytest.importorskip("psutil")
    # The child holds 200 MiB while its own child (a report kernel, say) holds 200 MiB more for 1.5 s.
    grandchild = "import time; block = b'x' * (200 * 2**20); time.sleep(1.5)"
    code = (
        "import subprocess, sys; block = b'y' * (200 * 2**20); "
        f"subprocess.run([sys.executable, '-c', {grandchild!r}])"
    )
    result = harness.measure("tree", python(code), log_dir=tmp_path)
    assert result.ok
    assert result.peak_process_bytes >= 200 * MIB  # the largest process, exact
    assert result.peak_tree_bytes >= 400 * MIB  # both at once: what ru_maxrss alone would not show
    assert result.peak_bytes == max(result.peak_process_bytes, result.peak_tree_bytes)


@pytest.mark.skipif(not Path("/proc/vmstat").exists(), reason="Linux's /proc/vmstat")
def test_disk_reads_while_a_command_runs_are_counted(tmp_path):
    # A file dropped from the page cache (written, synced, then POSIX_FADV_DONTNEED) is read from disk.
    mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    _, kind = max((m for m in mounts if str(tmp_path).startswith(m[0])), key=lambda m: len(m[0]))
    if kind in ("tmpfs", "ramfs"):
        pytest.skip(f"{tmp_path} is in memory ({kind}): nothing is read from disk")
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(32 * MIB))
    code = (
        f"import os; f = os.open({str(path)!r}, os.O_RDONLY); os.fsync(f); "
        "os.posix_fadvise(f, 0, 0, os.POSIX_FADV_DONTNEED); os.read(f, 64 * 2**20)"
    )
    result = harness.measure("reads", python(code), log_dir=tmp_path)
    assert result.ok and result.disk_read_bytes >= 32 * MIB
    assert writeup.disk_read(result.to_dict()) == writeup.size(result.disk_read_bytes)
    assert writeup.disk_read({}) == "-"


def test_stage_timings_come_from_the_progress_lines_unless_the_manifest_has_them(tmp_path):
    lines = [
        stage_line("reading", 12.34, {"rows": 382_000, "events": 29_900_000}),
        stage_line("survey", 0.4, {"events": 29_900_000}),
        stage_line("rules", 1.0, {"keep": 3, "prune": 4}),
        stage_line("report", 5.0, {}),
        stage_line("some_new_stage", 0.25, {}),
        "listkit: warning: an ESP's unknown events may mean 'do not mail' (3.0 s)",
    ]
    stderr = tmp_path / "run.stderr"
    stderr.write_text("\n".join(lines) + "\n")
    expected = {"reading": 12.3, "survey": 0.4, "rules": 1.0, "report": 5.0, "some_new_stage": 0.2}
    assert harness.run_stages(tmp_path / "out", stderr) == (expected, "progress lines")
    (tmp_path / "out").mkdir()
    manifest = {"run_time": {"seconds": 9.0, "stages": {"reading": 4.25, "export": 1.5}}}
    (tmp_path / "out" / "manifest.json").write_text(json.dumps(manifest))
    assert harness.run_stages(tmp_path / "out", stderr) == ({"reading": 4.25, "export": 1.5}, "manifest")


@pytest.mark.parametrize("last_newline", [True, False])
def test_the_repeated_log_has_one_header_and_every_row_times_over(tmp_path, last_newline):
    source = tmp_path / "events.csv"
    source.write_text("email,event\na@x.io,open\nb@x.io,click\nc@x.io,send" + ("\n" if last_newline else ""))
    target = harness.repeated_log(source, 3, tmp_path / "big" / "events.csv", log=lambda _: None)
    frame = pl.read_csv(target)
    assert frame.columns == ["email", "event"]
    assert frame["email"].to_list() == ["a@x.io", "b@x.io", "c@x.io"] * 3
    assert harness.repeated_log(source, 3, target, log=pytest.fail) == target  # cached: not written again


def test_the_doc_block_is_replaced_and_nothing_else(tmp_path):
    doc = "# Benchmarks\n\nIntro.\n\n## Old section\n\nHistory.\n"
    first = writeup.replace_block(doc, f"{writeup.BEGIN}\none\n{writeup.END}")
    assert first.index("one") < first.index("## Old section") and first.endswith("History.\n")
    second = writeup.replace_block(first, f"{writeup.BEGIN}\ntwo\n{writeup.END}")
    assert "one" not in second and second.count(writeup.BEGIN) == 1
    assert second.replace("two", "one") == first


def test_linearity_is_judged_by_the_residuals_of_a_fitted_line():
    assert writeup.linear_fit([1, 10, 30], [2.5, 7, 17])["linear"]
    bent = writeup.linear_fit([1, 10, 30], [1, 10, 90])
    assert not bent["linear"] and bent["worst"] > writeup.LINEAR_TOLERANCE


def test_a_few_percent_at_the_largest_point_does_not_bend_a_line():
    # Session 7's Parquet curve (seconds per million events 2.92, 2.14, 2.26: a fixed start-up, then
    # flat): a plain least-squares fit put the smallest point 24% off the line.
    events, seconds = [3.40, 34.0, 101.9], [9.9, 72.9, 230.5]
    fit = writeup.linear_fit(events, seconds)
    assert fit["linear"] and 2.0 < fit["slope"] < 2.3 and fit["intercept"] > 0


@pytest.mark.slow
def test_a_quick_run_measures_every_row_and_writes_results_doc_and_plot(tmp_path):
    pytest.importorskip("pandas")
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text(f"# Benchmarks\n\n{writeup.BEGIN}\nnothing yet\n{writeup.END}\n\n## History\n\nkept\n")
    rows = ["floor", "listkit-no-report", "pandas", "list-listkit", "list-loop"]
    command = [
        sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--subscribers", "600",
        "--campaigns-per-year", "12", "--list-rows", "600", "--only", ",".join(rows),
        "--data", str(tmp_path / "data"), "--results", str(tmp_path / "results"), "--doc", str(doc),
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads((tmp_path / "results" / "quick.json").read_text())
    measured = results["parts"]["main"]["rows"]
    assert [row["name"] for row in measured] == rows
    assert all(row["ok"] and row["peak_bytes"] > 0 for row in measured)
    assert measured[1]["extra"]["stages"]["reading"] >= 0  # listkit's stage timings
    assert (tmp_path / "data" / "runs" / "quick" / "pandas" / "suppression.csv").is_file()
    text = doc.read_text()
    assert "nothing yet" not in text and text.endswith("## History\n\nkept\n")
    assert "| `listkit run --no-report` |" in text and (doc.parent / "benchmarks.png").is_file()
    # One folder per set of generation parameters: the list without events is the same synth here.
    assert [p.name for p in (tmp_path / "data").glob("synth-*")] == ["synth-600-cpy12-seed0-csv"]
