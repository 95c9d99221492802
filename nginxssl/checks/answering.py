"""The TLS sites that answer HTTP requests, and the scopes their responses come from.

What the header rules (SSL401-SSL404, headers.py) judge, grouped once per run
as Inputs.http_sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from nginxssl.model.headers import ResponseHeaders
from nginxssl.model.site import Site
from nginxssl.sites.routing import Socket, listen_socket, tls_sockets


@dataclass(frozen=True)
class HttpSite:
    """A TLS site that answers HTTP requests, and the scopes its responses come from."""

    site: Site
    headers: ResponseHeaders
    endpoints: tuple[int, ...]  # headers.endpoints()
    # those that answer with a page: not a redirect, an error, a closed connection, an ACME
    # challenge or a location for static files that are no document
    pages: tuple[int, ...]


def answering(sites: tuple[Site, ...], shared: frozenset[Socket] | None = None,
              reached: Callable[[Site], bool] = lambda site: True) -> Iterator[HttpSite]:
    """TLS sites that answer HTTP requests (not a stream proxy, not a handshake-rejecting catch-all,
    not a block `reached` says no request reaches: Inputs.reached, sites/routing.unreached).

    A server whose plain `listen 443` shares a socket another server made TLS speaks TLS too
    (`shared`: tls_sockets(sites), when the caller has it).
    """
    if shared is None:
        shared = frozenset(tls_sockets(sites))
    for site in sites:
        if not reached(site):
            continue  # its headers answer no request: the block that holds its names answers them
        tls = site.tls or (site.certs and any(listen_socket(listen) in shared for listen in site.listens))
        headers = site.headers
        if not tls or headers is None or not headers.scopes:
            continue
        reject = site.directives.get("ssl_reject_handshake")
        if reject is not None and reject.args[:1] == ("on",):
            continue
        endpoints = headers.endpoints()
        pages = tuple(index for index in endpoints if headers.scopes[index].response == "content"
                      and not headers.scopes[index].acme and not headers.scopes[index].assets)
        yield HttpSite(site, headers, endpoints, pages)
