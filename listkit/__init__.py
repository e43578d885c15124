"""listkit: email list hygiene for analysts.

Read a subscriber list and its event history, validate and de-duplicate the addresses, score
engagement (machine opens never count), flag who to prune and why, segment the rest, and export
files that sending tools import directly::

    import listkit
    result = listkit.run(listkit.read_subscribers("list.csv"), listkit.read_events("events.csv"))
    listkit.export(result, "out/")

Each stage is also callable on its own: ``validate`` (addresses), ``score`` (engagement from
events), ``flag`` (reasons and outcome), ``segment`` (named segments of kept rows).

The names below are imported when first used, so that ``import listkit`` (and every ``listkit``
command) loads only the modules it needs: scikit-learn, for one, only when there is something to
cluster.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

#: Where each public name lives.
_HOMES = {
    "check_addresses": "addresses",
    "changes": "changes",
    "provider_compliance": "compliance",
    "ConfigError": "errors",
    "InputError": "errors",
    "ListkitError": "errors",
    "MissingColumnError": "errors",
    "OutputError": "errors",
    "export": "export",
    "read_feedback": "feedback",
    "LogSummary": "log_summary",
    "run": "pipeline",
    "run_files": "pipeline",
    "score": "pipeline",
    "summarise_files": "pipeline",
    "validate": "pipeline",
    "Policy": "policy",
    "read_events": "readers",
    "read_subscribers": "readers",
    "REASON_CODES": "reasons",
    "RunResult": "result",
    "flag": "rules",
    "scan_events": "readers",
    "store_events": "readers",
    "Segmenter": "segments",
    "segment": "segments",
}

__all__ = sorted([*_HOMES, "__version__"])


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562); ``__version__`` is pyproject.toml's, the one place."""
    if name == "__version__":
        from importlib.metadata import version

        value = version("listkit")
    elif name in _HOMES:
        value = getattr(importlib.import_module(f"listkit.{_HOMES[name]}"), name)
    elif importlib.util.find_spec(f"listkit.{name}") is not None:
        value = importlib.import_module(f"listkit.{name}")  # a submodule, as after an eager import
    else:
        raise AttributeError(f"module 'listkit' has no attribute {name!r}")
    globals()[name] = value  # found once; later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package, whose ``changes`` and ``export`` stay the functions of those names when the
    submodules of the same names are imported (the import system binds each submodule on its parent)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return  # the submodule is in sys.modules under its full name
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
