"""The command line a person expects: --version, examples in --help, progress lines, `listkit report`,
and the scheduler's commands the README documents (papermill with docs/params.example.yaml, nbconvert)."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from importlib.metadata import version
from pathlib import Path

import papermill
import pytest
import yaml
from conftest import ROOT, SAMPLE, run_cli, tree_digest

import listkit
from listkit import cli
from listkit.outdir import output_lock
from listkit.render import notebook_path

BIN = Path(sys.executable).parent
SAMPLE_ARGS = ("--subscribers", SAMPLE / "subscribers.csv", "--events", SAMPLE / "events.csv")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- --version and --help ----------------------------------------------------------------------------


def test_version_is_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli("--version")
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"listkit {version('listkit')}\n"


#: Heavy packages a command imports only when it uses them (each takes a good part of a second).
HEAVY = ("sklearn", "scipy", "matplotlib", "papermill", "nbconvert", "dns")


def imported_by(*code: str) -> set[str]:
    """The HEAVY packages that a fresh interpreter running ``code`` has imported."""
    script = "\n".join([*code, "import sys", f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(done.stdout.splitlines()[-1].split()) if done.stdout.strip() else set()


def test_commands_import_only_what_they_use(tmp_path):
    assert imported_by("import listkit") == set()
    assert imported_by("from listkit import cli", "cli.build_parser()") == set()
    # A list without history: nothing to cluster, no report, no DNS; the report renders with papermill.
    run = f"listkit.cli.main(['run', '--subscribers', {str(SAMPLE / 'subscribers.csv')!r}, '--quiet', "
    run += f"'--no-report', '--out', {str(tmp_path / 'out')!r}])"
    assert imported_by("import listkit.cli", run) == set()


def help_text(capsys, *command: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        run_cli(*command, "--help")
    assert exit_.value.code == 0
    return capsys.readouterr().out


def example_commands(text: str) -> list[list[str]]:
    """The arguments of each ``listkit`` command of the ``examples:`` section ending a help text, as the
    shell reads them (continuation lines joined; ``#`` comments and ``> file`` redirections left out)."""
    section = text.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
    commands = []
    for line in section.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        if words:
            assert words[0] == "listkit", line
            commands.append(words[1 : words.index(">") if ">" in words else None])
    return commands


@pytest.mark.parametrize("command", [(), ("run",), ("report",)])
def test_help_ends_with_examples_that_parse(capsys, command):
    examples = example_commands(help_text(capsys, *command))
    assert len(examples) >= 2, "--help ends with examples"
    parser = cli.build_parser()
    for words in examples:
        if words[-1] != "--help":  # the help itself exits
            assert parser.parse_args(words).command == (command or words)[0]


# --- progress lines ----------------------------------------------------------------------------------


def test_stage_line_reads_as_a_sentence_with_counts_and_seconds():
    line = cli.stage_line("reading", 0.43, {"rows": 3000, "events": 78_204})
    assert line == "listkit: read the inputs: 3,000 rows, 78,204 events (0.4 s)"
    assert cli.stage_line("report", 5.81, {}) == "listkit: rendered the report (5.8 s)"
    assert cli.stage_line("dns_lookups", 12.0, {"domains": 40}) == "listkit: dns lookups: 40 domains (12.0 s)"


class Terminal(io.StringIO):
    """stderr as a terminal shows it."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def staged(monkeypatch):
    """run_files and export calling the progress hook after each stage (as the pipeline does), and the
    hooks the CLI passed (None: no hook asked for)."""
    # listkit.export is also the name of the function: the modules by their full names.
    pipeline, exporting = (
        importlib.import_module("listkit.pipeline"),
        importlib.import_module("listkit.export"),
    )
    real_run, real_export = pipeline.run_files, exporting.export
    passed = []

    def run_files(*args, progress=None, **kwargs):
        passed.append(progress)
        result = real_run(*args, **kwargs)
        if progress is not None:
            progress("reading", 0.41, {"rows": 3000, "events": 78_204})
            progress("rules", 0.12, {"pruned": 1380})
        return result

    def export(*args, progress=None, **kwargs):
        passed.append(progress)
        written = real_export(*args, **kwargs)
        if progress is not None:
            progress("export", 0.2, {"files": 12})
        return written

    monkeypatch.setattr(pipeline, "run_files", run_files)
    monkeypatch.setattr(exporting, "export", export)
    return passed


@pytest.mark.parametrize(
    ("terminal", "flags", "shown"),
    [
        (True, (), True),
        (False, (), False),
        (False, ("--progress",), True),
        (True, ("--quiet",), False),
    ],
)
def test_progress_on_a_terminal_or_when_asked_never_when_quiet(
    staged, monkeypatch, capsys, tmp_path, terminal, flags, shown
):
    stderr = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    status = run_cli("run", *SAMPLE_ARGS, "--out", tmp_path / "out", "--no-report", *flags)
    assert status == 0
    lines = [line for line in stderr.getvalue().splitlines() if not line.startswith("listkit: warning:")]
    if shown:
        assert lines == [
            "listkit: read the inputs: 3,000 rows, 78,204 events (0.4 s)",
            "listkit: applied the rules: 1,380 pruned (0.1 s)",
            "listkit: wrote the files: 12 files (0.2 s)",
        ]
        assert len(staged) == 2 and None not in staged, "run_files and export got the hook"
    else:
        assert lines == [] and staged == [None, None], "no hook is asked for"
    out = capsys.readouterr().out
    assert out.startswith("RunResult(") and "manifest:" in out, "the summary goes to stdout either way"


def test_quiet_and_progress_exclude_each_other(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        run_cli("run", *SAMPLE_ARGS, "--out", tmp_path / "out", "--quiet", "--progress")
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.skipif(
    "progress" not in inspect.signature(listkit.run_files).parameters,
    reason="the pipeline has no progress hooks yet (listkit.run_files(..., progress=))",
)
def test_progress_lines_of_a_real_run(capsys, tmp_path):
    status = run_cli("run", *SAMPLE_ARGS, "--out", tmp_path / "out", "--no-report", "--progress")
    assert status == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("listkit: warning")]
    assert all(re.fullmatch(r"listkit: .+ \(\d[\d,]*\.\d s\)", line) for line in lines)
    labels = [re.match(r"listkit: ([^:(]+?)(?::| \()", line)[1] for line in lines]
    every_stage = ["reading", "survey", "activity", "addresses", "features", "rules", "segments", "export"]
    assert set(map(cli.STAGE_LABELS.get, every_stage)) <= set(labels)
    assert labels[0] == cli.STAGE_LABELS["reading"] and labels[-1] == cli.STAGE_LABELS["export"]
    assert lines[0].startswith("listkit: read the inputs: ") and "3,000" in lines[0]


# --- listkit report ---------------------------------------------------------------------------------


@pytest.fixture
def output(sample_run, tmp_path) -> Path:
    """A copy of `listkit run`'s output of the sample, report and manifest included."""
    folder = tmp_path / "out"
    shutil.copytree(sample_run, folder)
    return folder


def manifest_files(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["files"]


def test_report_renders_the_stored_run_again_and_updates_the_manifest(output, sample_run, capsys):
    # As after `listkit run --no-report`: no report, none in the manifest.
    (output / "report.html").unlink()
    manifest = json.loads((output / "manifest.json").read_text())
    del manifest["files"]["report.html"]
    stages = manifest["run_time"]["stages"]
    del stages["report"]
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    others = tree_digest(output, skip=("manifest.json",))

    assert run_cli("report", output) == 0
    assert capsys.readouterr().out.strip() == f"report:      {output / 'report.html'}"
    timed = json.loads((output / "manifest.json").read_text())["run_time"]["stages"]
    assert list(timed) == [*stages, "report"] and timed["report"] >= 0, "the report's time is recorded"
    assert (output / "report.html").read_bytes() == (sample_run / "report.html").read_bytes()
    assert manifest_files(output)["report.html"] == {"rows": None, "sha256": sha256(output / "report.html")}
    assert manifest_files(output) == manifest_files(sample_run), "the manifest lists the report again"
    assert tree_digest(output, skip=("manifest.json", "report.html")) == others
    assert sorted(p.name for p in output.iterdir() if p.name.startswith(".")) == [], "no temporary file"


def test_report_failing_notebook_leaves_the_previous_report(output, capsys):
    before = tree_digest(output)
    (output / "run" / "ledger.parquet").write_bytes(b"not a parquet file")
    before["run/ledger.parquet"] = sha256(output / "run" / "ledger.parquet")

    assert run_cli("report", output) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("listkit: error: ")
    assert "cell" in err, "papermill's error names the cell"
    assert tree_digest(output) == before, "report, manifest and everything else as they were"
    assert [p.name for p in output.iterdir() if p.name.startswith(".")] == []


def test_report_elsewhere_leaves_the_folder_alone(output, tmp_path, capsys):
    before = tree_digest(output)
    target = tmp_path / "shared" / "list-health.html"
    target.parent.mkdir()
    assert run_cli("report", output, "--out", target, "--quiet") == 0
    assert target.read_bytes() == (output / "report.html").read_bytes()
    assert tree_digest(output) == before
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("ledger.csv", "inside the output folder"),
        ("..", "is a folder"),
        ("../missing/report.html", "does not exist"),
    ],
)
def test_report_refuses_a_bad_out_with_one_line(output, capsys, target, message):
    before = tree_digest(output)
    assert run_cli("report", output, "--out", output / target) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert tree_digest(output) == before


def test_report_refuses_a_folder_that_is_no_listkit_output(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a run\n")
    assert run_cli("report", tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"listkit: error: {tmp_path}: is not the output folder of a listkit run (run/result.json or "
        "manifest.json is missing); give listkit report the --out folder of `listkit run` (one that "
        "stores run/)."
    )


def test_report_waits_for_no_run_on_the_same_folder(output, capsys):
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another run holding the folder's lock (another thread, as another process would)
        with output_lock(output):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(30)
        before = tree_digest(output)
        assert run_cli("report", output) == 2
        assert tree_digest(output) == before
    finally:
        release.set()
        holder.join()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# --- the scheduler's commands of the README ----------------------------------------------------------

PARAMS = ROOT / "docs" / "params.example.yaml"


def test_params_file_sets_every_parameter_of_the_report_notebook():
    params = yaml.safe_load(PARAMS.read_text())
    assert set(params) == set(papermill.inspect_notebook(str(notebook_path())))
    assert (ROOT / params["subscribers"]).is_file() and (ROOT / params["events"]).is_file()
    listkit.Policy().with_options(params["policy"])  # its policy options are valid


def readme_schedule_commands() -> list[list[str]]:
    """The commands of the README's "On a schedule" block, as words."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### On a schedule", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


@pytest.mark.skipif(
    not (Path(listkit.__file__).parent / "templates" / "listkit-report").is_dir(),
    reason="listkit's nbconvert template (listkit-report) is not in this tree yet",
)
def test_readme_papermill_and_nbconvert_commands_give_the_report(tmp_path):
    commands = readme_schedule_commands()
    assert [words[0] for words in commands] == ["mkdir", ".venv/bin/papermill", ".venv/bin/jupyter"]
    assert "-f" in commands[1] and commands[2][1:5] == ["nbconvert", "--to", "html", "--no-input"]
    # As documented, from the repository's folder; only what they write goes to tmp_path.
    for words in commands:
        run = [str(BIN / Path(w).name) if w.startswith(".venv/bin/") else w for w in words]
        run = [str(tmp_path / w) if w.startswith("runs") else w for w in run]
        if "papermill" in words[0]:
            run += ["-p", "out_dir", str(tmp_path / "out"), "--no-progress-bar"]
        subprocess.run(run, cwd=ROOT, check=True, capture_output=True)
    html = (tmp_path / "runs" / "list_health.html").read_text()
    assert 'src="data:image/png;base64,' in html, "the figures, inside the page"
    assert "hl-ipython3" not in html, "no code (nbconvert highlights code cells with this class)"
    assert not re.search(r"<script[^>]+src=\"https?:", html), "nothing fetched from the internet"
    assert (tmp_path / "out" / "manifest.json").is_file(), "the notebook wrote the outputs to out_dir"


def test_failing_notebook_under_plain_papermill_exits_non_zero(tmp_path):
    params = yaml.safe_load(PARAMS.read_text())
    params |= {"subscribers": str(tmp_path / "missing.csv"), "out_dir": str(tmp_path / "out")}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run(
        [
            str(BIN / "papermill"),
            str(notebook_path()),
            str(tmp_path / "run.ipynb"),
            "-f",
            str(tmp_path / "params.yaml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "PapermillExecutionError" in done.stderr and "missing.csv" in done.stderr
    assert not (tmp_path / "out").exists()
