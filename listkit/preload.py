"""Heavy libraries imported in a background thread while a run does other work.

scikit-learn takes about 2 s to import, papermill and nbconvert as long (jsonschema's format checks
build a grammar at import). A run that will need them starts their import while it reads the event
log or writes its files, work that runs in polars and pyarrow outside the interpreter lock, so the
import then costs next to nothing. Only modules a run is sure to use are imported this way: a
command imports nothing it does not use.
"""

from __future__ import annotations

import importlib
import threading

__all__ = ["import_in_background"]


def import_in_background(*modules: str) -> threading.Thread:
    """Start importing ``modules`` (dotted names) one after another in a daemon thread; return it.

    An import that fails here is silent: it fails again, with its own error, where the module is used.
    """

    def load() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # whatever it is, the import where the module is used raises it again
                return

    thread = threading.Thread(target=load, name="listkit-preload", daemon=True)
    thread.start()
    return thread
