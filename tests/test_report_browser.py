"""The report as a reader gets it: self-contained, private, described, and the same however it is made.

The page is opened in Debian's headless Chromium (``/usr/bin/chromium``, installed by ``make test`` and
``.ci/run``) driven by playwright, never a browser playwright downloads: no console error, no request
other than ``file:`` and ``data:``, every image described, no address in the text. Without Chromium
those tests are skipped, saying so. The rest (masking, the template, papermill's errors) runs anywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import polars as pl
import pytest
from conftest import run_cli
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure

from listkit.display import figure_alt, html_table, show
from listkit.errors import OutputError
from listkit.layout import RUN_DIR, RUN_FILES
from listkit.privacy import MASK, mask_address, mask_address_expr, mask_text
from listkit.render import TEMPLATE, notebook_html, render_report

CHROMIUM = Path("/usr/bin/chromium")
#: The switches that keep Chromium from reaching out on its own (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A full address: a local part ending in a letter, digit or ._%+- (so j***@gmail.com is not one).
FULL_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: An attribute or a CSS rule that makes the browser fetch something from a server.
REMOTE_REFERENCE = re.compile(
    r"""(?:\b(?:src|href|srcset|data|poster)\s*=\s*["']?\s*(?:https?:)?//)|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.IGNORECASE,
)
NBCONVERT_PLACEHOLDER_ALT = "No description has been provided for this image"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is absent: install Debian's chromium package (make test does, as root)",
)


# --- masking -----------------------------------------------------------------------------------------


def test_mask_address_keeps_the_first_character_and_the_domain():
    assert mask_address("john@gmail.com") == "j***@gmail.com"
    assert mask_address("  Ann.Lee+news@Example.co.uk\n") == "A***@Example.co.uk"
    assert mask_address('"john doe"@example.org') == '"***@example.org'
    assert mask_address("@gmail.com") == "***@gmail.com", "an empty local part shows nothing of it"
    assert mask_address("first@second@example.com") == "f***@example.com", "the domain follows the last @"


def test_mask_address_of_no_address_is_the_privacy_mask():
    assert mask_address("john.gmail.com") == MASK
    assert mask_address("") == ""
    assert mask_address(None) is None


def test_masking_is_idempotent():
    once = mask_address("carol.king@yahoo.com")
    assert mask_address(once) == once == "c***@yahoo.com"
    assert mask_text(f"typo fixed: {once}") == f"typo fixed: {once}"


def test_mask_address_expr_masks_a_column():
    frame = pl.DataFrame({"email": ["john@gmail.com", "bad-value", None, " mia@outlook.com", ""]})
    masked = frame.select(mask_address_expr(pl.col("email")))["email"].to_list()
    assert masked == ["j***@gmail.com", MASK, None, "m***@outlook.com", ""]


@given(st.lists(st.text(alphabet=st.sampled_from("ab@. \t\n\"'*é"), max_size=12), max_size=20))
def test_mask_address_expr_agrees_with_mask_address(values):
    expected = [mask_address(value) for value in values]
    column = pl.Series("v", values, dtype=pl.String).to_frame()
    assert column.select(mask_address_expr(pl.col("v")))["v"].to_list() == expected


def test_mask_text_masks_every_address_in_a_sentence():
    text = 'Write to john@gmail.com, "ann b"@example.org or <bob@yahoo.com> (not @media or 5 @ 3)'
    masked = mask_text(text)
    assert masked == 'Write to j***@gmail.com, "***@example.org or <b***@yahoo.com> (not @media or 5 @ 3)'
    assert mask_text("role addresses (info@, sales@...)") == "role addresses (info@, sales@...)"
    assert not FULL_ADDRESS.search(masked)


# --- show and tables ---------------------------------------------------------------------------------


def small_figure(title: str = "") -> Figure:
    figure = Figure(figsize=(3, 2))
    axes = figure.subplots()
    axes.bar(["kept", "pruned"], [812, 188])
    if title:
        axes.set_title(title)
    return figure


def displayed(monkeypatch) -> list[dict]:
    """What ``show`` hands to IPython's display, captured."""
    shown: list[dict] = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw=False: shown.append(bundle))
    return shown


def test_show_figure_is_an_image_with_its_alt_text(monkeypatch):
    shown = displayed(monkeypatch)
    show(small_figure(), alt='812 rows kept, 188 pruned: "mostly\nhealthy"')
    html = shown[0]["text/html"]
    assert html.startswith('<img alt="812 rows kept, 188 pruned: &quot;mostly healthy&quot;" ')
    assert 'src="data:image/png;base64,iVBOR' in html
    assert shown[0]["text/plain"] == '812 rows kept, 188 pruned: "mostly healthy"'


def test_show_figure_without_alt_is_described_by_its_title_or_refused(monkeypatch):
    shown = displayed(monkeypatch)
    show(small_figure("Rows kept and pruned"))
    assert (
        shown[0]["text/plain"] == "Rows kept and pruned" == figure_alt(small_figure("Rows kept and pruned"))
    )
    with pytest.raises(TypeError, match="needs alt="):
        show(small_figure())
    with pytest.raises(TypeError, match="needs alt="):
        show(small_figure(), alt="  ")


def test_show_refuses_arguments_that_do_not_fit_the_item(monkeypatch):
    displayed(monkeypatch)
    with pytest.raises(TypeError, match="caption="):
        show(pl.DataFrame({"a": [1]}), alt="a table")
    with pytest.raises(TypeError, match="not caption="):
        show(small_figure(), alt="bars", caption="Rows")
    with pytest.raises(TypeError, match="for tables"):
        show("## Text", caption="Text")


def test_table_caption_is_escaped_and_first():
    table = html_table(pl.DataFrame({"source": ["checkout"], "rows": [1200]}), caption="Sources <2026>")
    assert table.startswith('<table class="listkit"><caption>Sources &lt;2026&gt;</caption><thead>')
    assert "<td>1,200</td>" in table


# --- the page: template, masking, papermill's errors ------------------------------------------------


def fixture_notebook(path: Path, *cells: tuple[str, str]) -> Path:
    """A notebook taking ``run_dir`` like the report, with the given (kind, source) cells."""
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("run_dir = None")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters] + [
        nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        for kind, source in cells
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


LEAKY_CELLS = (
    ("markdown", "# Leaky report\n\nQuestions to ann.lee@example.com; costs $5 and $7."),
    ("code", "print('contact bob.smith@example.org about', run_dir is not None)"),
    (
        "code",
        "import polars as pl\nfrom listkit.display import show\n"
        "show(pl.DataFrame({'email': ['carol@example.net'], 'rows': [3]}), caption='Who')",
    ),
    (
        "code",
        "from matplotlib.figure import Figure\nfigure = Figure(figsize=(3, 2))\n"
        "figure.subplots().plot([1, 2, 3])\nshow(figure, alt='A rising line for dave@example.com')",
    ),
    ("code", "{'owner': 'erin@example.com'}"),
)


@pytest.fixture(scope="module")
def leaky_page(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("leaky")
    html = folder / "report.html"
    render_report(folder, html, notebook=fixture_notebook(folder / "leaky.ipynb", *LEAKY_CELLS))
    return html.read_text(encoding="utf-8")


def test_page_masks_every_address_whatever_a_cell_showed(leaky_page):
    assert not FULL_ADDRESS.findall(leaky_page)
    for masked in ("a***@example.com", "b***@example.org", "c***@example.net", "d***@example.com"):
        assert masked in leaky_page
    assert "e***@example.com" in leaky_page, "execute results are masked too"


def test_page_has_no_code_and_nothing_remote(leaky_page):
    assert not REMOTE_REFERENCE.findall(leaky_page)
    assert "<script" not in leaky_page, "no require.js, MathJax, mermaid or widget loader"
    assert "print(" not in leaky_page and "import polars" not in leaky_page, "inputs are left out"
    assert "costs $5 and $7" in leaky_page, "without MathJax a dollar sign stays a dollar sign"
    assert "<title>Leaky report</title>" in leaky_page


def test_every_image_of_the_page_is_described(leaky_page):
    images = re.findall(r"<img\b[^>]*>", leaky_page)
    assert images, "the figure is on the page"
    for image in images:
        alt = re.search(r'alt="([^"]*)"', image)
        assert alt and alt[1].strip() and alt[1] != NBCONVERT_PLACEHOLDER_ALT
        assert re.search(r'src="data:image/png;base64,', image)


def test_failing_notebook_names_the_cell_and_the_exception(sample_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sample_run / RUN_DIR, run)
    (run / RUN_FILES["meta"]).write_text('{"as_of": "2026-', encoding="utf-8")  # cut short
    with pytest.raises(OutputError) as caught:
        render_report(run, tmp_path / "report.html")
    message = str(caught.value)
    assert re.search(r'failed in cell "In \[\d+\]" \(.+\) with \w+: ', message), message
    assert "\n" not in message and not (tmp_path / "report.html").exists()


def tiny_inputs(folder: Path) -> tuple[Path, Path]:
    """Three subscribers of a shop's newsletter and a month of their mail."""
    subscribers = folder / "subscribers.csv"
    subscribers.write_text(
        "email,first_name,source\nana.silva@gmail.com,Ana,checkout\nli.wei@outlook.com,Li,web form\n"
        "sam@example.org,Sam,import\n",
        encoding="utf-8",
    )
    events = folder / "events.csv"
    lines = ["email,event,timestamp"]
    for day in range(1, 13):
        for address in ("ana.silva@gmail.com", "li.wei@outlook.com", "sam@example.org"):
            lines.append(f"{address},delivered,2026-03-{day:02d}T09:00:00Z")
        lines.append(f"ana.silva@gmail.com,open,2026-03-{day:02d}T10:00:00Z")
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return subscribers, events


def test_listkit_run_with_a_failing_report_exits_non_zero_with_papermill_s_error(
    tmp_path, monkeypatch, capsys
):
    broken = fixture_notebook(tmp_path / "broken.ipynb", ("code", "raise KeyError('segment_profiles')"))
    monkeypatch.setattr("listkit.render.notebook_path", lambda: broken)
    subscribers, events = tiny_inputs(tmp_path)
    out = tmp_path / "out"
    status = run_cli("run", "--subscribers", subscribers, "--events", events, "--out", out)
    error = capsys.readouterr().err
    assert status != 0
    # In [1] is the parameters cell, In [2] the one papermill injects after it.
    assert (
        'listkit: error: the report notebook broken.ipynb failed in cell "In [3]" '
        "(raise KeyError('segment_profiles')) with KeyError: 'segment_profiles'; "
    ) in error
    assert not out.exists(), "a run whose report fails writes nothing"


@pytest.mark.slow
def test_scheduler_route_gives_the_same_report(sample_run, tmp_path):
    """papermill with a params file, then the documented nbconvert command: the bytes of listkit run."""
    from listkit.render import notebook_path

    params = tmp_path / "params.yaml"
    params.write_text(f"run_dir: {json.dumps(str((sample_run / RUN_DIR).resolve()))}\n", encoding="utf-8")
    bin_dir = Path(sys.executable).parent
    papermill = [str(bin_dir / "papermill"), str(notebook_path()), "executed.ipynb", "-f", str(params)]
    subprocess.run([*papermill, "--no-progress-bar"], cwd=tmp_path, check=True, capture_output=True)
    convert = [str(bin_dir / "jupyter"), "nbconvert", "--to", "html", "--no-input", "--template", TEMPLATE]
    subprocess.run(
        [*convert, "executed.ipynb", "--output", "report"], cwd=tmp_path, check=True, capture_output=True
    )
    assert (tmp_path / "report.html").read_bytes() == (sample_run / "report.html").read_bytes()
    assert notebook_html(tmp_path / "executed.ipynb") == (sample_run / "report.html").read_text(
        encoding="utf-8"
    )


# --- in a real browser -------------------------------------------------------------------------------


def open_in_chromium(html: Path, profile: Path, *, screenshot: Path | None = None) -> dict:
    """Load ``html`` from disk in headless Chromium; what it logged, fetched and shows."""
    from playwright.sync_api import sync_playwright

    seen: dict = {"console": [], "page_errors": [], "requests": []}
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            context.on("request", lambda request: seen["requests"].append(request.url))
            # Nothing leaves the machine even if the page asked: a remote request is recorded, then refused.
            context.route(
                re.compile(r"^(?!file:|data:)"),
                lambda route: route.abort(),
            )
            page = context.new_page()
            page.on("console", lambda message: seen["console"].append((message.type, message.text)))
            page.on("pageerror", lambda error: seen["page_errors"].append(str(error)))
            page.goto(html.resolve().as_uri(), wait_until="load")
            page.wait_for_load_state("networkidle")
            seen["text"] = page.inner_text("body")
            seen["images"] = page.eval_on_selector_all(
                "img", "images => images.map(i => [i.getAttribute('alt'), i.complete && i.naturalWidth > 0])"
            )
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return seen


@needs_chromium
def test_sample_report_in_chromium(sample_run, tmp_path):
    # In the test's own folder (a fixed /tmp name would belong to whoever ran the tests first).
    screenshot = tmp_path / "listkit-report.png"
    seen = open_in_chromium(sample_run / "report.html", tmp_path / "profile", screenshot=screenshot)
    print(f"screenshot of the sample report: {screenshot}")
    assert [text for kind, text in seen["console"] if kind == "error"] == []
    assert seen["page_errors"] == []
    assert seen["requests"] and all(url.startswith(("file:", "data:")) for url in seen["requests"]), seen[
        "requests"
    ]
    assert seen["images"], "the report shows figures"
    for alt, loaded in seen["images"]:
        assert loaded, "every image decodes"
        assert alt and alt.strip() and alt != NBCONVERT_PLACEHOLDER_ALT
    assert not FULL_ADDRESS.findall(seen["text"])
    assert "List health report" in seen["text"]


@needs_chromium
def test_browser_check_sees_remote_requests_and_errors(tmp_path):
    """The check itself: a page that fetches from the internet and fails is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><script src='https://cdn.example/require.js'></script></head>"
        "<body><img src='http://img.example/x.png'><p>mail ann@example.com</p>"
        "<script>console.error('boom'); undefinedCall();</script></body></html>",
        encoding="utf-8",
    )
    seen = open_in_chromium(page, tmp_path / "profile")
    assert {"https://cdn.example/require.js", "http://img.example/x.png"} <= set(seen["requests"])
    assert ("error", "boom") in seen["console"]
    assert any("undefinedCall" in error for error in seen["page_errors"])
    assert [alt for alt, _ in seen["images"]] == [None]
    assert FULL_ADDRESS.findall(seen["text"]) == ["ann@example.com"]
