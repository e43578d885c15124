# %% [markdown]
# # List hygiene with pandas and email-validator
#
# The notebook an analyst writes without listkit, the peer `benchmarks/run.py` measures listkit against:
# read the list and its event log, validate and normalise the addresses, drop duplicates, count each
# address's events, prune (invalid, duplicate, hard bounce, complaint, unsubscribe, inactive, and the ESP's
# own status), cluster the kept rows into segments, write a ledger, one CSV per segment and a suppression
# list, and draw four figures as PNG files.
#
# Written the way current guides recommend: pandas' pyarrow CSV engine with pyarrow dtypes (types, ISO
# timestamps included, are inferred by the reader), only the event columns needed, vectorised masks and
# groupbys, and email-validator called once per *distinct* address (as a careful analyst does on a list with
# duplicates), not per row. Runs as a script (`python benchmarks/peer_pandas.py --subscribers ... --events
# ... --out ...`) or cell by cell in Jupyter (the `# %%` markers; the defaults read the bundled sample).

# %%
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from email_validator import EmailNotValidError, validate_email
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

# %% parameters
parser = argparse.ArgumentParser(description="List hygiene with pandas and email-validator")
parser.add_argument("--subscribers", default="data/sample/subscribers.csv")
parser.add_argument("--events", default="data/sample/events.csv")
parser.add_argument("--out", default="out/peer_pandas")
parser.add_argument("--sunset-days", type=int, default=365)
parser.add_argument("--min-deliveries", type=int, default=10)
parser.add_argument("--max-segments", type=int, default=6)
args, _ = parser.parse_known_args()  # Jupyter passes arguments of its own
out = Path(args.out)
(out / "segments").mkdir(parents=True, exist_ok=True)

# %% read
subscribers = pd.read_csv(args.subscribers, engine="pyarrow", dtype_backend="pyarrow")
events = pd.read_csv(
    args.events,
    engine="pyarrow",
    dtype_backend="pyarrow",
    usecols=["email", "event", "timestamp", "bounce_type", "smtp_status", "machine_open"],
)
if not pd.api.types.is_datetime64_any_dtype(events["timestamp"]):  # an export with other time spellings
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True, format="ISO8601")
print(f"{len(subscribers):,} subscribers, {len(events):,} events")


# %% validate and normalise each distinct address
def normalized_address(address: str) -> str | None:
    """email-validator's normalised form of ``address``, or None when it is not a valid address."""
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


trimmed = subscribers["email"].str.strip()  # email-validator does not trim
verdicts = {address: normalized_address(address) for address in trimmed.dropna().unique()}
subscribers["email_normalized"] = trimmed.map(verdicts)
subscribers["key"] = subscribers["email_normalized"].str.lower()  # one mailbox whatever its case
subscribers["invalid"] = subscribers["key"].isna()
subscribers["duplicate"] = ~subscribers["invalid"] & subscribers.duplicated("key")

# %% per-address event counts
kind = events["event"]
machine_open = events["machine_open"].fillna(False)  # Apple MPP and other machine opens
status = events["smtp_status"].fillna("")
dead_code = status.str.contains(r"\b5\.1\.\d+|\b5\.2\.1\b", regex=True)  # no such user / domain / disabled
bounce_type = events["bounce_type"]
flags = pd.DataFrame(
    {
        "key": events["email"].str.strip().str.lower(),
        "delivered": kind.eq("delivered"),
        "open": kind.eq("open") & ~machine_open,
        "click": kind.eq("click"),
        "bounce": kind.eq("bounce"),
        "hard_bounce": kind.eq("bounce")
        & (bounce_type.eq("hard").fillna(False) | (bounce_type.isna() & dead_code)),
        "complaint": kind.eq("complaint"),
        "unsubscribe": kind.eq("unsubscribe"),
    }
)
flags["engaged_at"] = events["timestamp"].where(flags["open"] | flags["click"])
as_of = events["timestamp"].max()
per_address = flags.groupby("key").agg(
    deliveries=("delivered", "sum"),
    opens=("open", "sum"),
    clicks=("click", "sum"),
    bounces=("bounce", "sum"),
    hard_bounces=("hard_bounce", "sum"),
    complaints=("complaint", "sum"),
    unsubscribes=("unsubscribe", "sum"),
    last_engagement=("engaged_at", "max"),
)
# Deliveries since the last open or click (since the first delivery when there was none): the inactive rule.
last_engagement = flags["key"].map(per_address["last_engagement"])
unanswered = flags["delivered"] & (last_engagement.isna() | (events["timestamp"] > last_engagement))
per_address["deliveries_since_engagement"] = unanswered.groupby(flags["key"]).sum()
month = [events["timestamp"].dt.year.rename("year"), events["timestamp"].dt.month.rename("month")]
monthly = flags.groupby(month)[["delivered", "open", "click", "bounce"]].sum()
monthly.index = [f"{year}-{month:02d}" for year, month in monthly.index]
print(f"{len(per_address):,} addresses in the log, as of {as_of}")

# %% prune
counts = ["deliveries", "opens", "clicks", "bounces", "hard_bounces", "complaints", "unsubscribes"]
counts.append("deliveries_since_engagement")
ledger = subscribers.merge(per_address, left_on="key", right_index=True, how="left")
ledger[counts] = ledger[counts].fillna(0)
days_since = (as_of - ledger["last_engagement"]).dt.days
esp_status = ledger["status"].str.lower().fillna("")
rules = {  # the first that applies is the row's reason
    "invalid_syntax": ledger["invalid"],
    "duplicate": ledger["duplicate"],
    "unsubscribed": (ledger["unsubscribes"] > 0) | esp_status.eq("unsubscribed"),
    "complaint": (ledger["complaints"] > 0) | esp_status.eq("complained"),
    "hard_bounce": (ledger["hard_bounces"] > 0) | esp_status.isin(["cleaned", "bounced"]),
    "inactive": (days_since.isna() | (days_since > args.sunset_days))
    & (ledger["deliveries_since_engagement"] >= args.min_deliveries),
}
masks = [mask.fillna(False).to_numpy(dtype=bool) for mask in rules.values()]
ledger["reason"] = np.select(masks, list(rules), default="")
ledger["outcome"] = np.where(ledger["reason"].eq(""), "keep", "prune")
print(ledger["outcome"].value_counts().to_dict())

# %% segment the kept rows
kept = ledger[ledger["outcome"].eq("keep")].copy()
tenure = (as_of - kept["signup_at"]).dt.days.fillna(0)
features = pd.DataFrame(
    {
        "opens": np.log1p(kept["opens"].astype(float)),
        "clicks": np.log1p(kept["clicks"].astype(float)),
        "deliveries": np.log1p(kept["deliveries"].astype(float)),
        "days_since_engagement": days_since[kept.index].fillna(2 * args.sunset_days).astype(float),
        "tenure_days": tenure.astype(float),
    }
)
scaled = StandardScaler().fit_transform(features.to_numpy())
# The number of segments by silhouette on a sample, as scikit-learn's guide shows.
best_k, best_score = 2, -1.0
for k in range(2, args.max_segments + 1):
    labels = KMeans(n_clusters=k, n_init="auto", random_state=0).fit_predict(scaled)
    score = silhouette_score(scaled, labels, sample_size=min(10_000, len(scaled)), random_state=0)
    if score > best_score:
        best_k, best_score, best_labels = k, score, labels
kept["segment"] = best_labels
# Segments named by engagement, most engaged first.
order = kept.groupby("segment")["opens"].mean().sort_values(ascending=False).index
names = {label: f"segment_{rank + 1}" for rank, label in enumerate(order)}
kept["segment"] = kept["segment"].map(names)
ledger["segment"] = kept["segment"]
print(f"{best_k} segments (silhouette {best_score:.2f})")

# %% write the ledger, the segments and the suppression list
original = [
    column
    for column in subscribers.columns
    if column not in ("email_normalized", "key", "invalid", "duplicate")
]
ledger[["email", "email_normalized", "outcome", "reason", "segment"]].to_csv(out / "ledger.csv", index=False)
for name, rows in kept.groupby("segment"):
    rows[original].to_csv(out / "segments" / f"{name}.csv", index=False)
suppress = ledger["reason"].isin(["invalid_syntax", "unsubscribed", "complaint", "hard_bounce"])
suppression = ledger.loc[suppress, ["email", "reason"]].drop_duplicates("email")
suppression.to_csv(out / "suppression.csv", index=False)

# %% figures
reasons = ledger.loc[ledger["outcome"].eq("prune"), "reason"].value_counts()
fig, ax = plt.subplots(figsize=(7, 4))
reasons.sort_values().plot.barh(ax=ax)
ax.set(title="Pruned rows by reason", xlabel="rows", ylabel="")
fig.tight_layout()
fig.savefig(out / "pruned_by_reason.png", dpi=100)

fig, ax = plt.subplots(figsize=(7, 4))
days_since.dropna().plot.hist(bins=50, ax=ax)
ax.axvline(args.sunset_days, color="black", linestyle="--")
ax.set(title="Days since the last open or click", xlabel="days", ylabel="addresses")
fig.tight_layout()
fig.savefig(out / "days_since_engagement.png", dpi=100)

profile = kept.groupby("segment").agg(
    rows=("email", "size"), opens=("opens", "sum"), deliveries=("deliveries", "sum")
)
profile["open_rate"] = 100 * profile["opens"] / profile["deliveries"].where(profile["deliveries"] > 0)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
profile["rows"].plot.bar(ax=left)
left.set(title="Segment sizes", xlabel="", ylabel="rows")
profile["open_rate"].plot.bar(ax=right)
right.set(title="Open rate per segment", xlabel="", ylabel="opens per delivery (%)")
fig.tight_layout()
fig.savefig(out / "segments.png", dpi=100)

fig, ax = plt.subplots(figsize=(9, 4))
monthly.plot(ax=ax)
ax.set(title="Events per month", xlabel="month", ylabel="events")
fig.tight_layout()
fig.savefig(out / "events_per_month.png", dpi=100)
plt.close("all")
print(f"written to {out}")
