"""Which server block or virtual host answers a name on a socket: one model for both servers."""

from __future__ import annotations

from nginxssl.model.site import Listen, Site


def listen_socket(listen: Listen) -> tuple[str, int | None]:
    """The socket a listen binds, as nginx groups them (`443` and `0.0.0.0:443` are one)."""
    return ("*" if listen.address in ("*", "0.0.0.0") else listen.address), listen.port


def tls_sockets(sites: tuple[Site, ...]) -> set[tuple[str, int | None]]:
    """nginx keeps `ssl` per listening socket: one server's `listen 443 ssl` makes *:443 TLS for
    every server on it, including ones that wrote a plain `listen 443`."""
    return {listen_socket(listen) for site in sites if site.server == "nginx" and site.context == "http"
            for listen in site.listens if listen.ssl}
