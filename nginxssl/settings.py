"""Project settings from `.sslint.yaml` or `[tool.sslint]` in pyproject.toml.

Searched upward from the first linted path. Keys use the command line's
spelling (`expiry-days`, `ca-files`); an unknown key or a wrong type is an
error naming the file and line. Paths in the file are relative to the file.
Command-line options override the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

CONFIG_NAMES = (".sslint.yaml", ".sslint.yml")
SEVERITIES = ("error", "warning", "info")


class SettingsError(Exception):
    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass(frozen=True)
class ProjectSettings:
    source: str | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    fail_on: str | None = None
    expiry_days: int | None = None
    ca_files: tuple[str, ...] = ()
    intermediates: tuple[str, ...] = ()
    system_trust: bool | None = None
    root: str | None = None
    server: str | None = None
    require_keys: bool | None = None
    server_version: str | None = None
    per_path_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def ignored_at(self, path: str) -> tuple[str, ...]:
        """Rule ids (or prefixes) ignored for findings in `path`."""
        if not self.per_path_ignores or self.source is None:
            return ()
        base = os.path.dirname(os.path.abspath(self.source))
        relative = os.path.relpath(os.path.abspath(path), base)
        found: list[str] = []
        for pattern, rules in self.per_path_ignores:
            if _glob_match(pattern, relative):
                found.extend(rules)
        return tuple(found)


def server_version_problem(text: str) -> str | None:
    """What is wrong with a --server-version / server-version value, or None."""
    from nginxssl.model.build import parse_build

    if text.strip().lower() in ("none", "unknown") or parse_build("nginx", text) is not None:
        return None
    return "no version number in it (e.g. 1.22.1, 'nginx/1.22.1 OpenSSL/3.0.13', or none)"


def _glob_match(pattern: str, path: str) -> bool:
    """`**` crosses directories, `*` does not (like .gitignore and ruff's per-file-ignores)."""
    regex = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            regex += ".*"
            index += 2
        elif pattern[index] == "*":
            regex += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            regex += "[^/]"
            index += 1
        else:
            regex += re.escape(pattern[index])
            index += 1
    return re.fullmatch(regex, path) is not None


def find_settings(start: str) -> str | None:
    """The nearest .sslint.yaml, or pyproject.toml with a [tool.sslint] table, at or above `start`."""
    directory = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start) or ".")
    while True:
        for name in CONFIG_NAMES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
        pyproject = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(pyproject) and _has_tool_table(pyproject):
            return pyproject
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _has_tool_table(path: str) -> bool:
    try:
        if os.stat(path).st_size == 0:  # empty, or a link to a kernel interface (/proc/kmsg) that blocks a reader
            return False
        with open(path, encoding="utf-8") as handle:
            return any(line.strip().startswith("[tool.sslint") for line in handle)
    except (OSError, UnicodeDecodeError):
        return False


def load_settings(path: str) -> ProjectSettings:
    if path.endswith("pyproject.toml"):
        data, lines = _read_pyproject(path)
    else:
        data, lines = _read_yaml(path)
    return _build(path, data, lines)


def _read_yaml(path: str) -> tuple[dict, dict[str, int]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        if os.stat(path).st_size == 0:  # empty, or a link to a kernel interface (/proc/kmsg) that blocks a reader
            return {}, {}
        with open(path, encoding="utf-8") as handle:
            data: Any = YAML(typ="rt").load(handle)
    except MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else 1
        raise SettingsError(path, line, f"not valid YAML: {error.problem}") from None
    except (YAMLError, OSError, UnicodeDecodeError) as error:
        raise SettingsError(path, 1, f"cannot read: {error}") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise SettingsError(path, 1, "must be a mapping of settings (key: value)")
    lines = {}
    for key in data:
        try:
            lines[key] = data.lc.key(key)[0] + 1  # type: ignore[attr-defined]  # ruamel's CommentedMap knows its lines
        except (AttributeError, KeyError, TypeError):
            lines[key] = 1
    return dict(data), lines


def _read_pyproject(path: str) -> tuple[dict, dict[str, int]]:
    import tomllib

    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        raise SettingsError(path, int(match.group(1)) if match else 1, f"not valid TOML: {error}") from None
    except OSError as error:
        raise SettingsError(path, 1, f"cannot read: {error}") from None
    data = document.get("tool", {}).get("sslint", {})
    if not isinstance(data, dict):
        raise SettingsError(path, 1, "[tool.sslint] must be a table")
    # tomllib keeps no positions: find each key's line in the text for messages.
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read().splitlines()
    lines = {}
    for key in data:
        lines[key] = next((n for n, line in enumerate(text, 1) if re.match(rf"\s*{re.escape(key)}\s*=", line)), 1)
    return data, lines


_KEYS = {
    "select": list, "ignore": list, "severity": dict, "fail-on": str, "expiry-days": int, "ca-files": list,
    "intermediates": list, "system-trust": bool, "root": str, "server": str, "require-keys": bool,
    "per-path-ignores": dict, "server-version": str,
}


def _build(path: str, data: dict[str, Any], lines: dict[str, int]) -> ProjectSettings:
    base = os.path.dirname(os.path.abspath(path))
    values: dict = {"source": path}

    def fail(key: str, message: str) -> SettingsError:
        return SettingsError(path, lines.get(key, 1), message)

    for key, value in data.items():
        expected = _KEYS.get(str(key))
        if expected is None:
            known = ", ".join(sorted(_KEYS))
            raise fail(key, f"unknown setting {key!r} (known: {known})")
        if expected is int and isinstance(value, bool) or not isinstance(value, expected):
            raise fail(key, f"{key} must be a {expected.__name__}, not {type(value).__name__}")
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            raise fail(key, f"{key} must be a list of strings")
    for key in ("select", "ignore"):
        if key in data:
            values[key] = tuple(str(item).upper() for item in data[key])
    if "severity" in data:
        severity = {}
        for rule, level in data["severity"].items():
            if level not in SEVERITIES:
                raise fail("severity", f"severity of {rule}: {level!r} is not one of {', '.join(SEVERITIES)}")
            severity[str(rule).upper()] = level
        values["severity"] = severity
    if "fail-on" in data:
        if data["fail-on"] not in SEVERITIES:
            raise fail("fail-on", f"fail-on must be one of {', '.join(SEVERITIES)}")
        values["fail_on"] = data["fail-on"]
    if "expiry-days" in data:
        if data["expiry-days"] < 0:
            raise fail("expiry-days", "expiry-days must be 0 or more")
        values["expiry_days"] = data["expiry-days"]
    for key, attribute in (("ca-files", "ca_files"), ("intermediates", "intermediates")):
        if key in data:
            values[attribute] = tuple(os.path.join(base, item) for item in data[key])
    if "root" in data:
        values["root"] = os.path.join(base, data["root"])
    if "server" in data:
        if data["server"] not in ("nginx", "apache"):
            raise fail("server", "server must be nginx or apache")
        values["server"] = data["server"]
    if "server-version" in data:
        problem = server_version_problem(data["server-version"])
        if problem:
            raise fail("server-version", f"server-version {data['server-version']!r}: {problem}")
        values["server_version"] = data["server-version"]
    if "system-trust" in data:
        values["system_trust"] = data["system-trust"]
    if "require-keys" in data:
        values["require_keys"] = data["require-keys"]
    if "per-path-ignores" in data:
        entries = []
        for pattern, rules in data["per-path-ignores"].items():
            if isinstance(rules, str):
                rules = [rules]
            if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
                raise fail("per-path-ignores", f"per-path-ignores[{pattern!r}] must be a list of rule ids")
            entries.append((str(pattern), tuple(rule.upper() for rule in rules)))
        values["per_path_ignores"] = tuple(entries)
    return ProjectSettings(**values)


# The directives through which a configuration names other files: an absolute path in one of them
# is the server's own file system (nginx and Apache alike).
_NAMED_PATH = re.compile(
    r"""^[ \t]*(?:include|includeoptional|ssl_certificate|ssl_certificate_key|ssl_trusted_certificate|"""
    r"""sslcertificatefile|sslcertificatekeyfile|sslcertificatechainfile|serverroot)[ \t]+["']?(/[^\s;"'#]+)""",
    re.IGNORECASE | re.MULTILINE)
_GLOB = re.compile(r"[*?\[]")


def mirrored_root(main: str) -> tuple[str, str] | None:
    """(checkout, path) when the configuration `main` lives in a copy of a server's file system (a config
    repository holding etc/nginx/...) and names an absolute `path` that the copy mirrors: without
    --root, sslint would read the machine's own /etc/nginx instead of the checkout's. None when `main`
    names no such path, or is the machine's own (its mirror is the root directory itself)."""
    try:
        with open(main, encoding="utf-8", errors="replace") as handle:
            text = handle.read(1_000_000)
    except OSError:
        return None
    start = os.path.dirname(os.path.abspath(main))
    for match in _NAMED_PATH.finditer(text):
        named = match.group(1)
        fixed = _GLOB.split(named, 1)[0]  # the part before any wildcard: a directory that must exist
        fixed = fixed if not _GLOB.search(named) else os.path.dirname(fixed.rstrip("/")) or "/"
        if fixed in ("", "/"):
            continue
        directory = start
        while os.path.dirname(directory) != directory:
            if os.path.exists(directory + fixed) and not os.path.samefile(directory, "/"):
                # The copy holds this very configuration at the place the path names it from.
                if os.path.abspath(main).startswith(directory + "/"):
                    return directory, named
            directory = os.path.dirname(directory)
    return None
