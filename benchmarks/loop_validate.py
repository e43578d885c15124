"""The per-row email-validator loop: every address of a list checked with one ``validate_email`` call.

    .venv/bin/python benchmarks/loop_validate.py LIST.csv OUT.csv

What an analyst writes without a vectorised checker: the standard library's CSV reader, email-validator on
each row's trimmed address (email-validator does not trim), and a CSV of the verdicts and normalised forms.
The list's address column is ``email``.
"""

from __future__ import annotations

import csv
import sys

from email_validator import EmailNotValidError, validate_email


def main(source: str, target: str) -> None:
    """Write ``email, email_normalized, valid`` for each row of ``source`` into ``target``."""
    valid = rows = 0
    with open(source, newline="", encoding="utf-8-sig") as inp, open(target, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "email_normalized", "valid"])
        for row in csv.DictReader(inp):
            address = row["email"] or ""
            try:
                normalized = validate_email(address.strip(), check_deliverability=False).normalized
            except EmailNotValidError:
                normalized = None
            writer.writerow([address, normalized or "", normalized is not None])
            rows += 1
            valid += normalized is not None
    print(f"{rows:,} rows, {valid:,} valid")


if __name__ == "__main__":
    main(*sys.argv[1:3])
