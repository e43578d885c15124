"""Benchmark check_addresses against a per-row email-validator loop.

    .venv/bin/python benchmarks/bench_addresses.py [--rows 1000000] [--loop-sample 50000]
                                                  [--compare-sample 0] [--seed 1] [--synth]
                                                  [--forms 0.0]

Prints addresses/s of the vectorised path (cold domain cache), the per-row loop's rate measured
on a sample and extrapolated, the speed ratio, and the number of rows whose verdict or normalised
form differs from email-validator on the address as ``unwrap_address`` reads it:
``validate_email(unwrap_address(addr)[0], check_deliverability=False)``, which is
``validate_email(addr.strip(), ...)`` for every row not written in an export form (display name,
quotes, trailing dot, invisible characters); on every row, or on a random sample when
``--compare-sample`` is given. It also counts the rows whose verdict differs from
email-validator's on the trimmed text as written (the forms listkit reads on purpose).
``--synth`` takes the addresses from ``listkit.synth.synthesize`` (slower to generate: it also
builds the event log) instead of the small generator here; ``--forms SHARE`` rewrites that share
of the rows into export spellings, to measure the rows that go to the parser.
"""

from __future__ import annotations

import argparse
import random
import time

import polars as pl
from email_validator import EmailNotValidError, validate_email

from listkit import addresses

_FIRST = [
    "john",
    "mary",
    "anna",
    "peter",
    "li",
    "maria",
    "james",
    "sofia",
    "lukas",
    "emma",
    "noah",
    "mia",
    "o'brien",
    "jean-luc",
    "zoe",
    "jose",
    "yuki",
    "ahmed",
    "olga",
    "chen",
]
_LAST = ["smith", "jones", "mueller", "garcia", "kim", "nguyen", "brown", "rossi", "dubois", "wang"]
_UNICODE_LOCALS = ["zoë", "josé.garcía", "müller", "李明", "андрей"]  # rare: few providers accept them
_BIG = [
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "aol.com",
    "gmx.de",
    "web.de",
    "mail.ru",
    "yandex.ru",
    "hotmail.co.uk",
    "live.com",
    "proton.me",
    "googlemail.com",
]
_TYPOS = ["gmial.com", "gmail.con", "hotmial.com", "yaho.com", "gmail", "outlook.co"]


def realistic(n: int, seed: int) -> list[str]:
    """Addresses shaped like a real sign-up list: a few big providers, a long tail of company
    domains (~5,000), some role and disposable addresses, ~3% typed badly and 0.2% non-ASCII local parts."""
    rng = random.Random(seed)
    tail = [
        f"{rng.choice(_LAST)}{i}.{rng.choice(['com', 'de', 'co.uk', 'org', 'net', 'fr', 'io'])}"
        for i in range(5000)
    ] + ["mailinator.com", "guerrillamail.com", "bücher.de"]
    out = []
    for _ in range(n):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        local = rng.choice(
            [
                f"{first}.{last}",
                f"{first[0]}{last}",
                f"{first}_{last}{rng.randrange(100)}",
                f"{first}{rng.randrange(1000)}",
                f"{first}+{rng.choice(['news', 'shop'])}",
                rng.choice(["info", "Sales", "support", "no-reply"]),
            ]
        )
        domain = rng.choice(_BIG) if rng.random() < 0.6 else rng.choice(tail)
        address = f"{local}@{domain}"
        damage = rng.random()
        if damage < 0.05:
            address = address.upper() if damage < 0.02 else f" {address} "
        elif damage < 0.06:
            address = address.replace("@", rng.choice(["", "@@", " @", ".@"]))
        elif damage < 0.08:
            address = f"{local}@{rng.choice(_TYPOS)}"
        elif damage < 0.082:
            address = f"{rng.choice(_UNICODE_LOCALS)}@{domain}"
        out.append(address)
    return out


# Spellings of one address that exports contain (display names, quotes, DNS root, pasted text).
_FORMS = [
    lambda local, domain: f"{local.title()} <{local}@{domain}>",
    lambda local, domain: f'"{local.title()}, Ltd" <{local}@{domain}>',
    lambda local, domain: f"<{local}@{domain}>",
    lambda local, domain: f'"{local}"@{domain}',
    lambda local, domain: f"{local}@{domain}.",
    lambda local, domain: f"\ufeff{local}@{domain}\u200b",
    lambda local, domain: f'"{local} x"@{domain}',  # needs its quotes: stays invalid
    lambda local, domain: f"{local.title()} <{local}@{domain}",  # unclosed: stays invalid
]


def with_forms(emails: list[str | None], share: float, seed: int) -> list[str | None]:
    """``emails`` with about ``share`` of the rows rewritten into one of the export spellings."""
    rng = random.Random(seed)
    out = []
    for raw in emails:
        local, at, domain = (raw or "").strip().partition("@")
        rewrite = at and rng.random() < share
        out.append(rng.choice(_FORMS)(local, domain) if rewrite else raw)
    return out


def reference(raw: str | None, *, unwrap: bool = True) -> tuple[bool, str | None]:
    """email-validator's verdict and normalised form: on the address as unwrap_address reads it,
    or (``unwrap=False``) on the trimmed text."""
    if raw is None:
        return False, None
    try:
        address = addresses.unwrap_address(raw)[0] if unwrap else raw.strip()
        return True, validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return False, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop-sample", type=int, default=50_000)
    parser.add_argument("--compare-sample", type=int, default=0, help="0 = compare every row")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--synth", action="store_true", help="addresses from listkit.synth")
    parser.add_argument("--forms", type=float, default=0.0, help="share of rows in export spellings")
    args = parser.parse_args()

    if args.synth:
        from listkit.synth import synthesize

        emails = synthesize(args.rows, seed=args.seed, campaigns_per_year=12).subscribers["email"]
    else:
        emails = pl.Series("email", realistic(args.rows, args.seed))
    if args.forms:
        emails = pl.Series("email", with_forms(emails.to_list(), args.forms, args.seed), dtype=pl.String)
    print(
        f"{emails.len():,} addresses, {emails.n_unique():,} distinct, "
        f"{emails.str.split('@').list.last().n_unique():,} distinct domain spellings"
    )

    addresses._validate_domain.cache_clear()  # cold: every unique domain goes through email-validator
    start = time.perf_counter()
    result = addresses.check_addresses(emails)
    fast_s = time.perf_counter() - start
    fast_rate = emails.len() / fast_s
    print(
        f"check_addresses:        {fast_s:7.2f} s   {fast_rate:12,.0f} addresses/s "
        f"({1e6 * fast_s / emails.len():.2f} us/address), {result['syntax_valid'].sum():,} valid"
    )

    rng = random.Random(args.seed + 1)
    sample = rng.sample(emails.to_list(), min(args.loop_sample, emails.len()))
    start = time.perf_counter()
    for raw in sample:
        reference(raw)
    loop_s = time.perf_counter() - start
    loop_rate = len(sample) / loop_s
    print(
        f"validate_email per row: {loop_s:7.2f} s   {loop_rate:12,.0f} addresses/s "
        f"on a {len(sample):,} sample -> {emails.len() / loop_rate:,.0f} s extrapolated for all rows"
    )
    print(f"speed ratio:            {fast_rate / loop_rate:7.1f}x")

    if args.compare_sample:
        idx = sorted(rng.sample(range(emails.len()), min(args.compare_sample, emails.len())))
        scope = f"a random sample of {len(idx):,} rows"
    else:
        idx = list(range(emails.len()))
        scope = f"all {len(idx):,} rows"
    raws = emails.gather(idx).to_list()
    ours = result.select("syntax_valid", "email_normalized")[idx].rows()
    differ = sum(mine != reference(raw) for raw, mine in zip(raws, ours, strict=True))
    print(f"disagreements (verdict or normalised form) on {scope}: {differ}")
    read = sum(mine != reference(raw, unwrap=False) for raw, mine in zip(raws, ours, strict=True))
    print(f"rows read in an export form (not email-validator's verdict on the trimmed text): {read:,}")


if __name__ == "__main__":
    main()
