"""Paths on the command line -> what to parse: a main config or a lone fragment, and for which server."""

from __future__ import annotations

import os
from dataclasses import dataclass

from nginxssl.discover.sniff import looks_like_apache
from nginxssl.discover.sysroot import readable_regular_file

# The main files of each server, as its packages install them; parse/ looks for the same names.
NGINX_MAINS = ("nginx.conf",)
APACHE_MAINS = ("apache2.conf", "httpd.conf", os.path.join("conf", "httpd.conf"))


class UsageError(Exception):
    """Something the user asked for cannot be done: reported with exit code 2."""


@dataclass(frozen=True)
class Target:
    path: str  # the file parsing starts from
    server: str  # "nginx" | "apache"
    fragment: bool | None  # None: decide from the file's contents (nginx)


def discover(path: str, server: str | None = None) -> Target:
    path = os.path.normpath(path)
    if not os.path.lexists(path):
        raise UsageError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        nginx = [os.path.join(path, name) for name in NGINX_MAINS if os.path.isfile(os.path.join(path, name))]
        apache = [os.path.join(path, name) for name in APACHE_MAINS if os.path.isfile(os.path.join(path, name))]
        if server == "nginx" or (server is None and nginx):
            if not nginx:
                raise UsageError(f"{path}: no nginx.conf in this directory")
            return Target(nginx[0], "nginx", None)
        if apache:
            return Target(apache[0], "apache", False)
        raise UsageError(f"{path}: no nginx.conf, apache2.conf or httpd.conf in this directory; "
                         "name the main config or a site file instead")
    problem = readable_regular_file(path)
    if problem:
        raise UsageError(f"{path}: {problem}")
    name = os.path.basename(path)
    # apache2.conf / httpd.conf are Apache's by name, even when they hold nothing but an Include.
    if server == "apache" or (server is None and (name in APACHE_MAINS or looks_like_apache(path))):
        return Target(path, "apache", name not in APACHE_MAINS)
    return Target(path, "nginx", None)

