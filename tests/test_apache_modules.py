"""SSL001 for Apache: a directive of a module no LoadModule loads, judged by the real `apache2 -t`.

Debian's apache2.conf loads its modules from mods-enabled/, which the package ships empty: a
copy of the bookworm tree with a few `.load` files enabled (what `a2enmod` does) is a main
configuration whose module set is known. httpd stops at the first directive of a module it has
not loaded ("Invalid command 'Header', perhaps misspelled or defined by a module not included in
the server configuration"); each `a2enmod` moves its complaint to the next module, and sslint's
first finding must be that one every time.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import typer.testing
from conftest import CORPUS, needs_corpus
from judges import apache_test, needs_apache

from nginxssl.cli import lint_app
from nginxssl.discover import discover
from nginxssl.engine.lint import parse

BOOKWORM = CORPUS / "debian-bookworm/apache2_2.4.71-1~deb12u1/etc/apache2"
INVALID = re.compile(r"Syntax error on line (\d+) of (\S+):\nInvalid command '([^']+)', perhaps misspelled or "
                     r"defined by a module not included in the server configuration")
SITE = """<VirtualHost 127.0.0.1:8443>
    ServerName a.test
    Header always set Strict-Transport-Security "max-age=31536000"
    RewriteEngine on
    SSLEngine on
    SSLProtocol -all +TLSv1.2
    <IfModule mod_proxy.c>
        ProxyPass /api http://127.0.0.1:9000/
    </IfModule>
    RequestHeader set X-Forwarded-Proto https
</VirtualHost>
"""


@pytest.fixture
def bookworm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Debian's tree with mpm_event and authz_core enabled (apache2 -t needs an MPM, and `Require`),
    the site above in sites-enabled/, and the variables envvars gives apache2ctl."""
    root = tmp_path / "apache2"
    shutil.copytree(BOOKWORM, root, symlinks=True)
    (root / "mods-enabled").mkdir()
    (root / "sites-enabled").mkdir()
    for module in ("mpm_event", "authz_core"):
        enable(root, module)
    (root / "sites-enabled/a.conf").write_text(SITE)
    run = tmp_path / "run"
    run.mkdir()
    for name in ("APACHE_RUN_DIR", "APACHE_LOCK_DIR", "APACHE_LOG_DIR"):
        monkeypatch.setenv(name, str(run))
    monkeypatch.setenv("APACHE_PID_FILE", str(run / "apache2.pid"))
    monkeypatch.setenv("APACHE_RUN_USER", "www-data")
    monkeypatch.setenv("APACHE_RUN_GROUP", "www-data")
    return root


def enable(root: Path, module: str) -> None:
    """`a2enmod MODULE` without its .conf: the .load file linked into mods-enabled/."""
    (root / "mods-enabled" / f"{module}.load").symlink_to(f"../mods-available/{module}.load")


def judged(root: Path) -> tuple[str, int, str] | None:
    """(file, line, command) of the 'Invalid command' apache2 -t stops at, or None."""
    output = apache_test(root / "apache2.conf", root, standalone=True).output
    match = INVALID.search(output)
    return (match[2], int(match[1]), match[3]) if match else None


def module_findings(path: Path) -> list[tuple[str, int, str]]:
    """(file, line, command) of each SSL001 'Invalid command' sslint reports, in report order."""
    result = typer.testing.CliRunner().invoke(lint_app, [str(path), "--select", "SSL001", "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    return [(finding["file"], finding["line"], re.search(r"Invalid command '([^']+)'", finding["message"])[1])
            for finding in json.loads(result.stdout)["findings"] if "Invalid command '" in finding["message"]]


@needs_corpus
@needs_apache
def test_each_a2enmod_moves_apache2s_complaint_to_sslints_next_finding(bookworm: Path) -> None:
    site = str(bookworm / "sites-enabled/a.conf")
    seen = []
    for module in ("headers", "rewrite", "ssl", None):
        stopped = judged(bookworm)
        found = module_findings(bookworm)
        assert (found[0] if found else None) == stopped, (module, found, stopped)
        seen.append(stopped)
        if module:
            enable(bookworm, module)
    # The first finding names each module's first directive; <IfModule mod_proxy.c> kept ProxyPass away.
    assert seen == [(site, 3, "Header"), (site, 4, "RewriteEngine"), (site, 5, "SSLEngine"), None]


@needs_corpus
@needs_apache
def test_one_finding_per_module_counting_its_other_directives(bookworm: Path) -> None:
    result = typer.testing.CliRunner().invoke(lint_app, [str(bookworm), "--select", "SSL001"])
    text = " ".join(result.stdout.split())
    assert text.count("Invalid command") == 3, result.stdout
    assert "Header belongs to mod_headers, which no LoadModule loads; 1 more directive of mod_headers follows" \
        in text  # RequestHeader, line 10
    assert "`a2enmod ssl` (Debian, Ubuntu), or `LoadModule ssl_module modules/mod_ssl.so` before it" in text
    config = parse(discover(str(bookworm / "apache2.conf")), None)
    assert config.modules is not None and {"authz_core_module", "mod_authz_core.c", "core.c"} <= config.modules
    assert "ssl_module" not in config.modules


@needs_corpus
def test_a_lone_site_file_and_a_tree_that_loads_nothing_are_not_judged(bookworm: Path) -> None:
    assert module_findings(bookworm / "sites-enabled/a.conf") == []  # the loading happens elsewhere
    assert parse(discover(str(bookworm / "sites-enabled/a.conf")), None).modules is None
    for load in (bookworm / "mods-enabled").iterdir():
        load.unlink()  # as Debian ships it: the real server loads what the admin enabled, unknown here
    assert module_findings(bookworm) == []
    assert parse(discover(str(bookworm / "apache2.conf")), None).modules is None
