"""Rule-catalogue cases (rules/*.yaml `cases:`) materialised on disk and linted.

A case holds a config (`nginx:` a site file, or `nginx_main:` a whole
nginx.conf), the certificates it needs (`pki:`/`files:` in fixtures/pki.py's
spec format), optional file `modes:`, the rule ids it must raise (`expect:`), the
time it is judged at (`now:`, default PINNED_NOW) and, where the real server has
a say, what `nginx -t` answers (`nginx_t: ok|fail`).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from nginxssl.catalogue import catalogue
from nginxssl.checks import Settings
from nginxssl.discover import discover
from nginxssl.lint import Result, lint

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
    return lint(discover(str(config)), Settings(**options), tuple(catalogue()))
