"""The report notebook, executed with papermill the way a scheduler runs it."""

from __future__ import annotations

import papermill
from conftest import SAMPLE

from listkit.render import notebook_path


def test_notebook_runs_with_file_parameters_and_exports(tmp_path):
    out = tmp_path / "out"
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(notebook_path()),
        str(executed),
        parameters={
            "subscribers": str(SAMPLE / "subscribers.csv"),
            "events": str(SAMPLE / "events.csv"),
            "out_dir": str(out),
            "as_of": "2026-11-01",
            "policy": {"sunset_days": 180},
        },
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    assert (out / "ledger.csv").exists() and (out / "manifest.json").exists()
    assert not (out / "report.html").exists(), "the executed notebook is itself the report"
    text = executed.read_text()
    assert "image/png" in text and "Scored as of **2026-11-01**" in text
    manifest = (out / "manifest.json").read_text()
    assert '"sunset_days": 180' in manifest, "notebook parameters override the policy"


def test_the_notebook_runs_on_another_engine_and_on_a_summary_with_the_same_ledger(tmp_path):
    """The engine and features parameters reach the run: DuckDB, then a summary, give the CLI's ledger."""
    from conftest import run_cli

    expected = tmp_path / "cli"
    summary = tmp_path / "features.parquet"
    files = ("--subscribers", SAMPLE / "subscribers.csv")
    assert run_cli("run", *files, "--events", SAMPLE / "events.csv", "--out", expected, "--no-report") == 0
    assert run_cli("features", "--events", SAMPLE / "events.csv", "--out", summary) == 0
    for name, parameters in {
        "duckdb": {"events": str(SAMPLE / "events.csv"), "engine": "duckdb"},
        "summary": {"features": str(summary)},
    }.items():
        out = tmp_path / name
        papermill.execute_notebook(
            str(notebook_path()),
            str(tmp_path / f"{name}.ipynb"),
            parameters={"subscribers": str(SAMPLE / "subscribers.csv"), "out_dir": str(out), **parameters},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(tmp_path),
        )
        assert (out / "ledger.csv").read_bytes() == (expected / "ledger.csv").read_bytes(), name
