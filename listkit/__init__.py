"""listkit: email list hygiene for analysts.

Read a subscriber list and its event history, validate and de-duplicate the addresses, score
engagement (machine opens never count), flag who to prune and why, segment the rest, and export
files that sending tools import directly::

    import listkit
    result = listkit.run(listkit.read_subscribers("list.csv"), listkit.read_events("events.csv"))
    listkit.export(result, "out/")
"""

from listkit.addresses import check_addresses
from listkit.errors import ConfigError, InputError, ListkitError, MissingColumnError, OutputError
from listkit.export import export
from listkit.pipeline import RunResult, run, run_files
from listkit.policy import Policy
from listkit.readers import read_events, read_subscribers
from listkit.rules import REASON_CODES, flag

__version__ = "0.1.0"

__all__ = [
    "REASON_CODES",
    "ConfigError",
    "InputError",
    "ListkitError",
    "MissingColumnError",
    "OutputError",
    "Policy",
    "RunResult",
    "__version__",
    "check_addresses",
    "export",
    "flag",
    "read_events",
    "read_subscribers",
    "run",
    "run_files",
]
