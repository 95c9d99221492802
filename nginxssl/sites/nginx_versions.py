"""Which nginx version brought a directive or a listen parameter: nginx_versions.yaml, kept as data
with its source per entry (nginx's CHANGES and module documentation), read once per process."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

_TABLE = Path(__file__).with_name("nginx_versions.yaml")


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


@functools.cache
def _table() -> tuple[dict[str, Since], dict[str, Since]]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(_TABLE.read_text())
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
