"""Benchmark: listkit's bounce reader and classifier against sisimai's labelled corpus of real bounces.

Reads every message of the corpus with ``listkit.read_feedback``, classifies the bounces with
``listkit.bounces.classify_bounces`` and compares with what sisimai's own test suite expects
(``labels.json``: per message, one entry per failed recipient). Prints, per sisimai reason: how many
entries, how many the reader found (a bounce event for that recipient), how many get the same reason
(sisimai's names mapped with ``listkit.bounces.SISIMAI_REASONS``); then the hard/soft/policy confusion
matrix (truth: sisimai's ``hard_bounce`` -> hard, reasons whose listkit effect is ``block`` -> policy,
the rest soft) and how many of sisimai's hard bounces listkit classes hard. Last, the whole
pipeline: every recipient on a list, the corpus as ``--feedback``, and how many of sisimai's hard
bounces end up pruned as ``hard_bounce`` (the corpus reuses a few addresses in many messages, so each
message's recipients are made distinct first).

The labels give no addresses, so a message's events are paired with its entries by reason first,
then in order.

    python benchmarks/bounce_corpus.py CORPUS    # CORPUS holds maildir/*.eml and labels.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import polars as pl

import listkit
from listkit.bounces import BOUNCE_REASONS, SISIMAI_REASONS, classify_bounces
from listkit.feedback import FeedbackResult, read_feedback

#: Labels of messages that are not bounces (no reason to compare).
NOT_BOUNCES = ("not_bounce", "delivered", "feedback")
CLASSES = ("hard", "soft", "policy", "ignored", "-")


def truth_class(entry: dict) -> str:
    """hard for sisimai's hard bounces, policy for reasons listkit treats as blocks, else soft."""
    if entry["hard_bounce"]:
        return "hard"
    return "policy" if BOUNCE_REASONS[SISIMAI_REASONS[entry["reason"]]].effect == "block" else "soft"


def pair(truth: list[dict], ours: list[tuple[str, str]]) -> list[tuple[dict, tuple[str, str] | None]]:
    """Each truth entry with the event (reason, class) paired with it, or None: by reason, then in order."""
    left, paired = list(ours), {}
    for index, entry in enumerate(truth):
        match = next((o for o in left if o[0] == SISIMAI_REASONS[entry["reason"]]), None)
        if match is not None:
            left.remove(match)
            paired[index] = match
    for index in range(len(truth)):
        if index not in paired and left:
            paired[index] = left.pop(0)
    return [(entry, paired.get(index)) for index, entry in enumerate(truth)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="folder with maildir/*.eml and labels.json")
    corpus = parser.parse_args().corpus
    labels = json.loads((corpus / "labels.json").read_text())
    names = sorted(p.relative_to(corpus / "maildir").as_posix() for p in (corpus / "maildir").rglob("*.eml"))

    started = time.perf_counter()
    result = read_feedback(corpus / "maildir")
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    events = classify_bounces(result.events).with_columns(
        file=pl.col("source_row").map_elements(lambda row: names[row - 1], return_dtype=pl.String)
    )
    classify_seconds = time.perf_counter() - started
    bounces = events.filter(pl.col("event") == "bounce")
    by_file: dict[str, list[tuple[str, str]]] = {}
    for file, reason, bounce_class in bounces.select("file", "bounce_reason", "bounce_class").iter_rows():
        by_file.setdefault(file, []).append((reason, bounce_class))

    count, found, correct, confusion = Counter(), Counter(), Counter(), Counter()
    for file, entries in labels.items():
        truth = [e for e in entries if e["reason"] not in NOT_BOUNCES]
        for entry, ours in pair(truth, by_file.get(file, [])):
            count[entry["reason"]] += 1
            found[entry["reason"]] += ours is not None
            correct[entry["reason"]] += ours is not None and ours[0] == SISIMAI_REASONS[entry["reason"]]
            confusion[truth_class(entry), ours[1] if ours else "-"] += 1

    entries = sum(len(e) for e in labels.values())
    print(
        f"sisimai corpus: {len(labels)} messages, {entries} labelled entries, {sum(count.values())} bounces"
    )
    print(f"read_feedback {read_seconds:.2f} s, classify_bounces {classify_seconds * 1000:.0f} ms")
    print(f"reader: {result.stats}")
    print()
    print(f"{'sisimai reason':<16} {'listkit reason':<22} {'count':>5} {'found':>5} {'correct':>7}")
    for reason, n in count.most_common():
        print(f"{reason:<16} {SISIMAI_REASONS[reason]:<22} {n:>5} {found[reason]:>5} {correct[reason]:>7}")
    total, hit, right = sum(count.values()), sum(found.values()), sum(correct.values())
    print(f"{'all':<16} {'':<22} {total:>5} {hit:>5} {right:>7}")
    print(f"reason accuracy: {right / hit:.1%} of the bounces found ({right / total:.1%} of all)")
    print()
    print("class confusion (rows: truth from sisimai; columns: listkit bounce_class, '-' = no bounce event)")
    print(f"{'':<8}" + "".join(f"{c:>8}" for c in CLASSES))
    for truth in ("hard", "soft", "policy"):
        print(f"{truth:<8}" + "".join(f"{confusion[truth, c]:>8}" for c in CLASSES))
    hard_total = sum(confusion["hard", c] for c in CLASSES)
    hard_found = hard_total - confusion["hard", "-"]
    hard_hard = confusion["hard", "hard"]
    print(f"sisimai hard bounces classed hard: {hard_hard} of {hard_found} found ({hard_total} in all)")
    print(f"block-family bounces classed hard: {confusion['policy', 'hard']}")
    print()
    others = {f: e[0]["reason"] for f, e in labels.items() if e[0]["reason"] in NOT_BOUNCES}
    for file, reason in sorted(others.items()):
        kinds = events.filter(pl.col("file") == file)["event"].cast(pl.String).to_list()
        print(f"{reason:<11} {file}: {', '.join(kinds) or 'no event'}")
    print()
    pruned_through_the_pipeline(result, names, labels)


def pruned_through_the_pipeline(result: FeedbackResult, names: list[str], labels: dict) -> None:
    """The corpus as feedback to a list of all its recipients: how many of sisimai's hard bounces prune."""
    # "m12.kijitora@example.jp": one recipient per message, so no message speaks for another's.
    events = result.events.with_columns(email=pl.format("m{}.{}", "source_row", pl.col("email")))
    listing = events.select(pl.col("email").unique().sort())
    subscribers = listkit.read_subscribers(listing.write_csv().encode())
    started = time.perf_counter()
    run = listkit.run(subscribers, feedback=FeedbackResult(events, result.stats, result.problems))
    seconds = time.perf_counter() - started
    hard = run.ledger.filter(pl.col("reasons").str.contains("hard_bounce")).select(
        row=pl.col("email").str.extract(r"^m(\d+)\.").cast(pl.Int64)
    )
    pruned_by_file = Counter(names[row - 1] for row in hard["row"])
    hard_entries = {f: sum(e["hard_bounce"] for e in es) for f, es in labels.items()}
    pruned = sum(min(n, pruned_by_file[f]) for f, n in hard_entries.items())
    soft_pruned = sum(pruned_by_file[f] for f, es in labels.items() if not any(e["hard_bounce"] for e in es))
    print(f"through listkit.run ({subscribers.height} list rows, {seconds:.1f} s):")
    print(f"  sisimai hard bounces pruned as hard_bounce: {pruned} of {sum(hard_entries.values())}")
    print(f"  recipients of messages sisimai calls soft pruned as hard_bounce: {soft_pruned}")


if __name__ == "__main__":
    main()
