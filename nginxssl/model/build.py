"""A server build (version and OpenSSL), from settings or from the installed binary's own words."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"(\d+(?:\.\d+)+)")


_OPENSSL = re.compile(r"openssl[/ -]?(\d+(?:\.\d+)+)", re.IGNORECASE)


_RUNNING = re.compile(r"running with openssl (\d+(?:\.\d+)+)", re.IGNORECASE)


@dataclass(frozen=True)
class Build:
    """A server version and the OpenSSL it uses (None: not known)."""

    server: str  # "nginx" | "apache"
    version: tuple[int, ...]
    openssl: tuple[int, ...] | None = None
    source: str = ""  # "installed" | "settings"

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def openssl_text(self) -> str:
        return ".".join(map(str, self.openssl)) if self.openssl else ""

    @property
    def program(self) -> str:
        return f"{'nginx' if self.server == 'nginx' else 'apache2'} {self.version_text}"

    def at_least(self, *version: int) -> bool:
        return self.version >= version


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def parse_build(server: str, text: str, source: str = "settings") -> Build | None:
    """`1.22.1`, `nginx/1.22.1 OpenSSL/3.0.13`, or `nginx -V` output; None when no version is in it."""
    openssl_match = _RUNNING.search(text) or _OPENSSL.search(text)
    without_openssl = _OPENSSL.sub("", text)
    version_match = _VERSION.search(without_openssl)
    if version_match is None:
        return None
    openssl = _numbers(openssl_match.group(1)) if openssl_match else None
    return Build(server, _numbers(version_match.group(1)), openssl, source)
