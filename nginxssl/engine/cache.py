"""The content-keyed result cache (shared/DESIGN.md "Speed": ruff's model).

A lint run is remembered as its report's findings and the inputs it read (the whole run: the
trees of the command line, linted together, share trust, certificates and one report). The entry is
found by a key over everything the run was given: sslint's version and code, the settings and
selected rules, the project settings, the judged server build, the target. It holds only while
every input it read is byte for byte what it was: each configuration file, each result of an
`include` glob, each certificate, key, chain, password and trust-anchor file (with the mode and
owner of each, which SSL007 judges), and the listing of every directory the run looked into
(sibling chain files, the free `<stem>.fullchain.pem` name). Checking that costs a read and a
hash of each file whose stamp moved (device, inode, size, modification and change times: the
change time follows every write and its owner cannot set it back; a file written within 2 s of
the recording is read every time, as git treats "racy" files): no parse, no certificate, no verifier.

The clock is not an input but a fact checked at every run: an entry records the span of times
within which every verdict that reads the clock (expired, not yet valid, expiring within
--expiry-days, and the days counted in their messages) stays what it was, worked out from the
validity dates of every certificate the run read. Outside it, the run is done again.

Entries are JSON files, a few per key, in the user's cache directory (XDG_CACHE_HOME/sslint or
~/.cache/sslint, or --cache-dir): the directory 0700, each file 0600, written whole and moved
into place. JSON, not pickle: reading an entry runs no code, and builds only the finding types
named here; a report rendered from an entry is kept beside it, so a warm run writes it out
without decoding a finding. An entry that does not decode, was written by another version, or belongs to
another user (or can be written by one) is ignored and written anew, never trusted. Files rather than
sqlite: a run makes one lookup and at most one write, and a file needs no library (importing
sqlite3 alone costs 5 ms; a warm run of a 5,000-block tree takes about 140 ms in all).

A tree's chain diagnoses are kept beside its report, under a key without the rules or the
build (a lint of one tree): they stand while every file the analysis read (certificates, keys,
chains, sibling files, ssl_trusted_certificate and password files, the trust store) and every
directory it looked into is unchanged, and the configuration asks the same question of them
(ChainAnalyser.question: the same pairs of files, as written and on disk, served the same way).
An edit of a site file that leaves its certificates alone is then linted without diagnosing a
chain again. They are a pickle (certificates by their DER, engine/parallel.py), read back
with nothing but sslint's own data classes allowed: a forged file builds nothing else.

An Apache tree is cached once its reader has said what else it asked of the file system
(Config.consulted): the envvars file and the distribution's service flags (read, or looked for),
whether each <IfFile> path and each include target is there and what it is, and the names in each
directory an include's wildcard or a directory include listed. A lone Apache site file (whose
ServerRoot is guessed from the directories above it) and an Apache tree under --root (whose
links the reader resolves inside the root) are not cached.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import glob
import hashlib
import io
import json
import os
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Iterator, Mapping

from nginxssl import __version__

if TYPE_CHECKING:  # a warm run that finds its report imports none of these: 25 ms of a 100 ms run
    from nginxssl.engine.parallel import Certificates
    from nginxssl.model.finding import Finding
    from nginxssl.model.node import Config, Node
    from nginxssl.model.site import Site
    from nginxssl.pki.analyse import ChainAnalyser, ServedChain

FORMAT = 1  # the layout of an entry: a new layout ignores every older entry
_READ_LIMIT = 16 * 1024 * 1024 + 1  # what pki/load reads of a file at most (MAX_PKI_BYTES + 1)
_TYPES: dict[str, type] = {}  # by name, the types an entry may build (_types)
_FIELDS: dict[type, tuple[str, ...]] = {}  # each of those types' field names, asked once (dataclasses.fields is slow)


def default_directory() -> str:
    """Where the cache lives unless --cache-dir says: $XDG_CACHE_HOME/sslint, else ~/.cache/sslint."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sslint")


# ---------------------------------------------------------------- the key


@functools.cache  # once a process: a run names two entries (its report, its tree's diagnoses)
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


def glob_state(pattern: str, since: int | None = None) -> str:
    """What an `include` pattern names now (the file it names, or every match of a glob); with
    `since`, CHANGED_WHILE_READ for a file written since then, or a glob where a file was added or
    removed since then: the deepest directory before the first wildcard, or a match's directory,
    changed (manifest)."""
    if not glob.has_magic(pattern):
        return _state_since(pattern, file_state, since)
    matches = sorted(glob.glob(pattern))
    if since is not None:
        head = pattern
        while glob.has_magic(head):
            head = os.path.dirname(head)
        if any(written_since(directory, since) for directory in {head or ".", *map(os.path.dirname, matches)}):
            return CHANGED_WHILE_READ
    return "glob " + _digest_names(matches)


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


def stamp(path: str) -> str | None:
    """What identifies this version of a regular file without reading it: device, inode, size,
    and the modification and change times (the change time moves with every write and cannot
    be set back by the file's owner); None for a link or anything else."""
    try:
        info = os.lstat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_mode}"


# A file changed this shortly before it was recorded may change again within the same tick of
# the file system's clock, keeping its stamp (git's "racy" files): such a file is always read.
_RACY_NS = 2_000_000_000


def manifest(files: Iterable[str], patterns: Iterable[str], directories: Iterable[str],
             known: tuple[Mapping[str, str], Mapping[str, str]] = ({}, {}),
             kinds: Iterable[str] = (), since: int | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """The state of every input, keyed by kind and path, and the stamps of the files whose stamp
    is enough to know them unchanged (`unchanged` reads the others, and those whose stamp moved).
    `known`: the states and stamps an earlier entry recorded (Cache.previous): a file whose stamp
    is still the one recorded there keeps its recorded state, unread (after an edit of one file
    of a 5,000-site tree, the other 2,500 files are not read and hashed again).
    `since` (time.time_ns() when the run began): an input written since then is recorded as
    CHANGED_WHILE_READ, never as its state now, which may not be the one the run read."""
    found: dict[str, str] = {}
    stamps: dict[str, str] = {}
    known_states, known_stamps = known
    racy = time.time_ns() - _RACY_NS
    for path in files:
        name = "f" + path
        if name in found:
            continue
        before = stamp(path)
        recorded_stamp = known_stamps.get(name)
        if before is not None and before == recorded_stamp and name in known_states:
            # Unchanged since an earlier run recorded it: not written during this one either.
            found[name] = known_states[name]
            stamps[name] = before
            continue
        found[name] = _state_since(path, file_state, since)
        if before is not None and before == stamp(path) and int(before.split(":")[4]) < racy \
                and int(before.split(":")[3]) < racy:
            stamps[name] = before
    for pattern in patterns:
        if "g" + pattern not in found:
            found["g" + pattern] = glob_state(pattern, since)
    for directory in directories:
        found.setdefault("d" + directory, _state_since(directory, _directory_state, since))
    for path in kinds:  # `kinds`: paths whose presence and kind decide the report (kind_of)
        found.setdefault("t" + path, _state_since(path, kind_of, since))
    return found, stamps


# What the cache records of an input written while the run read it: no state a file has, so no
# entry made from it ever holds (Cache.put and keep_diagnoses do not even keep one).
CHANGED_WHILE_READ = "changed while read"
# The kernel stamps a write with a clock that lags the real time by up to one tick (1-10 ms);
# a file system that keeps whole seconds (ext3, FAT) cannot say within two.
_TICK_NS = 20_000_000


def _state_since(path: str, state: Callable[[str], str], since: int | None) -> str:
    """`state(path)`, or CHANGED_WHILE_READ for a path written at or after `since`."""
    return CHANGED_WHILE_READ if since is not None and written_since(path, since) else state(path)


def _directory_state(directory: str) -> str:
    return "dir " + _digest_names(_listing(directory))


def written_since(path: str, since: int) -> bool:
    """`path` (a link, or what it points to) had its inode changed at or after `since`: a write, a
    chmod, a rename onto it, a name added to or removed from a directory. The change time, which
    the file's owner cannot set back; as late as the clock allows, never too early."""
    for follow in (False, True):
        try:
            changed = os.stat(path, follow_symlinks=follow).st_ctime_ns
        except (OSError, ValueError):
            continue  # missing (or a dangling link's target): what the directory's change time says
        margin = _RACY_NS if changed % 1_000_000_000 == 0 else _TICK_NS
        if changed >= since - margin:
            return True
    return False


def unchanged(recorded: Mapping[str, str], stamps: Mapping[str, str]) -> bool:
    """Every input is as the entry recorded it: the same bytes (or, where the stamp says the
    file was not written since, the same file), the same glob matches, the same directory names."""
    for name, state in recorded.items():
        kind, path = name[0], name[1:]
        if kind == "f":
            known = stamps.get(name)
            if known is not None and known == stamp(path):
                continue
            now = file_state(path)
        elif kind == "g":
            now = glob_state(path)
        elif kind == "d":
            now = _directory_state(path)
        elif kind == "t":
            now = kind_of(path)
        else:
            return False
        if now != state:
            return False
    return True


def kind_of(path: str) -> str:
    """Whether something is at `path`, and what (following links): what <IfFile> and an include's
    target ask of it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as error:
        return f"error {getattr(error, 'errno', None)}"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else f"special {stat.S_IFMT(mode)}"


# Config.consulted's "what" as the kind of a manifest entry.
_CONSULTED = {"file": "f", "kind": "t", "listing": "d"}


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


def _types() -> dict[str, type]:
    """The types an entry may build: a finding, its fix and the fix's edits. Any other name in a
    file makes the entry unreadable, hence ignored."""
    if not _TYPES:
        from nginxssl.model import edits
        from nginxssl.model.finding import Finding, Fix, Related

        _TYPES.update((kind.__name__, kind) for kind in (
            Finding, Fix, Related, edits.NewFile, edits.ReplaceArgs, edits.InsertLine, edits.DeleteLine,
            edits.ExpectChain))
    return _TYPES


def _encode(value: object) -> object:
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, tuple):
        return [item if item is None or type(item) in _PLAIN else _encode(item) for item in value]
    if isinstance(value, (str, int, float)):  # a subclass of one (an enum's value, say)
        return value
    if isinstance(value, bytes):
        return {"@bytes": base64.b64encode(value).decode("ascii")}
    kind = type(value)
    names = _FIELDS.get(kind)
    if names is None:
        if not dataclasses.is_dataclass(value) or _types().get(kind.__name__) is not kind:
            raise TypeError(f"the cache keeps no {kind.__name__}")
        names = _FIELDS[kind] = tuple(item.name for item in dataclasses.fields(value))
    encoded: dict[str, object] = {"@": kind.__name__}
    for name in names:
        item = getattr(value, name)
        # Most fields are strings and numbers: kept as they are without a call (7,000 findings' worth).
        encoded[name] = item if item is None or type(item) in _PLAIN else _encode(item)
    return encoded


_PLAIN = frozenset((str, int, float, bool))
_CHUNK = 1000  # findings encoded at a time


def _findings_json(findings: tuple[Finding, ...]) -> Iterator[bytes]:
    """The findings as one JSON list, a thousand at a time (the 70,000 of a 50,000-site tree,
    encoded whole, held 200 MB at once). ASCII with \\u escapes: json's C encoder writes that a
    third faster than UTF-8, and a lone surrogate (a file name's stray byte) comes back as it was."""
    yield b"["
    for start in range(0, len(findings), _CHUNK):
        text = json.dumps([_encode(finding) for finding in findings[start:start + _CHUNK]])
        yield (b"," if start else b"") + text[1:-1].encode("ascii")
    yield b"]"


def _decode(value: dict) -> object:
    """json's object hook: a dict built from the innermost out (its lists are made tuples here)."""
    if "@bytes" in value:
        return base64.b64decode(value["@bytes"])
    name = value.pop("@", None)
    if name is None:
        return value
    kind = _types()[name]  # KeyError for a type the cache does not build: the entry is unreadable
    return kind(**{field: tuple(item) if isinstance(item, list) else item for field, item in value.items()})


def _tuple(value: object) -> tuple:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return tuple(value)


# ---------------------------------------------------------------- the store


@dataclass(frozen=True)
class Hit:
    """An entry whose inputs and clock still agree: what the report says of the run, and where
    its findings and rendered reports lie (read only if asked: a report rendered before is
    written out as it was, without decoding a finding)."""

    key: str
    generation: str  # names this entry's companion files: a rewritten entry never meets old ones
    configs: tuple[str, ...]
    sites: int
    severities: tuple[str, ...]  # of the findings, for --fail-on


class Cache:
    """The entries in one directory: `<key>.json` holds what decides whether the entry holds,
    `<key>.<generation>.findings.json` the findings, `<key>.<generation>.<rendering>.out` each
    report rendered from them (by format and options)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._accepted: dict[str, dict] = {}  # the diagnoses entries `diagnoses` found standing, by key
        # What the entry `get` read last recorded (states, stamps), whether or not it still held.
        self.previous: tuple[Mapping[str, str], Mapping[str, str]] = ({}, {})

    def _path(self, key: str, *parts: str) -> str:
        return os.path.join(self.directory, ".".join((key, *parts)) + ("" if parts and parts[-1] in ("out", "pickle")
                                                                          else ".json"))

    def get(self, key: str, now: datetime) -> Hit | None:
        """The entry for `key` if it is sslint's, this user's, whole, and every input and the clock
        still agree. An entry of sslint's that no longer holds leaves what it recorded (`previous`)."""
        document = self._header(key)
        if document is None:
            return None
        try:
            inputs, stamps = document["inputs"], document["stamps"]
            if isinstance(inputs, dict) and isinstance(stamps, dict) \
                    and all(isinstance(value, str) for value in (*inputs.values(), *stamps.values())):
                self.previous = (inputs, stamps)
            low, high = document["clock"]
            if not low <= _microseconds(now) <= high or not unchanged(document["inputs"], document["stamps"]):
                return None
            configs, severities = _tuple(document["configs"]), _tuple(document["severities"])
            if not all(isinstance(item, str) for item in (*configs, *severities)):
                return None
            return Hit(key, str(document["generation"]), configs, int(document["sites"]), severities)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            # Whatever a torn or foreign file makes json raise: not an entry.
            return None

    def _header(self, key: str) -> dict | None:
        """The header file of the entry `key`, if it is this user's alone and this sslint's (format, version, key)."""
        if not self._private_directory(create=False):
            return None
        data = self._read(self._path(key))
        if data is None:
            return None
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):  # torn, or not JSON at all
            return None
        if not isinstance(document, dict) or document.get("format") != FORMAT \
                or document.get("version") != __version__ or document.get("key") != key:
            return None
        return document

    def findings(self, hit: Hit) -> tuple[Finding, ...] | None:
        """The findings of an entry `get` found (None if their file is gone or torn)."""
        data = self._read(self._path(hit.key, hit.generation, "findings"))
        if data is None:
            return None
        try:
            findings = _tuple(json.loads(data, object_hook=_decode))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None  # as in get(); a KeyError is a type the cache does not build
        finding_type = _types()["Finding"]
        return findings if all(isinstance(finding, finding_type) for finding in findings) else None

    def rendered_file(self, hit: Hit, rendering: str) -> BinaryIO | None:
        """The report rendered from the entry's findings with `rendering` (format and options), if
        kept, as a file open for reading, to be copied a piece at a time: read whole, a 50,000-site
        report (67 MB), decoded and encoded again on its way out, was a warm run's peak of 292 MiB."""
        return self._open(self._rendered_path(hit, rendering))

    def _rendered_path(self, hit: Hit, rendering: str) -> str:
        return self._path(hit.key, hit.generation, _digest_names([rendering])[:16], "out")

    @contextlib.contextmanager
    def rendering_kept(self, hit: Hit, rendering: str) -> Iterator[Callable[[str], None]]:
        """A write function whose text is kept as the report rendered with `rendering`, once the block
        ends without an error: the report is written here as it is rendered, never held whole (70 MB
        of JSON on a 50,000-site tree). A cache that cannot be written keeps nothing, silently."""
        path = self._rendered_path(hit, rendering)
        temporary = f"{path}.{os.getpid()}.tmp"
        handle: io.TextIOWrapper | None = None
        try:
            handle = io.TextIOWrapper(_created(temporary), encoding="utf-8", errors="surrogatepass",
                                      newline="")
        except OSError:
            pass
        failed = handle is None

        def write(text: str) -> None:
            nonlocal failed
            if not failed and handle is not None:
                try:
                    handle.write(text)
                except (OSError, UnicodeError):  # a full disk, say: the next run renders again
                    failed = True

        done = False
        try:
            yield write
            done = True
        finally:
            if handle is not None:
                try:
                    handle.close()
                    if done and not failed:
                        os.replace(temporary, path)
                        temporary = ""
                except OSError:
                    pass
                if temporary:
                    try:
                        os.unlink(temporary)
                    except OSError:
                        pass

    def put(self, key: str, findings: tuple[Finding, ...], configs: tuple[str, ...], sites: int,
            inputs: tuple[Mapping[str, str], Mapping[str, str]], clock: tuple[int, int]) -> Hit | None:
        """Remember a run; a cache that cannot be written changes nothing but the next run's time.
        Not a run that read an input while it was being written: no later run could match it."""
        if CHANGED_WHILE_READ in inputs[0].values():
            return None
        generation = os.urandom(8).hex()
        hit = Hit(key, generation, configs, sites, tuple(sorted({finding.severity for finding in findings})))
        try:
            header = json.dumps({
                "format": FORMAT, "version": __version__, "key": key, "generation": generation, "clock": list(clock),
                "inputs": dict(inputs[0]), "stamps": dict(inputs[1]), "configs": list(configs), "sites": sites, "severities": list(hit.severities),
            }, ensure_ascii=False).encode("utf-8", "surrogateescape")
        except (TypeError, ValueError):  # something the cache does not keep (or cannot): run cold next time
            return None
        if not self._private_directory(create=True):
            return None
        self._drop_companions(key)
        # The findings first: a header never names findings that are not there yet.
        try:
            if not self._write(self._path(key, generation, "findings"), _findings_json(findings)):
                return None
        except (TypeError, ValueError):  # something the cache does not keep (or cannot): run cold next time
            return None
        return hit if self._write(self._path(key), (header,)) else None

    # -- the chain diagnoses of a tree, kept apart from its report: they stand while the certificate,
    # key, chain, sibling and trust files are what they were, whatever else the configuration changed

    def diagnoses(self, key: str, question: str, now: datetime, certificates: Certificates
                  ) -> tuple[dict[tuple, ServedChain], tuple[str, ...], tuple[str, ...]] | None:
        """The diagnoses kept for `key` if they answer `question` (ChainAnalyser.question), every
        file they were made from is unchanged, and the clock is within their span; with those files
        and the directories looked into (what a result made from them watches in turn)."""
        document = self._header(key)
        if document is None or document.get("question") != question:
            return None
        try:
            low, high = document["clock"]
            if not low <= _microseconds(now) <= high or not unchanged(document["inputs"], document["stamps"]):
                return None
            names = [str(name) for name in document["inputs"]]
            payload = self._read(self._path(key, str(document["generation"]), "pickle"))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None
        if payload is None:
            return None
        from nginxssl.engine.parallel import loads

        try:
            diagnosed = loads(payload, certificates)
        except Exception:  # noqa: BLE001 (a torn or forged payload: pickle's errors have no end, as parallel.py says)
            return None
        if not isinstance(diagnosed, dict):
            return None
        document["count"] = len(diagnosed)
        self._accepted[key] = document
        return (diagnosed, tuple(name[1:] for name in names if name[:1] == "f"),
                tuple(name[1:] for name in names if name[:1] == "d"))

    def keep_diagnoses(self, key: str, question: str, diagnosed: Mapping[tuple, ServedChain],
                       certificates: Certificates, inputs: tuple[Mapping[str, str], Mapping[str, str]],
                       clock: tuple[int, int]) -> None:
        """Keep a tree's diagnoses with the question they answer and the files they were made from.
        The entry this run found standing (`diagnoses`) is kept as it is when nothing was diagnosed
        beside it, only its stamps brought up to date (a file written just before a run is read
        at every check until a later run finds its stamp settled)."""
        accepted = self._accepted.get(key)
        if accepted is not None and accepted.get("question") == question and accepted.get("count") == len(diagnosed) \
                and set(accepted.get("inputs") or ()) == set(inputs[0]):
            # A stamp stands for the state it was taken with: only for a file still in the state recorded.
            states = accepted["inputs"]
            stamps = dict(accepted.get("stamps") or {})
            fresh = {name: stamp for name, stamp in inputs[1].items()
                     if name not in stamps and inputs[0].get(name) == states.get(name)}
            if fresh:
                self._write_diagnoses_header(key, question, str(accepted.get("generation")),
                                             (states, {**stamps, **fresh}), tuple(accepted["clock"]))
            return
        if CHANGED_WHILE_READ in inputs[0].values():  # as in put: no later run could match it
            return
        from nginxssl.engine.parallel import dumps

        generation = os.urandom(8).hex()
        try:
            payload = dumps(dict(diagnosed), certificates)
        except Exception:  # noqa: BLE001 (something that does not pickle: the next run diagnoses again)
            return
        if not self._private_directory(create=True):
            return
        self._drop_companions(key)
        if self._write(self._path(key, generation, "pickle"), (payload,)):
            self._write_diagnoses_header(key, question, generation, inputs, clock)

    def _write_diagnoses_header(self, key: str, question: str, generation: str,
                                inputs: tuple[Mapping[str, str], Mapping[str, str]], clock: tuple[int, ...]) -> None:
        try:
            header = json.dumps({"format": FORMAT, "version": __version__, "key": key, "question": question,
                                 "generation": generation, "clock": list(clock), "inputs": dict(inputs[0]),
                                 "stamps": dict(inputs[1])}, ensure_ascii=False).encode("utf-8", "surrogateescape")
        except (TypeError, ValueError):
            return
        self._write(self._path(key), (header,))

    def _drop_companions(self, key: str) -> None:
        """An entry's older companion files (findings, reports, diagnoses of another generation)."""
        for name in _listing(self.directory):
            if name.startswith(key + ".") and name.count(".") > 1:
                try:
                    os.unlink(os.path.join(self.directory, name))
                except OSError:
                    pass

    def _read(self, path: str) -> bytes | None:
        """The file's bytes if it is a regular file of this user's that no one else can write."""
        handle = self._open(path)
        if handle is None:
            return None
        with handle:
            try:
                return handle.read()
            except OSError:
                return None

    def _open(self, path: str) -> BinaryIO | None:
        """The file open for reading if it is a regular file of this user's that no one else can write."""
        try:
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
                os.close(descriptor)
                return None  # another user's, or one others can read or write: never trusted
            return os.fdopen(descriptor, "rb")
        except OSError:
            os.close(descriptor)
            return None

    def _write(self, path: str, chunks: Iterable[bytes]) -> bool:
        """`chunks` in `path`, 0600, written whole and then moved into place (whatever making a
        chunk raises, after the temporary file is removed)."""
        temporary = f"{path}.{os.getpid()}.tmp"
        try:
            created = _created(temporary)
        except OSError:
            return False
        try:
            with created as handle:
                for chunk in chunks:
                    handle.write(chunk)
            os.replace(temporary, path)
            return True
        except BaseException as error:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            if isinstance(error, OSError):
                return False
            raise

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


def _created(temporary: str) -> BinaryIO:
    """A new file at `temporary`, 0600, open for writing: never one that is there already, nor a link."""
    return os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600),
                     "wb")


def recorded(configs: Iterable[tuple[Config, Callable[[str], str]]],
             referenced: Iterable[str], analyser: ChainAnalyser, now: datetime,
             expiry_days: int, watched: Iterable[str] = (),
             known: tuple[Mapping[str, str], Mapping[str, str]] = ({}, {}),
             since: int | None = None) -> tuple[tuple[dict[str, str], dict[str, str]],
                                                                                   tuple[int, int]]:
    """The inputs a finished run read and the span of times its verdicts hold, for `Cache.put`:
    `configs` gives each tree's configuration (its files, nodes, and what else the reader
    consulted: Config.consulted) and include resolver; `referenced` every file the
    sites name (certificates, keys, chains, password files: a missing one may appear); the
    analyser's loader and sources know every certificate, key and directory read, its trust
    store the anchors; `watched` more glob patterns whose matches decide the report (the temporaries
    a killed --fix leaves, which the lint reports); `since`: when the run began (manifest)."""
    loader, trust = analyser.loader, analyser.trust
    files: list[str] = []
    patterns: list[str] = []
    kinds: list[str] = []
    listed: list[str] = []
    for config, resolve in configs:
        files.extend(config.files)
        if config.server == "nginx":
            patterns.extend(include_patterns(config.nodes, resolve))
        for what, path in config.consulted:  # Apache: what its reader asked of the file system
            {"f": files, "t": kinds, "d": listed}[_CONSULTED[what]].append(path)
        # A file added beside a configuration file may be what a glob or the parser looks for next.
    files_read, directories_read = analyser.inputs_read()
    pki_files = dict.fromkeys((*files_read, *referenced))  # thousands of sites name a few hundred files
    files.extend(pki_files)
    files.extend(trust.sources)
    directories = {os.path.dirname(path) or "." for path in dict.fromkeys(files)}
    directories.update(directories_read)
    directories.update(listed)
    patterns.extend(watched)
    certificates = [*loader.certificates(), *trust.anchors]
    span = clock_span(((cert.not_valid_before_utc, cert.not_valid_after_utc) for cert in certificates),
                      now, expiry_days)
    return manifest(files, patterns, sorted(directories), known, kinds, since), span


def diagnoses_inputs(analyser: ChainAnalyser, sites: Iterable[Site],
                     run_inputs: tuple[Mapping[str, str], Mapping[str, str]],
                     since: int | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """What a tree's diagnoses were made from, for Cache.keep_diagnoses: every file the analysis
    read (certificates, keys, chains, siblings, ssl_trusted_certificate files), every file a
    served pair names (a missing one may appear) and every password file, the trust store's files,
    and the directories looked into; each as the run's own record has it (`run_inputs`, from
    `recorded`), else recorded now (`since`: when the run began, as for manifest)."""
    files_read, directories = analyser.inputs_read()
    named = [ref.path for site in sites for ref in site.files_named if ref.path]
    files = dict.fromkeys((*files_read, *named, *analyser.trust.sources))
    found, stamps = run_inputs
    wanted = [*("f" + path for path in files), *("d" + directory for directory in directories)]
    missing = [name for name in wanted if name not in found]
    extra_found, extra_stamps = manifest((name[1:] for name in missing if name[0] == "f"), (),
                                         (name[1:] for name in missing if name[0] == "d"), since=since)
    kept = {name: found.get(name) or extra_found[name] for name in wanted}
    kept_stamps = {name: stamps.get(name) or extra_stamps.get(name) for name in wanted
                   if name in stamps or name in extra_stamps}
    return kept, {name: stamp for name, stamp in kept_stamps.items() if stamp is not None}
