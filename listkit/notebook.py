"""The notebooks' one entry point: a stored run, or a run of the files given (exported when asked).

:func:`notebook_result` is what ``notebooks/list_health.ipynb`` calls with its parameters, so a
notebook run under papermill and ``listkit run`` check the policy and write the outputs alike.
"""

from __future__ import annotations

import inspect
from typing import Any

from listkit.engines import DEFAULT_ENGINE
from listkit.errors import ConfigError, OutputError
from listkit.export import export, run_inputs
from listkit.pipeline import run_files
from listkit.policy import Policy
from listkit.result import RunResult


def parameters(namespace: dict[str, Any]) -> dict[str, Any]:
    """The notebook's :data:`PARAMETERS` in its ``namespace`` (``globals()``), for :func:`notebook_result`."""
    return {name: namespace[name] for name in PARAMETERS if name in namespace}


def notebook_result(
    *,
    run_dir: str | None = None,
    subscribers: str | None = None,
    events: str | None = None,
    out_dir: str | None = None,
    as_of: str | None = None,
    config: str | None = None,
    policy: dict[str, Any] | None = None,
    engine: str = DEFAULT_ENGINE,
    features: str | None = None,
) -> RunResult:
    """The notebook's one entry point: load the run the CLI stored, or run (and export) the files given.

    ``config`` is a policy TOML file and ``policy`` a dict of options overriding it (for instance
    ``{"sunset_days": 180}`` passed with ``papermill -y``), checked like the CLI's flags: an error
    names the notebook parameter. ``engine`` is where the passes over the log run (``polars``,
    ``duckdb``, ``spark``: the same result); ``features`` (the folder of ``listkit features``) replaces
    ``events``.
    """
    if run_dir:
        return RunResult.load(run_dir)
    if not subscribers:
        raise OutputError("the notebook needs either run_dir or subscribers (and events) as parameters")
    if policy is not None and not isinstance(policy, dict):
        raise ConfigError(
            f"notebook parameter policy must be a mapping of option names to values, such as "
            f'{{"sunset_days": 180}}, not {type(policy).__name__}.'
        )
    options = dict(policy or {})
    sources = dict.fromkeys(options, "notebook parameter policy")
    if as_of is not None:
        options["as_of"], sources["as_of"] = as_of, "notebook parameter as_of"
    chosen = (Policy.from_toml(config) if config else Policy()).with_options(options, source=sources)
    result = run_files(subscribers, events, policy=chosen, engine=engine, features=features)
    if out_dir:
        inputs = run_inputs(chosen, subscribers=subscribers, events=events, config=config, features=features)
        export(result, out_dir, inputs=inputs, report=False)
    return result


#: The parameters of ``notebooks/list_health.ipynb`` that :func:`notebook_result` takes: its arguments.
PARAMETERS = tuple(inspect.signature(notebook_result).parameters)
