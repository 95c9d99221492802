"""A real apache2 on 127.0.0.1 judges sslint's verdict on Apache sites.

For each fixture the very file sslint lints is served by apache2 (mpm_event,
mod_ssl, mod_headers; tests/judges.running_apache) and `openssl s_client
-verify_return_error -verify_hostname NAME`, trusting only the fixture's root,
says whether a browser would trust what is served. sslint must agree: errors
from the chain and name rules (SSL1xx-SSL3xx) exactly when s_client refuses.
Then the start-up itself as judge: `apache2 -t` accepts a key that does not
match its certificate, sslint reports it (SSL005), and apache2 refuses to start.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from judges import apache_test, free_port, needs_apache, needs_openssl, running_apache, s_client_verify

from nginxssl.catalogue import catalogue
from nginxssl.discover import discover
from nginxssl.engine.lint import Result, lint
from nginxssl.model.settings import Settings

pytestmark = [needs_apache, needs_openssl]

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)  # inside every fixture's validity

PKI = {
    "pki": {
        "root": {"ca": True},
        "inter": {"ca": True, "issuer": "root"},
        "leaf": {"issuer": "inter", "names": ["a.test", "www.a.test", "*.shop.a.test"]},
        "other": {"issuer": "inter", "names": ["b.test"]},
    },
    "files": {
        "root.pem": ["root"],
        "leaf.pem": ["leaf"],
        "fullchain.pem": ["leaf", "inter"],
        "inter.pem": ["inter"],
        "ca-bundle.pem": ["inter", "root"],
        "leaf.key": {"key": "leaf"},
        "other.key": {"key": "other"},
    },
}


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    from pki import build

    build(PKI, tmp_path)
    return tmp_path


def untrusted(result: Result) -> set[str]:
    """The chain and name rules that say a browser would not trust the site."""
    return {f.rule for f in result.findings if f.severity == "error" and f.rule[3] in "123"}


def run_sslint(site: Path, ca: Path) -> Result:
    settings = Settings(now=NOW, ca_files=(str(ca),), system_trust=False)
    return lint(discover(str(site)), settings, tuple(catalogue()))


# (name, server-config lines, vhost lines, SNI asked for, s_client verdict, the rules sslint must raise)
SERVED = [
    ("complete chain in SSLCertificateFile", "",
     "ServerName a.test\nSSLEngine on\nSSLCertificateFile fullchain.pem\nSSLCertificateKeyFile leaf.key\n",
     "a.test", 0, set()),
    ("leaf only", "",
     "ServerName a.test\nSSLEngine on\nSSLCertificateFile leaf.pem\nSSLCertificateKeyFile leaf.key\n",
     "a.test", 21, {"SSL201"}),
    ("leaf and SSLCertificateChainFile", "",
     "ServerName a.test\nSSLEngine on\nSSLCertificateFile leaf.pem\nSSLCertificateKeyFile leaf.key\n"
     "SSLCertificateChainFile inter.pem\n",
     "a.test", 0, set()),
    # OpenSSL completes a chain-less certificate from the verify store mod_ssl
    # loads SSLCACertificateFile into (the client-auth CAs): the intermediate
    # is sent, and so is the root.
    ("leaf and SSLCACertificateFile", "",
     "ServerName a.test\nSSLEngine on\nSSLCertificateFile leaf.pem\nSSLCertificateKeyFile leaf.key\n"
     "SSLCACertificateFile ca-bundle.pem\n",
     "a.test", 0, set()),
    ("name mismatch", "",
     "ServerName b.test\nSSLEngine on\nSSLCertificateFile fullchain.pem\nSSLCertificateKeyFile leaf.key\n",
     "b.test", 62, {"SSL301"}),
    ("wildcard alias covered by a wildcard name", "",
     "ServerName a.test\nServerAlias *.shop.a.test\nSSLEngine on\nSSLCertificateFile fullchain.pem\n"
     "SSLCertificateKeyFile leaf.key\n",
     "cart.shop.a.test", 0, set()),
    ("alias not covered", "",
     "ServerName a.test\nServerAlias shop.a.test\nSSLEngine on\nSSLCertificateFile fullchain.pem\n"
     "SSLCertificateKeyFile leaf.key\n",
     "shop.a.test", 62, {"SSL301"}),
    ("certificate inherited from the server config",
     "SSLCertificateFile fullchain.pem\nSSLCertificateKeyFile leaf.key\n",
     "ServerName a.test\nSSLEngine on\n",
     "a.test", 0, set()),
    ("chain file inherited from the server config",
     "SSLCertificateChainFile inter.pem\n",
     "ServerName a.test\nSSLEngine on\nSSLCertificateFile leaf.pem\nSSLCertificateKeyFile leaf.key\n",
     "a.test", 0, set()),
]


@pytest.mark.parametrize(("name", "server_config", "vhost", "sni", "code", "rules"), SERVED,
                         ids=[entry[0] for entry in SERVED])
def test_sslint_agrees_with_what_apache2_serves(
    pki_dir: Path, name: str, server_config: str, vhost: str, sni: str, code: int, rules: set[str]
) -> None:
    port = free_port()
    site = pki_dir / "site.conf"
    site.write_text(f"{server_config}<VirtualHost 127.0.0.1:{port}>\n{vhost}</VirtualHost>\n")
    result = run_sslint(site, pki_dir / "root.pem")
    with running_apache(site, pki_dir, port=port) as server:
        served = s_client_verify(server.port, sni, pki_dir / "root.pem")
    shown = "\n".join(f"{f.rule} {f.severity} {f.message}" for f in result.findings)
    assert served.code == code, served.output
    assert untrusted(result) == rules, shown
    assert not [f for f in result.findings if f.severity == "error" and f.rule.startswith("SSL00")], shown
    assert all(f.server == "apache" for f in result.findings)
    assert not any("nginx" in f.message for f in result.findings), shown


def tls_vhost(pki_dir: Path, directives: str) -> tuple[Path, int]:
    """site.conf: a <VirtualHost> with TLS on for a.test on a free loopback port, holding `directives`."""
    port = free_port()
    site = pki_dir / "site.conf"
    site.write_text(f"<VirtualHost 127.0.0.1:{port}>\nServerName a.test\nSSLEngine on\n{directives}</VirtualHost>\n")
    return site, port


def test_served_chain_from_sslcacertificatefile_includes_the_root(pki_dir: Path) -> None:
    site, port = tls_vhost(pki_dir, "SSLCertificateFile leaf.pem\nSSLCertificateKeyFile leaf.key\n"
                                    "SSLCACertificateFile ca-bundle.pem\n")
    with running_apache(site, pki_dir, port=port) as server:
        served = s_client_verify(server.port, "a.test", pki_dir / "root.pem")
    assert served.chain_subjects == ["CN=a.test", "CN=sslint Test Inter CA", "CN=sslint Test Root CA"]
    result = run_sslint(site, pki_dir / "root.pem")
    assert "SSL203" in {f.rule for f in result.findings}  # the root is sent: info


def test_tls_without_sslengine_on_an_https_listener(pki_dir: Path) -> None:
    # mod_ssl switches TLS on for a vhost with certificates whose Listen says https.
    port = free_port()
    site = pki_dir / "site.conf"
    site.write_text(f"Listen 127.0.0.1:{port} https\n<VirtualHost 127.0.0.1:{port}>\nServerName a.test\n"
                    "SSLCertificateFile fullchain.pem\nSSLCertificateKeyFile leaf.key\n</VirtualHost>\n")
    result = run_sslint(site, pki_dir / "root.pem")
    (sslint_site,) = result.sites
    assert sslint_site.tls and sslint_site.listens[0].ssl
    with running_apache(site, pki_dir) as server:
        assert s_client_verify(server.port, "a.test", pki_dir / "root.pem").ok
    # ...and without `https` on the Listen line the same vhost speaks plain HTTP
    site.write_text(site.read_text().replace(" https\n", "\n", 1))
    (sslint_site,) = run_sslint(site, pki_dir / "root.pem").sites
    assert not sslint_site.tls


def test_apache2_t_accepts_a_key_mismatch_that_stops_the_start(pki_dir: Path) -> None:
    site, port = tls_vhost(pki_dir, "SSLCertificateFile fullchain.pem\nSSLCertificateKeyFile other.key\n")
    checked = apache_test(site, pki_dir)
    assert checked.ok, checked.output  # `apache2 -t`: Syntax OK

    result = run_sslint(site, pki_dir / "root.pem")
    (mismatch,) = [f for f in result.findings if f.rule == "SSL005"]
    assert (mismatch.line, mismatch.severity, mismatch.names) == (5, "error", ("a.test",))
    assert "`apache2 -t` passes" in mismatch.message and "AH02565" in mismatch.message
    with pytest.raises(RuntimeError, match=r"exited \(status \d+\) before serving") as refused:
        with running_apache(site, pki_dir, port=port):
            pass
    assert "AH02565" in str(refused.value)


def test_stapling_without_a_cache_passes_apache2_t_and_stops_the_start(pki_dir: Path) -> None:
    site, port = tls_vhost(pki_dir, "SSLUseStapling on\nSSLStaplingForceURL http://127.0.0.1:9/\n"
                                    "SSLCertificateFile fullchain.pem\nSSLCertificateKeyFile leaf.key\n")
    main = pki_dir / "apache2.conf"  # the whole configuration: the server config is in view
    main.write_text("Include site.conf\n")
    settings = Settings(now=NOW, ca_files=(str(pki_dir / "root.pem"),), system_trust=False)
    (finding,) = [f for f in lint(discover(str(main)), settings, ("SSL505",)).findings]
    assert (finding.file, finding.line, finding.severity) == (str(site), 4, "error")
    assert "AH01958" in finding.message and "`apache2 -t` passes" in finding.message
    assert apache_test(site, pki_dir).ok  # the judge's syntax check...
    with pytest.raises(RuntimeError, match=r"exited \(status \d+\) before serving") as refused:
        with running_apache(site, pki_dir, port=port):
            pass
    assert "AH01958" in str(refused.value)  # ...and its start-up, which refuses

    main.write_text("SSLStaplingCache shmcb:ocsp-cache(32768)\nInclude site.conf\n")
    assert lint(discover(str(main)), settings, ("SSL505",)).findings == ()
    site.write_text("SSLStaplingCache shmcb:ocsp-cache(32768)\n" + site.read_text())
    with running_apache(site, pki_dir, port=port) as server:
        assert s_client_verify(server.port, "a.test", pki_dir / "root.pem").ok


def test_an_unrelated_certificate_of_the_chain_file_is_reported_at_that_line(tmp_path: Path) -> None:
    """mod_ssl sends the leaf of SSLCertificateFile, then SSLCertificateChainFile's certificates: with
    a chain file holding only 'other.test' apache2 2.4 sent [a.test, other.test] and s_client said
    verify code 21 (unable to verify the first certificate); with the intermediate first it sent all
    three. SSL204 said so at the SSLCertificateFile line while its fix deletes the chain-file line (and
    a `# sslint: disable=SSL204` above that line suppressed nothing): now it is at the chain-file line."""
    import json

    from pki import build
    from typer.testing import CliRunner

    from nginxssl.cli import lint_app

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
                   "a": {"issuer": "inter", "names": ["a.test"]}, "other": {"issuer": "root", "names": ["other.test"]}},
           "files": {"root.pem": ["root"], "a.pem": ["a"], "a.key": {"key": "a"}, "lone.pem": ["other"],
                     "chain.pem": ["inter", "other"]}}, tmp_path)
    port = free_port()

    def site(chain: str, suppressed: bool = False) -> Path:
        path = tmp_path / chain.replace(".pem", "") / "apache2.conf"
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            f"ServerName localhost\nListen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n    ServerName a.test\n"
            f"    SSLEngine on\n    SSLCertificateFile {tmp_path}/a.pem\n    SSLCertificateKeyFile {tmp_path}/a.key\n"
            + ("    # sslint: disable=SSL204\n" if suppressed else "")
            + f"    SSLCertificateChainFile {tmp_path}/{chain}\n</VirtualHost>\n")
        return path

    for chain, served, code in (("lone.pem", ["a.test", "other.test"], 21),
                                ("chain.pem", ["a.test", "sslint Test Inter CA", "other.test"], 0)):
        path = site(chain)
        body = "".join(path.read_text().splitlines(keepends=True)[2:])  # the harness writes its own Listen
        with running_apache(body, tmp_path, port=port):
            verdict = s_client_verify(port, "a.test", tmp_path / "root.pem")
        assert [subject.removeprefix("CN=") for subject in verdict.chain_subjects] == served, verdict
        assert verdict.code == code, verdict
        result = CliRunner().invoke(lint_app, [str(path), "--no-cache", "--ca-file", str(tmp_path / "root.pem"),
                                               "--format", "json"])
        ssl204 = [finding for finding in json.loads(result.stdout)["findings"] if finding["rule"] == "SSL204"]
        assert [(finding["file"], finding["line"]) for finding in ssl204] == [(str(path), 8)], ssl204
    fixed = CliRunner().invoke(lint_app, [str(path), "--no-cache", "--ca-file", str(tmp_path / "root.pem"), "--diff"])
    assert f"-    SSLCertificateChainFile {tmp_path}/chain.pem" in fixed.stdout, fixed.stdout
    quiet = CliRunner().invoke(lint_app, [str(site("chain.pem", suppressed=True)), "--no-cache", "--ca-file",
                                          str(tmp_path / "root.pem"), "--format", "json"])
    assert {finding["rule"] for finding in json.loads(quiet.stdout)["findings"]} & {"SSL204", "SSL009"} == set()
