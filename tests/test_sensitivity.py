"""what_if: the pruning rules evaluated again on a run's ledger, held to a fresh run as the oracle.

Every expectation comes from running listkit again with the changed policy on the same inputs (the
bundled sample, and the synthetic list of the test session): what_if must move exactly the rows that
run moves, by the same reasons.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import listkit
from listkit.errors import ConfigError, InputError
from listkit.policy import Policy
from listkit.reasons import REASONS, pruning_reasons
from listkit.result import RunResult
from listkit.sensitivity import LEDGER_OPTIONS, WhatIf, what_if

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
#: A fixed number of clusters: segments do not change outcomes, and choosing it costs seconds per run.
BASE = Policy(n_segments=4)


@pytest.fixture(scope="module")
def inputs() -> tuple[pl.DataFrame, pl.DataFrame]:
    return listkit.read_subscribers(SAMPLE / "subscribers.csv"), listkit.read_events(SAMPLE / "events.csv")


@pytest.fixture(scope="module")
def base(inputs) -> RunResult:
    return listkit.run(*inputs, policy=BASE)


def pruned_by(ledger: pl.DataFrame, policy: Policy) -> dict[str, int]:
    """Per code that can prune: the rows of ``ledger`` it prunes under ``policy`` (the oracle's count)."""
    pruning = set(pruning_reasons(policy))
    codes = ledger.select(code=pl.col("reasons").str.split(";")).explode("code")
    counted = dict(codes.filter(pl.col("code").is_in(list(pruning))).group_by("code").len().iter_rows())
    return {reason.code: counted.get(reason.code, 0) for reason in REASONS if reason.prunes}


def without_outcome_warnings(reasons: pl.Series) -> pl.Series:
    """``reasons`` without placeholder_name, which the run writes on kept rows only."""
    return reasons.str.replace_all(r"(^|;)placeholder_name", "").str.strip_chars(";")


def assert_matches_a_fresh_run(answer: WhatIf, base: RunResult, fresh: RunResult) -> None:
    rows = answer.rows
    assert rows["source_row"].equals(fresh.ledger["source_row"])
    assert rows["outcome_before"].equals(base.ledger["outcome"].alias("outcome_before"))
    assert rows["outcome_after"].equals(fresh.ledger["outcome"].alias("outcome_after"))
    assert without_outcome_warnings(rows["reasons_after"]).equals(
        without_outcome_warnings(fresh.ledger["reasons"]).alias("reasons_after")
    )
    before, after = base.ledger["outcome"], fresh.ledger["outcome"]
    assert answer.newly_pruned == int(((before == "keep") & (after == "prune")).sum())
    assert answer.newly_kept == int(((before == "prune") & (after == "keep")).sum())
    was, now = pruned_by(base.ledger, base.policy), pruned_by(fresh.ledger, fresh.policy)
    assert answer.by_reason == {code: now[code] - was[code] for code in was}
    assert answer.policy == fresh.policy


def test_the_runs_own_policy_changes_nothing(base):
    for answer in (what_if(base), what_if(base, sunset_days=base.policy.sunset_days, soft_bounce_limit=None)):
        assert answer.newly_pruned == answer.newly_kept == 0
        assert set(answer.by_reason.values()) == {0}
        assert answer.rows["outcome_after"].equals(base.ledger["outcome"].alias("outcome_after"))
        assert answer.rows["reasons_after"].equals(base.ledger["reasons"].alias("reasons_after"))
        assert answer.moved().is_empty() and answer.policy == base.policy


CHANGES = [
    {"sunset_days": 180},  # the example
    {"sunset_days": 30},  # shorter
    {"sunset_days": 730},  # longer
    {"sunset_min_deliveries": 5},
    {"sunset_min_deliveries": 20},
    {"soft_bounce_limit": 1},
    {"soft_bounce_limit": 2},
    {"prune_role_accounts": False},
    {"prune_typo_domains": False},
    {"prune_disposable": False},
    {"sunset_days": 90, "sunset_min_deliveries": 4, "soft_bounce_limit": 1, "prune_role_accounts": False},
]


@pytest.mark.parametrize("changes", CHANGES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_what_if_moves_exactly_the_rows_a_fresh_run_moves(inputs, base, changes):
    answer = what_if(base, **changes)
    fresh = listkit.run(*inputs, policy=BASE.with_options(changes))
    assert_matches_a_fresh_run(answer, base, fresh)
    assert answer.changed == changes


def test_every_change_the_sample_allows_moves_some_rows(base):
    """The sample is rich enough for the oracle tests to mean something: each change moves rows."""
    for changes in CHANGES:
        assert not what_if(base, **changes).moved().is_empty(), changes


def test_a_longer_window_only_keeps_and_a_shorter_only_prunes(base):
    longer, shorter = what_if(base, sunset_days=730), what_if(base, sunset_days=90)
    assert longer.newly_pruned == 0 and longer.newly_kept > 0 and longer.by_reason["inactive"] < 0
    assert shorter.newly_kept == 0 and shorter.newly_pruned > 0 and shorter.by_reason["inactive"] > 0
    # Only the inactivity rule moves.
    assert {code for code, n in longer.by_reason.items() if n} == {"inactive"}


@pytest.mark.parametrize("switch", ["prune_role_accounts", "prune_typo_domains", "prune_disposable"])
def test_a_switch_keeps_exactly_the_rows_it_alone_pruned(base, switch):
    code = next(reason.code for reason in REASONS if reason.switch == switch)
    pruning = set(pruning_reasons(base.policy))
    only_this = base.ledger.filter(
        pl.col("reasons").str.split(";").list.set_intersection(list(pruning)).list.sort() == pl.lit([code])
    )["source_row"]
    answer = what_if(base, **{switch: False})
    assert answer.moved()["source_row"].sort().equals(only_this.sort())
    assert answer.newly_pruned == 0 and answer.newly_kept == only_this.len() > 0
    carrying = int(base.ledger["reasons"].str.split(";").list.contains(code).sum())
    assert answer.by_reason[code] == -carrying  # the code no longer prunes any row, kept or not
    # The code stays on the rows as a warning, as a run with the switch off writes it.
    assert (
        answer.rows.filter(pl.col("source_row").is_in(only_this.implode()))["reasons_after"]
        .str.contains(code)
        .all()
    )


def test_the_synthetic_list_agrees_with_a_fresh_run(synthetic_files):
    subscribers = listkit.read_subscribers(synthetic_files["subscribers"])
    events = listkit.read_events(synthetic_files["events"])
    base = listkit.run(subscribers, events, policy=BASE)
    changes = {"sunset_days": 120, "sunset_min_deliveries": 6, "soft_bounce_limit": 2}
    answer = what_if(base, **changes)
    assert_matches_a_fresh_run(
        answer, base, listkit.run(subscribers, events, policy=BASE.with_options(changes))
    )
    assert answer.newly_pruned > 0


def test_a_stored_run_answers_as_the_run_does(base, tmp_path):
    base.save(tmp_path / "run")
    stored = RunResult.load(tmp_path / "run")
    for changes in ({"sunset_days": 180}, {"soft_bounce_limit": 1, "prune_disposable": False}):
        here, there = what_if(base, **changes), what_if(stored, **changes)
        assert there.rows.equals(here.rows) and there.by_reason == here.by_reason


@pytest.mark.parametrize(
    "changes",
    [{"sunset_days": 0}, {"sunset_days": 365.0}, {"soft_bounce_limit": 1001}, {"prune_role_accounts": "no"}],
)
def test_values_are_checked_as_every_policy_value_is(base, changes):
    with pytest.raises(ConfigError) as expected:
        base.policy.with_options(changes, source="what_if")
    with pytest.raises(ConfigError) as got:
        what_if(base, **changes)
    assert str(got.value) == str(expected.value)
    assert str(got.value).startswith("what_if: policy option ")


@pytest.mark.parametrize("name", ["score_half_life_days", "machine_open_seconds", "as_of", "check_dns"])
def test_options_that_need_the_event_log_are_refused_naming_what_can_be_asked(base, name):
    with pytest.raises(ConfigError, match=f"policy option {name} ") as error:
        what_if(base, **{name: getattr(base.policy, name) or 1})
    message = str(error.value)
    assert all(option in message for option in LEDGER_OPTIONS) and message.count("\n") == 0


def test_an_unknown_option_gets_a_suggestion(base):
    with pytest.raises(ConfigError, match="did you mean sunset_days"):
        what_if(base, sunset_day=180)
    with pytest.raises(ConfigError) as error:
        what_if(base, **{"ann@example.com": 1})
    assert "@" not in str(error.value)


def test_a_ledger_without_the_facts_a_rule_needs_is_refused_for_that_rule_only(base):
    old = RunResult(
        ledger=base.ledger.drop("soft_bounce_streak"), suppression=base.suppression, policy=base.policy,
        as_of=base.as_of,
    )  # fmt: skip
    with pytest.raises(InputError, match="soft_bounce_streak"):
        what_if(old, soft_bounce_limit=1)
    assert what_if(old, sunset_days=180).rows.equals(what_if(base, sunset_days=180).rows)
