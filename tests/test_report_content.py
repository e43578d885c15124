"""The report's content (issue 12): figures with takeaways, conclusions first, honest numbers, no address.

Most tests work on the bundled sample's run (``data/sample``: 3,000 list rows, 86,643 events); the
report itself is rendered once from a stored run, as ``listkit run`` and ``listkit report`` do.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from conftest import SAMPLE

import listkit
from listkit import conclusions, figures, report, sensitivity
from listkit.compliance import PERIODS
from listkit.render import notebook_path, render_report

#: Percentages as the report writes them ("4.9%", "100.0%", "1,234%").
PERCENT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?%")


@pytest.fixture(scope="module")
def sample_result() -> listkit.RunResult:
    return listkit.run_files(SAMPLE / "subscribers.csv", SAMPLE / "events.csv")


@pytest.fixture(scope="module")
def report_html(sample_result, tmp_path_factory) -> str:
    """The report rendered from the stored sample run, as ``listkit report DIR`` renders it."""
    folder = tmp_path_factory.mktemp("report")
    sample_result.save(folder / "run")
    render_report(folder / "run", folder / "report.html")
    return (folder / "report.html").read_text(encoding="utf-8")


def _page_text(page: str) -> str:
    body = page[page.index("<body") :]
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def _addresses(result: listkit.RunResult) -> set[str]:
    ledger = result.ledger
    return {a for a in [*ledger["email"].drop_nulls(), *ledger["email_normalized"].drop_nulls()] if "@" in a}


# The rendered report ------------------------------------------------------------------------------


def test_report_shows_conclusions_first_then_at_least_ten_figures(report_html):
    text = _page_text(report_html)
    first_figure = report_html.index("<img")
    assert report_html.index("What to do now") < first_figure
    assert (
        text.index("What to do now") < text.index("The run in numbers") < text.index("From list to mailable")
    )
    assert report_html.count("data:image/png;base64") >= 10
    assert text.count("Takeaway:") >= 10, "every figure has its one-line takeaway"
    assert "Traceback" not in text and "def " not in text and "present(" not in text, "no code in the report"


def test_report_rates_are_shares_and_never_is_never(report_html, sample_result):
    text = _page_text(report_html)
    percentages = [float(p.replace(",", "")) for p in PERCENT.findall(text)]
    assert percentages and max(percentages) <= 100, "no rate above 100%"
    # The stored profile still says 110.8 opens per 100 deliveries for engaged readers and 730 days for
    # "new" readers (a cap standing for never); the report says neither.
    stored = sample_result.segment_profiles
    assert stored["open_rate_pct"].max() > 100 and 730.0 in stored["median_days_since_engagement"].to_list()
    assert "never" in text and "730 days" not in text and "110.8%" not in text


def test_report_holds_no_full_address(report_html, sample_result):
    text = _page_text(report_html)
    tokens = {t for t in re.split(r"[\s\"'<>(),;:`{}]+", text) if re.fullmatch(r"\S+@[\w-]+(\.[\w-]+)+", t)}
    assert not tokens & _addresses(sample_result)
    assert all(re.fullmatch(r".\*\*\*@[^@]+", t) for t in tokens), tokens
    assert any(t.endswith("@gamil.com") for t in tokens), "the typo fixes show masked examples"


def test_report_figures_carry_their_alt_text(report_html, sample_result):
    images = re.findall(r"<img\b[^>]*>", report_html)
    # The serializer quotes an attribute holding a double quote with single quotes.
    alts = [html.unescape(m.group(2)) for m in (re.search(r"""alt=(["'])(.*?)\1""", i) for i in images) if m]
    assert len(alts) == len(images) >= 10
    drawn = [item for item in figures.report_figures(sample_result) if item.figure is not None]
    assert alts == [item.alt for item in drawn], "each figure described by its kind, title and takeaway"


# Figures --------------------------------------------------------------------------------------------


def test_every_figure_has_a_title_labelled_axes_and_a_one_line_takeaway(sample_result):
    made = figures.report_figures(sample_result)
    drawn = [item for item in made if item.figure is not None]
    assert len(drawn) >= 10
    assert {item.name for item in drawn} >= {
        "funnel", "reasons", "scores", "engagement_over_time", "segment_sizes", "segment_profiles",
        "complaint_rates", "bounce_rates", "source_quality", "signup_cohorts", "top_domains", "typo_fixes",
    }  # fmt: skip
    for item in made:
        assert item.takeaway and "\n" not in item.takeaway and item.takeaway.endswith("."), item.name
        assert item.takeaway in item.alt and "\n" not in item.alt
    for item in drawn:
        axes = item.figure.axes
        assert item.figure.get_suptitle() or any(a.get_title(loc="left") for a in axes), item.name
        assert all(a.get_xlabel() or a.get_ylabel() for a in axes), item.name


def test_figures_that_do_not_apply_say_why(sample_result):
    # No previous run and no warm-up on the sample: a sentence instead of an empty picture.
    assert figures.changes(sample_result).figure is None
    assert "--previous" in figures.changes(sample_result).takeaway
    assert figures.warmup(sample_result).figure is None
    no_source = dataclasses.replace(
        sample_result, ledger=sample_result.ledger.with_columns(source=pl.lit(None, pl.String))
    )
    assert figures.source_quality(no_source).figure is None
    assert "no source column" in figures.source_quality(no_source).takeaway
    assert report.source_table(no_source).is_empty()


def test_funnel_removals_add_up_to_the_funnel(sample_result):
    table = report.funnel_table(sample_result)
    removals = report.funnel_removals(sample_result)
    by_step = dict(removals.group_by("step").agg(pl.col("rows").sum()).rows())
    for step, removed in table.select("step", "removed").rows()[1:]:
        assert by_step.get(step, 0) == removed, step
    assert removals["rows"].sum() == sample_result.summary()["outcome"]["prune"]
    assert table["rows_left"][-1] == sample_result.summary()["outcome"]["keep"]
    item = figures.funnel(sample_result)
    assert f"{table['rows_left'][-1]:,} of 3,000" in item.takeaway


def test_engagement_over_time_reads_the_monthly_counts(sample_result):
    table = report.monthly_table(sample_result)
    shares = table["machine_open_rate"].drop_nulls()
    assert shares.min() >= 0 and shares.max() <= 1
    last = table.row(-1, named=True)
    item = figures.engagement_over_time(sample_result)
    assert f"{last['human_opens']:,} human opens and {last['clicks']:,} clicks" in item.takeaway
    assert f"{last['machine_open_rate']:.0%} of all opens" in item.takeaway
    assert (
        table["deliveries"].sum()
        == sample_result.compliance.filter((pl.col("provider") == "all") & (pl.col("period") == PERIODS[1]))[
            "deliveries"
        ].item()
    ), "every delivery of the log is in one month"
    empty = dataclasses.replace(sample_result, monthly=sample_result.monthly.head(0))
    assert figures.engagement_over_time(empty).figure is None


def test_changes_since_a_previous_run_are_drawn(sample_result):
    ledger = sample_result.ledger
    previous = ledger.with_columns(  # the earlier run pruned rows 1-60; row 3,000 was not there
        outcome=pl.when(pl.col("source_row") <= 60).then(pl.lit("prune")).otherwise("outcome"),
        segment=pl.when(pl.col("source_row") <= 60).then(None).otherwise("segment"),
    ).filter(pl.col("source_row") != 3000)
    result = dataclasses.replace(sample_result, changes=listkit.changes(previous, ledger))
    counts = result.summary()["changes"]
    item = figures.changes(result)
    assert item.figure is not None
    by_change = counts["by_change"]
    assert by_change["new"] == 1 and "1 new address," in item.takeaway
    assert f"{by_change['outcome']:,} changed outcome" in item.takeaway and by_change["outcome"] > 0


def test_warmup_plan_is_drawn_when_the_policy_has_one(sample_result):
    result = dataclasses.replace(sample_result, policy=sample_result.policy.with_options({"warmup_days": 3}))
    item = figures.warmup(result)
    schedule = report.warmup_table(result)
    day_one = schedule.filter(pl.col("day") == 1)["rows"].sum()
    assert item.figure is not None and f"{day_one:,} addresses on day 1" in item.takeaway
    after = schedule.filter(pl.col("day").is_null())["rows"].sum()
    assert after > 0 and f"{after:,} kept readers are mailed after the warm-up" in item.takeaway
    longer = dataclasses.replace(sample_result, policy=sample_result.policy.with_options({"warmup_days": 30}))
    assert "every kept reader fits in it" in figures.warmup(longer).takeaway


# Honest tables --------------------------------------------------------------------------------------


def test_segment_table_gives_shares_of_readers_and_never(sample_result):
    table = report.segment_table(sample_result)
    kept = sample_result.ledger.filter(pl.col("outcome") == "keep")
    for column in ("opened_pct", "clicked_pct", "never_engaged_pct", "share_of_kept_pct"):
        assert table[column].min() >= 0 and table[column].max() <= 100, column
    engaged = kept.filter(pl.col("segment") == "engaged")
    row = table.filter(pl.col("segment") == "engaged").row(0, named=True)
    assert row["opened_pct"] == pytest.approx(100 * (engaged["human_opens"] > 0).mean())
    assert row["readers"] == engaged.height
    unknown = table.filter(pl.col("segment") == "engagement-unknown").row(0, named=True)
    assert unknown["last_engaged"] == "never" and unknown["never_engaged_pct"] == 100
    assert table.filter(pl.col("segment") == "engaged")["last_engaged"].item().endswith("days ago")
    assert table["readers"].sum() == kept.height


def test_every_segment_gets_a_description_and_what_to_send(sample_result):
    guide = report.segment_guide(sample_result)
    assert guide["segment"].to_list() == report.segment_table(sample_result)["segment"].to_list()
    assert (
        guide["who they are"].str.len_chars().min() > 40 and guide["what to send"].str.len_chars().min() > 20
    )
    lapsing = guide.filter(pl.col("segment") == "lapsing").row(0, named=True)
    assert "win-back" in lapsing["what to send"] and "365 days" in lapsing["what to send"]
    assert (
        "Apple Mail Privacy Protection"
        in guide.filter(pl.col("segment") == "engagement-unknown")["who they are"].item()
    )
    assert (
        report.base_segment("engaged-2") == "engaged"
        and report.base_segment("engagement-unknown") == "engagement-unknown"
    )


def _compliance_with(result: listkit.RunResult, provider: str, **counts: int) -> listkit.RunResult:
    """The run with the last-30-days counts of ``provider`` replaced (a busier or quieter month)."""
    row = (pl.col("provider") == provider) & (pl.col("period") == PERIODS[0])
    frame = result.compliance.with_columns(
        **{name: pl.when(row).then(pl.lit(value, pl.Int64)).otherwise(name) for name, value in counts.items()}
    )
    return dataclasses.replace(result, compliance=frame)


def _verdicts(result: listkit.RunResult, provider: str) -> dict:
    table = report.compliance_table(result)
    return table.filter((pl.col("provider") == provider) & (pl.col("period") == PERIODS[0])).row(
        0, named=True
    )


def test_a_complaint_in_few_deliveries_is_too_few_to_judge(sample_result):
    gmail = _verdicts(sample_result, "Gmail")
    assert (gmail["complaints"], gmail["deliveries"]) == (1, 864)  # the example
    assert gmail["complaint_verdict"] == report.TOO_FEW
    stored = sample_result.compliance.filter(
        (pl.col("provider") == "Gmail") & (pl.col("period") == PERIODS[0])
    )
    assert stored["complaint_status"].item() == "above 0.1% target", (
        "the stored verdict is what the report fixes"
    )
    # Four complaints among 400 deliveries are over 0.3% however the next 600 go; two are not enough.
    assert _verdicts(_compliance_with(sample_result, "Gmail", complaints=4, deliveries=400), "Gmail")[
        "complaint_verdict"] == "over the 0.3% limit"  # fmt: skip
    assert _verdicts(_compliance_with(sample_result, "Gmail", complaints=2, deliveries=400), "Gmail")[
        "complaint_verdict"] == "above the 0.1% target"  # fmt: skip
    # On enough deliveries the rate itself is judged, at the line included.
    big = _verdicts(_compliance_with(sample_result, "Gmail", complaints=3, deliveries=1000), "Gmail")
    assert big["complaint_verdict"] == "over the 0.3% limit"
    quiet = _verdicts(_compliance_with(sample_result, "Gmail", complaints=0, deliveries=5000), "Gmail")
    assert quiet["complaint_verdict"] == "below 0.1%"


def test_bounce_rates_are_per_mail_sent_and_meet_the_ses_lines(sample_result):
    yahoo = _verdicts(sample_result, "Yahoo/AOL")
    assert yahoo["sent"] == yahoo["deliveries"] + yahoo["bounces"]
    assert yahoo["bounce_rate"] == pytest.approx(12 / 267) and yahoo["bounce_verdict"] == "above 2%"
    table = report.compliance_table(sample_result)
    assert table["bounce_rate"].max() <= 1 and table["complaint_rate"].max() <= 1
    review = _verdicts(_compliance_with(sample_result, "Microsoft", bounces=30, deliveries=470), "Microsoft")
    assert (
        review["bounce_rate"] == pytest.approx(0.06)
        and review["bounce_verdict"] == "at or above 5% (SES review)"
    )
    few = _verdicts(_compliance_with(sample_result, "Apple", bounces=2, deliveries=40), "Apple")
    assert few["bounce_verdict"] == report.TOO_FEW, "2 bounces in 42 mails: 4.8%, but on too few mails"
    no_mail = _verdicts(
        _compliance_with(sample_result, "Apple", bounces=0, deliveries=0, complaints=0), "Apple"
    )
    assert no_mail["bounce_verdict"] == "no mail" and no_mail["bounce_rate"] is None


def test_source_table_rates_are_shares_of_the_source_rows(sample_result):
    table = report.source_table(sample_result)
    ledger = sample_result.ledger
    assert table["rows"].sum() == ledger.height
    web = ledger.filter(pl.col("source") == "web_form")
    row = table.filter(pl.col("source") == "web_form").row(0, named=True)
    assert row["invalid_rate"] == pytest.approx(web["reasons"].str.contains("invalid_syntax").mean())
    bad = web["reasons"].str.contains("invalid_syntax|typo_domain|disposable|hard_bounce").mean()
    assert row["bad_address_rate"] == pytest.approx(bad)
    assert table.filter(pl.col("source") == "referral")["verdict"].item() == report.TOO_FEW  # 90 rows
    assert table["verdict"].to_list()[-1] == report.TOO_FEW, "judged sources first"


def test_a_source_holding_an_address_is_shown_without_it(sample_result):
    # Free text typed into a CRM's source field: "import from <the agency's contact>".
    ledger = sample_result.ledger.with_columns(
        source=pl.when(pl.col("source") == "import")
        .then(pl.concat_str(pl.lit("import from jane.doe"), (pl.col("source_row") % 2).cast(pl.String),
                            pl.lit("@agency.example")))
        .otherwise("source")
    )  # fmt: skip
    result = dataclasses.replace(sample_result, ledger=ledger)
    table = report.source_table(result)
    assert "import from (address)" in table["source"].to_list()
    assert not table["source"].str.contains("@").any()
    assert table.filter(pl.col("source") == "import from (address)")["rows"].item() == 389
    labels = [tick.get_text() for tick in figures.source_quality(result).figure.axes[0].get_yticklabels()]
    assert any(label.startswith("import from (address)") for label in labels)
    assert not any("@" in label for label in labels), "nothing the page masker cannot reach in the picture"


def test_cohorts_by_quarter_with_their_mailed_readers(sample_result):
    table = report.cohort_table(sample_result)
    assert table["label"][0] == "2023 Q2" and table["label"][-1] == "2026 Q4"  # sign-ups 2023-04 to 2026-10
    assert (table["mailed"] <= table["rows"]).all()
    assert table["rows"].sum() == sample_result.ledger["signup_at"].is_not_null().sum()
    rates = table["engaged_recently_rate"].drop_nulls()
    assert rates.min() >= 0 and rates.max() <= 1
    small = dataclasses.replace(sample_result, ledger=sample_result.ledger.head(400))
    assert report.TOO_FEW in report.cohort_table(small)["verdict"].to_list()


def test_typo_fixes_show_domains_and_masked_examples_only(sample_result):
    assert report.typo_table(sample_result, top=3).height == 3
    table = report.typo_table(sample_result, top=None)
    assert table["rows"].sum() == sample_result.summary()["reason"]["typo_domain"]
    addresses = _addresses(sample_result)
    assert not set(table["example"]) & addresses
    for typed, example in table.select("typed", "example").rows():
        assert re.fullmatch(r".\*\*\*@" + re.escape(typed), example)
    top = report.domain_table(sample_result)
    assert top["domain"][0] == "gmail.com" and not top["domain"].str.contains("@").any()


# Conclusions ---------------------------------------------------------------------------------------


def _recording_what_if(calls: list):
    """A stand-in for listkit.sensitivity.what_if (issue 12, part R1) with numbers derived from the call."""

    def what_if(result, **options):
        ((name, value),) = options.items()
        calls.append((name, value))
        more = len(calls) * 10
        return SimpleNamespace(
            newly_pruned=more, newly_kept=0, by_reason={"inactive": more}, rows=pl.DataFrame()
        )

    return what_if


def test_what_to_do_names_the_suppression_the_provider_the_segment_and_the_thresholds(sample_result):
    calls: list = []
    text = conclusions.what_to_do(sample_result, what_if=_recording_what_if(calls))
    assert text.startswith("## What to do now\n\n1. **Suppress 235 addresses.**")
    assert sample_result.suppression.height == 235 and "`suppression.csv`" in text
    assert "129 unsubscribed, 104 hard-bounced, 8 complained" in text
    assert "53 rows that must not be mailed hold no valid address" in text
    # Apple bounced 6 of 122 mails in the last 30 days, the highest rate over the 2% line.
    assert "**Apple is at risk.** In the last 30 days 4.9% of the mail sent to it bounced (6 of 122)" in text
    assert "too few to judge" in text
    assert "**Win back `lapsing`.** 489 readers" in text and "segments/lapsing.csv" in text
    assert "`sunset_days = 365`" in text and "`prune_disposable = true`" in text
    tried = dict.fromkeys(name for name, _ in calls)
    assert list(tried) == list(report.THRESHOLD_OPTIONS)
    assert ("sunset_days", 180) in calls and ("sunset_days", 730) in calls
    assert ("sunset_min_deliveries", 5) in calls and ("soft_bounce_limit", 2) in calls
    assert ("prune_role_accounts", False) in calls
    assert "With a 180-day sunset window, 10 more rows would be pruned (inactive +10)." in text
    assert "With role accounts kept with a warning, 70 more rows would be pruned" in text


def test_a_source_that_stands_out_is_named(sample_result):
    ledger = sample_result.ledger.with_columns(  # every popup row also on a throw-away domain
        reasons=pl.when(pl.col("source") == "popup")
        .then(pl.concat_str(pl.col("reasons"), pl.lit(";disposable")))
        .otherwise("reasons")
    )
    text = conclusions.source_action(dataclasses.replace(sample_result, ledger=ledger))
    assert text.startswith("**Fix the source `popup`.** 100.0% of its 303 rows")
    assert conclusions.source_action(sample_result).startswith("**No source stands out**")


def test_threshold_effects_use_listkit_sensitivity(sample_result):
    effects = conclusions.threshold_effects(sample_result)
    assert list(dict.fromkeys(effects["option"])) == list(report.THRESHOLD_OPTIONS)
    assert effects["sentence"].str.starts_with("with ").all()
    first = effects.row(0, named=True)
    direct = sensitivity.what_if(sample_result, **{first["option"]: int(first["tried"])})
    assert (first["newly_pruned"], first["newly_kept"]) == (direct.newly_pruned, direct.newly_kept)


# The notebook --------------------------------------------------------------------------------------


def test_notebook_keeps_its_parameters_and_calls_only_public_functions():
    notebook = json.loads(Path(notebook_path()).read_text(encoding="utf-8"))
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    tagged = [cell for cell in notebook["cells"] if "parameters" in cell["metadata"].get("tags", [])]
    assert len(tagged) == 1
    names = re.findall(r"^(\w+) = None$", "".join(tagged[0]["source"]), flags=re.M)
    assert names == ["run_dir", "subscribers", "events", "out_dir", "as_of", "config", "policy", "features"]
    body = "\n".join(code[1:])
    assert not re.search(r"\b_\w+|\.\_", body), "no private names"
    assert set(re.findall(r"\b(?:def|class|for|while|lambda)\b", body)) == set(), "the logic lives in listkit"
    assert max(len(c.splitlines()) for c in code[1:]) <= 15
    markdown = [cell for cell in notebook["cells"] if cell["cell_type"] == "markdown"]
    assert len(markdown) >= 10, "each section is explained"


def test_a_small_list_without_events_still_gets_its_report():
    # A new list imported before its first send: 50 rows, no event log.
    result = listkit.run(listkit.read_subscribers(SAMPLE / "subscribers.csv").head(50), None)
    made = {item.name: item for item in figures.report_figures(result)}
    assert made["complaint_rates"].figure is None and "No mail was sent" in made["complaint_rates"].takeaway
    assert made["funnel"].figure is not None and made["segment_sizes"].figure is not None
    assert "no score" in made["scores"].takeaway
    text = conclusions.what_to_do(result, what_if=_recording_what_if([]))
    assert "no provider can be judged" in text and "**Nothing to win back**" in text
    assert "too few to judge" in conclusions.source_action(result)


def test_the_win_back_sentence_says_how_many_never_engaged(sample_result):
    lapsing = report.segment_table(sample_result).filter(pl.col("segment") == "lapsing").row(0, named=True)
    sentence = conclusions.winback_action(sample_result)
    assert f"{lapsing['never_engaged_pct']:.0f}% never opened or clicked at all" in sentence
    assert "re-permission" in sentence  # those never engaged get another mail than a win-back


def test_the_source_conclusion_and_the_table_judge_alike(sample_result):
    table = report.source_table(sample_result)
    sentence = conclusions.source_action(sample_result)
    stands_out = table.filter(pl.col("verdict").str.starts_with("over")).height > 0
    assert sentence.startswith("**Fix the source") == stands_out
    worst = table.row(0, named=True)
    # The breakdown in brackets is the source's own, right after its figure.
    assert f"of its {worst['rows']:,} rows ({worst['invalid_rate']:.1%} invalid" in sentence


def test_a_hashed_ledger_and_an_empty_list_get_true_sentences(sample_result):
    hashed = dataclasses.replace(
        sample_result,
        ledger=sample_result.ledger.with_columns(pl.col("suggestion").str.replace_all("@", "x")),
    )
    assert "hashed" in figures.typo_fixes(hashed).takeaway
    assert "None" not in figures.typo_fixes(hashed).takeaway
    empty = dataclasses.replace(sample_result, ledger=sample_result.ledger.head(0))
    assert "of 0 list rows" in figures.funnel(empty).takeaway
    assert "Nothing to suppress" in conclusions.suppress_action(
        dataclasses.replace(empty, suppression=sample_result.suppression.head(0))
    )
