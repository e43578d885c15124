"""The warm-up plan: the kept list in daily batches that grow, most engaged first, spread over providers.

A new sending IP or domain has no reputation, so mailbox providers judge it by how its volume grows
and how its first recipients react. :func:`warmup_plan` gives every kept ledger row a day (1 to
``policy.warmup_days``) so that the mail goes first to the most engaged readers and each day's batch
grows by a fixed factor; :func:`warmup_schedule` summarises it per day and provider.

What the guidance says, and what the defaults follow:

- The mailbox providers publish the principle, not numbers. Google's Email sender guidelines
  (https://support.google.com/a/answer/81126, "Increase sending volume slowly") ask to start with a
  low volume to engaged users, increase it slowly, send at a consistent rate without bursts, and
  avoid sudden spikes. Yahoo's Sender Best Practices (https://senders.yahooinc.com/best-practices/,
  as Validity summarises them at https://knowledge.validity.com/hc/en-us/articles/360028141052) give
  connection and throughput limits and ask to spread volume over time, with no warm-up volumes.
  Neither Microsoft (Outlook.com) nor Apple (iCloud Mail) publishes warm-up numbers that we found.
- The sending services publish the numbers. SendGrid: "send no more than 50 emails on your new IP
  address on your first day of sending", then "double your volume every concurrent day"
  (https://docs.sendgrid.com/ui/sending-email/ip-warmup-for-the-new-marketing-campaigns-experience);
  its automated warm-up grows the hourly limit by a factor of about 1.4 a day over 41 days
  (https://docs.sendgrid.com/ui/sending-email/warming-up-an-ip-address). Amazon SES warms a dedicated
  IP over 45 days, says a positive reputation takes two to six weeks depending on the provider,
  asks to mail the most active users first, and measures reputation per provider ("send around
  1,000 emails every day to each email provider";
  https://docs.aws.amazon.com/ses/latest/dg/dedicated-ip-warming.html); its managed IPs scale "per
  ISP" (https://docs.aws.amazon.com/ses/latest/dg/managed-dedicated-sending.html). SparkPost gives 4
  to 8 weeks, the most engaged subscribers first, and first-week limits of some providers for new
  senders (AOL 5,000 a day, Outlook 20,000 a day;
  https://www.sparkpost.com/docs/deliverability/ip-warm-up-overview/).

So ``warmup_first_day`` defaults to SendGrid's 50 and ``warmup_growth`` to its doubling. The first
day's size is for all providers together, as SendGrid's is for everything a new IP sends:
``size(d) = floor(warmup_first_day * warmup_growth ** (d - 1))`` addresses on day ``d`` (at most
the list), shared out between the providers by their shares of the kept list, by largest remainder
(each provider the whole part of its share, the addresses left one each to the largest fractions).
So:

- a day holds exactly ``size(d)`` addresses (50 on the first day, as SendGrid asks), and each
  provider its share of it rounded down or up, so every provider grows by the same factor (within
  one address of rounding): no provider gets a burst however the list is split (SES and SparkPost
  judge each provider's volume on its own);
- all providers reach their last address on about the same day, so no provider is sent the full
  volume while another is still cold;
- every day's batch is full until the provider's list runs out. SendGrid's example (lists of 50,
  100, 200, 400 and 800 for at most 800 a day) is what one provider's list of 1,550 gets in 5 days.

With the defaults, the first week stays below SparkPost's per-provider limits (day 7 is 3,200
addresses in all), so no per-day ceiling is needed: the batches stop growing when the list runs
out, and the sender's normal volume is the list itself.

Groups are those of :func:`listkit.providers.group_of` (Gmail, Yahoo/AOL, Microsoft, Apple, other);
``other`` is every other domain together.

Only ``outcome == "keep"`` rows are planned, so a pruned address, hence any suppressed one, never is.
Within a provider the most engaged come first: score descending, rows without a score last, ties by
``email_normalized`` then ``source_row``, so the same ledger and policy give the same plan whatever
the order of its rows. Kept rows that the ``warmup_days`` days cannot hold are not in the plan: they
are mailed after the warm-up, with the whole list, and :func:`warmup_schedule` counts them in a row
per provider with no day. A list smaller than the first day's size is mailed whole on day 1.
"""

from __future__ import annotations

import polars as pl

from listkit.policy import Policy
from listkit.providers import GROUPS, group_of

__all__ = ["PLAN_SCHEMA", "SCHEDULE_SCHEMA", "warmup_plan", "warmup_schedule", "warmup_tables"]

#: One row per planned kept ledger row.
PLAN_SCHEMA = pl.Schema({"source_row": pl.UInt32, "day": pl.UInt16, "provider": pl.String})
#: One row per day and provider: ``planned`` is the schedule's capacity, ``rows`` the addresses given
#: that day; a row with a null ``day`` (and ``planned``) counts the kept rows left for after warm-up.
SCHEDULE_SCHEMA = pl.Schema(
    {"day": pl.UInt16, "provider": pl.String, "planned": pl.UInt32, "rows": pl.UInt32}
)

_PROVIDERS = pl.Enum(GROUPS)


def warmup_plan(ledger: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """The day (1 to ``policy.warmup_days``) and provider of every kept row the warm-up mails.

    ``ledger`` is a run's ledger: at least ``source_row``, ``email_normalized``, ``domain``,
    ``outcome`` and ``score``. Returns :data:`PLAN_SCHEMA` rows sorted by day, then most engaged
    first (score descending, no score last, then ``email_normalized`` and ``source_row``); empty when
    ``warmup_days`` is 0 or nothing is kept. The module docstring gives the schedule.
    """
    planned, _ = warmup_tables(ledger, policy)
    return planned


def warmup_schedule(ledger: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """The plan's summary per day and provider (:data:`SCHEDULE_SCHEMA`), for the manifest and the report.

    Lists every provider with kept rows on each day from 1 to the plan's last day, in the order of
    :data:`listkit.providers.GROUPS`: ``planned`` is how many addresses the schedule allows that
    provider that day, ``rows`` how many it is given (fewer once its list runs out). Kept rows left
    after ``warmup_days`` days come last, one row per provider with a null ``day`` and ``planned``.
    Empty when ``warmup_days`` is 0 or nothing is kept.
    """
    _, schedule = warmup_tables(ledger, policy)
    return schedule


def warmup_tables(ledger: pl.DataFrame, policy: Policy) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(plan, schedule): :func:`warmup_plan` and :func:`warmup_schedule` from one computation."""
    empty = PLAN_SCHEMA.to_frame(), SCHEDULE_SCHEMA.to_frame()
    if policy.warmup_days == 0:
        return empty
    kept = _ranked(ledger)
    if kept.is_empty():
        return empty
    sizes = kept.group_by("provider").agg(kept=pl.len().cast(pl.Int64))
    capacity = _capacity(sizes, policy)
    # Each provider's rank r goes to the day whose range of ranks [start, end] holds it.
    assigned = (
        kept.sort("rank")
        .join_asof(
            capacity.select("provider", "start", "end", "day").sort("start"),
            left_on="rank",
            right_on="start",
            by="provider",
            strategy="backward",
            check_sortedness=False,  # both sides are sorted on the key just above
        )
        .filter(pl.col("rank") <= pl.col("end"))
    )
    plan = assigned.sort(
        ["day", "score", "email_normalized", "source_row"],
        descending=[False, True, False, False],
        nulls_last=True,
    ).select(
        pl.col("source_row").cast(pl.UInt32),
        pl.col("day").cast(pl.UInt16),
        pl.col("provider").cast(pl.String),
    )
    last_day = plan["day"].max()
    given = assigned.group_by("provider", "day").agg(rows=pl.len())
    by_day = (
        capacity.filter(pl.col("day") <= last_day)
        .join(given, on=["provider", "day"], how="left")
        .select("day", "provider", "planned", pl.col("rows").fill_null(0))
    )
    left = (
        sizes.join(assigned.group_by("provider").agg(done=pl.len()), on="provider", how="left")
        .select(
            day=pl.lit(None, pl.Int64),
            provider="provider",
            planned=pl.lit(None, pl.Int64),
            rows=pl.col("kept") - pl.col("done").fill_null(0),
        )
        .filter(pl.col("rows") > 0)
    )
    ordered = SCHEDULE_SCHEMA | {"provider": _PROVIDERS}  # providers sort in report order
    schedule = (
        pl.concat([by_day.cast(ordered), left.cast(ordered)])
        .sort("day", "provider", nulls_last=True)
        .cast({"provider": pl.String})
    )
    return plan, schedule


def _ranked(ledger: pl.DataFrame) -> pl.DataFrame:
    """Kept rows with their provider and their rank within it (1 = most engaged)."""
    return (
        ledger.lazy()
        .filter(pl.col("outcome") == "keep")
        .select(
            pl.col("source_row").cast(pl.Int64),
            pl.col("email_normalized").cast(pl.String),
            pl.col("score").cast(pl.Float64),
            provider=group_of(pl.col("domain").cast(pl.String)).cast(_PROVIDERS),
        )
        .sort(
            ["score", "email_normalized", "source_row"],
            descending=[True, False, False],
            nulls_last=True,
        )
        # The frame is in engagement order, so the position within a provider is its rank.
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("provider"))
        .collect()
    )


def _capacity(sizes: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """Per provider and day: ``planned`` (its cap) and the range of its ranks ``start``-``end`` that day.

    ``sizes`` holds each provider's kept rows (``kept``). The day's size (whole addresses, at most the
    list) is shared out by largest remainder: each provider gets the whole part of its share, and
    the addresses left go one each to the largest fractions (ties in the order of the groups), so
    the providers' days add up to the day's size exactly.
    """
    total = int(sizes["kept"].sum())
    days = pl.DataFrame({"day": pl.int_range(1, policy.warmup_days + 1, eager=True, dtype=pl.Int64)})
    overall = days.with_columns(
        size=(policy.warmup_first_day * pl.lit(policy.warmup_growth).pow(pl.col("day") - 1))
        .floor()
        .clip(upper_bound=total)
        .cast(pl.Int64)
    )
    # Whole numbers below 2**53 multiplied and divided once: exact shares for every realistic list.
    exact = pl.col("kept") * pl.col("size") / total
    return (
        sizes.join(overall, how="cross")
        .with_columns(whole=exact.floor().cast(pl.Int64), fraction=exact - exact.floor())
        .with_columns(
            left=pl.col("size") - pl.col("whole").sum().over("day"),
            place=pl.struct(fraction=-pl.col("fraction"), provider="provider").rank("ordinal").over("day"),
        )
        .with_columns(
            planned=(pl.col("whole") + (pl.col("place") <= pl.col("left")).cast(pl.Int64)).clip(
                upper_bound=pl.col("kept")
            )
        )
        .sort("provider", "day")
        .with_columns(end=pl.col("planned").cum_sum().over("provider"))
        .with_columns(start=pl.col("end") - pl.col("planned") + 1)
        .select("provider", "day", "planned", "start", "end")
    )
