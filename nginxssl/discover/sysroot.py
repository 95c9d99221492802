"""Where a path named in a config lives on this disk, and how such a file is read.

Config repositories and test corpora hold trees whose configs name absolute
paths such as /etc/nginx/ssl/a.pem. With `--root DIR` every absolute path —
and every absolute symlink target met on the way — is looked up under DIR, the
way a chroot would see it, so nothing outside DIR is ever read by accident.
"""

from __future__ import annotations

import errno
import os
import stat

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # the largest config file sslint reads (either server)
_MAX_LINKS = 40  # the kernel's own limit (ELOOP)


class SymlinkLoop(OSError):
    pass


def describe(error: OSError) -> str:
    """Why a file could not be read, in the words of strerror (a SymlinkLoop is ELOOP's)."""
    if error.errno == errno.ELOOP or isinstance(error, SymlinkLoop):
        return "too many levels of symbolic links"
    return error.strerror or str(error)


def to_disk(path: str, base: str, root: str | None) -> str:
    """The on-disk path of `path` as written in a config.

    `base` is the on-disk directory relative paths resolve from (already under
    `root` when one is given); absolute paths are mapped under `root`. A NUL
    byte ends the path, as it ends the C string nginx and httpd open.
    """
    path = path.split("\x00", 1)[0]
    if root is None:
        return os.path.normpath(os.path.join(base, path))
    if os.path.isabs(path):
        return resolve_links(os.path.join(root, path.lstrip("/")), root)
    return resolve_links(os.path.join(base, path), root)


def _below(root: str, path: str) -> list[str] | None:
    """The components of `path` after it reaches `root` (an absolute, normal path), `..` left in
    place for the caller to stop at the root; None when `path` never passes through `root`.

    Not os.path.abspath(path): it would resolve `<root>/etc/../../../tmp/x` to /tmp/x, out of
    the root, before anyone could stop it there.
    """
    components = os.path.join(os.getcwd(), path).split("/")
    reached = "/"
    for index, component in enumerate(components):
        if reached == root:
            return components[index:]
        if component:
            reached = os.path.normpath(os.path.join(reached, component))
    return [] if reached == root else None


def resolve_links(path: str, root: str) -> str:
    """Follow symlinks in `path` component by component, re-rooting absolute targets under `root`.

    Relative targets are left for the kernel; a chain longer than the kernel's
    limit raises SymlinkLoop.
    """
    root = os.path.abspath(root)
    parts = _below(root, path)
    if parts is None:
        return path
    current = root
    hops = 0
    pending = [p for p in parts if p]
    while pending:
        part = pending.pop(0)
        if part == "..":
            current = os.path.dirname(current) if current != root else root
            continue
        if part == ".":
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > _MAX_LINKS:
                raise SymlinkLoop(f"too many levels of symbolic links: {path}")
            target = os.readlink(candidate)
            if os.path.isabs(target):
                current = root
            pending = [p for p in target.split("/") if p] + pending
            continue
        current = candidate
    return current


def main_under_root(path: str, root: str) -> str:
    """The file named on the command line, followed under `root` when the kernel's way through its
    links would leave it (a checkout's nginx.conf linked to /etc/nginx/nginx.conf): --root means
    nothing outside the root is read, and --fix writes nothing there."""
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, real_root]) == real_root:
        return path
    return resolve_links(path, root)


def read_nonblocking(path: str, limit: int) -> bytes:
    """At most `limit` bytes of a file the caller stat'ed as regular, opened so that nothing blocks:
    a FIFO swapped in since the stat is refused, and a kernel interface that reports itself as a
    regular file (/proc/kmsg) answers EAGAIN instead of waiting forever."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "is not a regular file (a FIFO, socket or device)")
        chunks = []
        while limit > 0:
            chunk = os.read(descriptor, min(limit, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            limit -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def readable_regular_file(path: str) -> str | None:
    """Why `path` cannot be read as a config file, or None when it can.

    Stat before opening: a FIFO or a device named in a config must never block us.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return error.strerror or str(error)
    if stat.S_ISDIR(info.st_mode):
        return "is a directory"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_size > MAX_CONFIG_BYTES:
        return f"is {info.st_size} bytes, larger than sslint reads as a config ({MAX_CONFIG_BYTES})"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def read_text(path: str, limit: int = MAX_CONFIG_BYTES) -> str:
    """The text of a regular file, or raise OSError with a message for the user.

    The file is stat'ed before it is opened, so a FIFO or a device never
    blocks us; bytes that are not UTF-8 survive as surrogate escapes, the way
    Python spells file names, so paths read here still open the right file.
    """
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise OSError(errno.EISDIR, "is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, "not a regular file (FIFO, socket or device)")
    if info.st_size > limit:
        raise OSError(errno.EFBIG, f"larger than {limit // (1024 * 1024)} MiB")
    data = read_nonblocking(path, limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit // (1024 * 1024)} MiB")
    return data.decode("utf-8", "surrogateescape")

