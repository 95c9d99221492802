"""FilePlans -> files on disk, atomically, validated by the real server, restored on failure.

Each file is written as a temporary file, fsynced, given the original's mode and
owner, and renamed over the original (symlinked site files are written at their
target). The temporary lives where no include of the tree can load it: the
file's own directory when the server reads no configuration there, else the
nearest directory above on the same file system that it does not (Apache reads
an included directory whole, dot files and subdirectories too). If any write
fails or the server's own check rejects the result, every file is put back byte
for byte and every new file removed. One --fix at a time holds the tree's lock
(tree_lock); temporaries a killed run left behind are removed first, and the
lint reports them (SSL001) until then.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from nginxssl.model.edits import FilePlan

TEMP_PREFIX = ".sslint-"
TEMP_SUFFIX = ".tmp"
FAULT_ENV = "SSLINT_FAULT"  # tests only (tests/test_fix_faults.py); see _fault()


class FixFailed(Exception):
    """Nothing was changed (every file was restored); the message says why. `rejected`: the
    server's own words when its check refused the fixed configuration."""

    def __init__(self, message: str, rejected: str | None = None) -> None:
        super().__init__(message)
        self.rejected = rejected


@dataclass(frozen=True)
class Validation:
    command: tuple[str, ...]
    env: dict[str, str] | None = None


def _fsync_directory(directory: str) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


_fault_steps = {"any": 0, "written": 0}


def _fault(step: str, path: str) -> None:
    """Fault injection for tests; nothing happens unless $SSLINT_FAULT is set.

    Every write has two steps, "written" (the temporary is fsynced, not yet
    renamed) and "renamed"; they are counted together in one process.
    `kill:N` sends SIGKILL to this process at the N-th step (a crash or power
    cut between any two steps of a fix); `pause:N` sleeps 3 s there; `enospc:N` makes the N-th write fail
    at its "written" step as a full disk would; `interrupt:N` is Ctrl-C there.
    """
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    action, _, number = spec.partition(":")
    _fault_steps["any"] += 1
    if step == "written":
        _fault_steps["written"] += 1
    if not number.isdigit():
        return
    if action == "kill" and _fault_steps["any"] == int(number):
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "pause" and _fault_steps["any"] == int(number):
        time.sleep(3)  # a slow disk: another --fix started now meets the lock
    if action == "enospc" and step == "written" and _fault_steps["written"] == int(number):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    if action == "interrupt" and step == "written" and _fault_steps["written"] == int(number):
        raise KeyboardInterrupt


# ---------------------------------------------------------------- where temporaries may live


@dataclass(frozen=True)
class Loaded:
    """The directories the server reads configuration from: a temporary there could be loaded
    (Apache `Include conf.d/` reads every file of the directory, dot files too, and below it)."""

    directories: frozenset[str] = frozenset()
    recursive: frozenset[str] = frozenset()  # Apache directory includes: everything below them too

    def loads(self, directory: str) -> bool:
        return directory in self.directories or any(
            directory == top or directory.startswith(top.rstrip(os.sep) + os.sep) for top in self.recursive)


def loaded_directories(files: list[str], server: str) -> Loaded:
    """Every directory a configuration file of the tree sits in (as included and where its link
    points). Apache reads a directory include recursively, so below an Apache one is loaded too;
    nginx's include globs read one directory and skip dot files."""
    directories: set[str] = {os.path.dirname(os.path.abspath(path)) for path in files}
    directories.update(os.path.dirname(real) for real in _real_paths(files))
    return Loaded(frozenset(directories), frozenset(directories) if server == "apache" else frozenset())


def temporary_places(target: str, loaded: Loaded) -> list[str]:
    """Where the temporary for `target` (a real path) may go, best first: its own directory when
    no include loads it, else the nearest directory above it that none loads and that is on the
    same file system (a rename cannot cross file systems)."""
    directory = os.path.dirname(target)
    try:
        device = os.stat(directory).st_dev
    except OSError:
        return [directory]
    places = []
    current = directory
    while True:
        if not loaded.loads(current):
            try:
                if os.stat(current).st_dev == device:
                    places.append(current)
            except OSError:
                pass
        parent = os.path.dirname(current)
        if parent == current or len(places) >= 2:
            break
        current = parent
    return places


def scanned_directories(target: str, loaded: Loaded) -> list[str]:
    """The directories a temporary for `target` could be in: its own and each one up to the
    last place temporary_places would use."""
    directory = os.path.dirname(target)
    places = temporary_places(target, loaded)
    scanned = [directory]
    current = directory
    while places and current != places[-1]:
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
        scanned.append(current)
    return scanned


def _temporary(target: str, loaded: Loaded | None) -> tuple[int, str]:
    """A new temporary file for `target`: where no include of the tree can load it; beside the
    target when no such place can be written (the lint reports one a killed run leaves, SSL001)."""
    directory = os.path.dirname(target)
    for place in temporary_places(target, loaded) if loaded is not None else []:
        try:
            return tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=place)
        except OSError:
            continue
    return tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)


def write_atomic(path: str, data: bytes, like: str | None = None, loaded: Loaded | None = None) -> None:
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    reference = target if os.path.exists(target) else like
    info = os.stat(reference) if reference and os.path.exists(reference) else None
    try:
        descriptor, temporary = _temporary(target, loaded)
    except OSError as error:
        raise OSError(error.errno, error.strerror, target) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            if info is not None:
                os.fchmod(handle.fileno(), info.st_mode & 0o7777)
                if os.geteuid() == 0:
                    os.fchown(handle.fileno(), info.st_uid, info.st_gid)
            else:
                os.fchmod(handle.fileno(), 0o644)
        _fault("written", target)
        try:
            os.replace(temporary, target)
        except OSError as error:  # name the file being written, not the temporary
            raise OSError(error.errno, error.strerror, target) from None
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
    if os.path.dirname(temporary) != directory:
        _fsync_directory(os.path.dirname(temporary))
    _fault("renamed", target)


def leftover_directories(paths: list[str], loaded: Loaded | None = None) -> list[str]:
    """Where a write of one of `paths` puts its temporaries: where a killed run's may lie."""
    directories: dict[str, None] = {}
    # One target per directory: every file of a directory has its temporaries in the same places.
    targets = {os.path.dirname(target): target for target in _real_paths(paths)}
    for target in targets.values():
        for directory in (scanned_directories(target, loaded) if loaded is not None else [os.path.dirname(target)]):
            directories.setdefault(directory, None)
    return list(directories)


def _real_paths(paths: list[str]) -> Iterator[str]:
    """os.path.realpath of each distinct path, resolving each directory once: a 5,000-site tree
    names its few hundred directories' files ten thousand times, and realpath walks every
    component of every path (14,000 lstat calls). A file that is itself a link is resolved whole."""
    real_directories: dict[str, str] = {}
    for path in dict.fromkeys(paths):
        directory, name = os.path.split(path)
        if name in ("", ".", "..") or os.path.islink(path):
            yield os.path.realpath(path)
            continue
        real = real_directories.get(directory)
        if real is None:
            real = real_directories[directory] = os.path.realpath(directory or ".")
        yield os.path.join(real, name)


def leftover_patterns(paths: list[str], loaded: Loaded | None = None) -> list[str]:
    """Glob patterns of the temporaries a killed run may have left for `paths` (the lint reports them)."""
    return [os.path.join(glob.escape(directory), f"{TEMP_PREFIX}*{TEMP_SUFFIX}")
            for directory in leftover_directories(paths, loaded)]


def leftovers(paths: list[str], loaded: Loaded | None = None) -> list[str]:
    """The temporaries a killed run left where a write of one of `paths` would have put them."""
    return [found for pattern in leftover_patterns(paths, loaded) for found in sorted(glob.glob(pattern))]


def remove_stale_temporaries(paths: list[str], loaded: Loaded | None = None) -> None:
    """A run killed mid-write leaves `.sslint-*.tmp` behind; the next run (holding the tree's lock,
    so no other run is writing it) removes it."""
    for stale in leftovers(paths, loaded):
        try:
            os.unlink(stale)
        except OSError:
            pass


# ---------------------------------------------------------------- one --fix at a time

LOCK_WAIT = 60.0  # seconds a second --fix waits for the first


@contextmanager
def tree_lock(directory: str, say: Callable[[str], None], wait: float = LOCK_WAIT) -> Iterator[bool]:
    """Hold an exclusive lock on the tree's directory for as long as the block runs; yields
    whether it had to wait for another run (whose fixes changed the tree under this one's feet).

    flock(2) on the directory itself: no lock file for an include to load, and the kernel drops
    the lock when the process dies, so a killed run never leaves the tree locked."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    waited = False
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waited = True
            say(f"another sslint --fix is working on {directory}; waiting for it to finish (at most {wait:g} s)")
            deadline = time.monotonic() + wait
            while True:
                time.sleep(0.1)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise FixFailed(f"another sslint --fix has been working on {directory} for more than "
                                        f"{wait:g} s; this one changed nothing") from None
        yield waited
    finally:
        os.close(descriptor)  # releases the lock


def _restore(done: list[FilePlan], loaded: Loaded | None = None) -> list[str]:
    problems = []
    for plan in reversed(done):
        try:
            if plan.old is None:
                os.unlink(os.path.realpath(plan.path))
            else:
                write_atomic(plan.path, plan.old, loaded=loaded)
        except OSError as error:
            problems.append(f"{plan.path}: {error}")
    return problems


def run_validation(validation: Validation) -> tuple[bool, str]:
    try:
        completed = subprocess.run(list(validation.command), capture_output=True, text=True, timeout=60,
                                   env=validation.env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    return completed.returncode == 0, (completed.stderr + completed.stdout).strip()


def apply(plans: dict[str, FilePlan], validation: Validation | None, loaded: Loaded | None = None) -> None:
    """Write every plan; validate; on any failure restore everything and raise FixFailed.
    `loaded`: where the server reads configuration (no temporary goes there)."""
    # New files (fullchains) before the edits that point at them: a run killed in between leaves
    # an unused new file, never a configuration that names a file not yet written.
    ordered = [plans[path] for path in sorted(plans, key=lambda path: (plans[path].old is not None, path))]
    remove_stale_temporaries([plan.path for plan in ordered], loaded)
    done: list[FilePlan] = []
    try:
        for plan in ordered:
            if plan.old is not None and plan.old == plan.new:
                continue
            write_atomic(plan.path, plan.new, plan.like, loaded)
            done.append(plan)
        if validation is not None and done:
            ok, output = run_validation(validation)
            if not ok:
                raise FixFailed(f"`{' '.join(validation.command)}` rejected the fixed configuration; "
                                f"every file was restored:\n{output}", rejected=output)
    except OSError as error:
        problems = _restore(done, loaded)
        extra = ("; could not restore: " + "; ".join(problems)) if problems else "; every file was restored"
        raise FixFailed(f"writing {getattr(error, 'filename', '') or 'a file'} failed ({error.strerror or error}){extra}") from None
    except FixFailed:
        problems = _restore(done, loaded)
        if problems:
            raise FixFailed("validation failed and restoring failed: " + "; ".join(problems)) from None
        raise
    except BaseException:
        # Ctrl-C between two files (a fix may repoint a certificate in one and its key in another),
        # or during `nginx -t`: every file as it was, then the interrupt goes on.
        _restore(done, loaded)
        raise


def server_binary(server: str) -> str | None:
    names = ("nginx",) if server == "nginx" else ("apache2", "httpd")
    for name in names:
        found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.path.exists(p)), None)
        if found:
            return found
    return None
