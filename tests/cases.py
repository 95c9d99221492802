"""Rule-catalogue cases (rules/*.yaml `cases:`) materialised on disk and linted.

A case holds a config (`nginx:` a site file, or `nginx_main:` a whole
nginx.conf, or `apache:` an Apache site file -- `<VirtualHost>` blocks and
server-config lines, linted as a lone file), the certificates it needs
(`pki:`/`files:` in fixtures/pki.py's spec format), optional file `modes:`, the
rule ids it must raise (`expect:`), a recorded `sslint probe` handshake (`probe:`,
see rules/SSL601.yaml), the time it is judged at (`now:`, default
PINNED_NOW), the roots it trusts (`trust: [root.pem]`: files of the case passed
as --ca-file with the system trust store off; default: the system's), the
server version it is judged for (`server_version:`, default
the installed binary's; "none": unknown) and, where the real server has a say,
what it answers: `nginx -t` (`nginx_t: ok|fail`), `apache2 -t` (`apache_t: ok|fail`) and a real apache2
start-up on 127.0.0.1 (`apache_start: ok|fail`; mod_ssl loads keys only at
start-up, so a key mismatch passes `-t` and fails here), and what a client concludes from
the chain a real nginx on 127.0.0.1 serves (`s_client: ok|fail`: `openssl s_client
-verify_return_error -verify_hostname` for the site's first server_name, trusting the
case's `trust:` roots only, at the case's time).

A failing case of a fixable rule says what `--fix` leaves behind (`fixed:`):
every file that changes, by its path in the case (the config is `site.conf`,
or `nginx.conf` for `nginx_main:`), as its whole expected text, or as a list
of entities for a certificate bundle (`a.fullchain.pem: [leaf, inter]`);
`fixed_nginx_t: ok` has `nginx -t` judge the result, `fixed_apache_t: ok` `apache2 -t`. A failing case without
`fixed:` must come back byte-identical.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

from nginxssl.catalogue import catalogue
from nginxssl.discover import discover
from nginxssl.engine.lint import Result, lint
from nginxssl.model.probe import Endpoint, Probe
from nginxssl.model.settings import Settings

PINNED_NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


def all_cases() -> list[tuple[str, dict]]:
    return [(rule.id, case) for rule in catalogue().values() for case in rule.cases]


def case_id(rule_id: str, case: dict) -> str:
    return f"{rule_id}:{case['name']}"


def materialise(case: dict, directory: Path) -> Path:
    """Write the case's files; return the config file sslint is pointed at."""
    from pki import build

    if case.get("pki") or case.get("files"):
        build({"pki": case.get("pki") or {}, "files": case.get("files") or {}}, directory)
    for name, mode in (case.get("modes") or {}).items():
        os.chmod(directory / name, int(str(mode), 8))
    if "nginx_main" in case:
        config = directory / "nginx.conf"
        config.write_text(case["nginx_main"])
    elif "apache" in case:
        config = directory / "site.conf"
        config.write_text(case["apache"])
    else:
        config = directory / "site.conf"
        config.write_text(case["nginx"])
    return config


def main_config(case: dict, site: Path) -> Path:
    """A whole nginx.conf around a case's site file, for `nginx -t`."""
    if "nginx_main" in case:
        return site
    main = site.parent / "nginx.conf"
    main.write_text(f"events {{}}\nhttp {{\n    include {site.name};\n}}\n")
    return main


def run_case(case: dict, config: Path, **settings) -> Result:
    now = case.get("now")
    moment = datetime.fromisoformat(str(now)) if now else PINNED_NOW
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    options = {"now": moment, **settings}
    if "server_version" in case:  # the nginx build the case is judged for ("none": unknown)
        options.setdefault("server_version", str(case["server_version"]))
    if case.get("trust"):  # the case's own roots, written by `files:`, are the only anchors
        options.setdefault("ca_files", tuple(str(config.parent / name) for name in case["trust"]))
        options.setdefault("system_trust", False)
    return lint(discover(str(config)), Settings(**options), tuple(catalogue()),
                probe=recorded_probe(case, config.parent))


def recorded_probe(case: dict, directory: Path) -> Probe | None:
    """The case's `probe:`, a handshake recorded as data: what `sslint probe` would have read."""
    recorded = case.get("probe")
    if not recorded:
        return None
    from cryptography import x509

    servername = recorded.get("servername")
    address = str(recorded.get("address") or "")
    endpoint = Endpoint(servername or address or "127.0.0.1", int(recorded.get("port", 443)), servername)
    sent = x509.load_pem_x509_certificates((directory / recorded["sent"]).read_bytes())
    return Probe(endpoint, address, tuple(sent))


_VHOST_OPEN = re.compile(r"^(\s*<VirtualHost)\s+[^>]*>", re.IGNORECASE | re.MULTILINE)


def apache_start(site: Path, server_root: Path) -> tuple[bool, str]:
    """Start a real apache2 on a case's site file: (started, what it said).

    The site's `<VirtualHost ...>` addresses become 127.0.0.1:PORT (one free
    port) so the server binds nothing else; paths stay relative to `server_root`.
    """
    from judges import free_port, running_apache

    port = free_port()
    text = _VHOST_OPEN.sub(lambda match: f"{match.group(1)} 127.0.0.1:{port}>", site.read_text())
    try:
        with running_apache(text, server_root, port=port) as server:
            return True, server.logs()
    except RuntimeError as error:
        if "before serving" not in str(error):
            raise  # a harness problem, not apache2's verdict
        return False, str(error)


def s_client_verdict(case: dict, site: Path):
    """Start nginx on the case's site file (its `listen 443` on 127.0.0.1 and a free port) and
    let `openssl s_client -verify_return_error` judge the chain it serves: a judges.VerifyResult."""
    from judges import free_port, running_nginx, s_client_verify

    port = free_port()
    text = re.sub(r"listen\s+443\b", f"listen 127.0.0.1:{port}", site.read_text())
    live = site.parent / "site-live.conf"
    live.write_text(text)
    servername = re.search(r"server_name\s+([^\s;]+)", text).group(1)
    now = case.get("now")
    moment = datetime.fromisoformat(str(now)) if now else PINNED_NOW
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    with running_nginx(f"events {{}}\nhttp {{\n    include {live.name};\n}}\n", site.parent, port=port):
        return s_client_verify(port, servername, site.parent / case["trust"][0], attime=int(moment.timestamp()))


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` (relative path -> bytes): what a fix may change."""
    return {str(path.relative_to(directory)): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file() and not path.is_symlink()}


def run_fix(rule_id: str, case: dict, config: Path) -> Result:
    """The fixer on the case's findings of `rule_id` only (what `--fix --select RULE` does,
    with --unsafe-fixes for a rule whose fix is unsafe, no server validation); the re-lint after."""
    from nginxssl.fix.run import fix

    unsafe = catalogue()[rule_id].fixable == "unsafe"
    result = run_case(case, config)

    def relint() -> list:
        return [finding for finding in run_case(case, config).findings if finding.rule == rule_id]

    mine = [finding for finding in result.findings if finding.rule == rule_id]
    fix(mine, relint, result.config, None, unsafe, validate=False)
    return run_case(case, config)


def expected_after_fix(case: dict, scratch: Path) -> dict[str, bytes]:
    """The case's `fixed:` as bytes; bundles are written by the same PKI spec into `scratch`."""
    from pki import build

    bundles = {path: value for path, value in case["fixed"].items() if isinstance(value, list)}
    if bundles:
        build({"pki": case.get("pki") or {}, "files": bundles}, scratch)
    return {path: (scratch / path).read_bytes() if isinstance(value, list) else str(value).encode()
            for path, value in case["fixed"].items()}
