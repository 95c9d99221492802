"""Where the paths one config names are on disk (both servers)."""

from __future__ import annotations

from nginxssl.discover.sysroot import SymlinkLoop, to_disk
from nginxssl.model.node import Config


class DiskPaths:
    """Where the paths one config names are on disk, each looked up once: thousands of servers
    name the same few certificate files, and with --root every lookup walks symlinks."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._found: dict[str, str] = {}

    def __call__(self, raw: str) -> str:
        path = self._found.get(raw)
        if path is None:
            try:
                path = to_disk(raw, self.config.prefix, self.config.root)
            except SymlinkLoop:
                path = raw
            self._found[raw] = path
        return path
