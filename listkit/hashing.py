"""A ledger to share without its addresses (``--hash-emails``).

Each address becomes the hex HMAC-SHA256 of its UTF-8 text keyed with a secret salt, exactly
``hmac.new(salt.encode(), address.encode(), "sha256").hexdigest()``: whoever holds the salt can hash
their own copy of an address and find its row; nobody else can recover or test an address. The same
salt gives the same hashes, so a hashed ledger is as reproducible as a plain one (promise 5).

The salt comes from the environment variable :data:`SALT_VARIABLE`, never from a command-line
argument (which ``ps`` shows every user of the machine), and must be at least
:data:`MIN_SALT_LENGTH` characters. Only ``ledger.csv`` is hashed: segments, the suppression list
and ``changes.csv`` are for the sending tool and the analyst, and hold the real addresses.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable
from pathlib import Path

import polars as pl

from listkit.cells import named
from listkit.errors import ConfigError
from listkit.formula import EMAIL_COLUMNS
from listkit.layout import MANIFEST_FILE
from listkit.privacy import redact_expr

__all__ = [
    "MANIFEST_KEY",
    "MIN_SALT_LENGTH",
    "SALT_VARIABLE",
    "email_salt",
    "hash_addresses",
    "hash_ledger",
    "ledger_is_hashed",
]

SALT_VARIABLE = "LISTKIT_EMAIL_SALT"
MIN_SALT_LENGTH = 16
#: The manifest key that says the ledger's addresses are hashed (the salt itself is never written).
MANIFEST_KEY = "ledger_hashed"
_SALT_HINT = (
    f"set the environment variable {SALT_VARIABLE} to a secret of at least {MIN_SALT_LENGTH} characters "
    f"(for example: export {SALT_VARIABLE}=$(openssl rand -hex 16)) and keep it to get the same hashes again"
)


def email_salt() -> str:
    """The salt of ``--hash-emails`` from :data:`SALT_VARIABLE`; :class:`ConfigError` when unset or short."""
    salt = os.environ.get(SALT_VARIABLE)
    if not salt:
        raise ConfigError(f"--hash-emails needs a secret salt and {SALT_VARIABLE} is not set; {_SALT_HINT}")
    _check_salt(salt)
    return salt


def hash_addresses(values: pl.Series, salt: str) -> pl.Series:
    """Each address's keyed SHA-256 (hex); nulls stay null. One HMAC per distinct value."""
    return _hasher(values, salt)(values)


def hash_ledger(ledger: pl.DataFrame, salt: str) -> pl.DataFrame:
    """The ledger with its address columns hashed and address-like text elsewhere masked.

    Address columns (:data:`listkit.formula.EMAIL_COLUMNS`: ``email``, ``email_normalized``,
    ``suggestion``) become :func:`hash_addresses`; every other text column (evidence, bounce
    statuses, names, pass-through columns) keeps its text with each address in it replaced by
    :data:`listkit.privacy.MASK`.
    """
    addresses = [ledger[name] for name in EMAIL_COLUMNS if name in ledger.columns]
    # A row's spellings are mostly the same address: each distinct value is hashed once for all columns.
    hashed = _hasher(pl.concat(addresses) if addresses else pl.Series(dtype=pl.String), salt)
    return ledger.with_columns(
        *(hashed(column) for column in addresses),
        *(
            redact_expr(named(name))
            for name, dtype in ledger.schema.items()
            if dtype == pl.String and name not in EMAIL_COLUMNS
        ),
    )


def _hasher(values: pl.Series, salt: str) -> Callable[[pl.Series], pl.Series]:
    """A function mapping any of ``values`` to its HMAC-SHA256 hex digest (nulls to null)."""
    _check_salt(salt)
    key = salt.encode()
    distinct = values.drop_nulls().unique()
    # hmac.digest is OpenSSL's one-shot HMAC: the cheapest call per value Python has.
    digests = pl.Series(
        [hmac.digest(key, value.encode(), "sha256").hex() for value in distinct], dtype=pl.String
    )
    return lambda column: column.replace_strict(distinct, digests, default=None, return_dtype=pl.String)


def ledger_is_hashed(run_dir: str | Path) -> bool:
    """True when the output folder of an earlier run has a hashed ledger (its manifest says so)."""
    try:
        manifest = json.loads((Path(run_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # reading the earlier run says what is wrong with it
    return isinstance(manifest, dict) and manifest.get(MANIFEST_KEY) is True


def _check_salt(salt: str) -> None:
    try:
        salt.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 reach Python as lone surrogates
        raise ConfigError(f"the salt in {SALT_VARIABLE} is not UTF-8 text; {_SALT_HINT}") from None
    if len(salt) < MIN_SALT_LENGTH:
        raise ConfigError(
            f"the salt in {SALT_VARIABLE} has {len(salt)} characters, too few to keep the hashed "
            f"addresses secret; {_SALT_HINT}"
        )
