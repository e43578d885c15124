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
