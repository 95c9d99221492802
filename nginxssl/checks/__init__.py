"""Checks: one function per rule id, registered with @check("SSLnnn").

A check reads the Inputs (config, sites, loaded material, settings) and yields
Findings. It never reads files and never decides how a finding is reported.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from nginxssl.model.edits import ChainFix
from nginxssl.model.finding import Finding
from nginxssl.model.node import Config
from nginxssl.model.settings import Settings
from nginxssl.model.site import Site
from nginxssl.pki.analyse import ServedChain
from nginxssl.pki.load import Material

if TYPE_CHECKING:  # probe.py imports ssl and socket, which only `sslint probe` needs
    from nginxssl.model.probe import Probe


@dataclass(frozen=True)
class Inputs:
    config: Config
    sites: tuple[Site, ...]
    material: Mapping[str, Material]  # on-disk path -> what it holds
    passwords: Mapping[str, tuple[bytes, ...] | None]  # ssl_password_file path -> its lines
    settings: Settings
    extra: Mapping[str, object] = field(default_factory=dict)  # per-family derived data (chains, ...)
    chains: Mapping[tuple, ServedChain] = field(default_factory=dict)  # served_key(pair) -> diagnosis
    chain_fixes: Mapping[tuple, ChainFix] = field(default_factory=dict)  # fix/fullchain.py's plan, per directive
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

