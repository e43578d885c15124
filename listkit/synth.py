"""Seeded, vectorised synthetic subscriber lists and event logs for tests, benchmarks and demos.

``synthesize(n)`` draws ``n`` list rows with realistic addresses (provider mix, company domains, messy
spellings, invalid syntax, typo domains, disposable and role addresses, duplicates in other spellings,
internationalised addresses, placeholder merge fields) and two years of campaign events driven by a
persona per mailbox. ``truth`` says, row by row, what a correct run must find. All of it is numpy and
polars array code (no per-row or per-event Python), so a million subscribers take well under a minute.
``python -m listkit.synth OUT_DIR -n 3000`` writes a sample.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import disposable_email_domains
import numpy as np
import polars as pl

from listkit.errors import ConfigError
from listkit.providers import alias_rule

DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
_DAY, _ISO = 86_400, "%Y-%m-%dT%H:%M:%SZ"

#: Persona of a mailbox and its share of rows. Rows with invalid syntax become ``unmailable`` (never
#: sent to), typo-domain rows ``hard_bounce`` (70%) or ``new_signup`` (30%, joined after the last
#: campaign); duplicates take the persona of the row they repeat.
PERSONAS: dict[str, float] = {
    "engaged": 0.15,
    "casual": 0.34,
    "lapsing": 0.12,
    "dormant": 0.14,
    "mpp": 0.10,
    "new_signup": 0.04,
    "hard_bounce": 0.03,
    "soft_bounce": 0.02,
    "policy_block": 0.01,
    "complainer": 0.005,
    "unsubscriber": 0.045,
}
_P = {name: i for i, name in enumerate([*PERSONAS, "unmailable"])}
# Per persona, in _P order: send probability per campaign, Beta(a, b) open affinity (a = 0: never opens
# as a human), click probability per opened mail.
_SEND = np.array([0.97, 0.9, 0.92, 1.0, 0.95, 1.0, 0.95, 0.95, 0.92, 0.9, 0.9, 0.0])
_OPEN_A = np.array([6, 2, 5, 0, 0, 5, 2, 2, 2, 1, 2, 0.0])
_OPEN_B = np.array([4, 9, 5, 1, 1, 4, 8, 8, 8, 9, 6, 1.0])
_CLICK = np.array([0.3, 0.12, 0.2, 0, 0, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0])
#: Address kind of a list row and its share.
ADDRESS_KINDS: dict[str, float] = {
    "clean": 0.853,
    "messy": 0.05,
    "invalid": 0.015,
    "typo": 0.01,
    "disposable": 0.012,
    "role": 0.015,
    "idn": 0.005,
    "duplicate": 0.04,
}
_K = {name: i for i, name in enumerate(ADDRESS_KINDS)}

_FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard
Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Mark
Sandra Ashley Donald Emily Steven Kimberly Andrew Donna Paul Michelle Joshua Carol Kenneth Amanda Kevin
Melissa Brian Deborah George Stephanie Timothy Rebecca Ronald Laura Jason Sharon Edward Cynthia Jeffrey
Kathleen Ryan Amy Jacob Angela Gary Nicholas Anna Eric Brenda Jonathan Pamela Stephen Emma Nicole Justin
Helen Scott Samantha Benjamin Christine Samuel Rachel Alexander Patrick Frank Maria Raymond Olivia Jack
Heather Tyler Julie Aaron Victoria Jose Adam Nathan Lauren Henry Kelly Peter Noah Andrea Ethan Hannah
Megan Priya Rahul Ananya Arjun Wei Mei Hiroshi Yuki Sofia Lucas Mateo Valentina Liam Chloe Lukas Lena
Jonas Mia Pierre Camille Luca Giulia Sven Ingrid Ahmed Fatima Omar Aisha Olga Dmitri Kwame Amara Chen
Siobhan Niamh Connor Mohammed Yusuf Leila Tomasz Agnieszka Joao Beatriz Diego Lucia Hana
Minh""".split()  # noqa: SIM905
_LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson
Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards
Collins Reyes Stewart Morris Morales Murphy Cook Rogers Ortiz Morgan Cooper Peterson Bailey Reed Kelly
Howard Ramos Kim Cox Ward Watson Brooks Wood James Bennett Gray Mendoza Hughes Price Alvarez Patel Myers
Long Ross Foster O'Brien McCarthy Murray Schmidt Schneider Fischer Weber Meyer Wagner Becker Dubois Moreau
Laurent Rossi Russo Ferrari Bianchi Jansen Andersson Johansson Nielsen Kowalski Nowak Ivanov Sato Suzuki
Tanaka Wang Li Zhang Liu Chen Yang Singh Kumar Sharma Gupta Silva Santos Oliveira Costa Okafor Mensah
Haddad Cohen Levi Garcia-Lopez Smith-Jones O'Connor Walsh Byrne Novak Papadopoulos Yilmaz Tran Pham Park
Choi Nakamura""".split()  # noqa: SIM905
_PLACEHOLDERS = ("[name]", "{{first_name}}", "*|FNAME|*", "test", "asdf", "N/A", None, "%FIRSTNAME%", "Test")
_FORMULAS = ('=HYPERLINK("http://evil.example/x","Click me")', "+1 555 0100", "@SUM(A1:A9)", "-2+3", "=1+1")
_PROVIDERS = {
    "gmail.com": 35,
    "yahoo.com": 7,
    "yahoo.co.uk": 1,
    "hotmail.com": 5,
    "hotmail.co.uk": 1,
    "outlook.com": 4,
    "live.com": 1.5,
    "msn.com": 0.5,
    "icloud.com": 4,
    "me.com": 1,
    "aol.com": 2,
    "proton.me": 0.7,
    "protonmail.com": 0.5,
    "gmx.de": 1,
    "gmx.net": 0.5,
    "web.de": 1,
    "fastmail.com": 0.4,
    "comcast.net": 1,
    "orange.fr": 0.6,
    "mail.ru": 0.5,
    "qq.com": 0.3,
}  # the other 31% of personal addresses are at company domains
# Domains of the generator's providers that deliver local+tag to local.
_PLUS = tuple(d for d in _PROVIDERS if alias_rule(d)[1] != "exact")
_TYPOS = {  # intended domain: (typo domains, weight)
    "gmail.com": (
        ("gmial.com", "gmai.com", "gmal.com", "gmail.co", "gmail.cm", "gamil.com", "gnail.com", "gmaill.com"),
        8,
    ),
    "yahoo.com": (("yaho.com", "yahooo.com", "yahoo.co", "yhoo.com"), 3),
    "hotmail.com": (("hotmial.com", "hotmal.com", "hotmail.co", "hotmai.com"), 3),
    "outlook.com": (("outlok.com", "outloo.com", "outlook.co"), 2),
    "icloud.com": (("icloud.con", "iclod.com", "icoud.com"), 2),
    "aol.com": (("aol.co", "aol.con"), 1),
}
_ROLES = (
    "info",
    "sales",
    "support",
    "admin",
    "noreply",
    "no-reply",
    "contact",
    "hello",
    "office",
    "billing",
    "marketing",
    "team",
    "help",
    "webmaster",
    "hr",
    "jobs",
    "careers",
    "accounts",
    "enquiries",
    "press",
)
_IDN_LOCALS = (
    "josé",
    "müller",
    "zoë",
    "søren",
    "françois",
    "björn",
    "łukasz",
    "dvořák",
    "андрей",
    "ελένη",
    "李雷",
    "たなか",
    "chloé",
    "jürgen",
    "inés",
)
_IDN_DOMAINS = (
    "bücher.de",
    "müller-bau.de",
    "café-lumière.fr",
    "københavn-data.dk",
    "почта.рф",
    "пример.рф",
    "例え.jp",
    "mañana.es",
    "zürich-tech.ch",
    "ελληνικά.gr",
)
_POPULAR_DISPOSABLE = (
    "mailinator.com",
    "guerrillamail.com",
    "10minutemail.com",
    "yopmail.com",
    "maildrop.cc",
    "temp-mail.org",
    "trashmail.com",
    "sharklasers.com",
    "dispostable.com",
)
_CO_PRE = """acme apex arc atlas aurora beacon birch blue bright cedar cloud coral crest delta echo ember fern
flux forge fox granite green harbor helix indigo iron juniper kite lumen maple meadow metro nimbus north nova
oak orbit pine pixel polar prism quartz radiant red ridge river sage silver solar spruce stone summit swift
terra tide true vertex vista willow zen""".split()  # noqa: SIM905
_CO_SUF = """labs works soft tech systems group media data logic analytics digital studio partners consulting
capital health foods logistics energy retail design ventures solutions networks cloud bio robotics legal
finance supply games travel motors print home wear learning security ai hq co inc apps
dev""".split()  # noqa: SIM905
_TLDS = {
    ".com": 50,
    ".io": 8,
    ".co.uk": 7,
    ".de": 7,
    ".net": 5,
    ".co": 4,
    ".fr": 3,
    ".org": 3,
    ".nl": 2,
    ".ai": 2,
    ".com.au": 2,
    ".ca": 2,
    ".es": 1,
    ".it": 1,
    ".se": 1,
    ".ch": 1,
    ".app": 0.5,
    ".dev": 0.5,
}
_SOURCES = {
    "web_form": 45,
    "checkout": 20,
    "import": 12,
    "popup": 10,
    "api": 5,
    "landing_page": 5,
    "referral": 3,
}
_PLANS = {"free": 60, "pro": 25, "team": 10, "enterprise": 5}
_COUNTRIES = {
    "US": 35,
    "GB": 10,
    "DE": 10,
    "FR": 6,
    "IN": 6,
    "CA": 5,
    "AU": 4,
    "BR": 4,
    "NL": 3,
    "ES": 3,
    "IT": 3,
    "MX": 3,
    "JP": 2,
    "SE": 2,
    "PL": 2,
    "IE": 2,
}
_TZ = {
    "US": ("America/New_York", -5, -4),
    "GB": ("Europe/London", 0, 1),
    "DE": ("Europe/Berlin", 1, 2),
    "FR": ("Europe/Paris", 1, 2),
    "IN": ("Asia/Kolkata", 5, 5),
    "CA": ("America/Toronto", -5, -4),
    "AU": ("Australia/Sydney", 10, 11),
    "BR": ("America/Sao_Paulo", -3, -3),
}
_WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0"
# User agents: null, Apple's MPP proxy, mail clients and image proxies (human opens), browsers (clicks).
_UAS = (
    None,
    "Mozilla/5.0",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) {_WEBKIT} Mobile/15E148",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_WEBKIT}",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17531; Pro)",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36 Edg/125.0.0.0",
    f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_CHROME} Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.11.0",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_WEBKIT} Version/17.5 Safari/605.1.15",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) {_WEBKIT} Version/17.5 Mobile/15E148 "
    "Safari/604.1",
    f"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) {_CHROME} SamsungBrowser/25.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
)
# SMTP statuses by bounce class: hard, typo domain, soft (mailbox full), transient, policy block.
_SMTP = {
    "hard": (
        "5.1.1",
        "550 5.1.1 The email account that you tried to reach does not exist",
        "5.2.1",
        "550 5.1.1 Recipient address rejected: User unknown in virtual mailbox table",
        "5.1.10",
    ),
    "typo": ("5.1.2", "550 5.1.2 Host or domain name not found"),
    "full": ("4.2.2", "452 4.2.2 The email account that you tried to reach is over quota"),
    "transient": (
        "4.4.7",
        "421 4.7.0 Try again later, closing connection",
        "451 4.3.0 Temporary server error",
    ),
    "policy": (
        "5.7.1",
        "550 5.7.1 Message rejected due to local policy",
        "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
    ),
}
_SMTP_TABLE = [s for group in _SMTP.values() for s in group]
_SMTP_AT = {k: 1 + sum(len(v) for v in list(_SMTP.values())[:i]) for i, k in enumerate(_SMTP)}  # 0 is null
_EVENTS = ("send", "delivered", "open", "click", "bounce", "complaint", "unsubscribe")
_RECORD = np.dtype(
    [
        ("ts", "<i8"),
        ("sub", "<i4"),
        ("camp", "<i2"),
        ("code", "i1"),
        ("smtp", "i1"),
        ("btype", "i1"),
        ("ua", "i1"),
        ("machine", "i1"),
    ]
)


@dataclass(frozen=True)
class SyntheticData:
    """A synthetic list, its event log and the facts a correct run must find.

    * ``subscribers``: the contract's ``email, first_name, last_name, signup_at, source, status`` (strings,
      ``signup_at`` ISO-8601 with ``Z``) and pass-through ``plan`` and ``country``.
    * ``events``: ``email, event, timestamp, campaign, bounce_type, smtp_status, user_agent, machine_open``
      in random order; ``timestamp`` is ISO-8601 text with ``Z``; ``event``, ``campaign``, ``bounce_type``,
      ``smtp_status`` and ``user_agent`` are ``pl.Enum`` to keep 30M rows small (the files hold text).
      About 1% of mailboxes are not on the list; 2% of events respell a list address (case, spaces).
    * ``truth``: one row per subscriber row, in order: ``source_row`` (1-based), ``email``, ``persona``,
      ``address_kind``, ``mailbox`` (lower-case address the events use; null when invalid), ``invalid``,
      ``typo_of`` (the intended address), ``duplicate_of`` (an earlier ``source_row`` of the same mailbox),
      ``duplicate_kind``, ``disposable``, ``role``, ``idn``, ``placeholder_name``, ``formula_cell``,
      ``policy_block`` (a 5.7.1 bounce, not a mailbox fault), ``deliveries_365d``, ``human_engagements_365d``,
      ``deliveries_since_engagement``,
      ``expected_reasons`` (``;``-joined contract codes under the default policy at ``as_of``, derived from
      the generated events) and ``expected_outcome``. Duplicates share their original's mailbox facts.
    """

    subscribers: pl.DataFrame
    events: pl.DataFrame
    truth: pl.DataFrame


def synthesize(
    n_subscribers: int, *, seed: int = 0, as_of: datetime | None = None, campaigns_per_year: int = 52
) -> SyntheticData:
    """Generate ``n_subscribers`` list rows, two years of events before ``as_of`` and the truth.

    ``as_of`` (default 2026-11-01T00:00:00Z) is the export time: every event is earlier; pass it to the run
    that the truth is checked against. ``campaigns_per_year`` (10-365) scales the events, about
    ``2.8 * campaigns_per_year`` per row (12 gives ~34 million for a million subscribers); dormant
    mailboxes get every campaign, so at least 10 deliveries in the last 365 days. Same arguments, same frames.
    """
    if n_subscribers < 0:
        raise ConfigError(f"n_subscribers must be >= 0, not {n_subscribers}")
    if not 10 <= campaigns_per_year <= 365:
        raise ConfigError(f"campaigns_per_year must be between 10 and 365, not {campaigns_per_year}")
    as_of = DEFAULT_AS_OF if as_of is None else as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    now, n, rng = int(as_of.timestamp()), n_subscribers, np.random.default_rng(seed)
    a = _addresses(rng, n, n // 100)
    kind, owner, dups = _duplicates(rng, a, n)
    size, is_dup = len(kind), owner != np.arange(len(kind))
    p = rng.choice(len(PERSONAS), size, p=_weights(PERSONAS)[1]).astype(np.int8)
    typo, u = kind == _K["typo"], rng.random(size)
    p[kind == _K["invalid"]] = _P["unmailable"]
    p[typo] = np.where(u[typo] < 0.3, _P["new_signup"], _P["hard_bounce"])  # not mailed yet, or bounced
    p = p[owner]
    u = rng.random(size)  # sign-up age in days by persona; duplicates signed up again later
    days = np.select(
        [typo, p == _P["new_signup"], p == _P["dormant"], p == _P["lapsing"]],
        [
            np.where(p == _P["new_signup"], 0.1 + 2.1 * u, 30 + 1270 * u**1.6),
            0.5 + 29.5 * u,
            400 + 900 * u,
            450 + 850 * u,
        ],
        30 + 1270 * u**1.6,
    )
    fade_days = 120 + rng.random(size) * (np.minimum(600, days - 60) - 120)  # lapsing: last interest
    days = np.where(is_dup, np.maximum(days[owner] - rng.uniform(1, 300, size), 0.05), days)
    domain = a.get_column("domain").to_numpy()
    proxy = np.select([(domain == "gmail.com"), np.char.startswith(domain.astype(str), "yahoo.")], [2, 3], 0)
    device = rng.choice(np.arange(4, 10), size, p=[0.3, 0.15, 0.2, 0.1, 0.2, 0.05])
    r = {
        "persona": p,
        "signup": (now - days * _DAY).astype(np.int64),
        "typo": typo,
        "mailbox": ~is_dup & (kind != _K["invalid"]),
        "pending": (p == _P["new_signup"]) & (u < 0.2),
        "affinity": np.where(_OPEN_A[p] > 0, rng.beta(np.maximum(_OPEN_A[p], 1), _OPEN_B[p]), 0.0),
        "fade": np.where(p == _P["lapsing"], now - (fade_days * _DAY).astype(np.int64), 2**62),
        "ua_mail": np.where((proxy > 0) & (rng.random(size) < 0.7), proxy, device),
        "ua_alt": rng.choice(np.arange(4, 10), size),
        "ua_click": rng.choice(np.arange(10, 15), size),
    }
    camp_ts, camp_ids = _campaigns(rng, now, campaigns_per_year)
    ev, streak = _events(rng, r, camp_ts, now)
    code, smtp = ev["code"], ev["smtp"]

    def per_mailbox(mask: np.ndarray) -> np.ndarray:
        return np.bincount(ev["sub"][mask], minlength=size)[owner]

    window = ev["ts"] >= now - 365 * _DAY
    human = ((code == 2) & (ev["machine"] == 0)) | (code == 3)
    last_human = np.full(size, -1, np.int64)
    np.maximum.at(last_human, ev["sub"][human], ev["ts"][human])
    facts = {  # hard: bounce_type hard, or a 5.1.x / 5.2.1 status when the type is empty
        "deliveries_365d": per_mailbox((code == 1) & window),
        "unsub": per_mailbox(code == 6) > 0,
        "human_engagements_365d": per_mailbox(human & window),
        "deliveries_since_engagement": per_mailbox((code == 1) & (ev["ts"] > last_human[ev["sub"]])),
        "complaint": per_mailbox(code == 5) > 0,
        "hard": per_mailbox((code == 4) & ((ev["btype"] == 1) | (smtp > 0) & (smtp < _SMTP_AT["full"]))) > 0,
        "policy_block": per_mailbox((code == 4) & (smtp >= _SMTP_AT["policy"])) > 0,
        "streak": streak[owner],
    }
    del code, smtp, window, human
    status = np.zeros(size, np.int8)  # what the ESP already knows; duplicates share their original's
    status[(p == _P["unsubscriber"]) & facts["unsub"] & (rng.random(size) < 0.6)] = 1
    status[facts["complaint"] & (rng.random(size) < 0.5)] = 1
    status[(p == _P["hard_bounce"]) & facts["hard"] & (rng.random(size) < 0.5)] = 2
    status[r["pending"]] = 3
    status[(p == _P["casual"]) & (rng.random(size) < 0.01)] = 4
    subscribers, truth = _list_frames(rng, a, kind, owner, dups, p, r["signup"], status[owner], facts, n)
    mailbox = a.get_column("mailbox")
    del a, r
    return SyntheticData(subscribers, _event_frame(rng, mailbox, ev, camp_ids), truth)


def write_synthetic(
    data: SyntheticData, out_dir: Path, *, format: str = "csv", mailchimp_rows: int = 0
) -> dict[str, Path]:
    """Write ``subscribers``, ``events`` and ``truth`` as ``<name>.csv`` (or ``.parquet``) into ``out_dir``.

    ``mailchimp_rows`` > 0 also writes the first that many subscribers as a Mailchimp export
    (``mailchimp_subscribed_members_export.csv``). Rows keep the frames' deterministic order, so the
    same data gives byte-identical files. Returns the paths.
    """
    if format not in ("csv", "parquet"):
        raise ConfigError(f"format must be 'csv' or 'parquet', not {format!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.{format}" for name in ("subscribers", "events", "truth")}
    for name, path in paths.items():
        frame = getattr(data, name)
        if format == "csv":
            frame.write_csv(path)
        else:
            frame.write_parquet(path, compression="zstd")
    if mailchimp_rows > 0:
        paths["mailchimp"] = out_dir / "mailchimp_subscribed_members_export.csv"
        to_mailchimp_export(data.subscribers.head(mailchimp_rows)).write_csv(paths["mailchimp"])
    return paths


def to_mailchimp_export(subscribers: pl.DataFrame) -> pl.DataFrame:
    """The rows in the shape of Mailchimp's "subscribed members" CSV export, in the same order.

    ``OPTIN_TIME``, ``CONFIRM_TIME`` and ``LAST_CHANGED`` are ``YYYY-MM-DD HH:MM:SS``; ratings, IPs (from
    documentation ranges), ``LEID`` and ``EUID`` are made up but deterministic; ``TAGS`` holds the plan.
    """
    i, col, fmt = np.arange(subscribers.height, dtype=np.int64), subscribers.get_column, "%Y-%m-%d %H:%M:%S"
    optin = col("signup_at").str.to_datetime(_ISO, time_zone="UTC")
    confirm = (optin + pl.Series((30 + i * 37 % 900) * 1_000_000).cast(pl.Duration("us"))).dt.strftime(fmt)
    zone = {
        k: col("country").replace_strict({c: str(z[j]) for c, z in _TZ.items()}, default=None)
        for k, j in (("GMTOFF", 1), ("DSTOFF", 2), ("TIMEZONE", 0))
    }
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype="S1")
    euid = hexdigits[((i[:, None] + 1) * 2_654_435_761 >> np.arange(36, -1, -4)) & 15].view("S10").ravel()
    blank = pl.repeat(None, subscribers.height, dtype=pl.String, eager=True)
    return pl.DataFrame(
        {
            "Email Address": col("email"),
            "First Name": col("first_name"),
            "Last Name": col("last_name"),
            "Address": blank,
            "Phone Number": blank,
            "MEMBER_RATING": (i * 7 + i // 3) % 5 + 1,
            "OPTIN_TIME": optin.dt.strftime(fmt),
            "OPTIN_IP": "198.51.100." + pl.Series(i % 254 + 1).cast(pl.String),
            "CONFIRM_TIME": confirm,
            "CONFIRM_IP": "203.0.113." + pl.Series(i * 7 % 254 + 1).cast(pl.String),
            "LATITUDE": blank,
            "LONGITUDE": blank,
            **zone,
            "CC": col("country"),
            "REGION": blank,
            "LAST_CHANGED": confirm,
            "LEID": 100_000_000 + i * 7919 % 900_000_000,
            "EUID": euid.astype(str),
            "NOTES": blank,
            "TAGS": '"plan-' + col("plan") + '"',
        }
    )


def _weights(d: dict[str, float]) -> tuple[list[str], np.ndarray]:
    w = np.array(list(d.values()), dtype=float)
    return list(d), w / w.sum()


def _zipf(k: int, s: float = 0.8) -> np.ndarray:
    w = 1.0 / (np.arange(k) + 3.0) ** s
    return w / w.sum()


def _choose(rng: np.random.Generator, d: dict[str, float], size: int) -> pl.Series:
    keys, w = _weights(d)
    return pl.Series(keys).gather(rng.choice(len(keys), size, p=w))


@functools.cache
def _disposable() -> tuple[list[str], frozenset[str]]:
    """(domains to draw throwaway addresses from, the blocklist minus its allowlist)."""
    blocked = frozenset(disposable_email_domains.blocklist) - frozenset(
        getattr(disposable_email_domains, "allowlist", ())
    )
    ours = set(_PROVIDERS) | {t for typos, _ in _TYPOS.values() for t in typos}
    return sorted(d for d in blocked - ours if "xn--" not in d), blocked  # Punycode ones may not be valid


def _addresses(rng: np.random.Generator, n: int, n_ghost: int) -> pl.DataFrame:
    """Rows ``0..n-1`` are the list, the rest mailboxes only the events know. Columns ``kind``, ``first``,
    ``last``, ``local``, ``domain`` (intended), ``typo_of``, ``mailbox`` (lower case), ``email`` (typed)."""
    size = n + n_ghost
    kind = np.zeros(size, np.int8)
    kind[:n] = rng.choice(len(_K), n, p=_weights(ADDRESS_KINDS)[1])
    disposable, blocked = _disposable()
    stems = [p + s for p in _CO_PRE for s in _CO_SUF] + [f"{p}-{s}" for p in _CO_PRE for s in _CO_SUF]
    tlds, tp = _weights(_TLDS)
    companies = [
        d
        for d in (
            stems[i] + tlds[t]
            for i, t in zip(
                np.sort(rng.choice(len(stems), 3000, replace=False)),
                rng.choice(len(tlds), 3000, p=tp),
                strict=True,
            )
        )
        if d not in blocked
    ]
    provs, pp = _weights(_PROVIDERS)
    table = [*provs, *companies, *disposable, *_IDN_DOMAINS]  # domain ids index this
    co, dis, idn = len(provs), len(provs) + len(companies), len(provs) + len(companies) + len(disposable)
    at_company = co + rng.choice(len(companies), size, p=_zipf(len(companies), 0.7))
    dom = np.where(rng.random(size) < 0.31, at_company, rng.choice(len(provs), size, p=pp))
    is_k = {k: kind == i for k, i in _K.items()}
    typo_from = [provs.index(d) for d in _TYPOS]
    dom[is_k["typo"]] = rng.choice(
        typo_from, is_k["typo"].sum(), p=_weights({d: w for d, (_, w) in _TYPOS.items()})[1]
    )
    popular = [dis + disposable.index(d) for d in _POPULAR_DISPOSABLE if d in disposable]
    nd = int(is_k["disposable"].sum())
    dom[is_k["disposable"]] = np.where(
        rng.random(nd) < 0.5, rng.choice(popular, nd), dis + rng.integers(0, len(disposable), nd)
    )
    idn_dom = is_k["idn"] & (rng.random(size) < 0.5)
    dom[idn_dom] = idn + rng.integers(0, len(_IDN_DOMAINS), idn_dom.sum())
    pairs = rng.choice(
        len(_ROLES) * len(companies), min(is_k["role"].sum(), len(_ROLES) * len(companies)), replace=False
    )  # role@company without replacement: never repeated
    kind[np.flatnonzero(is_k["role"])[len(pairs) :]] = _K["clean"]
    role_rows = np.flatnonzero(kind == _K["role"])
    dom[role_rows] = co + pairs % len(companies)
    num = np.where(rng.random(size) < 0.5, rng.integers(1955, 2007, size), rng.integers(1, 1000, size))
    pattern = rng.choice(10, size, p=[0.3, 0.14, 0.04, 0.12, 0.12, 0.04, 0.1, 0.06, 0.03, 0.05])
    df = pl.DataFrame(
        {
            "kind": kind,
            "num": num,
            "pat": pattern,
            "domain": pl.Series(table).gather(dom),
            **{
                k: pl.Series(v).gather(rng.choice(len(v), size, p=_zipf(len(v))))
                for k, v in (("first", _FIRST), ("last", _LAST))
            },
        }
    )
    f, num = pl.col("first").str.to_lowercase(), pl.col("num").cast(pl.String)
    ln, i0 = pl.col("last").str.to_lowercase().str.replace_all("[^a-z]", ""), f.str.slice(0, 1)
    local = pl.lit(None, pl.String)
    for i, parts in enumerate(
        [
            [f, ".", ln],
            [f, ln],
            [f, "_", ln],
            [i0, ln],
            [f, num],
            [ln, ".", f],
            [f, ".", ln, num],
            [i0, ".", ln],
            [f],
            [ln, i0],
        ]
    ):
        local = (
            pl.when(pl.col("pat") == i)
            .then(pl.concat_str([pl.lit(x) if isinstance(x, str) else x for x in parts]))
            .otherwise(local)
        )
    special = df.select(local).to_series().to_numpy().astype(object)
    throwaway = np.flatnonzero(is_k["disposable"] & (rng.random(size) < 0.6))
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype="S1")
    special[throwaway] = letters[rng.integers(0, 36, (len(throwaway), 8))].view("S8").ravel().astype(str)
    uni = np.flatnonzero(is_k["idn"] & ~idn_dom)
    special[uni] = np.array(_IDN_LOCALS, dtype=object)[rng.integers(0, len(_IDN_LOCALS), len(uni))]
    special[role_rows] = np.array(_ROLES, dtype=object)[pairs // len(companies)]
    df = df.with_columns(local=pl.Series(special.tolist(), dtype=pl.String))
    for _ in range(50):  # one row per mailbox (Gmail ignores dots): add digits to later clashes
        gmail = pl.col("domain") == "gmail.com"
        plain = pl.when(gmail).then(pl.col("local").str.replace_all(".", "", literal=True)).otherwise("local")
        clash = df.select(pl.format("{}@{}", plain, "domain").is_first_distinct().not_()).to_series()
        if not clash.any():
            break
        extra = pl.Series(rng.integers(2, 10_000, size)).cast(pl.String)
        df = df.with_columns(local=pl.when(clash).then(pl.col("local") + extra).otherwise("local"))
    count = np.array([len(_TYPOS[d][0]) if d in _TYPOS else 0 for d in provs])  # typos per provider
    first = (np.cumsum(count) - count)[np.minimum(dom, len(provs) - 1)]
    pick = np.where(
        is_k["typo"],
        first + rng.integers(0, 8, size) % np.maximum(count, 1)[np.minimum(dom, len(provs) - 1)],
        0,
    )
    typo = pl.Series([t for typos, _ in _TYPOS.values() for t in typos]).gather(pick)
    df = df.with_columns(typo=pl.when(pl.Series(is_k["typo"])).then(typo), mess=rng.integers(0, 9, size))
    df = df.with_columns(
        typo_of=pl.when(pl.col("typo").is_not_null()).then(pl.format("{}@{}", "local", "domain")),
        mailbox=pl.format("{}@{}", "local", pl.coalesce("typo", "domain")).str.to_lowercase(),
    )
    m, mess, lo, do = pl.col("mailbox"), pl.col("mess"), pl.col("local").str.to_lowercase(), pl.col("domain")
    do = pl.coalesce("typo", do).str.to_lowercase()
    cap = pl.concat_str(
        lo.str.slice(0, 1).str.to_uppercase(),
        lo.str.slice(1),
        pl.lit("@"),
        do.str.slice(0, 1).str.to_uppercase(),
        do.str.slice(1),
    )
    messy = (
        pl.when(mess < 3)
        .then(cap)
        .when(mess == 3)
        .then(m.str.to_uppercase())
        .when(mess < 6)
        .then(" " + m)
        .when(mess < 8)
        .then(m + " ")
        .otherwise("  " + cap + " ")
    )
    invalid = pl.lit(None, pl.String)
    # no @, two @, a space, two trailing dots (one alone is the DNS root: valid), "..", no TLD,
    # full-width @, comma, no local part
    for i, bad in enumerate(
        [
            lo + do,
            lo + "@@" + do,
            lo.str.slice(0, 1) + " " + m.str.slice(1),
            m + "..",
            lo.str.slice(0, 1) + ".." + m.str.slice(1),
            lo + "@" + do.str.split(".").list.first(),
            lo + "\uff20" + do,
            lo + "@" + do.str.replace(".", ",", literal=True),
            "@" + do,
        ]
    ):
        invalid = pl.when(mess == i).then(bad).otherwise(invalid)
    return df.with_columns(
        email=pl.when(pl.col("kind") == _K["messy"])
        .then(messy)
        .when(pl.col("kind") == _K["invalid"])
        .then(invalid)
        .otherwise(m)
    )


def _duplicates(
    rng: np.random.Generator, a: pl.DataFrame, n: int
) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """Point every duplicate row at an earlier clean or messy row and respell that row's address.

    Returns the final kinds, each row's owner (the row whose mailbox it is) and the duplicates' spellings.
    """
    kind = a.get_column("kind").to_numpy().copy()
    dup = np.flatnonzero(kind[:n] == _K["duplicate"])
    eligible = np.flatnonzero((kind[:n] == _K["clean"]) | (kind[:n] == _K["messy"]))
    earlier = np.searchsorted(eligible, dup)
    kind[dup[earlier == 0]] = _K["clean"]
    dup, earlier = dup[earlier > 0], earlier[earlier > 0]
    owner = np.arange(len(kind))
    owner[dup] = eligible[(rng.random(len(dup)) * earlier).astype(np.int64)]
    o = a.select("email", "mailbox", "domain")[owner[dup]]
    dom, dk = o.get_column("domain").to_numpy(), rng.choice(6, len(dup), p=[0.15, 0.3, 0.2, 0.15, 0.1, 0.1])
    dk = np.where((dom != "gmail.com") & np.isin(dk, [3, 5]), 1, dk)  # dots and googlemail: Gmail only
    dk = np.where(~np.isin(dom, _PLUS) & (dk == 4), 2, dk)  # +tags where the provider ignores them
    m, local = pl.col("mailbox"), pl.col("mailbox").str.split("@").list.first()
    dots = (
        pl.when(local.str.contains(".", literal=True))
        .then(local.str.replace_all(".", "", literal=True))
        .otherwise(local.str.slice(0, 1) + "." + local.str.slice(1))
    )
    tag = pl.Series(["news", "shop", "promo", "2025", "list"]).gather(rng.integers(0, 5, len(dup)))
    email = pl.lit(None, pl.String)
    variants = [
        pl.col("email"),
        m.str.to_uppercase(),
        m + " ",
        dots + "@gmail.com",
        pl.format("{}+{}@{}", local, pl.lit(tag), "domain"),
        local + "@googlemail.com",
    ]
    for i, expr in enumerate(variants):
        email = pl.when(pl.col("dk") == i).then(expr).otherwise(email)
    kinds = pl.Series(["exact", "case", "space", "gmail_dots", "plus_tag", "googlemail"])
    return kind, owner, o.with_columns(dk=dk).select(row=pl.Series(dup), email=email, kind=kinds.gather(dk))


def _campaigns(rng: np.random.Generator, now: int, per_year: int) -> tuple[np.ndarray, pl.Series]:
    """Send times (ascending epoch seconds over two years, the last three days before ``now``) and ids."""
    c = 2 * per_year
    day = (now - 3 * _DAY - (c - 1 - np.arange(c)) * (365 * _DAY / per_year)).astype(np.int64) // _DAY * _DAY
    theme = pl.Series(["news", "digest", "promo", "launch"]).gather(np.arange(c) % 4)
    ids = pl.from_epoch(pl.Series(day), time_unit="s").dt.strftime("%Y-%m-%d") + "-" + theme
    return day + 13 * 3600 + rng.integers(0, 4 * 3600, c), ids


class _Log:
    """Events as structured numpy records of integer codes (text comes last); drops any after ``now``."""

    def __init__(self, now: int) -> None:
        self.now, self.blocks = now, []

    def add(self, sub, code, ts, camp, *, smtp=0, btype=0, ua=0, machine=-1) -> None:  # arrays or scalars
        block = np.empty(len(sub), _RECORD)
        for name, value in zip(_RECORD.names, (ts, sub, camp, code, smtp, btype, ua, machine), strict=True):
            block[name] = value
        self.blocks.append(block[block["ts"] < self.now])


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parent, position within parent) of every child when parent ``i`` has ``counts[i]`` children."""
    parent = np.repeat(np.arange(len(counts)), counts)
    return parent, np.arange(len(parent)) - np.repeat(np.cumsum(counts) - counts, counts)


def _events(
    rng: np.random.Generator, r: dict[str, np.ndarray], camp_ts: np.ndarray, now: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every campaign send to every mailbox row and what followed; returns the records and, per row, the
    soft bounces since the last delivery."""
    p, size, n_camp = r["persona"], len(r["persona"]), len(camp_ts)
    first = np.searchsorted(camp_ts, r["signup"], side="right")
    span = np.maximum(n_camp - first, 0)  # the campaign where a hard bounce, complaint, unsubscribe happens:
    key = np.where(span > 0, first + (rng.random(size) * span).astype(np.int64), -1)
    at_once = (p == _P["hard_bounce"]) & ((rng.random(size) < 0.4) | r["typo"]) & (span > 0)
    key = np.where(at_once, first, key)  # bad from the start
    key = np.where(
        np.isin(p, [_P[k] for k in ("hard_bounce", "policy_block", "complainer", "unsubscriber")]), key, -1
    )
    stops = np.isin(p, [_P["hard_bounce"], _P["complainer"], _P["unsubscriber"]])
    last = np.where(r["mailbox"] & ~r["pending"], np.where(stops, key + 1, n_camp), first)
    sub, pos = _expand(np.maximum(last - first, 0))
    camp = pos + first[sub]
    keep = (rng.random(len(sub), dtype=np.float32) < _SEND[p][sub]) | (camp == key[sub])
    sub, camp = sub[keep].astype(np.int32), camp[keep].astype(np.int16)
    del pos, keep
    n_pairs, pp, is_key = len(sub), p[sub], camp == key[sub]
    later = (np.cumsum(np.bincount(sub, minlength=size)) - 1)[sub] - np.arange(n_pairs)  # sends still to come
    send_ts = camp_ts[camp] + rng.integers(0, 1800, n_pairs)
    out_ts = send_ts + np.minimum(1 + rng.lognormal(1.6, 0.9, n_pairs), 3000).astype(np.int64)
    # outcome: 0 delivered, 1 hard, 2 soft (mailbox full), 3 transient, 4 policy block, 5 typo domain
    outcome = np.zeros(n_pairs, np.int8)
    outcome[(pp == _P["hard_bounce"]) & is_key] = 1
    outcome[(pp == _P["soft_bounce"]) & (later < rng.integers(3, 7, size)[sub])] = 2
    transient = rng.random(n_pairs, dtype=np.float32) < 0.004
    outcome[transient & (outcome == 0) & ~is_key & (pp != _P["dormant"])] = 3
    outcome[(pp == _P["policy_block"]) & is_key] = 4
    outcome[(outcome == 1) & r["typo"][sub]] = 5
    log = _Log(now)
    log.add(sub, 0, send_ts, camp)
    b = np.flatnonzero(outcome)
    cls = outcome[b]
    at = np.array([0, *(_SMTP_AT[g] for g in ("hard", "full", "transient", "policy", "typo"))])
    width = np.array([1, *(len(_SMTP[g]) for g in ("hard", "full", "transient", "policy", "typo"))])
    btype = np.array([0, 1, 2, 2, 0, 1])[cls] * ~(np.isin(cls, [1, 2]) & (rng.random(len(b)) < 0.1))
    smtp = at[cls] + (rng.random(len(b)) * width[cls]).astype(int)
    log.add(sub[b], 4, out_ts[b], camp[b], smtp=smtp, btype=btype)
    d = np.flatnonzero(outcome == 0)
    ds, dts, dcamp, unsub_now = sub[d], out_ts[d], camp[d], ((pp == _P["unsubscriber"]) & is_key)[d]
    log.add(ds, 1, dts, dcamp)
    # human opens (first one hours later, re-opens later still), clicks a minute or so after the first open
    o = np.flatnonzero((rng.random(len(d)) < r["affinity"][ds] * (send_ts[d] < r["fade"][ds])) | unsub_now)
    first_open = dts[o] + np.clip(rng.lognormal(np.log(3 * 3600), 1.5, len(o)), 20, 10 * _DAY).astype(int)
    oi, j = _expand(rng.geometric(0.6, len(o)))
    reopen = (j > 0) * np.clip(rng.lognormal(np.log(_DAY / 2), 1.2, len(oi)), 60, 20 * _DAY).astype(np.int64)
    osub = ds[o][oi]
    ua = np.where(rng.random(len(oi)) < 0.75, r["ua_mail"][osub], r["ua_alt"][osub])
    log.add(osub, 2, first_open[oi] + reopen, dcamp[o][oi], ua=ua, machine=0)
    c = o[rng.random(len(o)) < _CLICK[p][ds[o]]]
    ci, j = _expand(rng.geometric(0.7, len(c)))
    delay = 3 + rng.lognormal(np.log(40), 1.0, len(ci)) + (j > 0) * rng.lognormal(np.log(300), 1.0, len(ci))
    first_click = first_open[np.searchsorted(o, c)]
    log.add(ds[c][ci], 3, first_click[ci] + delay.astype(np.int64), dcamp[c][ci], ua=r["ua_click"][ds[c][ci]])
    # Apple Mail Privacy Protection: a bare "Mozilla/5.0" fetch seconds after delivery, flagged by the ESP
    mo = np.flatnonzero((p[ds] == _P["mpp"]) & (rng.random(len(d)) < 0.93))
    log.add(ds[mo], 2, dts[mo] + rng.integers(1, 30, len(mo)), dcamp[mo], ua=1, machine=1)
    cp = np.flatnonzero(((pp == _P["complainer"]) & is_key)[d])
    delay = np.clip(rng.lognormal(np.log(4 * 3600), 1.2, len(cp)), 60, 5 * _DAY).astype(int)
    log.add(ds[cp], 5, dts[cp] + delay, dcamp[cp])
    us = np.flatnonzero(unsub_now)
    delay = 10 + rng.lognormal(np.log(30), 0.8, len(us)).astype(int)
    log.add(ds[us], 6, first_open[np.searchsorted(o, us)] + delay, dcamp[us])
    last_delivery = np.full(size, -1, np.int64)
    np.maximum.at(last_delivery, ds, d)
    soft = np.flatnonzero((outcome == 2) | (outcome == 3))
    return np.concatenate(log.blocks), np.bincount(sub[soft][soft > last_delivery[sub[soft]]], minlength=size)


def _list_frames(
    rng: np.random.Generator,
    a: pl.DataFrame,
    kind: np.ndarray,
    owner: np.ndarray,
    dups: pl.DataFrame,
    p: np.ndarray,
    signup: np.ndarray,
    status: np.ndarray,
    facts: dict[str, np.ndarray],
    n: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Subscriber and truth frames of the first ``n`` rows (the list)."""
    size, o = len(kind), owner[:n]
    first, last = a.get_column("first").to_numpy().copy(), a.get_column("last").to_numpy().copy()
    ph, fx = rng.random(size) < 0.03, rng.random(size) < 0.002
    first[ph] = np.array(_PLACEHOLDERS, dtype=object)[rng.integers(0, len(_PLACEHOLDERS), ph.sum())]
    last[fx] = np.array(_FORMULAS, dtype=object)[rng.integers(0, len(_FORMULAS), fx.sum())]
    email, dup_kind = a.get_column("email").to_numpy().copy(), np.full(size, None, dtype=object)
    rows = dups.get_column("row").to_numpy()
    email[rows], dup_kind[rows] = dups.get_column("email").to_numpy(), dups.get_column("kind").to_numpy()
    text = {"email": email[:n], "first_name": first[o], "last_name": last[o], "duplicate_kind": dup_kind[:n]}
    text = {k: pl.Series(v.tolist(), dtype=pl.String) for k, v in text.items()}
    subscribers = pl.DataFrame(
        {
            "email": text["email"],
            "first_name": text["first_name"],
            "last_name": text["last_name"],
            "signup_at": pl.from_epoch(pl.Series(signup[:n]), time_unit="s").dt.strftime(_ISO),
            "source": _choose(rng, _SOURCES, n),
            "status": pl.Series(["subscribed", "unsubscribed", "cleaned", "pending", "transactional"]).gather(
                status[:n]
            ),
            "plan": _choose(rng, _PLANS, size).gather(o),
            "country": _choose(rng, _COUNTRIES, size).gather(o),
        }
    )
    mailbox = a.get_column("mailbox").gather(o)
    domains, blocked = mailbox.str.split("@").list.last(), _disposable()[1]
    disposable = [
        d
        for d in domains.unique().sort().to_list()
        if any(".".join(d.split(".")[i:]) in blocked for i in range(d.count(".")))
    ]
    t = pl.DataFrame(
        {
            "source_row": np.arange(1, n + 1),
            "email": text["email"],
            "persona": pl.Series([*_P]).gather(p[:n]),
            "address_kind": pl.Series([*_K]).gather(kind[:n]),
            "mailbox": mailbox,
            "typo_of": a["typo_of"][:n],
            "owner": o + 1,
            "duplicate_kind": text["duplicate_kind"],
            "disposable": domains.is_in(disposable),
            "placeholder_name": ph[o],
            "formula_cell": fx[o],
            "status": subscribers.get_column("status"),
            **{k: v[:n] for k, v in facts.items()},
        }
    )
    is_kind, has_status = pl.col("address_kind").__eq__, pl.col("status").__eq__
    t = t.with_columns(
        invalid=is_kind("invalid"),
        mailbox=pl.when(~is_kind("invalid")).then("mailbox"),
        duplicate_of=pl.when(pl.col("owner") != pl.col("source_row")).then("owner"),
        disposable=pl.col("disposable") & ~is_kind("invalid"),
        role=is_kind("role"),
        idn=is_kind("idn"),
    )
    reasons = {  # in the contract's order
        "invalid_syntax": pl.col("invalid"),
        "disposable": pl.col("disposable"),
        "role_account": pl.col("role"),
        "typo_domain": pl.col("typo_of").is_not_null(),
        "duplicate": pl.col("duplicate_of").is_not_null(),
        "unsubscribed": pl.col("unsub") | has_status("unsubscribed"),
        "complaint": pl.col("complaint"),
        "hard_bounce": pl.col("hard") | has_status("cleaned"),
        "soft_bounce_repeated": pl.col("streak") >= 3,
        "inactive": (pl.col("deliveries_since_engagement") >= 10) & (pl.col("human_engagements_365d") == 0),
    }
    codes = [pl.when(c).then(pl.lit(k)) for k, c in reasons.items()]
    t = t.with_columns(expected_reasons=pl.concat_str(codes, separator=";", ignore_nulls=True))
    return subscribers, t.select(
        "source_row",
        "email",
        "persona",
        "address_kind",
        "mailbox",
        "invalid",
        "typo_of",
        "duplicate_of",
        "duplicate_kind",
        "disposable",
        "role",
        "idn",
        "placeholder_name",
        "formula_cell",
        "policy_block",
        "deliveries_365d",
        "human_engagements_365d",
        "deliveries_since_engagement",
        "expected_reasons",
        expected_outcome=pl.when(pl.col("expected_reasons") == "")
        .then(pl.lit("keep"))
        .otherwise(pl.lit("prune")),
    )


def _event_frame(
    rng: np.random.Generator, mailbox: pl.Series, ev: np.ndarray, camp_ids: pl.Series
) -> pl.DataFrame:
    """The records shuffled and turned into text (and enums), slice by slice to bound memory. 2% of events
    respell their address: upper case, capitalised, or with stray spaces."""
    size = len(mailbox)
    rng.shuffle(ev)  # in place: no second copy of the records
    m, how = pl.col("m"), pl.col("how")
    respelt = pl.DataFrame({"m": mailbox, "how": rng.integers(0, 4, size)}).select(
        pl.when(how == 0)
        .then(m.str.to_uppercase())
        .when(how == 1)
        .then(m.str.slice(0, 1).str.to_uppercase() + m.str.slice(1))
        .when(how == 2)
        .then(" " + m)
        .otherwise(m + "  ")
    )

    def enum(name: str, values, *, null_first: bool = True) -> pl.Expr:
        c = pl.col(name).cast(pl.Int32)
        return (pl.when(c > 0).then(c - 1) if null_first else c).cast(pl.UInt32).cat.to(pl.Enum(values))

    columns = {
        "email": pl.lit(pl.concat([mailbox, respelt.to_series()])).gather("addr"),
        "event": enum("code", _EVENTS, null_first=False),
        "timestamp": pl.from_epoch("ts", time_unit="s").dt.strftime(_ISO),
        "campaign": enum("camp", camp_ids, null_first=False),
        "bounce_type": enum("btype", ["hard", "soft"]),
        "smtp_status": enum("smtp", _SMTP_TABLE),
        "user_agent": enum("ua", _UAS[1:]),
        "machine_open": pl.when(pl.col("machine") >= 0).then(pl.col("machine") == 1),
    }
    parts, step = [], 1 << 22
    for start in range(0, max(len(ev), 1), step):
        rec = ev[start : start + step]
        addr = rec["sub"] + (rng.random(len(rec), dtype=np.float32) < 0.02) * np.int32(size)
        parts.append(pl.DataFrame({"addr": addr, **{k: rec[k] for k in _RECORD.names}}).select(**columns))
    return pl.concat(parts, rechunk=False)
