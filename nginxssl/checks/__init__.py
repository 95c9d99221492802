"""Checks: one function per rule id, registered with @check("SSLnnn").

A check reads the Inputs (config, sites, loaded material, settings) and yields
Findings. It never reads files and never decides how a finding is reported.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from nginxssl.parse.node import Config, Node
from nginxssl.pki.load import Material
from nginxssl.pki.pool import ServedChain
from nginxssl.sites import Site

if TYPE_CHECKING:  # probe.py imports ssl and socket, which only `sslint probe` needs
    from nginxssl.probe import Probe


@dataclass(frozen=True)
class Fix:
    """What --fix would change: edits the fixer applies, and whether it is safe."""

    description: str
    edits: tuple = ()
    safe: bool = True


@dataclass(frozen=True)
class Finding:
    rule: str
    file: str
    line: int
    message: str
    names: tuple[str, ...] = ()
    server: str = "nginx"
    severity: str = ""  # set from the catalogue (or the user's override) by the engine
    name: str = ""
    fix: Fix | None = None

    def named(self, name: str, severity: str) -> "Finding":
        """This finding as the engine reports it: with the rule's name and the severity in force.
        (dataclasses.replace, which inspects the fields on every call, took three times as long
        for the 16,000 findings of a large tree.)"""
        return Finding(self.rule, self.file, self.line, self.message, self.names, self.server, severity, name,
                       self.fix)

    @classmethod
    def at(cls, rule: str, node: Node, message: str, site: Site, fix: Fix | None = None) -> "Finding":
        """A finding at a directive, for the names of the site it serves."""
        return cls(rule, node.file, node.line, message, site.name_list, site.server, fix=fix)


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


@dataclass(frozen=True)
class Inputs:
    config: Config
    sites: tuple[Site, ...]
    material: Mapping[str, Material]  # on-disk path -> what it holds
    passwords: Mapping[str, tuple[bytes, ...] | None]  # ssl_password_file path -> its lines
    settings: Settings
    extra: Mapping[str, object] = field(default_factory=dict)  # per-family derived data (chains, ...)
    chains: Mapping[tuple, ServedChain] = field(default_factory=dict)  # served_key(pair) -> diagnosis
    probe: Probe | None = None  # `sslint probe`: what the live endpoint sent (SSL601)

    @property
    def wording(self) -> str:
        return "apache2" if self.config.server == "apache" else "nginx"


CheckFn = Callable[[Inputs], Iterable[Finding]]
REGISTRY: dict[str, CheckFn] = {}


def check(rule_id: str) -> Callable[[CheckFn], CheckFn]:
    def register(function: CheckFn) -> CheckFn:
        if rule_id in REGISTRY:
            raise RuntimeError(f"two checks registered for {rule_id}")
        REGISTRY[rule_id] = function
        return function

    return register


def registry() -> dict[str, CheckFn]:
    """Every check: each module of this package is a rule family that registers its own."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return REGISTRY


# Judged after every other check and the suppressions: which suppressions silenced nothing.
LATE_RULE = "SSL009"

