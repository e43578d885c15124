"""Domain-level checks: likely typo domains with a suggested fix, and DNS MX lookups.

Both work on the distinct domains of a list, never per row: a million-row list has far fewer domains.

Typo rule (``typo_suggestions``). A domain gets a suggestion only when all of these hold:

1. It is not a known real mailbox domain (``TYPO_TARGETS`` and ``KNOWN_REAL_DOMAINS``: ``mail.com``,
   ``ymail.com``, ``me.com`` or ``hotmail.co.uk`` are never "corrected").
2. It is rare next to its target. The target is either a major provider (``TYPO_TARGETS``) and the
   candidate has ``rows <= max(rare_min_rows, rare_share * total rows)`` (2 rows, or 0.1% of the list)
   or the provider has ``frequent_ratio`` (50) times its rows (5 ``gmaill.com`` rows next to 1,300
   ``gmail.com`` in a 4,000-row list); or the target is a domain of the list with both
   ``rows >= frequent_min_rows`` (20) and ``frequent_ratio`` times the candidate's rows, and the
   candidate is within the 0.1% limit. A candidate on a TLD that does not exist (``icloud.con``)
   cannot receive mail at all: for it, fewer rows than the target are enough. Targets are never
   disposable domains, and their public suffix is real. Disposable candidates only get one-edit
   provider fixes: services squat on provider typos (``gmial.com``) but also have real look-alikes
   (``mailinator4.com``).
3. Whole-domain optimal string alignment distance <= ``max_distance`` (2), and, splitting both at the
   public suffix (publicsuffixlist, ICANN section) into label and suffix:

   * label change: no edit for labels of <= 3 characters (``abc.com`` is never ``abd.com``:
     short names are densely registered); for 4 characters only a swap or a doubled letter
     (``liev.com``, ``livve.com``, not ``love.com`` or ``olive.com``); 1 edit for 5-6 characters
     (``gnail``), ``max_distance`` for longer provider labels, but never two substitutions
     (``yopmail`` is not ``hotmail``) nor a hyphen more or less (``acme-logic.com``); in-list targets
     get at most 1 edit (no curated knowledge behind them).
   * suffix change: only if the candidate's suffix is not a real public suffix (``icloud.con``,
     ``gmail.comm``), or the target is a major provider on ``.com``/``.net``/``.org`` and the suffix is
     one edit away (``gmail.co``, ``gmail.cm``, ``gmx.ne``). A real suffix is never swapped for
     another one for an in-list target: ``startup.io`` stays even when ``startup.it`` is frequent.

   The nearest target wins; ties go to providers, then more rows, then the name.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.exception
import dns.name
import dns.resolver
import numpy as np
import polars as pl
from publicsuffixlist import PublicSuffixList
from rapidfuzz import process
from rapidfuzz.distance import OSA

from listkit.addresses import DISPOSABLE_DOMAINS
from listkit.errors import ConfigError
from listkit.providers import KNOWN_REAL_DOMAINS, TYPO_TARGETS

__all__ = ["apply_suggestions", "check_mx", "typo_suggestions"]


_GENERIC_SUFFIXES = frozenset({"com", "net", "org"})
_TYPO_SCHEMA = {"domain": pl.String, "suggested_domain": pl.String}
_CHUNK = 50_000  # candidate rows per cdist call: bounds the distance matrix to a few MB


@functools.cache
def _psl() -> PublicSuffixList:
    # Loading the list costs ~50 ms; ICANN only, so blogspot.com-style private suffixes do not count.
    return PublicSuffixList(only_icann=True)


@functools.lru_cache(maxsize=1 << 16)
def _split(domain: str) -> tuple[str, str, bool]:
    """(label, public suffix, suffix is real); an unknown TLD counts as a one-label suffix."""
    suffix = _psl().publicsuffix(domain) or domain
    real = _psl().publicsuffix(domain, accept_unknown=False) is not None
    return domain[: -len(suffix)].rstrip("."), suffix, real


def _label_ok(cand: str, target: str, *, limit: int) -> bool:
    """Whether a label edit (or none) is plausible as a typo, by the target label's length."""
    distance = OSA.distance(cand, target)
    if distance == 0:
        return True
    if cand.replace("-", "") == target.replace("-", ""):
        return False  # acme-logic.com and acmelogic.com are both registered far more often than mistyped
    size = len(target)
    if size <= 3:
        return False
    if size == 4:
        # Other edits of a 4-letter name make other names too often (olive.com, love.com, fee.fr):
        # only a swap (liev.com) or a doubled letter (livve.com) counts.
        doubled = any(
            cand[i] == cand[i + 1] and cand[:i] + cand[i + 1 :] == target for i in range(len(cand) - 1)
        )
        return distance == 1 and (doubled or sorted(cand) == sorted(target))
    if len(cand) == size and sorted(cand) != sorted(target):
        # Substitutions: one at most, as two make another word (yopmail, a real service, not hotmail).
        return distance == 1
    return distance <= (1 if size <= 6 else limit)


def _pair_ok(cand: str, target: str, *, provider: bool, limit: int) -> bool:
    """Whether ``target`` is a plausible correction of ``cand``, label and suffix (module docstring)."""
    c_label, c_suffix, c_real = _split(cand)
    t_label, t_suffix, _ = _split(target)
    if not c_label or not _label_ok(c_label, t_label, limit=limit):
        return False
    if c_suffix == t_suffix or not c_real:
        return True
    # A real suffix becomes another only for the classic provider slips (gmail.co, gmail.cm, gmx.ne).
    return provider and t_suffix in _GENERIC_SUFFIXES and OSA.distance(c_suffix, t_suffix) == 1


def _near_pairs(cands: pl.DataFrame, names: list[str], max_distance: int) -> Iterator[tuple]:
    """(candidate, its rows, target index, distance) for every pair within ``max_distance``."""
    name_len = np.array([len(name) for name in names])
    by_length = cands.with_columns(size=pl.col("domain").str.len_chars()).partition_by("size", as_dict=True)
    for (size,), group in sorted(by_length.items()):
        # OSA distance is at least the length difference: compare only targets of similar length.
        near = np.flatnonzero(np.abs(name_len - size) <= max_distance)
        if near.size == 0:
            continue
        targets = [names[j] for j in near]
        domains, rows = group.get_column("domain").to_list(), group.get_column("rows").to_list()
        for start in range(0, len(domains), _CHUNK):
            chunk = domains[start : start + _CHUNK]
            dist = process.cdist(
                chunk, targets, scorer=OSA.distance, score_cutoff=max_distance, dtype=np.uint8, workers=-1
            )
            # Only the few near pairs reach Python; everything else is decided inside rapidfuzz.
            for i, k in zip(*np.nonzero(dist <= max_distance), strict=True):
                yield chunk[i], rows[start + i], int(near[k]), int(dist[i, k])


def typo_suggestions(
    domain_counts: pl.DataFrame,
    *,
    max_distance: int = 2,
    rare_share: float = 0.001,
    rare_min_rows: int = 2,
    frequent_min_rows: int = 20,
    frequent_ratio: float = 50.0,
    providers: Iterable[str] = TYPO_TARGETS,
) -> pl.DataFrame:
    """Likely typo domains and their correction, by the rule in the module docstring.

    ``domain_counts`` has one row per normalised domain: ``domain`` and ``rows`` (its list rows).
    Returns ``domain``, ``suggested_domain`` for the typo candidates only, sorted by domain.
    """
    if max_distance < 1 or rare_min_rows < 0 or frequent_min_rows < 1 or frequent_ratio < 1:
        raise ConfigError("typo options: max_distance, frequent_min_rows and frequent_ratio must be >= 1")
    if not 0 <= rare_share < 1:
        raise ConfigError(f"typo option rare_share must be in [0, 1), got {rare_share}")
    missing = {"domain", "rows"} - set(domain_counts.columns)
    if missing:
        raise ConfigError(f"typo_suggestions needs columns 'domain' and 'rows'; missing {sorted(missing)}")
    counts = (
        domain_counts.lazy()
        .select(pl.col("domain").cast(pl.String), pl.col("rows").cast(pl.Int64))
        .drop_nulls()
        .group_by("domain")
        .agg(pl.col("rows").sum())
        .sort("domain")
        .collect()
    )
    providers = frozenset(providers)
    rare_limit = max(rare_min_rows, rare_share * counts.get_column("rows").sum())
    rows_of = dict(counts.filter(pl.col("domain").is_in(list(providers))).iter_rows())
    rows_of |= dict(counts.filter(pl.col("rows") >= max(frequent_min_rows, frequent_ratio)).iter_rows())
    # The most rows a candidate may have for any target: everything above is decided without Python.
    most = max(rare_limit, max(rows_of.values(), default=0) / frequent_ratio)
    tld = pl.col("domain").str.extract(r"([^.]+)$")
    fake_tlds = [t for t in counts.select(tld.unique()).to_series().drop_nulls() if not _split(t)[2]]
    cands = counts.filter(
        ((pl.col("rows") <= most) | tld.is_in(fake_tlds))
        & ~pl.col("domain").is_in(list(providers | KNOWN_REAL_DOMAINS))
    )
    # Never suggest a disposable domain, nor one whose suffix is not real.
    names = sorted(providers | {d for d in rows_of if _split(d)[2] and d not in DISPOSABLE_DOMAINS})
    if cands.is_empty() or not names:
        return pl.DataFrame(schema=_TYPO_SCHEMA)
    is_provider = [name in providers for name in names]

    best: dict[str, tuple] = {}
    for cand, cand_rows, j, distance in _near_pairs(cands, names, max_distance):
        target, provider = names[j], is_provider[j]
        target_rows = rows_of.get(target, 0)
        much_rarer = target_rows >= frequent_ratio * cand_rows
        rare = cand_rows <= rare_limit
        fake = not _split(cand)[2] and cand_rows < target_rows
        if not (fake or ((rare or much_rarer) if provider else (rare and much_rarer))):
            continue
        # Disposable services squat on provider typos (gmial.com) but have real look-alikes of their
        # own (mailinator4.com): only one-edit provider typos count for them.
        disposable = cand in DISPOSABLE_DOMAINS
        if disposable and not provider:
            continue
        limit = max_distance if provider and not disposable else 1
        if not _pair_ok(cand, target, provider=provider, limit=limit):
            continue
        key = (distance, not provider, -target_rows, target)
        if cand not in best or key < best[cand]:
            best[cand] = key
    rows = sorted((cand, key[-1]) for cand, key in best.items())
    return pl.DataFrame(rows, schema=_TYPO_SCHEMA, orient="row")


def apply_suggestions(frame: pl.DataFrame, **options) -> pl.DataFrame:
    """Add ``suggestion``: the address on the suggested domain (or null), for each row of ``frame``.

    ``frame`` needs ``email_normalized`` and ``domain`` (as from ``check_addresses``); domain counts
    come from the frame itself. ``options`` go to ``typo_suggestions``.
    """
    counts = frame.filter(pl.col("domain").is_not_null()).group_by("domain").agg(rows=pl.len())
    fixes = typo_suggestions(counts, **options).rename({"suggested_domain": "_listkit_fix"})
    email, domain = pl.col("email_normalized"), pl.col("domain")
    # The normalised address ends with "@" + domain, so the local part is everything before that.
    local = email.str.slice(0, email.str.len_chars() - domain.str.len_chars() - 1)
    return (
        frame.join(fixes, on="domain", how="left", maintain_order="left")
        .with_columns(
            suggestion=pl.when(pl.col("_listkit_fix").is_not_null()).then(
                pl.concat_str(local, pl.lit("@"), pl.col("_listkit_fix"))
            )
        )
        .drop("_listkit_fix")
    )


# ---------------------------------------------------------------------------------------------- DNS

_MX_SCHEMA = {"domain": pl.String, "dns_status": pl.String, "dns_detail": pl.String}
_CACHE_FORMAT = "listkit-mx-cache/1"
_DEFINITIVE = ("ok", "no_mx")  # only these are cached: an "unknown" must be retried next run


def _describe(exc: dns.exception.DNSException) -> str:
    """A short, stable text for an inconclusive lookup (no timings: outputs must be reproducible)."""
    if isinstance(exc, dns.exception.Timeout):
        return "timeout"
    if isinstance(exc, dns.resolver.NoNameservers):
        answers = sorted({str(err[3]) for err in exc.kwargs.get("errors", [])})
        return "no nameserver answered: " + "; ".join(answers)[:120]
    return type(exc).__name__


def _implicit_mx(resolver: dns.resolver.Resolver, domain: str) -> tuple[str, str]:
    """RFC 5321 section 5.1: without MX, a domain's own A/AAAA is its mail host (if routable)."""
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(domain, rdtype, search=False)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        except dns.exception.DNSException as exc:
            return "unknown", _describe(exc)
        # A mail server at 127.x or 10.x is nobody's inbox: email-validator rejects those too.
        routable = sorted(r.address for r in answer if ipaddress.ip_address(r.address).is_global)
        if routable:
            return "ok", f"no MX; {rdtype} {routable[0]}"
    return "no_mx", "no MX and no routable A/AAAA"


def _lookup(resolver: dns.resolver.Resolver, domain: str) -> tuple[str, str]:
    """(status, detail) for one domain."""
    try:
        answer = resolver.resolve(domain, "MX", search=False)
    except dns.resolver.NXDOMAIN:
        return "no_mx", "NXDOMAIN"
    except dns.resolver.NoAnswer:
        return _implicit_mx(resolver, domain)
    except dns.exception.DNSException as exc:
        return "unknown", _describe(exc)
    hosts = sorted(
        (r.preference, r.exchange.to_text(omit_final_dot=True)) for r in answer if r.exchange != dns.name.root
    )
    if not hosts:
        return "no_mx", "null MX (RFC 7505)"
    return "ok", "MX " + ", ".join(host for _, host in hosts[:3])


def _read_cache(path: Path) -> dict[str, list]:
    """The cache's entries: domain -> [status, detail, checked_at (Unix seconds)]."""
    try:
        if not path.exists():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"DNS cache {path} cannot be read ({exc}); fix it or pass another path") from None
    except json.JSONDecodeError:
        data = None
    if (
        not isinstance(data, dict)
        or data.get("format") != _CACHE_FORMAT
        or not isinstance(data.get("entries"), dict)
    ):
        raise ConfigError(f"{path} is not a listkit DNS cache; delete it or pass another path")
    # Entries of another shape (hand edits) are dropped, which only means a fresh lookup.
    return {
        domain: entry
        for domain, entry in data["entries"].items()
        if isinstance(entry, list) and len(entry) == 3 and entry[0] in _DEFINITIVE
        if isinstance(entry[1], str) and isinstance(entry[2], int | float)
    }


def _write_cache(path: Path, entries: dict[str, list]) -> None:
    # Written whole to a temporary file and renamed: a crash never leaves a half-written cache.
    text = json.dumps({"format": _CACHE_FORMAT, "entries": dict(sorted(entries.items()))}, ensure_ascii=False)
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False
        ) as f:
            f.write(text)
        os.replace(f.name, path)
    except OSError as exc:
        raise ConfigError(f"DNS cache {path} cannot be written ({exc}); pass a writable path") from None


def _resolver_factory(nameservers: list[str] | None, port: int, timeout: float):
    """A function returning this thread's resolver (one per worker thread, never shared)."""
    local = threading.local()

    def make() -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            resolver.nameservers = list(nameservers)
        resolver.port, resolver.timeout, resolver.lifetime = port, timeout, timeout
        return resolver

    try:
        if not make().nameservers:  # fail fast, in the caller's thread, on bad or no addresses
            raise dns.resolver.NoResolverConfiguration
    except ValueError as exc:
        raise ConfigError(f"invalid DNS nameservers {nameservers!r}: {exc}") from None

    def get() -> dns.resolver.Resolver:
        if not hasattr(local, "resolver"):
            local.resolver = make()
        return local.resolver

    return get


def check_mx(
    domains: Iterable[str],
    *,
    nameservers: list[str] | None = None,
    port: int = 53,
    timeout: float = 2.0,
    cache_path: Path | None = None,
    cache_ttl_seconds: int = 86400,
    workers: int = 32,
) -> pl.DataFrame:
    """Whether each distinct domain accepts mail, by DNS; one row per domain, sorted by domain.

    ``dns_status``: ``ok`` (MX, or no MX but a globally routable A/AAAA), ``no_mx`` (NXDOMAIN, null MX
    per RFC 7505, or neither MX nor routable address) or ``unknown`` (timeout, SERVFAIL, REFUSED, no
    nameserver: never a reason to prune). ``dns_detail`` says why in a few words.

    ``nameservers=None`` uses the system resolver configuration. ``timeout`` bounds each query.
    With ``cache_path``, definitive answers are kept in that JSON file for ``cache_ttl_seconds`` and
    reused without a query; ``unknown`` answers are never cached. The cache is keyed by domain only
    (not by nameserver), and two runs sharing it at once only lose each other's new entries.
    """
    if timeout <= 0 or workers < 1 or cache_ttl_seconds < 0 or not 0 < port < 65536:
        raise ConfigError(
            "DNS options: timeout and workers must be positive, cache_ttl_seconds >= 0, port 1-65535"
        )
    if cache_path is not None:
        cache_path = Path(cache_path)
        if cache_path.exists() and not cache_path.is_file():
            raise ConfigError(f"DNS cache {cache_path} is not a file; pass a file path")
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"DNS cache folder {cache_path.parent} cannot be created ({error.strerror}); "
                "pass another --dns-cache"
            ) from None
    try:  # validated before any cache lookup, so a bad option fails even when all answers are cached
        get_resolver = _resolver_factory(nameservers, port, timeout)
    except dns.resolver.NoResolverConfiguration:
        get_resolver = None
    unique = sorted({d for d in domains if d})
    now = time.time()
    cache = _read_cache(cache_path) if cache_path is not None else {}
    # Entries from the future (clock changes) count as expired, like old ones.
    valid = {d: e for d, e in cache.items() if 0 <= now - e[2] < cache_ttl_seconds}
    results = {d: (valid[d][0], valid[d][1]) for d in unique if d in valid}
    todo = [d for d in unique if d not in results]
    if todo and get_resolver is None:
        results.update(dict.fromkeys(todo, ("unknown", "no nameservers configured")))
    elif todo:
        with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            results.update(zip(todo, pool.map(lambda d: _lookup(get_resolver(), d), todo), strict=True))
    if cache_path is not None:
        fresh = {d: [*results[d], now] for d in todo if results[d][0] in _DEFINITIVE}
        if fresh or len(valid) != len(cache):  # expired entries are dropped from the file
            _write_cache(cache_path, valid | fresh)
    rows = [(d, *results[d]) for d in unique]
    return pl.DataFrame(rows, schema=_MX_SCHEMA, orient="row")
