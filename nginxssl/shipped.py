"""The YAML data the package ships (the rule catalogue, sites/nginx_versions.yaml), read through a
JSON copy of what the YAML parses to, kept beside it.

People edit the YAML; every run read it with ruamel.yaml, which cost 16 ms of a 25-site lint
(importing ruamel 8 ms, parsing the catalogue 5 ms and the version table 3 ms) where json reads the
same data in 0.1 ms. The copy names a digest of the exact bytes it was made from: a run uses it only
when the YAML still has those bytes, and parses the YAML otherwise, so an edited rule file is never
judged from a stale copy. Each owner writes its own copy (`python -m nginxssl.catalogue`,
`python -m nginxssl.sites.nginx_versions`); tests/test_shipped.py fails while one is out of date.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable


def digest(sources: list[str]) -> str:
    """What the copy must have been made from: each file's name and bytes, in this order."""
    hashed = hashlib.blake2b(digest_size=20)
    for path in sources:
        with open(path, "rb") as handle:
            data = handle.read()
        name = os.path.basename(path).encode("utf-8", "surrogateescape")
        hashed.update(b"%d:%s%d:" % (len(name), name, len(data)))
        hashed.update(data)
    return hashed.hexdigest()


def parsed(sources: list[str], copy: str, parse: Callable[[], Any]) -> Any:
    """`parse()`'s value, from `copy` when it was made from exactly these `sources`."""
    try:
        wanted = digest(sources)
    except OSError:
        return parse()  # the parser names the file it cannot read
    try:
        with open(copy, encoding="utf-8") as handle:
            kept = json.load(handle)
    except (OSError, ValueError):
        return parse()
    if isinstance(kept, dict) and kept.get("digest") == wanted and "value" in kept:
        return kept["value"]
    return parse()


def write(sources: list[str], copy: str, value: Any) -> None:
    """Keep `value`, what `sources` parse to, in `copy` (exactly: json must give the same value back)."""
    text = json.dumps({"digest": digest(sources), "value": value}, ensure_ascii=False, indent=0)
    if json.loads(text)["value"] != value:
        raise ValueError(f"{copy}: the parsed YAML does not survive JSON unchanged")
    with open(copy, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
