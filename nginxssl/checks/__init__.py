"""Checks: one function per rule id, registered with @check("SSLnnn", needs=...).

A check reads the Inputs (config, sites, settings, and the views it declares:
loaded material, chain diagnoses, the judged build, ...) and yields Findings. It
never reads files and never decides how a finding is reported.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, get_args

from nginxssl.checks.answering import HttpSite, answering
from nginxssl.checks.references import Reference, grouped_references
from nginxssl.checks.served import Served, grouped_served
from nginxssl.model.build import Build
from nginxssl.model.edits import ChainFix
from nginxssl.model.finding import Finding
from nginxssl.model.node import Config
from nginxssl.model.settings import Settings
from nginxssl.model.site import ServerName, Site
from nginxssl.parse.suppressions import Suppression
from nginxssl.pki.analyse import ServedChain
from nginxssl.pki.load import Material
from nginxssl.sites import plain_sites_of
from nginxssl.sites.routing import Servers, Socket, refused_everywhere, routes, tls_sockets, unreached

if TYPE_CHECKING:  # probe.py imports ssl and socket, which only `sslint probe` needs
    from nginxssl.model.probe import Probe

# The parts of the Inputs a check must declare it reads (each is an Inputs field of that
# name). The config, the sites and the settings every check may read: they are always there.
# The contexts of the sites browsers reach by name (Inputs.routes).
ROUTED_CONTEXTS = ("http", "virtualhost", "server")

View = Literal["chains", "material", "passwords", "build", "probe", "unused_suppressions"]
VIEWS: frozenset[View] = frozenset(get_args(View))


class WithheldView(RuntimeError):
    """A check read a part of the Inputs it did not declare in @check(needs=...)."""


@dataclass(frozen=True)
class Inputs:
    config: Config
    sites: tuple[Site, ...]
    material: Mapping[str, Material]  # on-disk path -> what it holds
    passwords: Mapping[str, tuple[bytes, ...] | None]  # ssl_password_file path -> its lines
    settings: Settings
    chains: Mapping[tuple, ServedChain] = field(default_factory=dict)  # served_key(pair) -> diagnosis
    build: Build | None = None  # the server build judged for (engine/installed.py); None: unknown
    # fix/fullchain.py's plan per directive, made from `chains` (and withheld with it)
    chain_fixes: Mapping[tuple, ChainFix] = field(default_factory=dict)
    probe: Probe | None = None  # `sslint probe`: what the live endpoint sent (SSL601)
    unused_suppressions: tuple[Suppression, ...] = ()  # SSL009, run last: those that silenced nothing

    @property
    def wording(self) -> str:
        return "apache2" if self.config.server == "apache" else "nginx"

    # Views derived from the inputs, worked out once per run on first use: a dozen checks each
    # ask for them, and on thousands of sites regrouping each time costs more than the checks.

    @cached_property
    def served(self) -> tuple[Served, ...]:
        """Each certificate directive once, in config order, with every site that uses it and
        its diagnosis (reads `chains`)."""
        return tuple(grouped_served(self.sites, self.chains, self.reached))

    @cached_property
    def references(self) -> tuple[Reference, ...]:
        """Each file reference (directive, path) once, in config order, with the sites that share it."""
        return tuple(grouped_references(self.sites))

    @cached_property
    def http_sites(self) -> tuple[HttpSite, ...]:
        """The TLS sites that answer HTTP requests (some request reaches them), with the scopes their
        responses come from."""
        return tuple(answering(self.sites, self.tls_sockets, self.reached))

    @cached_property
    def tls_sockets(self) -> frozenset[Socket]:
        """The sockets some nginx server block made TLS (sites/routing.tls_sockets)."""
        return frozenset(tls_sockets(self.sites))

    @cached_property
    def routes(self) -> dict[Socket, Servers]:
        """Every TLS socket and the sites answering there, in config order (sites/routing.routes), of
        the sites browsers reach by name: nginx's http server blocks, Apache's virtual hosts and main server."""
        return routes(site for site in self.sites if site.context in ROUTED_CONTEXTS)

    @cached_property
    def unreached(self) -> tuple[Site, ...]:
        """The TLS sites no request reaches (sites/routing.unreached): not the default of a socket,
        every name taken by another. The rules about what a client receives skip them; the rules
        about what the server loads at start-up do not."""
        return unreached(self.routes, self.tls_sockets)

    def reached(self, site: Site) -> bool:
        """Some request reaches the site (or sslint cannot tell that none does)."""
        return id(site) not in self._unreached_ids

    @cached_property
    def _unreached_ids(self) -> frozenset[int]:  # Site holds a dict: unhashable
        return frozenset(id(site) for site in self.unreached)

    def refused(self, site: Site, entry: ServerName) -> bool:
        """nginx refuses this server_name of the site on every TLS socket it has ('conflicting server
        name'): another block answers that name, with its own certificate (sites/routing.refused_everywhere)."""
        return (id(site), id(entry)) in self._refused_ids

    @cached_property
    def _refused_ids(self) -> frozenset[tuple[int, int]]:
        return refused_everywhere(self.routes, self.tls_sockets)

    @cached_property
    def plain_sites(self) -> tuple[Site, ...]:
        """The server blocks that speak plain HTTP (sites.plain_sites_of)."""
        return plain_sites_of(self.config)

    def forget(self, views: Iterable[str]) -> None:
        """Drop these derived views if worked out (read again, one is worked out anew): the engine
        frees what only a family of rules that has run reads (FAMILY_VIEWS)."""
        worked_out = object.__getattribute__(self, "__dict__")
        for view in views:
            worked_out.pop(view, None)

    def without(self, views: Iterable[View]) -> Inputs:
        """These inputs with `views` withheld: reading one, or a derived view made from one,
        raises WithheldView. The second process runs its rules on inputs without `chains`;
        the tests run every rule on inputs without what it did not declare."""
        values = {part.name: object.__getattribute__(self, part.name) for part in fields(Inputs)}
        withheld = self._withheld | frozenset(views)
        return self._keeping_views(_Withholding(**values, withheld=withheld), withheld)

    def replaced(self, **changes: Any) -> Inputs:
        """dataclasses.replace, keeping the derived views already worked out that read none of the
        changed fields (the fullchain plan, made from these inputs, would otherwise have every
        directive's diagnoses regrouped again for the inputs that carry it)."""
        return self._keeping_views(replace(self, **changes), frozenset(changes))

    def _keeping_views(self, other: Inputs, changed: frozenset[str]) -> Inputs:
        worked_out = object.__getattribute__(self, "__dict__")
        kept = object.__getattribute__(other, "__dict__")
        for view, reads in _VIEW_READS.items():
            if view in worked_out and not reads & changed:
                kept[view] = worked_out[view]
        return other

    @property
    def _withheld(self) -> frozenset[str]:
        return frozenset()


# What each derived view of Inputs reads: a view is carried into changed inputs (replaced, without)
# only while every field it reads is the same there (and not withheld).
_VIEW_READS: dict[str, frozenset[str]] = {
    "served": frozenset(("config", "sites", "chains")),
    "references": frozenset(("config", "sites")),
    "http_sites": frozenset(("config", "sites")),
    "tls_sockets": frozenset(("config", "sites")),
    "routes": frozenset(("config", "sites")),
    "unreached": frozenset(("config", "sites")),
    "_unreached_ids": frozenset(("config", "sites")),
    "_refused_ids": frozenset(("config", "sites")),
    "plain_sites": frozenset(("config",)),
}


# The derived views only one family of rules reads (by the module its checks are written in), which
# the engine forgets once that family has run: the header rules' http_sites hold every site's
# response headers, 65 MiB of a 50,000-block tree that no later rule reads.
FAMILY_VIEWS: dict[str, tuple[str, ...]] = {"nginxssl.checks.headers": ("http_sites",)}


# Fields worked out from a view, withheld with it: the fullchain plan is made from the diagnoses.
_PART_OF = {"chain_fixes": "chains"}


@dataclass(frozen=True)
class _Withholding(Inputs):
    withheld: frozenset[str] = frozenset()

    @property
    def _withheld(self) -> frozenset[str]:
        return self.withheld

    def __getattribute__(self, name: str) -> Any:
        view = _PART_OF.get(name, name)
        if view in VIEWS and view in object.__getattribute__(self, "withheld"):
            raise WithheldView(f"a check read Inputs.{name}, which it did not declare in @check(needs=...)")
        return object.__getattribute__(self, name)


CheckFn = Callable[[Inputs], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    """A registered check: its function and the views of the Inputs it reads."""

    rule: str
    run: CheckFn
    needs: frozenset[View]

    def __call__(self, inputs: Inputs) -> Iterable[Finding]:
        return self.run(inputs)


REGISTRY: dict[str, Check] = {}


def check(rule_id: str, *, needs: Iterable[View]) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the check of `rule_id`; `needs` names every view of
    the Inputs it reads besides config, sites and settings (the engine runs a check that needs
    no `chains` in the second process; a test runs each check with the rest withheld)."""
    declared = frozenset(needs)
    unknown = declared - VIEWS
    if unknown:
        raise ValueError(f"{rule_id} needs {sorted(unknown)}: not a view of the Inputs ({sorted(VIEWS)})")

    def register(function: CheckFn) -> CheckFn:
        if rule_id in REGISTRY:
            raise RuntimeError(f"two checks registered for {rule_id}")
        REGISTRY[rule_id] = Check(rule_id, function, declared)
        return function

    return register


def registry() -> dict[str, Check]:
    """Every check: each module of this package is a rule family that registers its own."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return REGISTRY


# Judged after every other check and the suppressions: which suppressions silenced nothing.
LATE_RULE = "SSL009"
