"""The policy: every threshold and switch of a run, with the contract's defaults.

A ``Policy`` is immutable. It can be read from a TOML file (``--config``), overridden by CLI
flags or notebook parameters (``policy.replace(...)``) and is written whole into the manifest.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from listkit.errors import ConfigError


@dataclass(frozen=True)
class Policy:
    """Thresholds and switches of a run. Defaults are the contract's.

    as_of: scoring date: engagement, deliveries and soft bounces after it are ignored, while an
        unsubscribe, complaint or hard bounce counts whatever its date. ``None`` means the latest
        event timestamp.
    sunset_days: window before ``as_of`` in which a human open or click must have happened (365).
    sunset_min_deliveries: deliveries since the last human open or click (or ever, for a reader
        who never engaged) before silence counts as inactivity (10), so that readers who were
        barely mailed are not pruned for not answering. Counted since the last engagement rather
        than inside the window (HubSpot's graymail rule counts 11 unengaged sends; Klaviyo's sunset
        asks for 10 mails received in 180 days): a window shorter than 10 sends at the list's
        sending rate then still prunes, after 10 mails ignored, instead of never.
    soft_bounce_limit: soft bounces in a row, with no delivery after them, that prune (3).
    prune_role_accounts: prune role addresses (info@, sales@...); ``False`` keeps them with a warning.
    prune_typo_domains: prune addresses on a likely-misspelt domain; ``False`` keeps them with a warning.
    prune_disposable: prune throw-away (disposable) domains.
    check_dns: look up MX records (off by default: it needs the network and is slow on cold caches).
    dns_nameservers: resolvers to ask (``None``: the system's); ``dns_port`` their port (53).
    dns_timeout: seconds per lookup (2.0); a lookup that times out gives the warning ``dns_unknown``.
    dns_cache: JSON file caching answers for ``dns_cache_hours`` (24), so reruns do not resolve
        again; ``None`` for no cache.
    score_half_life_days: half-life of the recency decay in the engagement score (90).
    click_weight: how much more a click counts than a human open in the score (3).
    new_subscriber_days: sign-ups this recent form the "new" segment (30).
    machine_open_seconds: an open without user agent this soon after its delivery is a machine
        open (10): no reader opens mail that fast, a prefetching proxy does.
    n_segments: number of reader clusters; ``None`` chooses it by silhouette between
        ``min_segments`` (3) and ``max_segments`` (8). The rule segments ``new`` and
        ``engagement-unknown`` come on top.
    cluster_sample_size: rows sampled to choose the number of clusters (10,000).
    random_state: seed of the clustering (0): the same seed, the same segments.
    lapsing_after_days: a cluster whose median reader has not engaged for longer is ``lapsing``
        or ``dormant`` rather than active (90).
    """

    as_of: datetime | None = None
    sunset_days: int = 365
    sunset_min_deliveries: int = 10
    soft_bounce_limit: int = 3
    prune_role_accounts: bool = True
    prune_typo_domains: bool = True
    prune_disposable: bool = True
    check_dns: bool = False
    dns_nameservers: tuple[str, ...] | None = None
    dns_port: int = 53
    dns_timeout: float = 2.0
    dns_cache: str | None = "~/.cache/listkit/mx-cache.json"
    dns_cache_hours: int = 24
    score_half_life_days: float = 90.0
    click_weight: float = 3.0
    new_subscriber_days: int = 30
    machine_open_seconds: int = 10
    n_segments: int | None = None
    min_segments: int = 3
    max_segments: int = 8
    cluster_sample_size: int = 10_000
    random_state: int = 0
    lapsing_after_days: int = 90

    def __post_init__(self) -> None:
        if self.as_of is not None:
            object.__setattr__(self, "as_of", parse_as_of(self.as_of))
        if self.dns_nameservers is not None:
            servers = (
                [self.dns_nameservers] if isinstance(self.dns_nameservers, str) else self.dns_nameservers
            )
            object.__setattr__(self, "dns_nameservers", tuple(str(s) for s in servers))
        for name in ("sunset_days", "sunset_min_deliveries", "soft_bounce_limit", "new_subscriber_days",
                     "machine_open_seconds", "dns_port", "dns_cache_hours"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"policy option {name} must be a whole number of at least 1, not {value!r}")
        _check_segment_options(self)
        for name in ("score_half_life_days", "click_weight", "dns_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ConfigError(f"policy option {name} must be a positive number, not {value!r}")
        for field in fields(self):
            if field.type == "bool" and not isinstance(getattr(self, field.name), bool):
                raise ConfigError(
                    f"policy option {field.name} must be true or false, not {getattr(self, field.name)!r}"
                )

    def replace(self, **changes: Any) -> Policy:
        """A copy with ``changes`` applied; ``None`` values are ignored (handy for unset CLI flags)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            known = ", ".join(self.option_names())
            raise ConfigError(f"unknown policy option {sorted(unknown)[0]!r}; known options: {known}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def option_names(cls) -> list[str]:
        """Names of every option, in declaration order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_toml(cls, path: str | Path) -> Policy:
        """Read a policy from a TOML file: top-level keys (or a ``[policy]`` table) named as the options."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: the config file does not exist; check the --config path") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(
                f"{path}: not valid TOML ({error}); fix the file or leave out --config"
            ) from None
        options = data.get("policy", data)
        if "policy" in data and len(data) > 1:
            stray = sorted(set(data) - {"policy"})[0]
            raise ConfigError(
                f"{path}: option {stray!r} stands outside the [policy] table; move it under [policy]"
            )
        try:
            return cls().replace(**options)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
        except TypeError as error:
            raise ConfigError(f"{path}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """Every option as JSON-ready values (``as_of`` as ISO-8601 or null)."""
        values = dataclasses.asdict(self)
        values["as_of"] = self.as_of.isoformat().replace("+00:00", "Z") if self.as_of else None
        return values


def _check_segment_options(policy: Policy) -> None:
    """The clustering options: whole numbers in range, ``min_segments <= max_segments``."""
    least = {"n_segments": 1, "min_segments": 2, "max_segments": 2, "cluster_sample_size": 100,
             "random_state": 0, "lapsing_after_days": 1}  # fmt: skip
    for name, minimum in least.items():
        value = getattr(policy, name)
        if name == "n_segments" and value is None:
            continue
        if name == "random_state" and isinstance(value, int) and value > 2**32 - 1:
            raise ConfigError(
                f"policy option random_state must be at most {2**32 - 1} (a 32-bit seed), not {value}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(
                f"policy option {name} must be a whole number of at least {minimum}, not {value!r}"
            )
    if policy.min_segments > policy.max_segments:
        raise ConfigError(
            f"policy option min_segments ({policy.min_segments}) must not exceed max_segments "
            f"({policy.max_segments})"
        )


def parse_as_of(value: str | date | datetime) -> datetime:
    """Read an ``as_of`` date: a datetime, a date (midnight UTC), or an ISO-8601 string (naive means UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"as_of {value!r} is not a date; give it as YYYY-MM-DD or an ISO-8601 time"
            ) from None
    else:
        raise ConfigError(f"as_of {value!r} is not a date; give it as YYYY-MM-DD or an ISO-8601 time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
