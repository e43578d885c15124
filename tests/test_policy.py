"""The policy table: every option declared once, and every value, from every source, checked by it.

Hostile values come from the issue (an ``as_of`` whose conversion to UTC overflows, ``click_weight =
1e308``, ``max_segments = 2**63-1``...) and from hypothesis; each must be refused with one line that
names where it came from (the TOML file, the flag, the notebook parameter), the option and its range.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLE, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_segments import AS_OF, personas

from listkit import notebook
from listkit.changes import load_previous
from listkit.cli import build_parser, policy_from_args
from listkit.errors import ConfigError, InputError
from listkit.layout import PROFILE_FILE
from listkit.policy import BY_NAME, MAX_SEGMENTS, OPTIONS, Policy, check_options, parse_as_of, render_toml
from listkit.schema import EARLIEST_TIME, LATEST_TIME
from listkit.segment_profiles import PROFILE_METRICS, PROFILE_RANGES, match_previous
from listkit.segments import SEGMENTER_OPTIONS, Segmenter

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIBERS = SAMPLE / "subscribers.csv"

TOO_EARLY, TOO_LATE = "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"  # UTC overflows
#: (option, TOML value, the same value in Python, the flags giving it; None where a flag cannot say it).
HOSTILE = [
    ("as_of", f'"{TOO_EARLY}"', TOO_EARLY, ["--as-of", TOO_EARLY]),
    ("as_of", TOO_LATE, TOO_LATE, ["--as-of", TOO_LATE]),
    ("as_of", '"1969-12-31"', "1969-12-31", ["--as-of", "1969-12-31"]),
    ("as_of", '"next tuesday"', "next tuesday", ["--as-of", "next tuesday"]),
    ("as_of", "10:30:00", None, None),
    ("click_weight", "1e308", 1e308, ["--click-weight", "1e308"]),
    ("click_weight", "0", 0, ["--click-weight", "0"]),
    ("score_half_life_days", "nan", float("nan"), ["--score-half-life-days", "nan"]),
    ("dns_timeout", "inf", float("inf"), ["--dns-timeout", "inf"]),
    ("new_subscriber_days", str(2**63 - 1), 2**63 - 1, ["--new-subscriber-days", str(2**63 - 1)]),
    ("sunset_days", "0", 0, ["--sunset-days", "0"]),
    ("lapsing_after_days", "36501", 36501, ["--lapsing-after-days", "36501"]),
    ("dns_cache_hours", str(2**40), 2**40, ["--dns-cache-hours", str(2**40)]),
    ("max_segments", "9223372036854775807", 9223372036854775807, ["--max-segments", "9223372036854775807"]),
    ("n_segments", "0", 0, ["--segments", "0"]),
    ("cluster_sample_size", "1000000000", 10**9, ["--cluster-sample-size", "1000000000"]),
    ("dns_port", "65536", 65536, ["--dns-port", "65536"]),
    ("random_state", "-1", -1, ["--random-state", "-1"]),
    ("random_state", str(2**32), 2**32, ["--random-state", str(2**32)]),
    ("dns_nameservers", '["dns.example"]', ["dns.example"], ["--dns-server", "dns.example"]),
    ("dns_nameservers", "[]", [], None),
    ("prune_role_accounts", '"yes"', "yes", None),
    ("check_dns", "1", 1, None),
    ("sunset_days", "365.0", 365.0, None),
    ("soft_bounce_limit", "true", True, None),
    ("dns_cache", "{ path = 'x' }", {"path": "x"}, None),
    ("as_of", '"ann@example.com"', "ann@example.com", ["--as-of", "ann@example.com"]),
]  # fmt: skip


def one_line(text: str) -> str:
    assert text.count("\n") == 0 and text.endswith("."), text
    return text


def write_config(folder: Path, text: str, name: str = "policy.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "toml", "value", "flags"), HOSTILE)
def test_a_hostile_value_in_the_config_file_is_refused_with_one_line(tmp_path, name, toml, value, flags):
    config = write_config(tmp_path, f"[policy]\n{name} = {toml}\n")
    with pytest.raises(ConfigError) as caught:
        Policy.from_toml(config)
    message = one_line(str(caught.value))
    assert message.startswith(f"{config}: policy option {name} must be {BY_NAME[name].requirement()}, not ")
    assert "ann@example.com" not in message


@pytest.mark.parametrize(("name", "toml", "value", "flags"), [case for case in HOSTILE if case[3]])
def test_a_hostile_flag_is_refused_with_one_line_and_nothing_written(
    tmp_path, capsys, name, toml, value, flags
):
    out = tmp_path / "out"
    assert run_cli("run", "--subscribers", SUBSCRIBERS, "--out", out, *flags) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert error.startswith(f"listkit: error: {flags[0]}: policy option {name} must be ")
    assert BY_NAME[name].requirement() in error and "Traceback" not in error and "ann@" not in error
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "toml", "value", "flags"), [case for case in HOSTILE if case[2] is not None]
)
def test_a_hostile_notebook_parameter_is_refused_with_one_line(name, toml, value, flags):
    with pytest.raises(ConfigError) as caught:
        notebook.notebook_result(subscribers=str(SUBSCRIBERS), policy={name: value})
    message = one_line(str(caught.value))
    assert message.startswith(f"notebook parameter policy: policy option {name} must be ")


def test_the_notebook_as_of_and_policy_parameters_are_named_and_checked():
    with pytest.raises(ConfigError, match=r"^notebook parameter as_of: policy option as_of must be"):
        notebook.notebook_result(subscribers=str(SUBSCRIBERS), as_of=TOO_EARLY)
    with pytest.raises(ConfigError, match="notebook parameter policy must be a mapping"):
        notebook.notebook_result(subscribers=str(SUBSCRIBERS), policy=[("sunset_days", 10)])
    with pytest.raises(ConfigError, match="notebook parameter policy: unknown policy option 'sunset_day'"):
        notebook.notebook_result(subscribers=str(SUBSCRIBERS), policy={"sunset_day": 10})


def test_python_values_are_checked_as_strictly_as_toml():
    for options in ({"sunset_days": 365.0}, {"sunset_days": True}, {"prune_disposable": 1},
                    {"click_weight": "3"}, {"dns_port": 53.0}, {"dns_nameservers": [127]},
                    {"as_of": 1_767_225_600}, {"dns_cache": "mx\x00.json"}):  # fmt: skip
        with pytest.raises(ConfigError, match=f"policy option {next(iter(options))} must be"):
            Policy(**options)


def test_segment_counts_must_be_in_order_wherever_they_come_from(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"min_segments \(9\) must not exceed max_segments \(8\)"):
        Policy(min_segments=9)
    both = write_config(tmp_path, "min_segments = 5\nmax_segments = 4\n", "both.toml")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(both))}: policy option min_segments \(5\)"):
        Policy.from_toml(both)
    config = write_config(tmp_path, "max_segments = 4\n")
    args = ["run", "--subscribers", SUBSCRIBERS, "--out", tmp_path / "o", "--config", config]
    assert run_cli(*args, "--min-segments", "5") == 2
    assert capsys.readouterr().err == (
        "listkit: error: --min-segments: policy option min_segments (5) must not exceed max_segments (4).\n"
    )


def test_an_unknown_option_gets_the_closest_name(tmp_path):
    config = write_config(tmp_path, "[policy]\nsunset_day = 10\n")
    with pytest.raises(ConfigError, match=r"unknown policy option 'sunset_day'; did you mean sunset_days\?"):
        Policy.from_toml(config)
    with pytest.raises(ConfigError, match="policy must be a table"):
        Policy.from_toml(write_config(tmp_path, "policy = 5\n"))
    with pytest.raises(ConfigError, match="cannot be read"):
        Policy.from_toml(tmp_path)


def test_argparse_keeps_its_own_errors(capsys):
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["run", "--subscribers", "x", "--out", "y", "--sunset-days", "1e3"])
    assert caught.value.code == 2
    assert "argument --sunset-days: invalid int value: '1e3'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "moment",
    [EARLIEST_TIME, LATEST_TIME, "1970-01-01T01:00:00+01:00", "2999-12-31T23:59:59Z", "2026-11-01"],
)
def test_the_edges_of_the_readable_span_are_accepted(moment):
    parsed = parse_as_of(moment)
    assert parsed.tzinfo == UTC and EARLIEST_TIME <= parsed <= LATEST_TIME


def test_the_largest_values_allowed_work(tmp_path):
    """The maxima are meant to be usable: a policy at every maximum runs and exports."""
    largest = {o.name: o.high for o in OPTIONS if o.kind in ("integer", "number")}
    policy = Policy(**(largest | {"min_segments": MAX_SEGMENTS, "n_segments": None, "as_of": LATEST_TIME}))
    frame = personas(600, seed=3)
    # A century of sign-ups would all be "new": the largest new_subscriber_days leaves nothing to cluster.
    options = {name: getattr(policy, name) for name in SEGMENTER_OPTIONS} | {"new_subscriber_days": 30}
    segmenter = Segmenter(**options, key="mailbox_key")
    names = segmenter.fit_predict(frame, as_of=AS_OF)
    assert names.null_count() == 0 and 1 <= segmenter.n_clusters_ <= MAX_SEGMENTS


# --- one table -------------------------------------------------------------------------------------------


def test_the_table_is_the_policy():
    policy = Policy()
    assert Policy.option_names() == [o.name for o in OPTIONS] == list(policy.to_dict())
    for option in OPTIONS:
        assert getattr(policy, option.name) == option.default
        assert option.check(option.default) == option.default  # every default is allowed
        assert option.meaning and option.meaning in " ".join(Policy.__doc__.split())
    flags = [flag for o in OPTIONS for flag in o.cli_flags]
    assert len(flags) == len(set(flags))


def test_every_option_is_used_outside_the_policy():
    """An option nothing reads would be a promise the run does not keep."""
    sources = "\n".join(p.read_text() for p in (ROOT / "listkit").glob("*.py") if p.name != "policy.py")
    unused = [o.name for o in OPTIONS if not re.search(rf"\b{o.name}\b", sources)]
    assert unused == []


def test_the_flags_and_help_come_from_the_table(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in OPTIONS:
        assert option.cli_flags[0] in text and " ".join(option.requirement().split()) in text


def test_every_flag_of_earlier_versions_still_works(tmp_path):
    config = write_config(tmp_path, "sunset_days = 100\nprune_disposable = false\n")
    args = build_parser().parse_args(
        ["run", "--subscribers", "s.csv", "--out", "o", "--config", str(config), "--as-of", "2026-11-01",
         "--segments", "4", "--sunset-days", "200", "--sunset-min-deliveries", "5",
         "--soft-bounce-limit", "2",
         "--keep-role-accounts", "--keep-typo-domains", "--check-dns", "--dns-server", "127.0.0.1",
         "--dns-server", "::1", "--dns-port", "5353", "--dns-cache", "mx.json"]
    )  # fmt: skip
    assert policy_from_args(args) == Policy(
        as_of=datetime(2026, 11, 1, tzinfo=UTC),
        n_segments=4,
        sunset_days=200,
        sunset_min_deliveries=5,
        soft_bounce_limit=2,
        prune_role_accounts=False,
        prune_typo_domains=False,
        prune_disposable=False,
        check_dns=True,
        dns_nameservers=("127.0.0.1", "::1"),
        dns_port=5353,
        dns_cache="mx.json",
    )


def test_the_run_records_the_checked_policy(tmp_path):
    out = tmp_path / "out"
    args = ["--as-of", "2026-11-01T01:00:00+01:00", "--keep-disposable", "--click-weight", "5", "--no-report"]
    assert run_cli("run", "--subscribers", SUBSCRIBERS, "--out", out, *args) == 0
    recorded = json.loads((out / "manifest.json").read_text())["policy"]
    assert recorded["as_of"] == "2026-11-01T00:00:00Z" and recorded["click_weight"] == 5.0
    assert Policy().replace(**recorded) == Policy(as_of="2026-11-01", prune_disposable=False, click_weight=5)


def test_listkit_policy_prints_a_config_file_that_gives_the_same_policy(tmp_path, capsys):
    assert run_cli("policy") == 0
    template = capsys.readouterr().out
    assert Policy.from_toml(write_config(tmp_path, template)) == Policy()
    config = write_config(tmp_path, '[policy]\nsunset_days = 180\ndns_cache = ""\n')
    assert run_cli("policy", "--config", config) == 0
    printed = tomllib.loads(capsys.readouterr().out)["policy"]
    assert printed["sunset_days"] == 180 and printed["dns_cache"] == ""
    assert run_cli("policy", "--config", write_config(tmp_path, "sunset_days = -1\n")) == 2


# --- hypothesis: any value in, a canonical value or one ConfigError out ------------------------------------

offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda minutes: timezone(timedelta(minutes=minutes)))
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=40),
    st.dates(),
    st.datetimes(timezones=st.one_of(st.none(), offsets)),
    st.datetimes(timezones=offsets).map(lambda d: d.isoformat()),
    st.lists(st.one_of(st.text(max_size=12), st.ip_addresses().map(str), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from([o.name for o in OPTIONS]), value=anything)
def test_any_value_is_made_canonical_or_refused_with_one_line(name, value):
    option = BY_NAME[name]
    try:
        checked = option.check(value)
    except ConfigError as error:
        assert one_line(str(error)).startswith(f"policy option {name} must be {option.requirement()}, not ")
        assert len(str(error)) < 400
        return
    assert option.check(checked) == checked  # canonical: checking again changes nothing
    if isinstance(checked, int | float) and not isinstance(checked, bool):
        assert option.low <= checked <= option.high
    if isinstance(checked, datetime):
        assert checked.tzinfo == UTC and EARLIEST_TIME <= checked <= LATEST_TIME


def valid_value(option):
    """Values the option allows (hypothesis)."""
    if option.kind == "integer":
        return st.integers(int(option.low), int(option.high))
    if option.kind == "number":
        return st.floats(option.low, option.high, exclude_min=option.above)
    if option.kind == "boolean":
        return st.booleans()
    if option.kind == "time":
        naive = st.datetimes(datetime(1970, 1, 2), datetime(2999, 12, 30), timezones=st.just(UTC))
        return st.one_of(st.none(), naive)
    if option.kind == "path":
        return st.one_of(
            st.none(), st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
        )
    return st.one_of(st.none(), st.lists(st.ip_addresses().map(str), min_size=1, max_size=3).map(tuple))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.fixed_dictionaries({o.name: valid_value(o) for o in OPTIONS}))
def test_listkit_policy_round_trips_any_valid_policy(tmp_path, values):
    values["min_segments"], values["max_segments"] = sorted((values["min_segments"], values["max_segments"]))
    policy = Policy(**values)
    assert Policy.from_toml(write_config(tmp_path, render_toml(policy))) == policy
    assert Policy(**json.loads(json.dumps(policy.to_dict()))) == policy  # as RunResult.load reads it


# --- the segmenter is checked by the same table ----------------------------------------------------------


def test_the_segmenter_takes_the_policy_defaults_and_refuses_what_the_policy_refuses():
    params = Segmenter().get_params()
    assert {name: params[name] for name in SEGMENTER_OPTIONS} == {
        n: getattr(Policy(), n) for n in SEGMENTER_OPTIONS
    }
    frame = personas(200, seed=6)
    for name in SEGMENTER_OPTIONS:
        option = BY_NAME[name]
        for outside in (option.low - 1, option.high + 1, 2**63 - 1, 3.5):
            with pytest.raises(ConfigError) as by_policy:
                check_options({name: outside})
            with pytest.raises(ConfigError) as by_segmenter:  # refused before any fitting
                Segmenter(**{name: outside}).fit(frame, as_of=AS_OF)
            assert str(by_segmenter.value) == str(by_policy.value)


# --- an earlier run's segment_profiles.csv -----------------------------------------------------------------


@pytest.fixture()
def previous(tmp_path, sample_run) -> Path:
    folder = tmp_path / "previous"
    shutil.copytree(sample_run, folder)
    return folder


def tamper(folder: Path, column: str, value: str, row: int = 2) -> None:
    profiles = pl.read_csv(folder / PROFILE_FILE, infer_schema=False)
    values = profiles[column].to_list()
    values[row - 1] = value
    profiles.with_columns(pl.Series(column, values)).write_csv(folder / PROFILE_FILE)


@pytest.mark.parametrize("column", PROFILE_METRICS)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN", "", "abc", "1e400", "-3", "1e9", "12,5"])
def test_a_damaged_previous_profile_is_refused_with_file_row_and_column(previous, column, value):
    tamper(previous, column, value)
    with pytest.raises(InputError) as caught:
        load_previous(previous)
    message = one_line(str(caught.value))
    assert message.startswith(f"{previous / PROFILE_FILE}, row 2, column {column!r}: the value ")
    assert "delete it to name segments afresh" in message


def test_a_previous_profile_without_a_column_or_with_a_short_row_is_refused(previous):
    profiles = pl.read_csv(previous / PROFILE_FILE, infer_schema=False)
    profiles.drop("median_tenure_days").write_csv(previous / PROFILE_FILE)
    with pytest.raises(InputError, match="lacks the column median_tenure_days"):
        load_previous(previous)
    (previous / PROFILE_FILE).write_text("segment," + ",".join(PROFILE_METRICS) + "\nengaged,1,2\n")
    with pytest.raises(InputError) as caught:
        load_previous(previous)
    assert str(previous / PROFILE_FILE) in one_line(str(caught.value))


def test_the_cli_refuses_a_damaged_previous_run_and_writes_nothing(tmp_path, previous, capsys):
    tamper(previous, "median_score", "inf", row=1)
    out = tmp_path / "out"
    args = ["--subscribers", SUBSCRIBERS, "--events", SAMPLE / "events.csv", "--no-report"]
    assert run_cli("run", *args, "--out", out, "--previous", previous) == 2
    error = capsys.readouterr().err
    assert error == (
        f"listkit: error: {previous / PROFILE_FILE}, row 1, column 'median_score': the value 'inf' is not a "
        "number from 0 to 100; restore the file from the earlier run, or delete it to name segments afresh.\n"
    )
    assert not out.exists()


def test_match_previous_refuses_a_hostile_table_given_directly():
    current = pl.DataFrame({"cluster": [0], "segment": ["engaged"]}).with_columns(
        **{name: pl.lit(1.0) for name in PROFILE_METRICS}
    )
    hostile = current.drop("cluster").with_columns(median_score=pl.lit(float("inf")))
    with pytest.raises(InputError, match="column 'median_score': the value inf is not a number"):
        match_previous(current, hostile)


# --- the documents say what the table says ---------------------------------------------------------------


def test_the_contract_and_readme_state_the_defaults_of_the_table():
    contract = (ROOT / "docs" / "CONTRACT.md").read_text()
    stated = dict(re.findall(r"`(\w+)` \(([\d.,]+)\)", contract))
    checked = {name: value for name, value in stated.items() if name in BY_NAME}
    assert {"sunset_days", "sunset_min_deliveries", "soft_bounce_limit", "dns_cache_hours"} <= set(checked)
    for name, value in checked.items():
        assert float(value.replace(",", "")) == BY_NAME[name].default, name
    ranges = re.findall(r"`(\w+)` from (\d+) to (\d+)", " ".join(contract.split()))
    assert {"max_segments", "cluster_sample_size", "random_state"} <= {name for name, _, _ in ranges}
    for name, low, high in ranges:
        assert (BY_NAME[name].low, BY_NAME[name].high) == (int(low), int(high)), name
    for low, high in PROFILE_RANGES.values():  # what a previous run's profile table may hold
        assert f"outside {low:g}-{high:g}" in contract
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    for name, value in tomllib.loads(example)["policy"].items():
        assert value == BY_NAME[name].default, name
