"""listkit: email list hygiene for analysts.

Read a subscriber list and its event history, validate and de-duplicate the addresses, score
engagement (machine opens never count), flag who to prune and why, segment the rest, and export
files that sending tools import directly::

    import listkit
    result = listkit.run(listkit.read_subscribers("list.csv"), listkit.read_events("events.csv"))
    listkit.export(result, "out/")

Each stage is also callable on its own: ``validate`` (addresses), ``score`` (engagement from
events), ``flag`` (reasons and outcome), ``segment`` (named segments of kept rows).
"""

from importlib.metadata import version

from listkit.addresses import check_addresses
from listkit.changes import changes
from listkit.compliance import provider_compliance
from listkit.errors import ConfigError, InputError, ListkitError, MissingColumnError, OutputError
from listkit.export import export
from listkit.feedback import read_feedback
from listkit.pipeline import run, run_files, score, validate
from listkit.policy import Policy
from listkit.readers import read_events, read_subscribers, scan_events
from listkit.reasons import REASON_CODES
from listkit.result import RunResult
from listkit.rules import flag
from listkit.segments import Segmenter, segment

__version__ = version("listkit")  # one place: pyproject.toml

__all__ = [
    "REASON_CODES",
    "ConfigError",
    "InputError",
    "ListkitError",
    "MissingColumnError",
    "OutputError",
    "Policy",
    "RunResult",
    "Segmenter",
    "__version__",
    "changes",
    "check_addresses",
    "export",
    "flag",
    "provider_compliance",
    "read_events",
    "read_feedback",
    "read_subscribers",
    "run",
    "run_files",
    "scan_events",
    "score",
    "segment",
    "validate",
]
