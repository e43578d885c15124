"""The warm-up plan: kept rows only, most engaged first, in batches growing per mailbox provider.

The ledgers are built like a run's: thousands of rows whose domains fall in the shares a consumer list
typically has (Gmail the largest, then Microsoft, Yahoo/AOL and Apple, and a long tail of ISPs and
company domains), scores with ties and missing values, and a fifth of the rows pruned, many of them
for reasons that suppress the address (unsubscribed, complaint, hard bounce) and some with high scores,
as an engaged reader who unsubscribed has. One test runs the real pipeline on the bundled sample.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import polars as pl
import pytest
from conftest import SAMPLE

import listkit
from listkit.errors import ConfigError
from listkit.policy import BY_NAME, Policy
from listkit.providers import GROUPS
from listkit.reasons import SUPPRESSING_REASONS
from listkit.warmup import PLAN_SCHEMA, SCHEDULE_SCHEMA, warmup_plan, warmup_schedule

#: Domains of each provider group as they appear in lists (case and regional variants included).
DOMAINS = {
    "Gmail": ["gmail.com", "gmail.com", "gmail.com", "googlemail.com", "Gmail.com"],
    "Microsoft": ["hotmail.com", "outlook.com", "live.com", "msn.com", "hotmail.co.uk"],
    "Yahoo/AOL": ["yahoo.com", "yahoo.co.uk", "aol.com", "att.net", "sbcglobal.net"],
    "Apple": ["icloud.com", "me.com", "mac.com"],
    "other": ["comcast.net", "gmx.de", "web.de", "proton.me", "northwind-traders.com", "acmelabs.co.uk"],
}
SHARES = {"Gmail": 0.42, "Microsoft": 0.17, "Yahoo/AOL": 0.13, "Apple": 0.09, "other": 0.19}
PRUNE_REASONS = ["unsubscribed", "complaint", "hard_bounce", "invalid_syntax", "duplicate", "inactive",
                 "soft_bounce_repeated", "disposable", "role_account"]  # fmt: skip
PRUNE_WEIGHTS = [0.18, 0.04, 0.16, 0.06, 0.1, 0.34, 0.05, 0.04, 0.03]


def make_ledger(
    rows: int, *, seed: int, shares: dict[str, float] = SHARES, pruned: float = 0.2
) -> pl.DataFrame:
    """A run-like ledger: ``rows`` rows, providers in ``shares``, a share ``pruned`` of them pruned."""
    rng = np.random.default_rng(seed)
    groups = list(shares)
    group = rng.choice(groups, size=rows, p=np.array(list(shares.values())) / sum(shares.values()))
    domain = [DOMAINS[g][k % len(DOMAINS[g])] for g, k in zip(group, rng.integers(0, 60, rows), strict=True)]
    email = [f"reader{i:05d}@{d.lower()}" for i, d in enumerate(domain)]
    # Scores in tenths, so ties happen; a few readers have none yet (no deliveries).
    score = np.round(np.clip(rng.beta(2, 3, rows) * 100, 0, 100), 1)
    no_score = rng.random(rows) < 0.08
    is_pruned = rng.random(rows) < pruned
    reason = rng.choice(PRUNE_REASONS, size=rows, p=PRUNE_WEIGHTS)
    # An engaged reader who unsubscribed or complained still has a high score: it must not matter.
    score = np.where(is_pruned & np.isin(reason, ["unsubscribed", "complaint"]), 95.0, score)
    return pl.DataFrame(
        {
            "source_row": pl.Series(np.arange(1, rows + 1), dtype=pl.UInt32),
            "email": [e.upper() if k % 17 == 0 else e for k, e in enumerate(email)],
            "email_normalized": email,
            "domain": domain,
            "outcome": np.where(is_pruned, "prune", "keep"),
            "segment": np.where(is_pruned, None, np.where(score > 60, "engaged", "casual")),
            "score": pl.Series(
                [None if n else s for n, s in zip(no_score, score, strict=True)], dtype=pl.Float64
            ),
            "reasons": np.where(is_pruned, reason, ""),
        }
    )


@pytest.fixture(scope="module")
def ledger() -> pl.DataFrame:
    return make_ledger(6000, seed=11)


def kept(ledger: pl.DataFrame) -> pl.DataFrame:
    return ledger.filter(pl.col("outcome") == "keep")


def by_provider_day(schedule: pl.DataFrame) -> dict[str, list[tuple[int, int]]]:
    """provider -> [(planned, rows)] for days 1, 2, ... (the after-warm-up rows left out)."""
    days: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for day, provider, planned, rows in schedule.filter(pl.col("day").is_not_null()).iter_rows():
        assert len(days[provider]) == day - 1  # every day listed, in order
        days[provider].append((planned, rows))
    return days


def left_after(schedule: pl.DataFrame) -> dict[str, int]:
    return dict(schedule.filter(pl.col("day").is_null()).select("provider", "rows").iter_rows())


def provider_sizes(ledger: pl.DataFrame) -> dict[str, int]:
    """Kept rows per provider, counted from the domains above (independently of listkit.providers)."""
    group_of_domain = {d.lower(): g for g, domains in DOMAINS.items() for d in domains}
    counts: dict[str, int] = defaultdict(int)
    for domain in kept(ledger)["domain"]:
        counts[group_of_domain[domain.lower()]] += 1
    return dict(counts)


# --- what is planned ---------------------------------------------------------------------------------------


def test_only_kept_rows_are_planned_each_once_and_the_rest_is_counted(ledger):
    policy = Policy(warmup_days=5)
    plan, schedule = warmup_plan(ledger, policy), warmup_schedule(ledger, policy)
    assert plan.schema == PLAN_SCHEMA and schedule.schema == SCHEDULE_SCHEMA
    assert plan["source_row"].is_unique().all()
    outcomes = plan.join(ledger, on="source_row", how="left")["outcome"]
    assert outcomes.to_list() == ["keep"] * plan.height  # never a pruned row, however high its score
    pruned = ledger.filter(pl.col("outcome") == "prune")
    assert (
        pruned.filter(pl.col("reasons").is_in(SUPPRESSING_REASONS)).height > 400
    )  # hundreds of suppressed rows
    assert plan.join(pruned, on="source_row").is_empty()
    # 5 days do not hold 4,800 kept rows: the rest is counted per provider, none lost or doubled.
    sizes = provider_sizes(ledger)
    planned = dict(plan.group_by("provider").len().iter_rows())
    left = left_after(schedule)
    assert sum(left.values()) > 0
    assert {p: planned.get(p, 0) + left.get(p, 0) for p in sizes} == sizes
    assert schedule.filter(pl.col("day").is_not_null())["rows"].sum() == plan.height


def test_the_plan_names_each_rows_provider_and_days_come_in_order(ledger):
    plan = warmup_plan(ledger, Policy(warmup_days=8))
    group_of_domain = {d.lower(): g for g, domains in DOMAINS.items() for d in domains}
    named = plan.join(ledger.select("source_row", "domain"), on="source_row")
    assert all(group_of_domain[d.lower()] == p for d, p in named.select("domain", "provider").iter_rows())
    assert plan["day"].is_sorted() and plan["day"].min() == 1


# --- how the batches grow -------------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "growth"), [(50, 2.0), (20, 1.4), (300, 3.0)])
def test_each_provider_grows_on_its_own_curve_from_its_share_of_the_first_day(ledger, first, growth):
    policy = Policy(warmup_days=40, warmup_first_day=first, warmup_growth=growth)
    schedule = warmup_schedule(ledger, policy)
    sizes, total = provider_sizes(ledger), kept(ledger).height
    days = by_provider_day(schedule)
    assert list(days) == [p for p in GROUPS if p in sizes]  # report order
    assert left_after(schedule) == {}  # 40 days hold the list
    for provider, counts in days.items():
        share = sizes[provider] / total
        for day, (planned, rows) in enumerate(counts, start=1):
            size = min(math.floor(first * growth ** (day - 1)), total)
            assert rows <= planned <= sizes[provider]
            # Its share of the day rounded down or up (or all of its list).
            exact = share * size
            rounded = math.floor(exact + 1e-9) <= planned <= math.ceil(exact - 1e-9)
            assert rounded or planned == sizes[provider]
            if day > 1:
                before = counts[day - 2][0]
                assert planned <= math.ceil(growth * before) + 1  # no burst: the factor, and one of rounding
        # Full batches until the provider's list runs out, then nothing.
        given = [rows for _, rows in counts]
        last = max(i for i, rows in enumerate(given) if rows)
        assert all(rows == planned for planned, rows in counts[:last])
        assert given[last] > 0 and not any(given[last + 1 :])
        assert sum(given) == sizes[provider]


def test_a_days_total_is_exactly_the_days_size(ledger):
    policy = Policy(warmup_days=12)
    schedule = warmup_schedule(ledger, policy).filter(pl.col("day").is_not_null())
    total, providers = kept(ledger).height, len(provider_sizes(ledger))
    for day, planned in schedule.group_by("day").agg(pl.col("planned").sum()).sort("day").iter_rows():
        assert planned == min(50 * 2 ** (day - 1), total)
    assert providers > 1
    day_one = schedule.filter(pl.col("day") == 1)["rows"].sum()
    assert day_one == 50  # SendGrid's "no more than 50" on the first day, shared out by largest remainder


def test_all_providers_finish_within_a_day_of_each_other(ledger):
    plan = warmup_plan(ledger, Policy(warmup_days=30))
    last_days = plan.group_by("provider").agg(pl.col("day").max())["day"]
    assert last_days.max() - last_days.min() <= 1


# --- who goes first ---------------------------------------------------------------------------------------


def test_within_a_provider_no_later_day_holds_a_more_engaged_reader(ledger):
    plan = warmup_plan(ledger, Policy(warmup_days=6))
    scored = plan.join(ledger.select("source_row", "score"), on="source_row", maintain_order="left")
    for _, rows in scored.group_by("provider", maintain_order=True):
        # Missing scores rank below every score.
        per_day = rows.group_by("day").agg(
            best=pl.col("score").fill_null(-1).max(), worst=pl.col("score").fill_null(-1).min()
        )
        per_day = per_day.sort("day")
        assert (per_day["best"].shift(-1).drop_nulls() <= per_day["worst"].head(per_day.height - 1)).all()
    # The plan reads day by day, most engaged first.
    for _, rows in scored.group_by("day", maintain_order=True):
        assert rows["score"].fill_null(-1).is_sorted(descending=True)


def test_the_least_engaged_are_the_ones_left_for_after_the_warm_up(ledger):
    plan = warmup_plan(ledger, Policy(warmup_days=4))
    scores = kept(ledger).with_columns(planned=pl.col("source_row").is_in(plan["source_row"].implode()))
    gmail = scores.filter(pl.col("domain").str.to_lowercase().is_in(["gmail.com", "googlemail.com"]))
    planned, left = gmail.filter("planned"), gmail.filter(~pl.col("planned"))
    assert planned["score"].null_count() == 0  # the readers without a score wait
    assert left["score"].max() <= planned["score"].min()


def test_ties_are_broken_by_address_then_row(ledger):
    # The whole list on the same score: the order is the addresses', then the rows'.
    tied = ledger.with_columns(score=pl.lit(50.0))
    plan = warmup_plan(tied, Policy(warmup_days=3, warmup_first_day=10))
    emails = plan.join(tied, on="source_row", maintain_order="left").filter(
        pl.col("provider") == "Gmail", pl.col("day") == 1
    )
    first_gmail = (
        kept(tied)
        .filter(pl.col("domain").str.to_lowercase().is_in(["gmail.com", "googlemail.com"]))
        .sort("email_normalized", "source_row")
        .head(emails.height)
    )
    assert emails["source_row"].to_list() == first_gmail["source_row"].to_list()


def test_the_same_ledger_in_any_order_gives_the_same_plan(ledger):
    policy = Policy(warmup_days=7)
    plan, schedule = warmup_plan(ledger, policy), warmup_schedule(ledger, policy)
    for seed in (1, 2):
        shuffled = ledger.sample(fraction=1.0, shuffle=True, seed=seed)
        assert warmup_plan(shuffled, policy).equals(plan)
        assert warmup_schedule(shuffled, policy).equals(schedule)


# --- edges ----------------------------------------------------------------------------------------------


def test_sendgrids_worked_example_is_what_one_providers_list_gets():
    # SendGrid: for at most 800 a day, lists of 50, 100, 200, 400 and 800 on days 1 to 5
    # (https://docs.sendgrid.com/ui/sending-email/ip-warmup-for-the-new-marketing-campaigns-experience).
    gmail_only = make_ledger(1940, seed=5, shares={"Gmail": 1.0}, pruned=0.2)
    gmail_only = gmail_only.filter(pl.col("outcome") == "prune").vstack(kept(gmail_only).head(1550))
    schedule = warmup_schedule(gmail_only, Policy(warmup_days=10))
    assert schedule["provider"].unique().to_list() == ["Gmail"]
    assert schedule["rows"].to_list() == [50, 100, 200, 400, 800]  # the plan ends on day 5 of 10
    assert schedule["planned"].to_list() == [50, 100, 200, 400, 800]


def test_more_days_than_needed_end_the_plan_early_with_nothing_left(ledger):
    schedule = warmup_schedule(ledger, Policy(warmup_days=90))
    assert left_after(schedule) == {}
    assert (
        schedule["day"].max() < 90
        and schedule.filter(pl.col("day") == schedule["day"].max())["rows"].sum() > 0
    )
    assert warmup_plan(ledger, Policy(warmup_days=90)).height == kept(ledger).height


def test_one_day_plans_the_first_days_shares_and_leaves_the_rest(ledger):
    policy = Policy(warmup_days=1)
    plan, schedule = warmup_plan(ledger, policy), warmup_schedule(ledger, policy)
    assert plan["day"].unique().to_list() == [1]
    sizes, total = provider_sizes(ledger), kept(ledger).height
    on_day_one = dict(plan.group_by("provider").len().iter_rows())
    exact = {p: n * 50 / total for p, n in sizes.items()}
    whole = {p: math.floor(x) for p, x in exact.items()}
    by_fraction = sorted(exact, key=lambda p: (-(exact[p] - whole[p]), GROUPS.index(p)))
    extra = set(by_fraction[: 50 - sum(whole.values())])
    assert on_day_one == {p: whole[p] + (p in extra) for p in sizes}
    assert left_after(schedule) == {p: n - on_day_one[p] for p, n in sizes.items()}


def test_a_list_smaller_than_the_first_day_is_mailed_whole_on_day_one():
    small = make_ledger(40, seed=3)
    policy = Policy(warmup_days=10, warmup_first_day=100)
    plan, schedule = warmup_plan(small, policy), warmup_schedule(small, policy)
    assert plan.height == kept(small).height and plan["day"].unique().to_list() == [1]
    assert schedule["day"].unique().to_list() == [1]
    assert (schedule["planned"] == schedule["rows"]).all()  # each provider's share is all of its list


def test_nothing_kept_or_no_plan_gives_empty_frames_of_the_same_shape(ledger):
    all_pruned = ledger.with_columns(outcome=pl.lit("prune"))
    for frame, policy in [
        (all_pruned, Policy(warmup_days=10)),
        (ledger.clear(), Policy(warmup_days=10)),
        (ledger, Policy()),  # warmup_days defaults to 0: no plan
    ]:
        plan, schedule = warmup_plan(frame, policy), warmup_schedule(frame, policy)
        assert plan.is_empty() and plan.schema == PLAN_SCHEMA
        assert schedule.is_empty() and schedule.schema == SCHEDULE_SCHEMA


def test_addresses_without_a_known_provider_are_other(ledger):
    odd = (
        kept(ledger).head(30).with_columns(domain=pl.Series([None, "", "example.org"] * 10, dtype=pl.String))
    )
    plan = warmup_plan(odd, Policy(warmup_days=2, warmup_first_day=10))
    assert plan["provider"].unique().to_list() == ["other"] and plan.height == 30


# --- a real run ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_result():
    subscribers = listkit.read_subscribers(SAMPLE / "subscribers.csv")
    return listkit.run(subscribers, listkit.read_events(SAMPLE / "events.csv"))


def test_a_runs_plan_never_holds_a_suppressed_address(sample_result):
    ledger = sample_result.ledger
    plan = warmup_plan(ledger, Policy(warmup_days=30))
    assert plan.height == ledger.filter(pl.col("outcome") == "keep").height  # the sample fits in 30 days
    planned = plan.join(ledger, on="source_row")
    suppressed = sample_result.suppression["email"].str.strip_chars().str.to_lowercase()
    for column in ("email", "email_normalized"):
        spelled = planned[column].str.strip_chars().str.to_lowercase()
        assert not spelled.is_in(suppressed.implode()).any()
    schedule = warmup_schedule(ledger, Policy(warmup_days=30))
    assert (schedule["rows"] <= schedule["planned"]).all()


# --- the options ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [("warmup_days", -1), ("warmup_days", 91), ("warmup_days", 7.0), ("warmup_days", True),
     ("warmup_first_day", 0), ("warmup_first_day", 1_000_001), ("warmup_first_day", 50.5),
     ("warmup_growth", 1), ("warmup_growth", 0.5), ("warmup_growth", 10.5), ("warmup_growth", float("nan")),
     ("warmup_growth", "2")],
)  # fmt: skip
def test_warmup_options_outside_their_range_are_refused(name, value):
    with pytest.raises(ConfigError) as caught:
        Policy(**{name: value})
    message = str(caught.value)
    assert message.startswith(f"policy option {name} must be {BY_NAME[name].requirement()}, not ")
    assert "\n" not in message


def test_warmup_options_at_their_edges_are_accepted_and_have_flags():
    policy = Policy(warmup_days=90, warmup_first_day=1_000_000, warmup_growth=10)
    assert (policy.warmup_days, policy.warmup_first_day, policy.warmup_growth) == (90, 1_000_000, 10.0)
    assert Policy(warmup_days=0, warmup_first_day=1, warmup_growth=1.01).warmup_growth == 1.01
    assert Policy().warmup_days == 0 and Policy().warmup_first_day == 50 and Policy().warmup_growth == 2.0
    assert BY_NAME["warmup_days"].cli_flags == ("--warmup-days",)
    assert BY_NAME["warmup_first_day"].requirement() == "a whole number from 1 to 1000000"
    assert BY_NAME["warmup_growth"].requirement() == "a number above 1 and at most 10"
