"""Rendering the report: the notebook executed on a stored run with papermill, converted without code.

:func:`render_report` is what ``listkit run`` (through :func:`listkit.export.export`) and ``listkit
report DIR`` call once the run is stored; :func:`notebook_path` finds the report notebook, packaged or in
the source tree; :func:`notebook_html` is the conversion alone, for a notebook a scheduler executed.

The page is nbconvert's ``lab`` page through listkit's template :data:`TEMPLATE` (``listkit/templates``,
installed where Jupyter finds templates too): nothing in it is fetched from the internet (no require.js,
MathJax, mermaid or widget scripts), and its preprocessor :class:`ReportPreprocessor` masks every
address-like text (:func:`listkit.privacy.mask_text`) and numbers the cells. So the plain conversion a
scheduler runs after papermill::

    jupyter nbconvert --to html --no-input --template listkit-report executed.ipynb --output report

writes the same bytes as :func:`render_report` for the same executed notebook.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbconvert.preprocessors import Preprocessor

from listkit.errors import OutputError
from listkit.privacy import mask_text, redact

__all__ = [
    "TEMPLATE",
    "ReportPreprocessor",
    "notebook_html",
    "notebook_path",
    "render_report",
    "template_dir",
]

_NOTEBOOK = "list_health.ipynb"

#: The nbconvert template of the report (``--template listkit-report``).
TEMPLATE = "listkit-report"

# The text outputs a page shows; images are base64 (no "@" in that alphabet) and are left alone.
_TEXT_MIMETYPES = ("text/plain", "text/html", "text/markdown", "text/latex")


def notebook_path() -> Path:
    """The report notebook: packaged with listkit, or in the source tree's ``notebooks/``."""
    for candidate in (
        Path(__file__).parent / "notebooks" / _NOTEBOOK,
        Path(__file__).parent.parent / "notebooks" / _NOTEBOOK,
    ):
        if candidate.exists():
            return candidate
    raise OutputError(f"the report notebook {_NOTEBOOK} is missing from the installation; reinstall listkit")


def template_dir() -> Path:
    """The folder holding the :data:`TEMPLATE` folder (nbconvert's ``extra_template_basedirs``)."""
    return Path(__file__).parent / "templates"


class ReportPreprocessor(Preprocessor):
    """What the :data:`TEMPLATE` template does to an executed notebook before it becomes the page.

    - every address-like text in the Markdown, raw cells and outputs (text, HTML, Markdown, errors) is
      masked by :func:`listkit.privacy.mask_text` (``j***@gmail.com``): the report's last safeguard, so
      no full address reaches the page, whatever a cell printed;
    - cells get fixed ids (``cell-00``...): papermill gives its injected cell a random one, and the ids
      are anchors in the page, which must be the same bytes on every rerun;
    - a notebook without a ``title`` gets its first Markdown heading as the page's title (not the file
      name, which differs between ``listkit run`` and a scheduler's papermill run).
    """

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Mask, number and title ``nb`` (nbconvert calls this before the template)."""
        if "title" not in nb.metadata and (title := _first_heading(nb)):
            nb.metadata["title"] = mask_text(title)
        for number, cell in enumerate(nb.cells):
            cell["id"] = f"cell-{number:02d}"
            if cell.cell_type in ("markdown", "raw"):
                cell.source = mask_text(cell.source)
            for output in cell.get("outputs", ()):
                _mask_output(output)
        return nb, resources


def notebook_html(executed: Path) -> str:
    """The report page of an executed notebook: nbconvert's HTML through :data:`TEMPLATE` without input
    cells or prompts (what ``jupyter nbconvert --to html --no-input --template listkit-report`` writes)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(
        template_name=TEMPLATE,
        extra_template_basedirs=[str(template_dir())],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": executed.stem}})
    return body


#: What a failed report during ``listkit run`` leaves the analyst to do.
RUN_HINT = "`listkit run --no-report` writes the other outputs without the report"


def render_report(
    run_dir: Path,
    html_path: Path,
    *,
    scratch_dir: Path | None = None,
    notebook: Path | None = None,
    hint: str = RUN_HINT,
) -> None:
    """Execute the report notebook (or ``notebook``, which takes the same ``run_dir`` parameter) on a
    stored run (:data:`listkit.layout.RUN_DIR` of a written output, :meth:`RunResult.save`) with
    papermill and write it as HTML without code (:func:`notebook_html`).

    A failing cell raises :class:`OutputError` naming the cell (as papermill does, ``In [3]``, with its
    first line) and the exception it raised, then ``hint`` (what the caller's user can do). The
    temporary files (the executed notebook, the kernel's connection file) live in a folder inside
    ``scratch_dir`` (default: the system's temporary folder) removed afterwards; export passes its
    private staging space, so even a killed run's files are removed by the next run.
    """
    source = notebook if notebook is not None else notebook_path()
    with tempfile.TemporaryDirectory(prefix="listkit-report-", dir=scratch_dir) as scratch:
        executed = Path(scratch) / "executed.ipynb"
        with _kernel_environment(Path(scratch)):
            _execute(source, executed, run_dir=Path(run_dir).resolve(), cwd=Path(scratch), hint=hint)
        body = notebook_html(executed)
    html_path.write_text(body, encoding="utf-8")


def _execute(source: Path, executed: Path, *, run_dir: Path, cwd: Path, hint: str) -> None:
    """papermill on ``source`` with parameter ``run_dir``; its failures as one-line OutputErrors."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        papermill.execute_notebook(
            str(source),
            str(executed),
            parameters={"run_dir": str(run_dir)},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(cwd),
            # The kernel's own log (a warning about plain TCP on loopback) is noise to a CLI user.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except papermill.PapermillExecutionError as error:
        first_line = next((line.strip() for line in error.source.splitlines() if line.strip()), "")
        cell = f'cell "In [{error.exec_count}]"' + (f" ({first_line[:60]})" if first_line else "")
        raised = " ".join(f"{error.ename}: {error.evalue}".split())
        raise OutputError(
            redact(f"the report notebook {source.name} failed in {cell} with {raised}; {hint}")
        ) from None
    except NoSuchKernel:
        raise OutputError(
            "no Jupyter kernel named python3 runs the report notebook; install one in this environment "
            "with `python -m ipykernel install --sys-prefix --name python3` (make setup does)"
        ) from None
    except (DeadKernelError, CellTimeoutError) as error:
        what = "timed out" if isinstance(error, CellTimeoutError) else "lost its kernel (out of memory?)"
        raise OutputError(f"the report notebook {source.name} {what}; {hint}") from None


def _first_heading(nb: Any) -> str | None:
    """The text of the first Markdown heading (``# Title``) of ``nb``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip() or None
    return None


def _mask_output(output: Any) -> None:
    """``output`` (one output of a cell, as nbformat holds it) with its texts masked in place."""
    if output.get("output_type") == "stream":
        output["text"] = _masked(output.get("text", ""))
    elif output.get("output_type") == "error":
        output["ename"] = mask_text(output.get("ename", ""))
        output["evalue"] = mask_text(output.get("evalue", ""))
        output["traceback"] = [mask_text(line) for line in output.get("traceback", ())]
    data = output.get("data", {})
    for mimetype in _TEXT_MIMETYPES:
        if mimetype in data:
            data[mimetype] = _masked(data[mimetype])


def _masked(text: str | list[str]) -> str | list[str]:
    # nbformat joins multi-line strings on reading; a list is what a notebook written by hand may hold.
    return mask_text(text) if isinstance(text, str) else [mask_text(line) for line in text]


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
