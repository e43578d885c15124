"""Mailbox providers: the one home of what listkit knows about them.

Each :class:`Provider` names its exact consumer domains, the brand labels whose regional variants it
owns (``hotmail.co.uk``, ``yahoo.fr``), how it aliases local parts (Gmail ignores dots and
``+tags``; others deliver ``local+tag`` to ``local``), the compliance group it is measured in, and
the domains typo corrections may point to. :mod:`listkit.addresses` (mailbox keys),
:mod:`listkit.domains` (typo targets and known real look-alikes), :mod:`listkit.compliance`
(provider groups) and :mod:`listkit.synth` read it from here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import polars as pl

__all__ = [
    "GROUPS",
    "KNOWN_REAL_DOMAINS",
    "PROVIDERS",
    "TYPO_TARGETS",
    "Provider",
    "alias_rule",
    "group_of",
    "provider_of_domain",
]

#: Compliance groups in report order (Gmail and Yahoo/AOL publish the bulk-sender rules); every
#: other domain is ``other``.
GROUPS = ("Gmail", "Yahoo/AOL", "Microsoft", "Apple", "other")

#: Alias rules: ``gmail`` ignores dots and ``+tags`` (and its domains share one key domain),
#: ``plus`` ignores ``+tags``, ``exact`` ignores nothing (Yahoo's ``-`` addresses are real mailboxes).
ALIAS_RULES = ("gmail", "plus", "exact")

#: A brand label followed by a country-style suffix only (``yahoo.co.uk``, ``hotmail.fr``,
#: ``outlook.com.br``), so a company's ``live.example.org`` is not the brand's.
_REGIONAL_SUFFIX = r"\.(com|net|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})$"


@dataclass(frozen=True)
class Provider:
    """One mailbox provider.

    name: the provider's name.
    group: its compliance group, one of :data:`GROUPS`.
    domains: its exact consumer domains.
    brands: labels whose regional variants (``brand`` + country suffix) are its domains too.
    alias: how local parts alias, one of :data:`ALIAS_RULES`.
    typo_targets: its domains that misspelt domains may be corrected to (the big ones; a typo of
        a rare regional domain is more likely a typo of the main one).
    """

    name: str
    group: str
    domains: tuple[str, ...]
    brands: tuple[str, ...] = ()
    alias: str = "exact"
    typo_targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.group not in GROUPS or self.alias not in ALIAS_RULES:
            raise ValueError(f"provider {self.name}: unknown group or alias rule")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _p(name: str, group: str, domains: str, *, brands: str = "", alias: str = "exact",
       targets: str | None = None) -> Provider:  # fmt: skip
    listed = tuple(domains.split())
    return Provider(name, group, listed, tuple(brands.split()), alias,
                    listed if targets is None else tuple(targets.split()))  # fmt: skip


PROVIDERS: tuple[Provider, ...] = (
    _p("Gmail", "Gmail", "gmail.com googlemail.com", alias="gmail"),
    _p("Yahoo", "Yahoo/AOL", "yahoo.com ymail.com rocketmail.com myyahoo.com", brands="yahoo",
       targets="yahoo.com yahoo.co.uk yahoo.fr yahoo.de yahoo.it yahoo.es yahoo.ca yahoo.com.au "
               "yahoo.co.in yahoo.co.jp yahoo.com.br ymail.com rocketmail.com"),
    _p("AOL", "Yahoo/AOL", "aol.com aim.com", brands="aol", targets="aol.com"),
    # AT&T's and Verizon's consumer mail is hosted by Yahoo/AOL.
    _p("AT&T and Verizon (Yahoo-hosted)", "Yahoo/AOL",
       "att.net sbcglobal.net bellsouth.net pacbell.net swbell.net flash.net prodigy.net ameritech.net "
       "snet.net verizon.net", targets="att.net sbcglobal.net bellsouth.net verizon.net"),
    _p("Microsoft", "Microsoft", "outlook.com hotmail.com live.com msn.com passport.com windowslive.com",
       brands="outlook hotmail live windowslive", alias="plus",
       targets="hotmail.com hotmail.co.uk hotmail.fr hotmail.de hotmail.it hotmail.es outlook.com "
               "outlook.fr outlook.de live.com live.co.uk live.fr msn.com"),
    _p("Apple", "Apple", "icloud.com me.com mac.com", alias="plus"),
    _p("Proton", "other", "proton.me protonmail.com pm.me protonmail.ch", alias="plus",
       targets="proton.me protonmail.com pm.me"),
    _p("Fastmail", "other", "fastmail.com fastmail.fm", alias="plus", targets="fastmail.com"),
    _p("Zoho", "other", "zoho.com", alias="plus"),
    _p("Yandex", "other", "yandex.ru yandex.com", alias="plus"),
    _p("GMX", "other", "gmx.com gmx.de gmx.net gmx.at gmx.ch"),
    _p("WEB.DE", "other", "web.de"),
    _p("Mail.ru", "other", "mail.ru"),
    _p("Comcast", "other", "comcast.net"),
    _p("Cox", "other", "cox.net"),
    _p("Orange", "other", "orange.fr wanadoo.fr"),
    _p("Free", "other", "free.fr"),
    _p("La Poste", "other", "laposte.net"),
    _p("SFR", "other", "sfr.fr"),
    _p("T-Online", "other", "t-online.de"),
    _p("BT", "other", "btinternet.com"),
    _p("Sky", "other", "sky.com"),
    _p("Virgin Media", "other", "virginmedia.com"),
    _p("Tencent", "other", "qq.com"),
    _p("NetEase", "other", "163.com 126.com"),
)  # fmt: skip

#: Domains that typo corrections may point to.
TYPO_TARGETS: frozenset[str] = frozenset(d for p in PROVIDERS for d in p.typo_targets)

#: Real mailbox domains close to a typo target that are never "corrected" although they are not
#: targets themselves: generic services, sister and regional domains; the providers' companies'
#: own staff mail (comcast.com, att.com, verizon.com, cox.com, orange.com); services of their own
#: one slip from a provider (163.net, y7mail.com is Yahoo7's, prontomail.com, eastmail.com); the
#: providers' own other domains we cannot show are mailbox-free (126.net, live.net); organisations
#: on short names one letter off a provider (al.com, ms.com).
KNOWN_REAL_DOMAINS: frozenset[str] = frozenset(
    {d for p in PROVIDERS for d in p.domains} - TYPO_TARGETS
    | _words(
        """mail.com email.com cloud.com gmail.de hotmail.cl hotmail.com.br yahoo.co.id yahoo.com.ar
        yahoo.com.mx outlook.es live.nl live.de live.it gmx.fr gmx.co.uk inbox.ru list.ru bk.ru ya.ru
        comcast.com att.com verizon.com cox.com orange.com 163.net 126.net live.net y7mail.com
        prontomail.com eastmail.com al.com ms.com"""
    )
)

_BY_DOMAIN = {domain: provider for provider in PROVIDERS for domain in provider.domains}
_BRANDS = {brand: provider for provider in PROVIDERS for brand in provider.brands}
_REGIONAL = re.compile(rf"^({'|'.join(sorted(_BRANDS))}){_REGIONAL_SUFFIX}")


@functools.lru_cache(maxsize=1 << 16)
def provider_of_domain(domain: str | None) -> Provider | None:
    """The provider of a lower-case domain (exact or regional), or ``None``."""
    if not domain:
        return None
    domain = domain.strip().lower().rstrip(".")
    if domain in _BY_DOMAIN:
        return _BY_DOMAIN[domain]
    regional = _REGIONAL.match(domain)
    return _BRANDS[regional.group(1)] if regional else None


def alias_rule(domain: str) -> tuple[str, str]:
    """(key domain, alias rule) for a normalised domain: how its mailbox key is made.

    Gmail's domains share the key domain ``gmail.com``; every other domain is its own.
    """
    provider = provider_of_domain(domain)
    if provider is None:
        return domain, "exact"
    return (provider.domains[0] if provider.alias == "gmail" else domain), provider.alias


def group_of(domain: pl.Expr) -> pl.Expr:
    """The compliance group (:data:`GROUPS`) of each domain; ``other`` for unknown and null domains."""
    clean = domain.str.strip_chars().str.to_lowercase().str.strip_chars_end(".")
    exact = clean.replace_strict(
        {d: p.group for d, p in _BY_DOMAIN.items()}, default=None, return_dtype=pl.String
    )
    regional = clean.str.extract(_REGIONAL.pattern, 1).replace_strict(
        {brand: p.group for brand, p in _BRANDS.items()}, default=None, return_dtype=pl.String
    )
    return pl.coalesce(exact, regional, pl.lit("other"))
