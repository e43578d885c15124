"""The policy: every threshold and switch of a run, declared once in :data:`OPTIONS`.

Each :class:`Option` gives a name, its kind and allowed range, the contract's default, what it
means and its CLI flag. Everything else is generated from that table: the :class:`Policy`
dataclass (its fields, defaults and docstring), the one check every value goes through
(:func:`check_options`), the ``listkit run`` flags and ``listkit policy``'s commented TOML
(:func:`render_toml`). So a value from a TOML file (``--config``), a flag or the notebook's
``policy`` parameter is checked the same way, and a refusal names where it came from.

A ``Policy`` is immutable; :meth:`Policy.with_options` (or ``replace``) gives a checked copy, and
it is written whole into the manifest.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import numbers
import os
import textwrap
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from listkit.cells import shown
from listkit.errors import ConfigError
from listkit.schema import EARLIEST_TIME, LATEST_TIME

__all__ = [
    "BY_NAME",
    "MAX_DAYS",
    "MAX_SEGMENTS",
    "OPTIONS",
    "Option",
    "Policy",
    "check_options",
    "parse_as_of",
    "render_toml",
]

#: A century: ``as_of`` minus any day count stays a date Python and polars can hold.
MAX_DAYS = 36_500
#: Every candidate number of clusters is fitted: from 3-8 to 3-30 adds 5 s to a run on 100,000 readers.
MAX_SEGMENTS = 30

Kind = Literal["integer", "number", "boolean", "time", "path", "addresses"]


def _time_text(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _number_text(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)


def _shown(value: Any) -> str:
    """A value as an error message shows it: TOML-like, short, and never an email address."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return shown(value)  # quoted, shortened, never a subscriber's address given by mistake
    text = _time_text(value) if isinstance(value, datetime) else repr(value)
    return text if "@" not in text and len(text) <= 60 else shown(text)


@dataclass(frozen=True)
class Option:
    """One policy option.

    ``low`` and ``high`` bound an ``integer`` or ``number`` (``above``: ``low`` itself excluded);
    ``optional`` allows ``None`` (``meaning`` says what unset means); ``flags`` are the CLI flags
    (default ``--name-with-dashes``); a boolean's flag sets the opposite of its default.
    """

    name: str
    kind: Kind
    default: Any
    meaning: str
    low: float | None = None
    high: float | None = None
    above: bool = False
    optional: bool = False
    flags: tuple[str, ...] = ()

    @property
    def cli_flags(self) -> tuple[str, ...]:
        """The flags of ``listkit run`` that set this option."""
        return self.flags or ("--" + self.name.replace("_", "-"),)

    def requirement(self) -> str:
        """What a value must be, in words ("a whole number from 1 to 36500")."""
        if self.kind in ("integer", "number"):
            noun = "a whole number" if self.kind == "integer" else "a number"
            low, high = _number_text(self.low), _number_text(self.high)
            text = f"{noun} above {low} and at most {high}" if self.above else f"{noun} from {low} to {high}"
        else:
            text = {
                "boolean": "true or false",
                "time": f"a date or ISO-8601 time from {_time_text(EARLIEST_TIME)} to "
                f"{_time_text(LATEST_TIME)}",
                "path": "a file path, empty for none",
                "addresses": "a list of one or more IP addresses such as 127.0.0.1 or ::1",
            }[self.kind]
        return f"unset or {text}" if self.optional else text

    def describe(self) -> str:
        """Meaning, range and default in one sentence (docstring, ``--help``, ``listkit policy``)."""
        return f"{self.meaning} ({self.requirement()}; default {_shown(self.default)})"

    def check(self, value: Any, where: str = "") -> Any:
        """``value`` in canonical form; a :class:`ConfigError` starting with ``where`` if not allowed."""
        if value is None and self.optional:
            return None
        checked = _CHECKS[self.kind](self, value)
        if checked is _INVALID:
            raise ConfigError(
                f"{where}policy option {self.name} must be {self.requirement()}, not {_shown(value)}."
            )
        return checked


_INVALID = object()


def _check_integer(option: Option, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return _INVALID
    return int(value) if option.low <= value <= option.high else _INVALID


def _check_number(option: Option, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return _INVALID
    try:
        value = float(value)
    except OverflowError:  # an integer beyond any float
        return _INVALID
    low_ok = value > option.low if option.above else value >= option.low
    return value if math.isfinite(value) and low_ok and value <= option.high else _INVALID


def _check_boolean(option: Option, value: Any) -> Any:
    return value if isinstance(value, bool) else _INVALID


def _check_time(option: Option, value: Any) -> Any:
    if isinstance(value, str) and len(value) <= 64:
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return _INVALID
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        return _INVALID
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # Compared before converting: converting 0001-01-01T00:00+01:00 to UTC would overflow.
    if not EARLIEST_TIME <= moment <= LATEST_TIME:
        return _INVALID
    return moment.astimezone(UTC)


def _check_path(option: Option, value: Any) -> Any:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or "\x00" in value:
        return _INVALID
    return value or None


def _check_addresses(option: Option, value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or not all(isinstance(i, str) for i in items):
        return _INVALID
    try:
        return tuple(str(ipaddress.ip_address(item.strip())) for item in items)
    except ValueError:
        return _INVALID


_CHECKS: dict[str, Callable[[Option, Any], Any]] = {
    "integer": _check_integer,
    "number": _check_number,
    "boolean": _check_boolean,
    "time": _check_time,
    "path": _check_path,
    "addresses": _check_addresses,
}
_TYPES: dict[str, Any] = {
    "integer": int,
    "number": float,
    "boolean": bool,
    "time": datetime,
    "path": str,
    "addresses": tuple[str, ...],
}


def _days(name: str, default: int, meaning: str, **more: Any) -> Option:
    return Option(name, "integer", default, meaning, low=1, high=MAX_DAYS, **more)


OPTIONS: tuple[Option, ...] = (
    Option(
        "as_of", "time", None, optional=True,
        meaning="scoring date: engagement, deliveries and soft bounces after it are ignored, while an "
        "unsubscribe, complaint or hard bounce counts whatever its date; unset: the latest event",
    ),
    _days("sunset_days", 365, "days before as_of in which a human open or click must have happened"),
    Option(
        "sunset_min_deliveries", "integer", 10, low=1, high=10_000,
        meaning="deliveries since the last human open or click (since the first, for a reader who never "
        "engaged) before silence counts as inactivity, so that barely mailed readers are not pruned; counted "
        "since the last engagement, not inside the window, as HubSpot's graymail rule (11 unengaged sends) "
        "and Klaviyo's sunset (10 mails received) do, so a short window still prunes after that many mails",
    ),
    Option("soft_bounce_limit", "integer", 3, low=1, high=1000,
           meaning="soft bounces in a row, with no delivery after them, that prune"),
    Option("prune_role_accounts", "boolean", True, flags=("--keep-role-accounts",),
           meaning="prune role addresses (info@, sales@...); false keeps them with a warning"),
    Option("prune_typo_domains", "boolean", True, flags=("--keep-typo-domains",),
           meaning="prune addresses on a likely misspelt domain; false keeps them with a warning"),
    Option("prune_disposable", "boolean", True, flags=("--keep-disposable",),
           meaning="prune addresses on throw-away (disposable) domains; false keeps them with a warning"),
    Option("check_dns", "boolean", False, flags=("--check-dns",),
           meaning="look up the MX record of every distinct domain, which needs the network"),
    Option("dns_nameservers", "addresses", None, optional=True, flags=("--dns-server",),
           meaning="resolvers to ask (the flag is repeatable); unset: the system's"),
    Option("dns_port", "integer", 53, "port of the resolvers", low=1, high=65535),
    Option("dns_timeout", "number", 2.0, low=0, high=60, above=True,
           meaning="seconds per lookup; a lookup that times out gives the warning dns_unknown"),
    Option("dns_cache", "path", "~/.cache/listkit/mx-cache.json", optional=True,
           meaning="JSON file caching MX answers, so that reruns do not resolve again"),
    Option("dns_cache_hours", "integer", 24, "hours a cached MX answer is used", low=1, high=24 * 365),
    Option("score_half_life_days", "number", 90.0, low=1, high=MAX_DAYS,
           meaning="half-life in days of the recency decay of opens, clicks and deliveries in the score"),
    Option("click_weight", "number", 3.0, low=0, high=100, above=True,
           meaning="how many human opens a click counts for in the score"),
    _days("new_subscriber_days", 30, "sign-ups this many days before as_of or later form the new segment"),
    Option("machine_open_seconds", "integer", 10, low=1, high=3600,
           meaning="an open without user agent this soon after its delivery is a machine open: no reader "
           "opens mail that fast, a prefetching proxy does"),
    Option("n_segments", "integer", None, low=1, high=MAX_SEGMENTS, optional=True, flags=("--segments",),
           meaning="number of reader clusters; unset: chosen by silhouette between min_segments and "
           "max_segments (the rule segments new and engagement-unknown come on top)"),
    Option("min_segments", "integer", 3, "fewest reader clusters when n_segments is unset",
           low=2, high=MAX_SEGMENTS),
    Option("max_segments", "integer", 8, low=2, high=MAX_SEGMENTS,
           meaning="most reader clusters when n_segments is unset (each candidate number is fitted)"),
    Option("cluster_sample_size", "integer", 10_000, low=100, high=20_000,
           meaning="readers sampled to choose the number of clusters (the time grows with its square)"),
    Option("random_state", "integer", 0, "seed of the clustering: the same seed, the same segments",
           low=0, high=2**32 - 1),
    _days("lapsing_after_days", 90, "a cluster whose median reader has not engaged for longer is lapsing or "
          "dormant rather than active"),
    # Warm-up of a new IP or domain (listkit.warmup documents the schedule and its sources).
    Option("warmup_days", "integer", 0, low=0, high=90,
           meaning="days of the warm-up plan (warmup/day-01.csv...): the kept list, most engaged first, in "
           "daily batches that grow from warmup_first_day by warmup_growth, each mailbox provider on its own "
           "curve; kept rows that do not fit are mailed after it; 0: no plan; at most 90, twice Amazon SES's "
           "45-day automatic warm-up and beyond SparkPost's 4 to 8 weeks"),
    Option("warmup_first_day", "integer", 50, low=1, high=1_000_000,
           meaning="addresses mailed on the first warm-up day, all mailbox providers together (SendGrid: no "
           "more than 50 on a new IP's first day); each provider gets a part in proportion to its share of "
           "the kept list, rounded up"),
    Option("warmup_growth", "number", 2.0, low=1, high=10, above=True,
           meaning="factor by which each provider's warm-up batch grows from one day to the next (SendGrid "
           "doubles; its automated warm-up grows about 1.4 times a day); above 1, as a flat schedule warms "
           "nothing up, and at most 10, beyond which a day is a burst"),
)  # fmt: skip

#: The options the passes over the event log read (listkit.activity): a summary of the log
#: (``listkit features``) holds for these values only.
LOG_OPTIONS = ("sunset_days", "score_half_life_days", "click_weight", "machine_open_seconds")
BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def _where(source: str | Mapping[str, str] | None, name: str) -> str:
    """The prefix naming where ``name``'s value came from (a file, a flag...), or nothing."""
    if isinstance(source, str):
        return f"{source}: "
    if source is not None and name in source:
        return f"{source[name]}: "
    return ""


def check_options(
    values: Mapping[str, Any], *, source: str | Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``values`` (option name -> value) checked against :data:`OPTIONS` and in canonical form.

    ``source`` names where the values came from (``"policy.toml"``), or per option (``{"sunset_days":
    "--sunset-days"}``); a :class:`ConfigError` starts with it. Also checks that ``min_segments``
    does not exceed ``max_segments`` when both are given.
    """
    checked = {}
    for name, value in values.items():
        option = BY_NAME.get(name)
        if option is None:
            close = difflib.get_close_matches(str(name), BY_NAME, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"{_where(source, name)}unknown policy option {_shown(name)}; {hint}"
                "`listkit policy` lists every option."
            )
        checked[name] = option.check(value, _where(source, name))
    low, high = checked.get("min_segments"), checked.get("max_segments")
    if low is not None and high is not None and low > high:
        where = _where(source, "min_segments") or _where(source, "max_segments")
        raise ConfigError(f"{where}policy option min_segments ({low}) must not exceed max_segments ({high}).")
    return checked


class _PolicyMethods:
    """The methods of :class:`Policy` (its fields come from :data:`OPTIONS`)."""

    def __post_init__(self) -> None:
        for name, value in check_options(dataclasses.asdict(self)).items():
            object.__setattr__(self, name, value)

    def with_options(
        self, changes: Mapping[str, Any], *, source: str | Mapping[str, str] | None = None
    ) -> Policy:
        """A copy with ``changes`` applied (``None`` values are ignored), each checked.

        ``source`` names where the changes came from, as for :func:`check_options`.
        """
        given = {name: value for name, value in changes.items() if value is not None}
        if source is not None and not isinstance(source, str):  # name only the sources of what is given
            source = {name: where for name, where in source.items() if name in given}
        return Policy(**check_options({**dataclasses.asdict(self), **given}, source=source))

    def replace(self, **changes: Any) -> Policy:
        """A copy with ``changes`` applied; ``None`` values are ignored (handy for unset CLI flags)."""
        return self.with_options(changes)

    @classmethod
    def option_names(cls) -> list[str]:
        """Names of every option, in the order of :data:`OPTIONS`."""
        return list(BY_NAME)

    @classmethod
    def from_toml(cls, path: str | Path) -> Policy:
        """Read a policy from a TOML file: top-level keys (or a ``[policy]`` table) named as the options."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: the config file does not exist; check the --config path.") from None
        except OSError as error:
            raise ConfigError(
                f"{path}: the config file cannot be read ({error.strerror}); check the --config path."
            ) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(
                f"{path}: not valid TOML ({error}); fix the file or leave out --config."
            ) from None
        except RecursionError:  # arrays or tables nested thousands deep
            raise ConfigError(
                f"{path}: nests its values too deeply to be a policy; fix the file or leave out --config."
            ) from None
        if "policy" in data and len(data) > 1:
            stray = sorted(set(data) - {"policy"})[0]
            raise ConfigError(
                f"{path}: option {_shown(stray)} stands outside the [policy] table; move it under [policy]."
            )
        options = data.get("policy", data)
        if not isinstance(options, dict):
            raise ConfigError(f"{path}: policy must be a table of options ([policy]); see `listkit policy`.")
        return Policy().with_options(options, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """Every option as JSON-ready values (``as_of`` as ISO-8601 or null)."""
        values = dataclasses.asdict(self)
        values["as_of"] = _time_text(self.as_of) if self.as_of else None
        return values


Policy = dataclasses.make_dataclass(
    "Policy",
    [
        (
            o.name,
            _TYPES[o.kind] | None if o.optional else _TYPES[o.kind],
            dataclasses.field(default=o.default),
        )
        for o in OPTIONS
    ],
    bases=(_PolicyMethods,),
    frozen=True,
)
Policy.__module__ = __name__  # pickling and help() find it here
Policy.__doc__ = "Thresholds and switches of a run; the defaults are the contract's.\n\n" + "\n".join(
    textwrap.fill(f"{o.name}: {o.describe()}.", 100, subsequent_indent="    ", break_on_hyphens=False)
    for o in OPTIONS
)


def parse_as_of(value: str | date | datetime) -> datetime:
    """Read an ``as_of``: a datetime, a date (midnight UTC) or ISO-8601 text (naive means UTC), in range."""
    return BY_NAME["as_of"].check(value)


def render_toml(policy: Policy | None = None) -> str:
    """``policy`` (default: the defaults) as a TOML file for ``--config``, each option with its meaning."""
    policy = policy or Policy()
    lines = [
        "# listkit policy: every option with its meaning, range and default. Pass the file to --config;",
        "# a flag of `listkit run` overrides it, and an option left out keeps its default.",
        "[policy]",
    ]
    for option in OPTIONS:
        flag = ", ".join(option.cli_flags)
        if option.kind == "boolean":
            flag += f" sets it to {_toml_value(not option.default)}"
        comment = f"{option.name}: {option.describe()}; flag {flag}."
        lines += ["", *("# " + line for line in textwrap.wrap(comment, 106, break_on_hyphens=False))]
        value = getattr(policy, option.name)
        if value is None:  # TOML has no null: a left-out option keeps its default, "" is no file
            lines.append(f'{option.name} = ""' if option.kind == "path" else f"# {option.name} =")
        else:
            lines.append(f"{option.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    """One TOML value: boolean, number, offset date-time, string or array of strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return _time_text(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    escaped = "".join(
        ch if " " <= ch <= "~" and ch not in '"\\' else f"\\{ch}" if ch in '"\\' else f"\\U{ord(ch):08X}"
        for ch in value
    )
    return f'"{escaped}"'
