"""The settings of one run: trust, time, root, and the server build judged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # probe.py imports ssl and socket, which only `sslint probe` needs
    pass


@dataclass(frozen=True)
class Settings:
    now: datetime
    expiry_days: int = 30
    root: str | None = None
    ca_files: tuple[str, ...] = ()
    intermediates: tuple[str, ...] = ()
    fetch: bool = False
    system_trust: bool = True  # False: trust only ca_files (--no-system-trust; tests, internal-only CAs)
    require_keys: bool = False  # with --root: an absent key is an error, not one info for the repository
    server_version: str | None = None  # "1.22.1", "nginx/1.22.1 OpenSSL/3.0.13", "none"; None: ask the installed binary
