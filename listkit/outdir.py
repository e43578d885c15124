"""The output folder: where ``--out`` really is, one run at a time, and the swap that replaces it whole.

``--out`` is replaced whole, so this module decides what may be replaced, and how:

- the real folder is ``--out`` with every symbolic link on the way resolved: a link (``current ->
  runs/2026-10``) is written through, the folder it points to is replaced and the link stays as it is;
- one run at a time per folder: :func:`output_lock` holds an ``flock`` on ``.NAME.listkit.lock`` beside
  the real folder (never deleted; it holds no data);
- a run is built in a private workspace ``.NAME.listkit-PID-NS`` beside the real folder (mode 0700: a
  ledger holds addresses; the same file system, so the swap is one atomic rename); its ``run`` folder is
  exchanged with the real folder, then the workspace, now holding the previous run and the report's scratch
  files, is removed;
- a run's temporary files (the event log streamed to Parquet) go to such a workspace too
  (:func:`scratch_space`);
- SIGKILL cannot be caught, so the next run on the same folder, holding the lock, removes every workspace
  that killed runs left behind.

:mod:`listkit.export` writes the files; this module only creates, swaps and removes folders.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from listkit.errors import OutputError
from listkit.layout import MANIFEST_FILE

_RUN = "run"  # the new run inside a workspace; the previous one after the exchange
_ASIDE = "previous"  # the previous run inside a workspace, where the two-rename swap sets it aside

# (lock file, thread) -> depth: a thread that holds a folder's lock may enter it again (the CLI holds it
# around reading, running and export(), which takes it too); another thread or process is refused.
_held: dict[tuple[Path, int], int] = {}


@dataclass(frozen=True)
class Staging:
    """Where a run is built: ``folder`` becomes the output; ``scratch`` is private space removed with it."""

    folder: Path
    scratch: Path


def real_folder(out_dir: str | Path) -> Path:
    """``out_dir`` made absolute with every symbolic link resolved (a dangling link: the path it names)."""
    try:
        target = Path(out_dir).resolve()
    except RuntimeError:  # a loop of links (an OSError from Python 3.13)
        raise OutputError(
            f"{out_dir}: its symbolic links form a loop; fix them or choose another --out"
        ) from None
    except OSError as error:
        raise OutputError(
            f"{out_dir}: its symbolic links cannot be followed ({error.strerror}); "
            "fix them or choose another --out"
        ) from None
    if target == target.parent:
        raise OutputError(
            f"{out_dir}: is the root folder, which --out would replace whole; choose a folder in it"
        )
    return target


@contextmanager
def output_lock(
    out_dir: str | Path, *, inputs: Mapping[str, str | Path | None] | None = None
) -> Iterator[Path]:
    """Hold the lock of ``out_dir`` for the block and yield its real folder; refuse if another run holds it.

    The folder must be new, empty or an earlier listkit output, and must not be or hold any of ``inputs``
    (role -> path; ``~`` expanded, links resolved), else :class:`~listkit.errors.OutputError`. Taking the
    lock removes what killed runs left beside the folder. Re-entrant within a thread.
    """
    target = real_folder(out_dir)
    # Checked before the lock file is made, so that a refused --out gets none beside it; as safe as after:
    # other listkit runs change the folder only into a listkit output.
    _check_replaceable(out_dir, target, inputs or {})
    key = (target.with_name(f".{target.name}.listkit.lock"), threading.get_ident())
    depth = _held.get(key, 0)
    handle = _acquire(out_dir, key[0]) if depth == 0 else None
    _held[key] = depth + 1
    try:
        if handle is not None:
            _remove_leftovers(target)
        yield target
    finally:
        if depth:
            _held[key] = depth
        else:
            del _held[key]
        if handle is not None:
            os.close(handle)  # releases the lock


@contextmanager
def replacement(
    out_dir: str | Path, *, inputs: Mapping[str, str | Path | None] | None = None
) -> Iterator[Staging]:
    """Under :func:`output_lock`, a new empty :class:`Staging` that replaces ``out_dir`` whole if the block
    ends without an error; on any error (or a kill) ``out_dir`` is left as it was."""
    with output_lock(out_dir, inputs=inputs) as target:
        workspace = _new_workspace(out_dir, target)
        try:
            yield Staging(workspace / _RUN, workspace)
            _swap_in(out_dir, workspace / _RUN, target)
        finally:
            _remove(workspace)


@contextmanager
def scratch_space(out_dir: str | Path) -> Iterator[Path]:
    """Under :func:`output_lock`, a private empty folder beside ``out_dir`` for a run's temporary files (the
    event log streamed to Parquet), removed when the block ends.

    It is a workspace like those :func:`replacement` makes, so one that a killed run left (SIGKILL leaves
    a temporary folder wherever it is) is removed by the next run on ``out_dir``; in the system's
    temporary folder nothing would ever remove it.
    """
    with output_lock(out_dir) as target:
        workspace = _new_workspace(out_dir, target)
        try:
            yield workspace / _RUN
        finally:
            _remove(workspace)


def _acquire(out_dir: str | Path, lock: Path) -> int:
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        # Read-only and readable by all: anyone who may write the folder can take the lock; no data in it.
        handle = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise OutputError(
            f"{out_dir}: cannot create its lock file {lock} ({error.strerror}); choose another --out"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(handle)
        if isinstance(error, BlockingIOError):
            raise OutputError(
                f"{out_dir}: another listkit run is writing this output folder; "
                "wait for it to finish or choose another --out"
            ) from None
        raise OutputError(
            f"{out_dir}: cannot lock {lock} ({error.strerror}); choose an --out on a local disk"
        ) from None
    return handle


def _workspace_pattern(target: Path) -> re.Pattern[str]:
    # Exactly the names _new_workspace makes (and the "-previous" ones of earlier versions), never another
    # output's: the workspaces of "a.listkit-1-2" are ".a.listkit-1-2.listkit-...", which this does not match.
    return re.compile(rf"\.{re.escape(target.name)}\.listkit-\d+-\d+(-previous)?")


def _remove_leftovers(target: Path) -> None:
    """Remove the workspaces killed runs left beside ``target`` (only lock holders make them)."""
    if not target.parent.is_dir():
        return
    pattern = _workspace_pattern(target)
    leftovers = sorted(p for p in target.parent.iterdir() if pattern.fullmatch(p.name))
    if not target.exists():
        # Killed between the two renames of a swap without exchange: the previous run is put back.
        for leftover in leftovers:
            aside = leftover / _ASIDE
            if not leftover.is_symlink() and (aside / MANIFEST_FILE).is_file():
                aside.rename(target)
                break
    for leftover in leftovers:
        _remove(leftover)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        # Errors ignored: a leftover another user owns cannot be removed, and must not stop this run.
        shutil.rmtree(path, ignore_errors=True)


def _check_replaceable(out_dir: str | Path, target: Path, inputs: Mapping[str, str | Path | None]) -> None:
    """Refuse a folder that holds anything but an earlier listkit run, or that is or holds an input."""
    shown = str(out_dir) if Path(out_dir).absolute() == target else f"{out_dir} (that is {target})"
    if target.exists() and not target.is_dir():
        raise OutputError(f"{shown}: exists and is not a folder; choose another --out")
    if target.is_dir() and os.path.ismount(target):
        raise OutputError(f"{shown}: is a mount point, which cannot be replaced; choose a folder inside it")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST_FILE).is_file():
        raise OutputError(
            f"{shown}: the folder is not empty and is not an earlier listkit output (no {MANIFEST_FILE}), "
            "and --out replaces it whole; choose a new or empty folder"
        )
    for role, path in sorted(inputs.items()):
        if path is None:
            continue
        # Both where the data is (links resolved) and where its name is: a link inside --out is lost too.
        try:
            given = Path(path).expanduser()
            places = {given.resolve()}
            if given.name not in ("", ".", ".."):
                places.add(given.parent.resolve() / given.name)
        except (RuntimeError, OSError):  # a loop of links, or no home folder: its reader says so
            continue
        if target in places:
            raise OutputError(
                f"{shown}: is the {role} input, and --out replaces it whole; choose another --out"
            )
        if any(target in place.parents for place in places):
            raise OutputError(
                f"{shown}: holds the {role} input {path}, and --out replaces it whole; choose another --out"
            )
        if any(place.is_dir() and place in target.parents for place in places):
            # The run would write into the input it reads (and fingerprints in the manifest).
            raise OutputError(
                f"{shown}: lies inside the {role} input folder {path}; choose an --out outside it"
            )


def _new_workspace(out_dir: str | Path, target: Path) -> Path:
    """A new private folder beside ``target``, with an empty ``run`` folder in it."""
    workspace = target.parent / f".{target.name}.listkit-{os.getpid()}-{time.monotonic_ns()}"
    try:
        workspace.mkdir(mode=0o700)
        workspace.chmod(0o700)  # whatever the umask: only the owner may read a run being built
        (workspace / _RUN).mkdir()  # the mode a new folder gets, like any the user makes
    except OSError as error:
        _remove(workspace)
        raise OutputError(
            f"{out_dir}: cannot create the output folder ({error.strerror}); choose another --out"
        ) from None
    return workspace


def _swap_in(out_dir: str | Path, new: Path, target: Path) -> None:
    """Make ``new`` the ``target`` folder in one step; the previous run is left inside the workspace."""
    try:
        if not target.exists():
            new.rename(target)
        elif not _exchange(new, target):
            # Without an atomic exchange: two renames, the previous run set aside until the new one is in.
            aside = new.with_name(_ASIDE)
            target.rename(aside)
            try:
                new.rename(target)
            except BaseException:
                aside.rename(target)
                raise
    except OSError as error:
        raise OutputError(f"{out_dir}: cannot be replaced ({error.strerror}); choose another --out") from None


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths with Linux's ``renameat2(RENAME_EXCHANGE)``; False where unavailable."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    status = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    return status == 0
