"""Config -> TLS sites, with each server's inheritance rules (nginx.py, apache.py), the headers in
force per location (headers/) and which site answers a name on a socket (routing.py)."""

from __future__ import annotations

from typing import Iterable

from nginxssl.model.node import Config
from nginxssl.model.site import Site
from nginxssl.sites.nginx import nginx_plain_servers, nginx_sites


# apache.py is imported by the functions that read an Apache tree: an nginx run does not build its classes.
def sites_of(config: Config) -> tuple[Site, ...]:
    if config.server == "nginx":
        return nginx_sites(config)
    from nginxssl.sites.apache import apache_sites

    return apache_sites(config)


def plain_sites_of(config: Config) -> tuple[Site, ...]:
    """The server blocks / virtual hosts that speak plain HTTP only (SSL303's http:// names)."""
    if config.server == "nginx":
        return nginx_plain_servers(config)
    from nginxssl.sites.apache import apache_plain_vhosts

    return apache_plain_vhosts(config)


def names_of(sites: Iterable[Site]) -> tuple[str, ...]:
    """The server names of several sites, each once, in order."""
    seen: dict[str, None] = {}
    for site in sites:
        for name in site.name_list:
            seen.setdefault(name, None)
    return tuple(seen)
