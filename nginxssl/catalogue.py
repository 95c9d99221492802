"""The rule catalogue: rules/<ID>.yaml, one file per rule (ids are a public contract).

Installed wheels carry the catalogue inside the package (nginxssl/rules); a
source checkout reads the top-level rules/ folder.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

SEVERITIES = ("error", "warning", "info")
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
    cases: tuple[dict, ...] = field(default=(), repr=False, compare=False)
    source: str = ""


class CatalogueError(Exception):
    pass


def rules_dir() -> str:
    for candidate in (os.path.join(_HERE, "rules"), os.path.join(os.path.dirname(_HERE), "rules")):
        if os.path.isdir(candidate):
            return candidate
    raise CatalogueError("the rule catalogue (rules/*.yaml) is not installed")


def _text(value: object) -> str:
    return str(value).strip() if value is not None else ""


@functools.cache
def catalogue() -> dict[str, Rule]:
    from ruamel.yaml import YAML  # imported here: `sslint --version` must not pay for it
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="safe")
    directory = rules_dir()
    rules: dict[str, Rule] = {}
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".yaml"):
            continue
        path = os.path.join(directory, entry)
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.load(handle)
        except (OSError, YAMLError) as error:
            raise CatalogueError(f"{path}: {error}") from None
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
                cases=tuple(data.get("cases") or ()),
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
