"""The output folder under hostile conditions: links, concurrent runs, killed runs, inputs inside it.

``--out`` is replaced whole (promise 3: outputs appear whole or not at all), so every test here tries to
make a run replace the wrong folder, half-replace the right one, or leave data behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE, run_cli, tree_digest
from dns_server import free_port
from kill_loop import kill_loop, whole_run

import listkit
from listkit.errors import OutputError
from listkit.outdir import output_lock

FEEDBACK = Path(__file__).parent / "fixtures" / "feedback"
LIST = SAMPLE / "subscribers.csv"
EVENTS = SAMPLE / "events.csv"


def run(out: Path | str, *extra: str | Path) -> int:
    return run_cli("run", "--subscribers", LIST, "--out", out, "--no-report", *extra)


def refusal(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a refused run printed; it names no address."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("listkit: error: "), err
    assert "@" not in err and "Traceback" not in err
    return err


def assert_whole(folder: Path) -> dict[str, str]:
    files, problem = whole_run(folder)
    assert problem is None and files is not None, problem
    return files


def test_symlinked_out_is_written_through_and_stays_a_link(tmp_path):
    runs = tmp_path / "runs"
    assert run(runs / "2026-10") == 0
    earlier = assert_whole(runs / "2026-10")
    current = tmp_path / "current"
    current.symlink_to("runs/2026-10")
    assert run(current, "--events", EVENTS) == 0
    assert current.is_symlink() and os.readlink(current) == "runs/2026-10"
    files = assert_whole(runs / "2026-10")
    assert files != earlier and "events" in json.loads((current / "manifest.json").read_text())["inputs"]
    assert sorted(os.listdir(tmp_path)) == ["current", "runs"]
    assert sorted(os.listdir(runs)) == [".2026-10.listkit.lock", "2026-10"]


@pytest.mark.parametrize("layout", ["chain", "parent is a link", "dangling", "relative dangling"])
def test_links_on_the_way_to_out_are_followed(tmp_path, monkeypatch, layout):
    runs = tmp_path / "runs"
    runs.mkdir()
    links = {}
    if layout == "chain":
        assert run(runs / "2026-10") == 0
        links = {"latest": runs / "2026-10", "current": tmp_path / "latest"}
        out, real = tmp_path / "current", runs / "2026-10"
    elif layout == "parent is a link":
        assert run(runs / "2026-10") == 0
        links = {"link": runs}
        out, real = tmp_path / "link" / "2026-10", runs / "2026-10"
    elif layout == "dangling":
        links = {"current": runs / "2026-11"}
        out, real = tmp_path / "current", runs / "2026-11"
    else:
        links = {"current": Path("runs/2026-11")}
        monkeypatch.chdir(tmp_path)
        out, real = Path("current"), runs / "2026-11"
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    assert run(out, "--events", EVENTS) == 0
    for name, target in links.items():
        assert os.readlink(tmp_path / name) == str(target), "links are left as they are"
    assert_whole(real)
    assert "events" in json.loads((real / "manifest.json").read_text())["inputs"]
    assert sorted(os.listdir(runs)) == sorted([f".{real.name}.listkit.lock", real.name])
    assert sorted(os.listdir(tmp_path)) == sorted(["runs", *links])


def test_links_to_a_file_or_in_a_loop_are_refused_before_anything_changes(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    (tmp_path / "to-file").symlink_to(notes)
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    before = sorted(os.listdir(tmp_path))
    assert run(tmp_path / "to-file") == 2
    assert "to-file" in (err := refusal(capsys)) and "not a folder" in err and "choose another --out" in err
    assert run(tmp_path / "loop-a") == 2
    assert "loop" in refusal(capsys)
    assert sorted(os.listdir(tmp_path)) == before and notes.read_text() == "my notes\n"


def test_a_link_to_a_folder_that_is_not_a_listkit_output_is_refused(tmp_path, capsys):
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "budget.xlsx").write_bytes(b"\x00budget")
    (tmp_path / "current").symlink_to(documents)
    assert run(tmp_path / "current") == 2
    err = refusal(capsys)
    assert "current" in err and str(documents) in err and "manifest.json" in err
    assert os.listdir(documents) == ["budget.xlsx"] and sorted(os.listdir(tmp_path)) == [
        "current",
        "documents",
    ]


HOLD_LOCK = """
import sys
from listkit.outdir import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_run_on_the_same_out_is_refused_before_it_reads_anything(tmp_path, capsys):
    out = tmp_path / "out"
    assert run(out) == 0
    before = tree_digest(out)
    (tmp_path / "alias").symlink_to(out)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline() == "locked\n"
        for given in (out, tmp_path / "alias"):  # the same folder through a link has the same lock
            missing = tmp_path / "not-there.csv"
            assert run_cli("run", "--subscribers", missing, "--out", given, "--no-report") == 2
            err = refusal(capsys)
            assert "another listkit run" in err and "not-there" not in err, "refused before reading"
        result = listkit.run_files(LIST)
        with pytest.raises(listkit.OutputError, match="another listkit run"):
            listkit.export(result, out, report=False)  # export alone takes the lock too
        assert tree_digest(out) == before
    finally:
        holder.stdin.close()
        holder.wait()
    assert run(out, "--events", EVENTS) == 0, "the lock goes with the run that held it"
    assert_whole(out)


def test_leftovers_of_killed_runs_are_removed_and_staging_is_private(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run(out) == 0
    # What killed runs leave: a staging folder with a ledger and report scratch, an older version's
    # "-previous" folder, a link; and what belongs to others and must stay.
    killed = tmp_path / ".out.listkit-4242-17"
    (killed / "run").mkdir(parents=True)
    (killed / "run" / "ledger.csv").write_text("email\nann@example.com\n")
    (killed / "listkit-report-abc").mkdir()
    (killed / "listkit-report-abc" / "tmpk3y.json").write_text('{"key": "secret"}')
    (tmp_path / ".out.listkit-4242-18-previous").mkdir()
    keep = tmp_path / "keep-me"
    keep.mkdir()
    (keep / "data.csv").write_text("precious\n")
    (tmp_path / ".out.listkit-4242-19").symlink_to(keep)
    others = [".outer.listkit-1-2", ".out.listkit-notes", ".out.listkit-1-2.listkit-3-4"]
    for name in others:
        (tmp_path / name).mkdir()
    seen = {}

    def spy(result, html_path, *, scratch_dir=None):
        seen["mode"] = stat.S_IMODE(scratch_dir.stat().st_mode)
        seen["inside"] = html_path.is_relative_to(scratch_dir)
        seen["killed leftovers"] = [n for n in os.listdir(tmp_path) if n.startswith(".out.listkit-4242")]
        html_path.write_text("<html></html>\n")

    monkeypatch.setattr("listkit.render.render_report", spy)
    assert run_cli("run", "--subscribers", LIST, "--out", out) == 0
    assert seen == {"mode": 0o700, "inside": True, "killed leftovers": []}
    assert sorted(os.listdir(tmp_path)) == sorted([".out.listkit.lock", "out", "keep-me", *others])
    assert (keep / "data.csv").read_text() == "precious\n", "a link is removed, never followed"
    assert "report.html" in assert_whole(out)
    probe = tmp_path / "probe"
    probe.mkdir()
    assert out.stat().st_mode == probe.stat().st_mode, "the published folder gets a new folder's mode"


def test_a_run_killed_between_the_two_renames_of_a_swap_gets_its_previous_run_back(tmp_path, capsys):
    # Where no atomic exchange exists the previous run is set aside, then the new one renamed in; a kill
    # in between leaves no --out and the previous run in the staging folder.
    first = tmp_path / "elsewhere" / "first"
    assert run(first) == 0
    before = tree_digest(first)
    killed = tmp_path / ".out.listkit-99-1"
    (killed / "run").mkdir(parents=True)
    (killed / "run" / "ledger.csv").write_text("email\n")
    first.rename(killed / "previous")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("email,first_name\na@example.com,Ann\nb@example.com,Bob,extra\n")
    out = tmp_path / "out"
    assert run_cli("run", "--subscribers", ragged, "--out", out, "--no-report") == 2
    assert "row 2" in refusal(capsys)
    assert tree_digest(out) == before, "the previous run is back, left as it was by the failed run"
    assert sorted(os.listdir(tmp_path)) == [".out.listkit.lock", "elsewhere", "out", "ragged.csv"]


def inside(out: Path, tmp_path: Path, case: str) -> tuple[str, list[str | Path]]:
    """Put an input of the kind ``case`` inside ``out`` (or make it ``out``): its role and the run's args."""
    if case == "config":
        (out / "policy.toml").write_text("[policy]\nsunset_days = 180\n")
        return "config", ["--config", out / "policy.toml"]
    if case == "subscribers":
        shutil.copy(LIST, out / "list.csv")
        return "subscribers", ["--subscribers", out / "list.csv"]
    if case == "events":
        shutil.copy(EVENTS, out / "events.csv")
        return "events", ["--events", out / "events.csv"]
    if case == "feedback folder":
        shutil.copytree(FEEDBACK / "bounces", out / "bounces")
        return "feedback", ["--feedback", out / "bounces"]
    if case == "feedback is out":
        return "feedback", ["--feedback", out]
    if case == "previous is out":
        return "previous", ["--previous", out]
    if case in ("dns cache", "dns cache under ~"):
        cache = "~/out/mx.json" if case == "dns cache under ~" else out / "mx.json"
        dns = ["--check-dns", "--dns-server", "127.0.0.1", "--dns-port", free_port()]
        return "dns_cache", [*dns, "--dns-cache", cache]
    if case == "link to a file inside":
        shutil.copy(LIST, out / "list.csv")
        (tmp_path / "list-link.csv").symlink_to(out / "list.csv")
        return "subscribers", ["--subscribers", tmp_path / "list-link.csv"]
    if case == "link inside to a file outside":
        shutil.copy(LIST, tmp_path / "real.csv")
        (out / "list.csv").symlink_to(tmp_path / "real.csv")
        return "subscribers", ["--subscribers", out / "list.csv"]
    assert case == "through a linked folder"
    (out / "policy.toml").write_text("[policy]\n")
    (tmp_path / "alias").symlink_to(out)
    return "config", ["--config", tmp_path / "alias" / "policy.toml"]


@pytest.mark.parametrize(
    "case",
    ["config", "subscribers", "events", "feedback folder", "feedback is out", "previous is out",
     "dns cache", "dns cache under ~", "link to a file inside", "link inside to a file outside",
     "through a linked folder"],
)  # fmt: skip
def test_no_input_of_any_kind_may_be_inside_out(tmp_path, monkeypatch, capsys, case):
    monkeypatch.setenv("HOME", str(tmp_path))
    out = tmp_path / "out"
    assert run(out) == 0
    role, args = inside(out, tmp_path, case)
    before = tree_digest(out)
    capsys.readouterr()
    if "--subscribers" not in args:
        args = ["--subscribers", LIST, *args]
    assert run_cli("run", *args, "--out", out, "--no-report") == 2
    err = refusal(capsys)
    assert f"the {role} input" in err and "choose another --out" in err
    assert tree_digest(out) == before, "the input and the earlier run are left as they were"


def test_export_alone_refuses_an_input_inside_out(tmp_path):
    out = tmp_path / "out"
    result = listkit.run_files(LIST)
    listkit.export(result, out, report=False)
    shutil.copy(LIST, out / "list.csv")
    before = tree_digest(out)
    with pytest.raises(listkit.OutputError, match="holds the subscribers input"):
        listkit.export(result, out, inputs={"subscribers": out / "list.csv"}, report=False)
    assert tree_digest(out) == before


def test_manifest_records_the_config_but_not_the_dns_cache_and_stays_reproducible(dnsmasq, tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text("[policy]\nsunset_days = 200\n")
    cache = tmp_path / "mx.json"
    dns = ["--check-dns", "--dns-server", "127.0.0.1", "--dns-port", dnsmasq.port, "--dns-cache", cache]
    manifests = []
    for name in ("first", "second"):  # the first run fills the cache, the second reads it
        assert run(tmp_path / name, "--config", config, *dns) == 0
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        manifest.pop("run_time")
        manifests.append(manifest)
    assert cache.is_file()
    inputs = manifests[0]["inputs"]
    assert set(inputs) == {"subscribers", "config"}
    assert inputs["config"]["path"] == str(config)
    assert inputs["config"]["sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()
    assert manifests[0] == manifests[1]


@pytest.mark.slow
def test_runs_killed_at_random_leave_out_whole_and_nothing_behind(tmp_path):
    outcome = kill_loop(tmp_path / "loop", iterations=5, seed=3, report_every=3)
    assert outcome.broken == []
    assert outcome.left_after_cleanup == []
    assert outcome.killed_with_kernel >= 1, "the report's kernel was running at a kill"


def test_an_out_inside_an_input_folder_is_refused(tmp_path):
    # Inside the feedback folder, each run would change the input the next one fingerprints.
    feedback = tmp_path / "feedback"
    feedback.mkdir()
    with (
        pytest.raises(OutputError, match="inside the feedback input folder"),
        output_lock(feedback / "out", inputs={"feedback": feedback}),
    ):
        pass
    assert list(feedback.iterdir()) == []
