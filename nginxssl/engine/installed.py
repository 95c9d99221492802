"""The server program sslint judges a configuration for: its version and the OpenSSL it runs with.

Defaults that decide what a browser meets (nginx's ssl_protocols before and
after 1.23.4, the `ssl` directive removed in 1.25.1, OpenSSL 3 refusing TLS 1.0
and 1.1 at its default security level) depend on the binary, not on the
configuration. Settings.server_version names it, e.g. "1.22.1" or
"nginx/1.22.1 OpenSSL/3.0.13" ("none": judge for no particular version);
otherwise the installed binary is asked once (`nginx -V`, `apache2 -v` with
`openssl version`). A config repository linted on a workstation may have no
binary: the checks then say what they assumed.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

from nginxssl.model.build import _OPENSSL, Build, _numbers, parse_build

_TIMEOUT = 10.0
_SEARCH_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"
_BINARIES = {"nginx": ("nginx",), "apache": ("apache2", "httpd")}


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


@functools.cache
def installed(server: str) -> Build | None:
    """The build of the server installed here, asked once per process; None when there is none."""
    for name in _BINARIES.get(server, ()):
        binary = shutil.which(name) or shutil.which(name, path=_SEARCH_PATH)
        if binary is None:
            continue
        if server == "nginx":
            output = _run([binary, "-V"])
            if "nginx version:" in output:
                return parse_build(server, output.split("nginx version:", 1)[1], "installed")
        else:
            output = _run([binary, "-v"])
            match = re.search(r"Apache/(\d+(?:\.\d+)+)", output)
            if match:
                openssl = shutil.which("openssl")
                library = _run([openssl, "version"]) if openssl else ""
                found = _OPENSSL.search(library)
                return Build(server, _numbers(match.group(1)), _numbers(found.group(1)) if found else None,
                             "installed")
    return None


def build_for(server: str, override: str | None) -> Build | None:
    """The build to judge for: the override when given ("none": judge for no particular version)."""
    if override is not None:
        return None if override.strip().lower() in ("", "none", "unknown") else parse_build(server, override)
    return installed(server)
