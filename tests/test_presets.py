"""Import presets: each sending tool's documented import shape (tests/fixtures/imports/README.md)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listkit.errors import ConfigError, MissingColumnError
from listkit.presets import (
    SEGMENT_FIELDS,
    SEGMENT_PRESETS,
    SUPPRESSION_PRESETS,
    check_preset,
    segment_table,
    suppression_tables,
)

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
TIME = pl.Datetime("us", "UTC")

# Pass-through columns as analysts' lists have them: a plain one, names with spaces, a leading digit,
# a dash, non-ASCII letters, two that collide once a tool respells them, a Mailchimp standard field,
# a Klaviyo special ($) name and Mailchimp's exported TAGS.
PASSTHROUGH = (
    "plan", "Zip Code", "1st purchase", "e-mail opt in", "Ünïcode", "first-name!", "first_name_",
    "Phone Number", "$coupon", "TAGS",
)  # fmt: skip
SEGMENT_ROWS = pl.DataFrame(
    {
        "email": ["zoe.lemaitre@example.com", "wei.davis@example.net", "lukasz.wojcik@example.org"],
        "first_name": ["Zoë", None, "Łukasz"],
        "last_name": ["Lemaître", None, "Wójcik"],
        "signup_at": [
            datetime(2026, 2, 25, 5, 15, 5, tzinfo=UTC),
            None,
            datetime(2025, 11, 3, 18, 42, tzinfo=UTC),
        ],
        "source": ["web form", None, "checkout"],
        "segment": ["engaged", "engaged", "engaged"],
        "score": [87.5, None, 42.0],
        "plan": ["team", "free", None],
        "Zip Code": ["02806", None, "10115"],
        "1st purchase": ["2026-01-03", None, None],
        "e-mail opt in": ["yes", None, "no"],
        "Ünïcode": ["ü", None, None],
        "first-name!": ["Zo", None, None],
        "first_name_": ["Zoé", None, None],
        "Phone Number": ["401-555-0100", None, None],
        "$coupon": ["WELCOME10", None, None],
        "TAGS": ['"plan-team"', None, '"engaged","vip"'],
    },
    schema_overrides={"signup_at": TIME},
)
_DATES = ("suppressed_at", "unsubscribed_at", "complaint_at", "hard_bounce_at")
SUPPRESSION_ROWS = pl.DataFrame(
    [
        ("ann.lee@example.com", "hard_bounce", datetime(2026, 3, 1, 8, tzinfo=UTC), None, None,
         datetime(2026, 3, 1, 8, tzinfo=UTC), "550 5.1.1 <ann.lee@example.com>: user unknown",
         "user_unknown"),
        ("bob@example.net", "complaint;unsubscribed", datetime(2026, 2, 2, 9, 30, tzinfo=UTC),
         datetime(2026, 2, 3, 9, 30, tzinfo=UTC), datetime(2026, 2, 2, 9, 30, tzinfo=UTC), None, None, None),
        # from the list's status column: no dates
        ("carol@example.org", "unsubscribed", None, None, None, None, None, None),
        # not an address as written: no tool's file may hold it
        ("Dan <dan@example.com>", "unsubscribed", None, None, None, None, None, None),
        ("erin@example.com", "hard_bounce;no_mx", datetime(2026, 1, 15, 12, tzinfo=UTC), None, None,
         datetime(2026, 1, 15, 12, tzinfo=UTC), "5.1.1", "user_unknown"),
        ("frank@example.com", "no_mx", None, None, None, None, None, None),
        ("gina@example.com", "complaint;hard_bounce", datetime(2025, 12, 24, 23, 59, 59, tzinfo=UTC), None,
         datetime(2025, 12, 31, 10, tzinfo=UTC), datetime(2025, 12, 24, 23, 59, 59, tzinfo=UTC), None,
         "mailbox_disabled"),
        ("jurgen@bücher.de", "unsubscribed", datetime(2026, 4, 1, tzinfo=UTC),
         datetime(2026, 4, 1, tzinfo=UTC), None, None, None, None),
    ],
    schema={"email": pl.String, "reason": pl.String, **dict.fromkeys(_DATES, TIME),
            "bounce_status": pl.String, "bounce_reason": pl.String},
    orient="row",
)  # fmt: skip

SEGMENT_FIXTURES = {
    "mailchimp": "mailchimp-contacts.csv",
    "sendgrid": "sendgrid-contacts.csv",
    "klaviyo": "klaviyo-profiles.csv",
    "brevo": "brevo-contacts.csv",
    "mailgun": "mailgun-members.csv",
    "ses-contacts": "ses-contacts.csv",
}
SUPPRESSION_FIXTURES = {
    "mailgun": ["mailgun-bounces.csv", "mailgun-complaints.csv", "mailgun-unsubscribes.csv"],
    "ses": ["ses-suppression.csv"],
    "sendgrid": ["sendgrid-unsubscribes.csv"],
    "klaviyo": ["klaviyo-suppressed.csv"],
    "brevo": ["brevo-blocklist.csv"],
}
JSON_COLUMNS = {"vars", "attributesData"}  # JSON objects: compared as objects, not as text


def _fixture(name: str, *, header: bool = True) -> pl.DataFrame:
    return pl.read_csv(FIXTURES / name, infer_schema=False, has_header=header)


def _assert_matches(frame: pl.DataFrame, expected: pl.DataFrame, *, header: bool = True) -> None:
    """Same header (when the file has one) and the same cells, row by row."""
    if header:
        assert frame.columns == expected.columns
    assert frame.height == expected.height
    assert all(dtype == pl.String for dtype in frame.dtypes), frame.schema
    for got, want in zip(frame.iter_rows(), expected.iter_rows(), strict=True):
        for column, a, b in zip(frame.columns, got, want, strict=True):
            if column in JSON_COLUMNS:
                assert json.loads(a) == json.loads(b), column
            else:
                assert a == b, (column, a, b)


@pytest.mark.parametrize("preset", sorted(SEGMENT_FIXTURES))
def test_segment_preset_matches_the_documented_file(preset):
    table = segment_table(SEGMENT_ROWS, preset, passthrough=PASSTHROUGH)
    assert table.kind == "" and table.header
    assert table.address_column == table.frame.columns[0]
    _assert_matches(table.frame, _fixture(SEGMENT_FIXTURES[preset]))


def test_generic_segment_is_the_input_unchanged():
    table = segment_table(SEGMENT_ROWS, "generic", passthrough=PASSTHROUGH)
    assert table.frame.equals(SEGMENT_ROWS) and table.frame.schema == SEGMENT_ROWS.schema
    assert table.address_column == "email"


@pytest.mark.parametrize(
    ("preset", "column", "pattern"),
    [
        ("mailchimp", "Listkit Signup Date", r"\d{4}-\d{2}-\d{2}"),
        ("sendgrid", "listkit_signup_date", r"\d{2}/\d{2}/\d{4}"),
        ("klaviyo", "listkit_signup_at", r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\+00:00"),
        ("brevo", "LISTKIT_SIGNUP_DATE", r"\d{4}-\d{2}-\d{2}"),
    ],
)
def test_dates_are_in_the_format_the_tool_reads(preset, column, pattern):
    cells = segment_table(SEGMENT_ROWS, preset, passthrough=PASSTHROUGH).frame[column]
    assert cells.null_count() == SEGMENT_ROWS["signup_at"].null_count()  # unknown stays an empty cell
    assert all(re.fullmatch(pattern, cell) for cell in cells.drop_nulls())


def test_mailchimp_adds_the_segment_tag_to_exported_tags_and_drops_earlier_runs_tags():
    # An earlier run's listkit tag is replaced; the analyst's own tags (even one named "engaged") stay.
    rows = SEGMENT_ROWS.with_columns(TAGS=pl.Series(['"plan-team"', "", '"listkit-lapsing","vip","engaged"']))
    tags = segment_table(rows, "mailchimp", passthrough=PASSTHROUGH).frame["Tags"].to_list()
    assert tags == ['"plan-team","listkit-engaged"', '"listkit-engaged"', '"vip","engaged","listkit-engaged"']
    without = segment_table(rows.drop("TAGS"), "mailchimp", passthrough=PASSTHROUGH[:-1]).frame
    assert without["Tags"].to_list() == ['"listkit-engaged"'] * 3 and "TAGS" not in without.columns


def test_mailgun_member_name_joins_the_names_it_knows():
    rows = SEGMENT_ROWS.with_columns(first_name=pl.Series(["Zoë", None, None]))
    names = segment_table(rows, "mailgun", passthrough=()).frame["name"].to_list()
    assert names == ["Zoë Lemaître", None, "Wójcik"]


@pytest.mark.parametrize("preset", sorted(SUPPRESSION_FIXTURES))
def test_suppression_preset_matches_the_documented_files(preset):
    tables = suppression_tables(SUPPRESSION_ROWS, preset)
    assert [t.kind for t in tables] == (
        ["bounces", "complaints", "unsubscribes"] if preset == "mailgun" else [""]
    )
    for table, name in zip(tables, SUPPRESSION_FIXTURES[preset], strict=True):
        assert table.header == (preset != "ses")
        _assert_matches(table.frame, _fixture(name, header=table.header), header=table.header)
        assert table.address_column == table.frame.columns[0]


def test_generic_suppression_keeps_todays_columns_and_the_datetime():
    (table,) = suppression_tables(SUPPRESSION_ROWS, "generic")
    assert table.frame.columns == ["email", "reason", "suppressed_at"]
    assert table.frame.schema["suppressed_at"] == TIME  # the writer formats it
    valid = SUPPRESSION_ROWS.filter(~pl.col("email").str.contains("[ <]"))  # not the display-name form
    assert table.frame.equals(valid.select("email", "reason", "suppressed_at"))


def test_unknown_codes_are_suppressed_as_bounces_everywhere():
    rows = SUPPRESSION_ROWS.filter(pl.col("email") == "frank@example.com")  # reason no_mx only
    (ses,) = suppression_tables(rows, "ses")
    assert ses.frame.row(0) == ("frank@example.com", "BOUNCE")
    bounces, complaints, unsubscribes = suppression_tables(rows, "mailgun")
    assert bounces.frame["address"].to_list() == ["frank@example.com"]
    assert complaints.frame.is_empty() and unsubscribes.frame.is_empty()


def test_check_preset_names_the_choices():
    assert check_preset(" MailChimp ", kind="segment") == "mailchimp"
    assert check_preset("ses", kind="suppression") == "ses"
    with pytest.raises(ConfigError, match=f"choose one of {', '.join(SEGMENT_PRESETS)}"):
        check_preset("hubspot", kind="segment")
    with pytest.raises(ConfigError, match=f"choose one of {', '.join(SUPPRESSION_PRESETS)}"):
        check_preset("ses-contacts", kind="suppression")
    with pytest.raises(ConfigError, match="a value that looks like an email address"):
        check_preset("ann@example.com", kind="segment")  # an option value is never echoed if it is an address
    assert ", ".join(SEGMENT_PRESETS) == "generic, mailchimp, sendgrid, klaviyo, brevo, mailgun, ses-contacts"
    assert ", ".join(SUPPRESSION_PRESETS) == "generic, mailgun, ses, sendgrid, klaviyo, brevo"


def test_missing_columns_are_named():
    with pytest.raises(MissingColumnError, match="'Zip Code'"):
        segment_table(SEGMENT_ROWS.drop("Zip Code"), "sendgrid", passthrough=PASSTHROUGH)
    with pytest.raises(MissingColumnError, match="'hard_bounce_at'"):
        suppression_tables(SUPPRESSION_ROWS.drop("hard_bounce_at"), "mailgun")


def test_every_tool_preset_documents_its_pages():
    for presets in (SEGMENT_PRESETS, SUPPRESSION_PRESETS):
        for name, preset in presets.items():
            assert name == "generic" or (
                preset.docs and all(url.startswith("https://") for url in preset.docs)
            )


def test_same_input_same_tables():
    for preset in SEGMENT_PRESETS:
        first = segment_table(SEGMENT_ROWS, preset, passthrough=PASSTHROUGH).frame
        assert first.equals(segment_table(SEGMENT_ROWS.clone(), preset, passthrough=PASSTHROUGH).frame)
    for preset in SUPPRESSION_PRESETS:
        first = [t.frame for t in suppression_tables(SUPPRESSION_ROWS, preset)]
        again = [t.frame for t in suppression_tables(SUPPRESSION_ROWS.clone(), preset)]
        assert all(a.equals(b) for a, b in zip(first, again, strict=True))


# ---- properties -------------------------------------------------------------------------------------

# What each tool accepts as a header (tests/fixtures/imports/README.md).
HEADER_SHAPES = {"sendgrid": r"[A-Za-z_][A-Za-z0-9_]*", "brevo": r"[A-Z][A-Z0-9_]*"}
names = st.lists(
    st.text(st.characters(codec="utf-8"), max_size=12).filter(lambda name: name not in SEGMENT_FIELDS),
    unique=True, max_size=8,
)  # fmt: skip


def _segment_rows(passthrough: list[str], height: int) -> pl.DataFrame:
    base = SEGMENT_ROWS.select(SEGMENT_FIELDS).head(height)
    return base.with_columns(pl.lit("x").alias(name) for name in passthrough)


def _json_keys(cell: str) -> list[str]:
    return [key for key, _ in json.loads(cell, object_pairs_hook=lambda pairs: pairs)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(passthrough=names, height=st.integers(0, 3))
def test_no_header_collides_and_every_row_is_there_once(passthrough, height):
    rows = _segment_rows(passthrough, height)
    for preset, spec in SEGMENT_PRESETS.items():
        table = segment_table(rows, preset, passthrough=passthrough)
        frame = table.frame
        assert frame.height == rows.height
        assert frame[table.address_column].to_list() == rows["email"].to_list()  # once each, in order
        if spec.address is None:
            continue
        keys = [spec.names.key(header) for header in frame.columns]
        assert len(set(keys)) == len(keys), frame.columns
        passthrough_headers = frame.columns[len(spec.headers()) :]
        reserved = {spec.names.key(name) for name in spec.names.reserved}
        assert not reserved & {spec.names.key(h) for h in passthrough_headers}
        if preset in HEADER_SHAPES:
            assert all(re.fullmatch(HEADER_SHAPES[preset], h) for h in frame.columns), frame.columns
        if spec.bag is not None and rows.height:
            members = _json_keys(frame[spec.bag][0])
            assert len(members) == len(set(members)) == len(spec.bag_fields) + len(passthrough)


REASONS = ["unsubscribed", "complaint", "hard_bounce", "no_mx"]  # no_mx: a code the tools have no word for
codes = st.lists(st.sampled_from(REASONS), unique=True, max_size=3)
addresses = st.sampled_from(
    ["ann@example.com", "bo.b@example.net", "jurgen@bücher.de", "=1+1@example.com", "Dan <dan@example.com>",
     "not an address", " pad@example.com"]
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(st.tuples(addresses, codes), unique_by=lambda entry: entry[0], max_size=7))
def test_suppression_files_hold_only_valid_input_addresses(entries):
    rows = pl.DataFrame(
        {"email": [e for e, _ in entries], "reason": [";".join(sorted(c)) for _, c in entries]},
        schema={"email": pl.String, "reason": pl.String},
    ).with_columns(
        *(pl.lit(None, TIME).alias(name) for name in _DATES),
        bounce_status=pl.lit(None, pl.String),
        bounce_reason=pl.lit(None, pl.String),
    )
    given = [e for e, _ in entries if "@" in e and " " not in e and "<" not in e]
    for preset, spec in SUPPRESSION_PRESETS.items():
        # SES takes ASCII addresses only: the IDN domain in Punycode.
        valid = [e.replace("bücher.de", "xn--bcher-kva.de") for e in given] if spec.ascii_domains else given
        tables = suppression_tables(rows, preset)
        seen = set()
        for table in tables:
            column = table.frame[table.address_column].to_list()
            assert len(column) == len(set(column))  # one row per address per file
            assert column == [e for e in valid if e in column]  # valid input addresses only, in input order
            seen.update(column)
        assert seen == set(valid), preset  # every address to suppress is in some file
    (ses,) = suppression_tables(rows, "ses")
    assert ses.frame["emailAddress"].to_list() == [e.replace("bücher.de", "xn--bcher-kva.de") for e in given]
