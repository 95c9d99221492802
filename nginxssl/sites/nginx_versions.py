"""Which nginx version brought a directive or a listen parameter: nginx_versions.yaml, kept as data
with its source per entry (nginx's CHANGES and module documentation), read once per process, from
nginx_versions.json while that is a copy of the YAML as it is (nginxssl/shipped.py; `python -m
nginxssl.sites.nginx_versions` writes it)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable

from nginxssl import shipped as shipped_data

_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nginx_versions.yaml")


@dataclass(frozen=True)
class Since:
    """The first nginx version that knows a directive (in a context, when `context` is set)."""

    name: str
    version: tuple[int, ...]
    source: str
    context: str = ""  # "stream": known in that context only from `version`

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def _parse() -> Any:
    from ruamel.yaml import YAML

    with open(_TABLE, encoding="utf-8") as handle:
        return YAML(typ="safe").load(handle.read())


def shipped() -> tuple[list[str], str, Callable[[], Any]]:
    """The table, the JSON copy of what it parses to, and the parse."""
    return [_TABLE], _TABLE.removesuffix(".yaml") + ".json", _parse


@functools.cache
def _table() -> tuple[dict[str, Since], dict[str, Since]]:
    data = shipped_data.parsed(*shipped())
    directives: dict[str, Since] = {}
    for key, entry in (data.get("directives") or {}).items():
        name, _, context = str(key).partition("@")
        version = tuple(int(part) for part in str(entry["since"]).split("."))
        directives[str(key)] = Since(name, version, str(entry["source"]), context)
    parameters = {str(key): Since(str(key), tuple(int(part) for part in str(entry["since"]).split(".")),
                                  str(entry["source"]))
                  for key, entry in (data.get("listen_parameters") or {}).items()}
    return directives, parameters


def directive_since(name: str, context: str) -> Since | None:
    """When nginx learnt `name` in `context` (the enclosing block: "http", "server", "stream", ...);
    None: the table does not know it (old, or a third-party module's)."""
    directives, _parameters = _table()
    return directives.get(f"{name}@{context}") or directives.get(name)


def parameter_since(name: str) -> Since | None:
    """When nginx learnt the `listen` parameter `name`."""
    return _table()[1].get(name)


if __name__ == "__main__":  # after the table changed: its copy, made from it
    sources, copy, parse = shipped()
    shipped_data.write(sources, copy, parse())
