"""The content-keyed result cache (shared/DESIGN.md "Speed": ruff's model).

A lint run is remembered as its report's findings and the inputs it read (the whole run: the
trees of the command line, linted together, share trust, certificates and one report). The entry is
found by a key over everything the run was given: sslint's version and code, the settings and
selected rules, the project settings, the judged server build, the target. It holds only while
every input it read is byte for byte what it was: each configuration file, each result of an
`include` glob, each certificate, key, chain, password and trust-anchor file (with the mode and
owner of each, which SSL007 judges), and the listing of every directory the run looked into
(sibling chain files, the free `<stem>.fullchain.pem` name). Checking that costs a read and a
hash of each file: no parse, no certificate, no verifier.

The clock is not an input but a fact checked at every run: an entry records the span of times
within which every verdict that reads the clock (expired, not yet valid, expiring within
--expiry-days, and the days counted in their messages) stays what it was, worked out from the
validity dates of every certificate the run read. Outside it, the run is done again.

Entries are JSON files, one per key, in the user's cache directory (XDG_CACHE_HOME/sslint or
~/.cache/sslint, or --cache-dir): the directory 0700, each file 0600, written whole and moved
into place. JSON, not pickle: reading an entry runs no code, and builds only the finding types
named here. An entry that does not decode, was written by another version, or belongs to
another user (or can be written by one) is ignored and written anew, never trusted. A file per
entry measured faster than sqlite for the one read and one write a run makes (no library to
import: sqlite3 alone costs 5-10 ms of a 20 ms warm run).

Apache targets are not cached: the reader also decides `<IfFile>` sections and `-D` defines from
files that are not configuration files (envvars, sysconfig); until it reports what it looked at,
a cached Apache result could outlive a change there.
"""

from __future__ import annotations

import base64
import dataclasses
import glob
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

from nginxssl import __version__
from nginxssl.model import edits
from nginxssl.model.finding import Finding, Fix, Related
from nginxssl.model.node import Node

if TYPE_CHECKING:  # a warm run reads no certificate: cryptography is imported only on a miss
    from nginxssl.pki.analyse import ChainAnalyser

FORMAT = 1  # the layout of an entry: a new layout ignores every older entry
_READ_LIMIT = 16 * 1024 * 1024 + 1  # what pki/load reads of a file at most (MAX_PKI_BYTES + 1)
# The types an entry may build: a finding, its fix and the fix's edits. Anything else in a file
# makes the entry unreadable, hence ignored.
_TYPES: dict[str, type] = {kind.__name__: kind for kind in (
    Finding, Fix, Related, edits.NewFile, edits.ReplaceArgs, edits.InsertLine, edits.DeleteLine, edits.ExpectChain)}


def default_directory() -> str:
    """Where the cache lives unless --cache-dir says: $XDG_CACHE_HOME/sslint, else ~/.cache/sslint."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sslint")


@dataclass(frozen=True)
class Entry:
    """What a cached run gives back: its findings and what the report says of the tree."""

    findings: tuple[Finding, ...]  # the report's, in its order
    configs: tuple[str, ...]  # the main file of each tree linted
    sites: int


# ---------------------------------------------------------------- the key


def code_fingerprint() -> str:
    """sslint's version and the files of its code and rules: a changed install misses every entry
    (during development the version stays while the code changes)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = [__version__, str(FORMAT)]
    for base, dirs, files in os.walk(package):
        dirs[:] = sorted(name for name in dirs if name != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".yaml", ".json")):
                info = os.stat(os.path.join(base, name))
                parts.append(f"{os.path.relpath(os.path.join(base, name), package)}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def key_of(*parts: object) -> str:
    """The entry's name: a digest of the code and of everything the run was given (reprs of plain data)."""
    digest = hashlib.sha256(code_fingerprint().encode())
    for part in parts:
        digest.update(b"\0" + repr(part).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


# ---------------------------------------------------------------- inputs


def file_state(path: str) -> str:
    """What a run read of `path`: its bytes' digest with mode and owner, where a link points,
    a directory's names, or why there is nothing to read."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        return f"error {getattr(error, 'errno', None)}"
    prefix = ""
    if stat.S_ISLNK(info.st_mode):
        try:
            prefix = f"link {os.readlink(path)} "
            info = os.stat(path)
        except OSError as error:
            return f"{prefix}error {error.errno}"
    owner = f"{stat.S_IMODE(info.st_mode):o} {info.st_uid} {info.st_gid}"
    if stat.S_ISDIR(info.st_mode):
        return f"{prefix}dir {owner} {_digest_names(_listing(path))}"
    if not stat.S_ISREG(info.st_mode):
        return f"{prefix}special {stat.S_IFMT(info.st_mode)} {owner}"
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        return f"{prefix}unreadable {error.errno} {owner}"
    try:
        data = os.read(descriptor, _READ_LIMIT)
        digest = hashlib.sha256(data)
        while len(data) == _READ_LIMIT:  # a configuration file may be larger; read it whole
            data = os.read(descriptor, _READ_LIMIT)
            digest.update(data)
    except OSError as error:
        return f"{prefix}unreadable {error.errno} {owner}"
    finally:
        os.close(descriptor)
    return f"{prefix}file {owner} {info.st_size} {digest.hexdigest()}"


def _listing(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def _digest_names(names: Iterable[str]) -> str:
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def glob_state(pattern: str) -> str:
    """What an `include` pattern names now (the file it names, or every match of a glob)."""
    if glob.has_magic(pattern):
        return "glob " + _digest_names(sorted(glob.glob(pattern)))
    return file_state(pattern)


def include_patterns(nodes: tuple[Node, ...], resolve: Callable[[str], str]) -> Iterator[str]:
    """The on-disk pattern of every nginx `include` in the tree (`resolve` maps an argument as the parser does)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node.directive == "include" and len(node.args) == 1:
            try:
                yield resolve(node.args[0])
            except OSError:  # a symlink loop: the parser reported it; nothing to watch
                pass
        if node.children:
            stack.extend(node.children)


def manifest(files: Iterable[str], patterns: Iterable[str], directories: Iterable[str]) -> dict[str, str]:
    """The state of every input, keyed by kind and path."""
    found: dict[str, str] = {}
    for path in files:
        found.setdefault("f" + path, file_state(path))
    for pattern in patterns:
        found.setdefault("g" + pattern, glob_state(pattern))
    for directory in directories:
        found.setdefault("d" + directory, "dir " + _digest_names(_listing(directory)))
    return found


def unchanged(recorded: Mapping[str, str]) -> bool:
    """Every input is as the entry recorded it."""
    for name, state in recorded.items():
        kind, path = name[0], name[1:]
        if kind == "f":
            now = file_state(path)
        elif kind == "g":
            now = glob_state(path)
        elif kind == "d":
            now = "dir " + _digest_names(_listing(path))
        else:
            return False
        if now != state:
            return False
    return True


# ---------------------------------------------------------------- the clock


def clock_span(validity: Iterable[tuple[datetime, datetime]], now: datetime, expiry_days: int) -> tuple[int, int]:
    """[from, until], microseconds since the epoch: the times at which every clock-dependent verdict
    on certificates with these (notBefore, notAfter) is what it is at `now`.

    A verdict compares the time, in whole seconds, with notBefore and notAfter (pki/chain: expired,
    not yet valid, the path builder's preference, the verifier), with notAfter less --expiry-days
    (SSL103), and counts whole days to or from those dates in messages (checks/served.days: the
    count truncated). So for a certificate not yet valid, expired, or expiring within the
    threshold, the time may move only within its whole day before or after the date; for one
    valid beyond the threshold, only back to notBefore and on to the threshold. Integers, so
    that the edges are exact: a pinned --now often lies on a certificate's date plus whole days."""
    moment = _microseconds(now)
    second, day = 1_000_000, 86_400_000_000
    low, high = -(2**63), 2**63
    for not_before, not_after in validity:
        start, end = _microseconds(not_before), _microseconds(not_after)
        if moment < start:  # not yet valid (start is a whole second): "in N days", N truncated
            ahead = (start - moment) // day
            cell = (start - (ahead + 1) * day + 1, start - ahead * day - (1 if ahead == 0 else 0))
        elif moment >= end + second:  # expired once the whole second is past notAfter: "N days ago"
            ago = (moment - end) // day
            cell = (max(end + ago * day, end + second), end + (ago + 1) * day - 1)
        elif moment > end:  # within notAfter's own second: valid, "in 0 days"
            cell = (end + 1, end + second - 1)
        elif moment < end - expiry_days * day:  # valid, SSL103 silent
            cell = (start, end - expiry_days * day - 1)
        else:  # valid, expiring within the threshold: "in N days"
            left = (end - moment) // day
            cell = (max(start, end - expiry_days * day, end - (left + 1) * day + 1), end - left * day)
        low, high = max(low, cell[0]), min(high, cell[1])
    return low, high


def _microseconds(moment: datetime) -> int:
    moment = _utc(moment)
    return (moment.toordinal() * 86_400 + moment.hour * 3600 + moment.minute * 60 + moment.second) * 1_000_000 \
        + moment.microsecond


def _utc(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------- findings as JSON


def _encode(value: object) -> object:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if isinstance(value, bytes):
        return {"@bytes": base64.b64encode(value).decode("ascii")}
    kind = type(value)
    if dataclasses.is_dataclass(value) and _TYPES.get(kind.__name__) is kind:
        encoded: dict[str, object] = {"@": kind.__name__}
        for item in dataclasses.fields(value):
            encoded[item.name] = _encode(getattr(value, item.name))
        return encoded
    raise TypeError(f"the cache keeps no {kind.__name__}")


def _decode(value: dict) -> object:
    """json's object hook: a dict built from the innermost out (its lists are made tuples here)."""
    if "@bytes" in value:
        return base64.b64decode(value["@bytes"])
    name = value.pop("@", None)
    if name is None:
        return value
    kind = _TYPES[name]  # KeyError for a type the cache does not build: the entry is unreadable
    return kind(**{field: tuple(item) if isinstance(item, list) else item for field, item in value.items()})


def _tuple(value: object) -> tuple:
    if not isinstance(value, list):
        raise ValueError("not a list")
    return tuple(value)


# ---------------------------------------------------------------- the store


class Cache:
    """The entries in one directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, f"{key}.json")

    def get(self, key: str, now: datetime) -> Entry | None:
        """The entry for `key` if it is sslint's, this user's, whole, and every input and the clock still agree."""
        if not self._private_directory(create=False):
            return None
        try:
            descriptor = os.open(self._path(key), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
                return None  # another user's, or one others can write: never trusted
            with os.fdopen(descriptor, "rb", closefd=False) as handle:
                data = handle.read()
        except OSError:
            return None
        finally:
            os.close(descriptor)
        try:
            document = json.loads(data, object_hook=_decode)
            if document.get("format") != FORMAT or document.get("version") != __version__ \
                    or document.get("key") != key:
                return None
            low, high = document["clock"]
            if not low <= _microseconds(now) <= high or not unchanged(document["inputs"]):
                return None
            findings = _tuple(document["findings"])
            configs = _tuple(document["configs"])
            if not all(isinstance(finding, Finding) for finding in findings) \
                    or not all(isinstance(config, str) for config in configs):
                return None
            return Entry(findings, configs, int(document["sites"]))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            # Whatever a torn or foreign file makes json or a constructor raise: not an entry.
            return None

    def put(self, key: str, entry: Entry, inputs: Mapping[str, str], clock: tuple[int, int]) -> None:
        """Remember `entry`; a cache that cannot be written changes nothing but the next run's time."""
        try:
            document = json.dumps({
                "format": FORMAT, "version": __version__, "key": key, "clock": list(clock),
                "inputs": dict(inputs), "configs": list(entry.configs), "sites": entry.sites,
                "findings": _encode(entry.findings),
            }, ensure_ascii=False).encode("utf-8", "surrogateescape")
        except (TypeError, ValueError):  # something the cache does not keep (or cannot): run cold next time
            return
        if not self._private_directory(create=True):
            return
        temporary = os.path.join(self.directory, f".{key}.{os.getpid()}.tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                                 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(document)
            os.replace(temporary, self._path(key))
        except OSError:
            try:
                os.unlink(temporary)
            except OSError:
                pass

    def _private_directory(self, create: bool) -> bool:
        """The directory exists (made 0700 if `create`), is this user's and no one else's to write."""
        if create:
            try:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
            except OSError:
                return False
        try:
            info = os.stat(self.directory)
        except OSError:
            return False
        return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


def recorded(configs: Iterable[tuple[tuple[Node, ...], tuple[str, ...], Callable[[str], str]]],
             referenced: Iterable[str], analyser: ChainAnalyser, now: datetime,
             expiry_days: int) -> tuple[dict[str, str], tuple[int, int]]:
    """The inputs a finished run read and the span of times its verdicts hold, for `Cache.put`:
    `configs` gives each tree's nodes, files and include resolver; `referenced` every file the
    sites name (certificates, keys, chains, password files: a missing one may appear); the
    analyser's loader and sources know every certificate, key and directory read, its trust
    store the anchors."""
    loader, sources, trust = analyser.loader, analyser.sources, analyser.trust
    files: list[str] = []
    patterns: list[str] = []
    for nodes, config_files, resolve in configs:
        files.extend(config_files)
        patterns.extend(include_patterns(nodes, resolve))
        # A file added beside a configuration file may be what a glob or the parser looks for next.
    pki_files = (*loader.paths_read(), *referenced)
    files.extend(pki_files)
    files.extend(trust.sources)
    directories = {os.path.dirname(path) or "." for path in (*files, *pki_files)}
    directories.update(sources.listed_directories())
    certificates = [*loader.certificates(), *trust.anchors]
    span = clock_span(((cert.not_valid_before_utc, cert.not_valid_after_utc) for cert in certificates),
                      now, expiry_days)
    return manifest(files, patterns, sorted(directories)), span
