"""Rendering the report: the notebook executed on a stored run with papermill, converted without code.

:func:`render_report` is what ``listkit run`` (through :func:`listkit.export.export`) calls once the
run is written; :func:`notebook_path` finds the report notebook, packaged or in the source tree.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from listkit.errors import OutputError

__all__ = ["notebook_path", "render_report"]

_NOTEBOOK = "list_health.ipynb"


def notebook_path() -> Path:
    """The report notebook: packaged with listkit, or in the source tree's ``notebooks/``."""
    for candidate in (
        Path(__file__).parent / "notebooks" / _NOTEBOOK,
        Path(__file__).parent.parent / "notebooks" / _NOTEBOOK,
    ):
        if candidate.exists():
            return candidate
    raise OutputError(f"the report notebook {_NOTEBOOK} is missing from the installation; reinstall listkit")


def render_report(run_dir: Path, html_path: Path, *, scratch_dir: Path | None = None) -> None:
    """Execute the report notebook on a stored run (:data:`listkit.layout.RUN_DIR` of a written
    output, :meth:`RunResult.save`) with papermill and write it as HTML without code.

    The temporary files (the executed notebook, the kernel's connection file) live in a folder inside
    ``scratch_dir`` (default: the system's temporary folder) removed afterwards; export passes its
    private staging space, so even a killed run's files are removed by the next run.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    with tempfile.TemporaryDirectory(prefix="listkit-report-", dir=scratch_dir) as scratch:
        executed = Path(scratch) / "executed.ipynb"
        with _kernel_environment(Path(scratch)):
            try:
                papermill.execute_notebook(
                    str(notebook_path()),
                    str(executed),
                    parameters={"run_dir": str(Path(run_dir).resolve())},
                    kernel_name="python3",
                    progress_bar=False,
                    cwd=scratch,
                    # The kernel's own log (a warning about plain TCP on loopback) is noise to a CLI user.
                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                )
            except papermill.PapermillExecutionError as error:
                raise OutputError(
                    f"the report notebook failed in cell {error.exec_count} ({error.ename}: {error.evalue}); "
                    "rerun with --no-report to get the other outputs"
                ) from None
        notebook = nbformat.read(executed, as_version=4)
    # papermill gives its injected cell a random id; fixed ids keep the HTML byte-identical.
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number:02d}"
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": "listkit list health"}})
    html_path.write_text(body, encoding="utf-8")


@contextlib.contextmanager
def _kernel_environment(scratch: Path) -> Iterator[None]:
    """For the block: this environment's kernel spec named python3 first (over one a user installed
    elsewhere), and the temporary files of Jupyter, papermill and the kernel in ``scratch``.

    jupyter_client writes the kernel's connection file (it holds the kernel's key) with
    ``tempfile.mkstemp``, so ``tempfile.tempdir`` points there too (other threads' temporary files
    meanwhile as well); the kernel inherits the environment.
    """
    kernel_specs = (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH"))
    values = {
        "JUPYTER_PATH": os.pathsep.join(filter(None, kernel_specs)),
        "JUPYTER_RUNTIME_DIR": str(scratch),
        "TMPDIR": str(scratch),
    }
    saved, saved_tempdir = {name: os.environ.get(name) for name in values}, tempfile.tempdir
    os.environ.update(values)
    tempfile.tempdir = str(scratch)
    try:
        yield
    finally:
        tempfile.tempdir = saved_tempdir
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
