"""FilePlans -> files on disk, atomically, validated by the real server, restored on failure.

Each file is written as a temporary file in its own directory, fsynced, given
the original's mode and owner, and renamed over the original (symlinked site
files are written at their target). If any write fails or the server's own
check rejects the result, every file is put back byte for byte and every new
file removed. Temporary files a killed run left behind are removed first.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
import signal
import subprocess
import tempfile
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
    cut between any two steps of a fix); `enospc:N` makes the N-th write fail
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
    if action == "enospc" and step == "written" and _fault_steps["written"] == int(number):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    if action == "interrupt" and step == "written" and _fault_steps["written"] == int(number):
        raise KeyboardInterrupt


def write_atomic(path: str, data: bytes, like: str | None = None) -> None:
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    reference = target if os.path.exists(target) else like
    info = os.stat(reference) if reference and os.path.exists(reference) else None
    descriptor, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
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
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
    _fault("renamed", target)


def remove_stale_temporaries(paths: list[str]) -> None:
    """A run killed mid-write leaves `.sslint-*.tmp` beside the file; never trip over one."""
    for directory in {os.path.dirname(os.path.realpath(path)) for path in paths}:
        for stale in glob.glob(os.path.join(glob.escape(directory), f"{TEMP_PREFIX}*{TEMP_SUFFIX}")):
            try:
                os.unlink(stale)
            except OSError:
                pass


def _restore(done: list[FilePlan]) -> list[str]:
    problems = []
    for plan in reversed(done):
        try:
            if plan.old is None:
                os.unlink(os.path.realpath(plan.path))
            else:
                write_atomic(plan.path, plan.old)
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


def apply(plans: dict[str, FilePlan], validation: Validation | None) -> None:
    """Write every plan; validate; on any failure restore everything and raise FixFailed."""
    # New files (fullchains) before the edits that point at them: a run killed in between leaves
    # an unused new file, never a configuration that names a file not yet written.
    ordered = [plans[path] for path in sorted(plans, key=lambda path: (plans[path].old is not None, path))]
    remove_stale_temporaries([plan.path for plan in ordered])
    done: list[FilePlan] = []
    try:
        for plan in ordered:
            if plan.old is not None and plan.old == plan.new:
                continue
            write_atomic(plan.path, plan.new, plan.like)
            done.append(plan)
        if validation is not None and done:
            ok, output = run_validation(validation)
            if not ok:
                raise FixFailed(f"`{' '.join(validation.command)}` rejected the fixed configuration; "
                                f"every file was restored:\n{output}", rejected=output)
    except OSError as error:
        problems = _restore(done)
        extra = ("; could not restore: " + "; ".join(problems)) if problems else "; every file was restored"
        raise FixFailed(f"writing {getattr(error, 'filename', '') or 'a file'} failed ({error.strerror or error}){extra}") from None
    except FixFailed:
        problems = _restore(done)
        if problems:
            raise FixFailed("validation failed and restoring failed: " + "; ".join(problems)) from None
        raise
    except BaseException:
        # Ctrl-C between two files (a fix may repoint a certificate in one and its key in another),
        # or during `nginx -t`: every file as it was, then the interrupt goes on.
        _restore(done)
        raise


def server_binary(server: str) -> str | None:
    names = ("nginx",) if server == "nginx" else ("apache2", "httpd")
    for name in names:
        found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.path.exists(p)), None)
        if found:
            return found
    return None
