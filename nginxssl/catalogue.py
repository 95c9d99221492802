"""The rule catalogue: rules/<ID>.yaml, one file per rule (ids are a public contract).

Installed wheels carry the catalogue inside the package (nginxssl/rules); a
source checkout reads the top-level rules/ folder.

A lint run needs each rule's id, name and severity, not its `cases` (the
examples the tests materialise), which are nine tenths of the YAML: parsing all
of it cost 0.46 s, the part before `cases:` 0.05 s. So `catalogue()` parses
each file without its top-level `cases:` section and `Rule.cases` parses that
section (with the same YAML parser) the first time it is asked for. What the
files parse to without their cases is kept in rules/catalogue.json
(nginxssl/shipped.py; `python -m nginxssl.catalogue` writes it), read instead
of the YAML while the files are byte for byte the ones it was made from.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from nginxssl import shipped as shipped_data

if TYPE_CHECKING:
    from ruamel.yaml import YAML

SEVERITIES = ("error", "warning", "info")


def at_or_above(severity: str, threshold: str) -> bool:
    """`severity` is `threshold` or graver (--fail-on)."""
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)


_HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    summary: str
    why: str
    fix: str
    servers: tuple[str, ...]
    fixable: str  # "" | "safe" | "unsafe"
    source: str = ""

    @property
    def cases(self) -> tuple[dict, ...]:
        return _cases(self.source) if self.source else ()


class CatalogueError(Exception):
    pass


def rules_dir() -> str:
    for candidate in (os.path.join(_HERE, "rules"), os.path.join(os.path.dirname(_HERE), "rules")):
        if os.path.isdir(candidate):
            return candidate
    raise CatalogueError("the rule catalogue (rules/*.yaml) is not installed")


# The top-level `cases:` key, and the top-level key after its section (if any).
_CASES_KEY = re.compile(r"^cases:", re.MULTILINE)
_TOP_KEY = re.compile(r"^[A-Za-z_][\w-]*:", re.MULTILINE)


def _split_cases(text: str) -> tuple[str, str]:
    """(the text without its top-level `cases:` section, that section)."""
    found = _CASES_KEY.search(text)
    if found is None:
        return text, ""
    after = _TOP_KEY.search(text, found.end())
    end = after.start() if after else len(text)
    return text[:found.start()] + text[end:], text[found.start():end]


def _yaml() -> YAML:
    # imported here: `sslint --version` must not pay for it
    from ruamel.yaml import YAML

    return YAML(typ="safe")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeError) as error:
        raise CatalogueError(f"{path}: {error}") from None


def _load(path: str, text: str) -> object:
    from ruamel.yaml.error import YAMLError

    try:
        return _yaml().load(text)
    except YAMLError as error:
        raise CatalogueError(f"{path}: {error}") from None


@functools.cache
def _cases(path: str) -> tuple[dict, ...]:
    """The `cases:` of one rule file (the tests' examples; a lint run never reads them)."""
    section = _split_cases(_read(path))[1]
    data = _load(path, section) if section else None
    if data is not None and not isinstance(data, dict):
        raise CatalogueError(f"{path}: malformed field 'cases'")
    return tuple((data or {}).get("cases") or ())


def _documents(paths: list[str]) -> list[Any]:
    """Each file's YAML without its cases, parsed as one stream (a parser per file took twice as
    long); file by file when the stream does not split into one document per file, so that an
    error names its file."""
    texts = [_split_cases(_read(path))[0] for path in paths]
    from ruamel.yaml.error import YAMLError

    try:
        documents = list(_yaml().load_all("\n---\n".join(texts)))
    except YAMLError:
        documents = []
    if len(documents) != len(paths):
        documents = [_load(path, text) for path, text in zip(paths, texts)]
    return documents


def _text(value: object) -> str:
    return str(value).strip() if value is not None else ""


def shipped() -> tuple[list[str], str, Callable[[], list[Any]]]:
    """The rule files, the JSON copy of what they parse to (without their cases), and the parse."""
    directory = rules_dir()
    paths = [os.path.join(directory, entry) for entry in sorted(os.listdir(directory)) if entry.endswith(".yaml")]
    return paths, os.path.join(directory, "catalogue.json"), lambda: _documents(paths)


@functools.cache
def catalogue() -> dict[str, Rule]:
    paths, copy, parse = shipped()
    rules: dict[str, Rule] = {}
    for path, data in zip(paths, shipped_data.parsed(paths, copy, parse)):
        try:
            rule = Rule(
                id=data["id"],
                name=data["name"],
                severity=data["severity"],
                summary=_text(data["summary"]),
                why=_text(data.get("why")),
                fix=_text(data.get("fix")),
                servers=tuple(data.get("servers") or ("nginx", "apache")),
                fixable=_text(data.get("fixable") or ""),
                source=path,
            )
        except (KeyError, TypeError) as error:
            raise CatalogueError(f"{path}: missing or malformed field {error}") from None
        if rule.severity not in SEVERITIES:
            raise CatalogueError(f"{path}: severity must be one of {', '.join(SEVERITIES)}")
        if rule.id in rules:
            raise CatalogueError(f"{path}: duplicate rule id {rule.id}")
        rules[rule.id] = rule
    return rules


if __name__ == "__main__":  # after a rule file changed: its copy, made from it
    sources, copy, parse = shipped()
    shipped_data.write(sources, copy, parse())
