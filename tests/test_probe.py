"""`sslint probe`: a real nginx (and apache2) on 127.0.0.1 is the endpoint, `openssl s_client` the witness.

The story the rule exists for: the certificate file is replaced, the server is
not reloaded, every lint of the file passes, and browsers still get the old
certificate. SSL601 must say so until the reload, and be silent after it. Site
selection (which server block answers a name) is judged by what nginx and
apache2 really send for each name; the failure paths (refused, not TLS, a name
refused, no answer, no DNS) must be one line and exit 2, never a traceback.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import time
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import typer.testing
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from judges import LOOPBACK, free_port, require, running_apache, running_nginx, s_client_verify, served_chain_pem
from text_report import blocks, joined

from nginxssl.cli import commands_app
from nginxssl.discover import discover
from nginxssl.engine.lint import parse
from nginxssl.engine.probe import ProbeError, parse_endpoint, probe
from nginxssl.model.probe import Endpoint, Probe
from nginxssl.sites import sites_of
from nginxssl.sites.routing import choose_site

RUNNER = typer.testing.CliRunner()
RELOAD_ATTEMPTS = 200  # x 0.05 s: old workers quit once their connections close, well within this


def sslint_probe(*args: str) -> typer.testing.Result:
    result = RUNNER.invoke(commands_app, ["probe", *args], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def valid_report(stdout: str) -> dict:
    """The JSON report, checked against the schema the package ships."""
    report = json.loads(stdout)
    schema = json.loads(resources.files("nginxssl.report").joinpath("schemas/report.schema.json").read_text("utf-8"))
    jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
    return report


def pem_leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def served_leaf(port: int, servername: str) -> x509.Certificate:
    """The leaf nginx sends for `servername`, as openssl s_client sees it."""
    pems = served_chain_pem(port, servername)
    assert pems, f"nothing served on {port} for {servername}"
    return x509.load_pem_x509_certificate(pems[0])


def nginx_conf(port: int, servers: str) -> str:
    return f"events {{}}\nhttp {{\n    access_log off;\n{servers}}}\n"


def tls_server(port: int, name: str, directory: Path, stem: str, extra: str = "") -> str:
    return (f"    server {{\n        listen {LOOPBACK}:{port} ssl{extra};\n        server_name {name};\n"
            f"        ssl_certificate {directory / (stem + '.pem')};\n"
            f"        ssl_certificate_key {directory / (stem + '.key')};\n    }}\n")


# ---------------------------------------------------------------- the story: replaced without a reload


RENEWAL = {
    "pki": {
        "root": {"ca": True},
        "inter": {"ca": True, "issuer": "root"},
        "old": {"issuer": "inter", "names": ["a.test"], "not_before": "2025-01-01", "not_after": "2044-01-01"},
        "new": {"issuer": "inter", "names": ["a.test"], "not_before": "2025-06-01", "not_after": "2045-01-01"},
    },
    "files": {
        "a.pem": ["old", "inter"],
        "a.key": {"key": "old"},
        "new.pem": ["new", "inter"],
        "new.key": {"key": "new"},
        "leaf-only.pem": ["new"],
        "root.pem": ["root"],  # --ca-file: the test root is in no system bundle
    },
}


@pytest.fixture
def renewal(tmp_path):
    require("nginx")
    require("openssl")
    from pki import build

    build(RENEWAL, tmp_path)
    port = free_port()
    conf = nginx_conf(port, tls_server(port, "a.test", tmp_path, "a"))
    return tmp_path, port, conf


def nginx_workers(master: int) -> set[int]:
    """The live processes nginx's master has forked (workers), read from /proc."""
    workers = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master and fields[0] != "Z":
            workers.add(int(entry.name))
    return workers


def reload(server) -> None:
    """SIGHUP, as `systemctl reload nginx` sends, and wait until the old workers are gone.

    Until then an old worker may still accept a connection and send the old
    certificate: one new answer does not mean the reload is over."""
    old = nginx_workers(server.pid)
    assert old, f"nginx {server.pid} has no workers\n{server.logs()}"
    os.kill(server.pid, signal.SIGHUP)
    for _attempt in range(RELOAD_ATTEMPTS):
        if not old & nginx_workers(server.pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"nginx's old workers {sorted(old)} still run after SIGHUP\n{server.logs()}")


def probe_a_test(directory: Path, port: int, *options: str) -> typer.testing.Result:
    """`sslint probe` of a.test, trusting the test root (the live chain is verified against it)."""
    return sslint_probe(f"{LOOPBACK}:{port}", "--servername", "a.test", "--ca-file", str(directory / "root.pem"),
                        *options, str(directory / "nginx.conf"))


def test_replaced_without_reload_is_ssl601_until_the_reload(renewal):
    directory, port, conf = renewal
    old, new = pem_leaf(directory / "a.pem"), pem_leaf(directory / "new.pem")
    with running_nginx(conf, directory, port=port) as server:
        before = probe_a_test(directory, port)
        assert before.exit_code == 0, before.output
        assert "serves what the configuration names" in joined(before.stdout)

        shutil.copyfile(directory / "new.pem", directory / "a.pem")  # certbot's renewal, minus the deploy hook
        shutil.copyfile(directory / "new.key", directory / "a.key")
        assert served_leaf(port, "a.test") == old  # the judge: nginx still sends the old one

        stale = probe_a_test(directory, port)
        assert stale.exit_code == 1, stale.output
        line = next(line for line in blocks(stale.stdout) if " SSL601 " in line)
        assert line.startswith(f"{directory / 'nginx.conf'}:7: SSL601 ")  # at the ssl_certificate line
        assert f"serial {old.serial_number:X}" in line and "not after 2044-01-01" in line  # what is served
        assert f"serial {new.serial_number:X}" in line and "not after 2045-01-01" in line  # what the file holds
        assert "systemctl reload nginx" in line and "the file is newer than what is served" in line
        assert "server block a.test" in line and "chosen by server_name a.test" in line
        assert "live " not in stale.stdout  # the old chain is whole and valid: only SSL601 speaks
        lowered = directory / "lowered.yaml"  # a team that treats a pending reload as a warning
        lowered.write_text("severity:\n  SSL601: warning\n")
        warned = probe_a_test(directory, port, "--config", str(lowered))
        assert warned.exit_code == 1 and " SSL601 " in joined(warned.stdout)  # --fail-on's default is warning
        tolerated = probe_a_test(directory, port, "--config", str(lowered), "--fail-on", "error")
        assert tolerated.exit_code == 0 and " SSL601 " in joined(tolerated.stdout), tolerated.output

        reload(server)
        assert served_leaf(port, "a.test") == new  # the judge agrees: the reload took
        after = probe_a_test(directory, port)
        assert after.exit_code == 0, after.output
        assert "SSL601" not in joined(after.stdout)


def test_same_leaf_other_chain_until_the_reload(renewal):
    """A fixed chain on disk (leaf only -> leaf + intermediate) helps nobody before the reload."""
    directory, port, _conf = renewal
    conf = nginx_conf(port, tls_server(port, "a.test", directory, "leaf-only").replace(
        "leaf-only.key", "new.key"))
    with running_nginx(conf, directory, port=port) as server:
        shutil.copyfile(directory / "new.pem", directory / "leaf-only.pem")  # what `sslint --fix` would serve
        assert not s_client_verify(port, "a.test", directory / "root.pem").ok  # the judge: the leaf alone fails
        stale = probe_a_test(directory, port)
        assert stale.exit_code == 2, stale.output  # SSL601, and what is live does not verify: critical
        assert "another chain after it: it sends no certificate after the leaf" in joined(stale.stdout)
        assert "the files make ['sslint Test Inter CA']" in joined(stale.stdout)
        assert "live CRITICAL: the chain " in joined(stale.stdout)
        lowered = directory / "lowered.yaml"
        lowered.write_text("severity:\n  SSL601: warning\n")
        tolerated = probe_a_test(directory, port, "--fail-on", "error", "--config", str(lowered))
        assert tolerated.exit_code == 2, tolerated.output  # --fail-on ranks findings; a live outage stays critical

        reload(server)
        assert len(served_chain_pem(port, "a.test")) == 2  # the judge: leaf and intermediate now
        assert s_client_verify(port, "a.test", directory / "root.pem").ok
        after = probe_a_test(directory, port)
        assert after.exit_code == 0, after.output


def test_json_report_and_the_note_on_stderr(renewal):
    directory, port, conf = renewal
    with running_nginx(conf, directory, port=port):
        shutil.copyfile(directory / "new.pem", directory / "a.pem")
        shutil.copyfile(directory / "new.key", directory / "a.key")
        result = sslint_probe(f"{LOOPBACK}:{port}", "--servername", "a.test", "--format", "json",
                              "--ca-file", str(directory / "root.pem"), str(directory / "nginx.conf"))
        witnessed = [x509.load_pem_x509_certificate(pem) for pem in served_chain_pem(port, "a.test")]
    assert result.exit_code == 1
    report = valid_report(result.stdout)
    assert [(f["rule"], f["name"], f["severity"]) for f in report["findings"]] == [
        ("SSL601", "served-cert-differs", "error")]
    assert report["findings"][0]["names"] == ["a.test"]
    assert "answered by server block a.test" in result.stderr
    # What the probe saw, for a monitor reading the JSON: the chain openssl sees, not the files'.
    seen = report["probe"]
    assert (seen["endpoint"], seen["servername"], seen["address"]) == (f"{LOOPBACK}:{port}", "a.test", LOOPBACK)
    assert seen["protocol"].startswith("TLSv1") and seen["whole_chain_read"] is True
    assert [cert["fingerprint_sha256"] for cert in seen["served"]] == [
        cert.fingerprint(hashes.SHA256()).hex() for cert in witnessed]
    on_disk = pem_leaf(directory / "a.pem").fingerprint(hashes.SHA256()).hex()
    assert seen["served"][0]["fingerprint_sha256"] != on_disk  # the file was replaced; the old one is served
    assert seen["served"][0]["names"] == ["a.test"] and seen["served"][0]["not_after"] == "2044-01-01T00:00:00Z"
    assert seen["served"][0]["validity"] == "valid" and seen["served"][1]["subject"].endswith("sslint Test Inter CA")
    server_line = next(number for number, line in enumerate((directory / "nginx.conf").read_text().splitlines(), 1)
                       if line.strip().startswith("server {"))
    assert seen["answered_by"] == {"file": str(directory / "nginx.conf"), "line": server_line, "server": "nginx",
                                   "names": ["a.test"]}
    assert seen["chosen_by"] == "server_name a.test"
    # The old certificate itself is fine: the live verdict is ok, only SSL601 speaks.
    assert (seen["verdict"], seen["expiry"], seen["verified"], seen["alarms"]) == ("ok", "ok", True, [])
    assert list(report) == ["version", "findings", "summary", "probe"]


def test_the_probe_reads_exactly_what_openssl_sees(renewal):
    """The whole chain, in the order sent: what a recorded `probe:` in rules/SSL601.yaml stands for."""
    directory, port, conf = renewal
    with running_nginx(conf, directory, port=port):
        live = probe(parse_endpoint(f"{LOOPBACK}:{port}", "a.test"))
        witnessed = [x509.load_pem_x509_certificate(pem) for pem in served_chain_pem(port, "a.test")]
    assert live.complete and len(witnessed) == 2
    assert list(live.chain) == witnessed
    assert live.address == LOOPBACK and live.protocol.startswith("TLS")


# ---------------------------------------------------------------- the live endpoint's own health


HEALTH_NOW = "2025-03-01T00:00:00Z"  # the pinned --now: 'soon' has 3 days left
HEALTH = {
    "pki": {
        "root": {"ca": True},
        "inter": {"ca": True, "issuer": "root"},
        "soon": {"issuer": "inter", "names": ["soon.test"], "not_before": "2025-01-01",
                 "not_after": "2025-03-04"},
        "bare": {"issuer": "inter", "names": ["bare.test"], "not_before": "2025-01-01",
                 "not_after": "2025-09-01"},
    },
    "files": {
        "soon.pem": ["soon", "inter"], "soon.key": {"key": "soon"},
        "bare.pem": ["bare"], "bare.key": {"key": "bare"},  # the intermediate is not sent
        "root.pem": ["root"],
    },
}


@pytest.fixture
def health(tmp_path):
    require("nginx")
    require("openssl")
    from pki import build

    build(HEALTH, tmp_path)
    port = free_port()
    conf = nginx_conf(port, tls_server(port, "soon.test", tmp_path, "soon")
                      + tls_server(port, "bare.test", tmp_path, "bare"))
    return tmp_path, port, conf


def health_probe(directory: Path, port: int, name: str, *options: str) -> typer.testing.Result:
    return sslint_probe(f"{LOOPBACK}:{port}", "--servername", name, "--now", HEALTH_NOW,
                        "--ca-file", str(directory / "root.pem"), *options, str(directory / "nginx.conf"))


def test_a_live_certificate_expiring_soon_is_graded_as_sslint_certs_grades_it(health):
    directory, port, conf = health
    pinned = int(datetime.datetime.fromisoformat(HEALTH_NOW).timestamp())
    with running_nginx(conf, directory, port=port):
        # The judge: openssl accepts the chain at --now and refuses it once the 3 days are over.
        assert s_client_verify(port, "soon.test", directory / "root.pem", attime=pinned).ok
        later = s_client_verify(port, "soon.test", directory / "root.pem", attime=pinned + 4 * 86400)
        assert not later.ok and later.code == 10, later.output  # X509_V_ERR_CERT_HAS_EXPIRED
        critical = health_probe(directory, port, "soon.test")  # 3 days left, --critical-days 7 by default
        warning = health_probe(directory, port, "soon.test", "--critical-days", "2")
        quiet = health_probe(directory, port, "soon.test", "--warning-days", "2", "--critical-days", "1")
        expired = sslint_probe(f"{LOOPBACK}:{port}", "--servername", "soon.test", "--now", "2025-03-05T00:00:00Z",
                               "--ca-file", str(directory / "root.pem"), str(directory / "nginx.conf"))
        reported = health_probe(directory, port, "soon.test", "--format", "json", "--critical-days", "2")
        backwards = health_probe(directory, port, "soon.test", "--warning-days", "2", "--critical-days", "5")
    assert critical.exit_code == 2, critical.output
    assert "serves what the configuration names" in joined(critical.stdout)  # not SSL601: no rule id
    assert "live CRITICAL: the live certificate 'soon.test' expires on 2025-03-04, in 3 days (--critical-days 7)" \
        in joined(critical.stdout)
    assert warning.exit_code == 1 and "live WARNING: " in warning.stdout and "(--warning-days 30)" in warning.stdout
    assert quiet.exit_code == 0 and "live " not in quiet.stdout, quiet.output
    assert expired.exit_code == 2 and "expired on 2025-03-04 (1 day ago)" in joined(expired.stdout), expired.output
    seen = valid_report(reported.stdout)["probe"]
    assert reported.exit_code == 1 and valid_report(reported.stdout)["findings"] == []
    assert (seen["verdict"], seen["expiry"], seen["verified"], seen["verify_error"]) == ("warning", "warning", True,
                                                                                         None)
    assert [alarm["verdict"] for alarm in seen["alarms"]] == ["warning"] and "in 3 days" in seen["alarms"][0]["message"]
    assert backwards.exit_code == 2 and "--critical-days 5 is more than --warning-days 2" in backwards.stderr


def test_a_live_chain_that_does_not_verify_is_critical(health):
    directory, port, conf = health
    pinned = int(datetime.datetime.fromisoformat(HEALTH_NOW).timestamp())
    with running_nginx(conf, directory, port=port):
        judged = s_client_verify(port, "bare.test", directory / "root.pem", attime=pinned)
        assert not judged.ok and judged.code == 21, judged.output  # unable to verify the first certificate
        result = health_probe(directory, port, "bare.test")
        reported = health_probe(directory, port, "bare.test", "--format", "json")
        untrusted = sslint_probe(f"{LOOPBACK}:{port}", "--servername", "soon.test", "--now", HEALTH_NOW,
                                 "--critical-days", "1", "--warning-days", "1", str(directory / "nginx.conf"))
    # What the file holds is what is served (no SSL601), and yet clients refuse it: the probe says so.
    assert result.exit_code == 2, result.output
    assert "SSL601" not in result.stdout
    text = joined(result.stdout)
    assert "live CRITICAL: the chain " in text and "sends no issuer for 'bare.test'" in text
    assert "the intermediate 'sslint Test Inter CA' is missing" in text
    seen = valid_report(reported.stdout)["probe"]
    assert reported.exit_code == 2 and (seen["verdict"], seen["expiry"], seen["verified"]) == ("critical", "ok", False)
    assert seen["verify_error"] and len(seen["served"]) == 1
    # The same complete chain, without the test root in the trust store: what a client without it sees.
    assert untrusted.exit_code == 2 and "ends at a root the trust store lacks" in joined(untrusted.stdout)


# ---------------------------------------------------------------- which server block answers


SELECTION = {
    "pki": {
        "root": {"ca": True},
        **{stem: {"issuer": "root", "names": [f"{stem}.selection.test"]}
           for stem in ("first", "exact", "wild", "deeper", "trailing", "regex", "default")},
    },
    "files": {
        **{f"{stem}.pem": [stem] for stem in ("first", "exact", "wild", "deeper", "trailing", "regex", "default")},
        "root.pem": ["root"],
        **{f"{stem}.key": {"key": stem} for stem in ("first", "exact", "wild", "deeper", "trailing", "regex",
                                                      "default")},
    },
}
# SNI name -> the server block (certificate stem) nginx must answer with.
ANSWERS = {
    "a.test": "exact",  # an exact name beats the wildcard listed before it
    "x.a.test": "wild",
    "y.b.a.test": "deeper",  # the longest leading wildcard
    "www.c.test": "trailing",
    "r42.test": "regex",
    "nobody.test": "default",  # no name matches: the default_server, not the first block
}


@pytest.fixture
def selection(tmp_path):
    require("nginx")
    require("openssl")
    from pki import build

    build(SELECTION, tmp_path)
    port = free_port()
    servers = "".join([
        tls_server(port, "first.selection.test", tmp_path, "first"),
        tls_server(port, "*.a.test", tmp_path, "wild"),
        tls_server(port, "a.test", tmp_path, "exact"),
        tls_server(port, "*.b.a.test", tmp_path, "deeper"),
        tls_server(port, "www.c.*", tmp_path, "trailing"),
        tls_server(port, r"~^r\d+\.test$", tmp_path, "regex"),
        tls_server(port, "default.selection.test", tmp_path, "default", " default_server"),
    ])
    return tmp_path, port, nginx_conf(port, servers)


def test_the_block_sslint_picks_is_the_one_nginx_answers_with(selection):
    directory, port, conf = selection
    with running_nginx(conf, directory, port=port):
        for name, stem in ANSWERS.items():
            assert served_leaf(port, name) == pem_leaf(directory / f"{stem}.pem"), name  # the judge
            result = sslint_probe(f"{LOOPBACK}:{port}", "--servername", name, "--ca-file",
                                  str(directory / "root.pem"), str(directory / "nginx.conf"))
            assert result.exit_code == 0, f"{name}: {result.output}"
        no_sni = sslint_probe(f"{LOOPBACK}:{port}", "--ca-file", str(directory / "root.pem"), str(directory / "nginx.conf"))
    assert no_sni.exit_code == 0, no_sni.output
    assert "no SNI name was sent" in joined(no_sni.stdout) and "default.selection.test" in joined(no_sni.stdout)


def test_a_name_no_site_serves_is_compared_with_the_default_server(selection):
    directory, port, conf = selection
    with running_nginx(conf, directory, port=port):
        shutil.copyfile(directory / "first.pem", directory / "default.pem")  # replaced, not reloaded
        shutil.copyfile(directory / "first.key", directory / "default.key")
        result = sslint_probe(f"{LOOPBACK}:{port}", "--servername", "nobody.test", "--ca-file",
                              str(directory / "root.pem"), str(directory / "nginx.conf"))
    assert result.exit_code == 1, result.output
    assert "server block default.selection.test" in joined(result.stdout)
    assert f"the default server for {LOOPBACK}:{port} (marked default_server): no server name there matches " \
           "nobody.test" in result.stdout


def test_apache_virtual_hosts_and_the_chain_mod_ssl_completes(tmp_path):
    require("apache2")
    from pki import build

    build({
        "pki": {
            "root": {"ca": True},
            "inter": {"ca": True, "issuer": "root"},
            "a": {"issuer": "inter", "names": ["a.test"]},
            "b": {"issuer": "root", "names": ["b.test", "*.b.test"]},
        },
        "files": {"a.pem": ["a"], "a.key": {"key": "a"}, "ca.pem": ["inter", "root"],
                  "b.pem": ["b"], "b.key": {"key": "b"}, "root.pem": ["root"]},
    }, tmp_path)
    port = free_port()
    site = tmp_path / "site.conf"
    site.write_text(
        f"<VirtualHost {LOOPBACK}:{port}>\n    ServerName a.test\n    SSLEngine on\n"
        f"    SSLCertificateFile {tmp_path / 'a.pem'}\n    SSLCertificateKeyFile {tmp_path / 'a.key'}\n"
        f"    SSLCACertificateFile {tmp_path / 'ca.pem'}\n</VirtualHost>\n"
        f"<VirtualHost {LOOPBACK}:{port}>\n    ServerName b.test\n    ServerAlias *.b.test\n    SSLEngine on\n"
        f"    SSLCertificateFile {tmp_path / 'b.pem'}\n    SSLCertificateKeyFile {tmp_path / 'b.key'}\n"
        "</VirtualHost>\n")
    with running_apache(site, tmp_path, port=port):
        assert len(served_chain_pem(port, "a.test")) == 3  # the judge: mod_ssl completed the chain
        assert served_leaf(port, "www.b.test") == pem_leaf(tmp_path / "b.pem")
        results = {name: sslint_probe(f"{LOOPBACK}:{port}", "--servername", name, "--ca-file",
                                      str(tmp_path / "root.pem"), str(site))
                   for name in ("a.test", "www.b.test", "nobody.test")}
        shutil.copyfile(tmp_path / "a.pem", tmp_path / "b.pem")
        stale = sslint_probe(f"{LOOPBACK}:{port}", "--servername", "www.b.test", "--ca-file",
                             str(tmp_path / "root.pem"), str(site))
    for name, result in results.items():
        assert result.exit_code == 0, f"{name}: {result.output}"
    assert "ServerAlias *.b.test" in results["www.b.test"].stdout
    assert stale.exit_code == 1 and "apache2ctl configtest && systemctl reload apache2" in joined(stale.stdout)


# ---------------------------------------------------------------- when the endpoint cannot be asked


def test_connection_refused_is_exit_2_with_a_message(tmp_path):
    port = free_port()  # nothing listens there
    (tmp_path / "nginx.conf").write_text(nginx_conf(port, tls_server(port, "a.test", tmp_path, "a")))
    result = sslint_probe(f"{LOOPBACK}:{port}", "--servername", "a.test", str(tmp_path / "nginx.conf"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"sslint: connection to {LOOPBACK}:{port} refused: nothing listens")
    assert "Traceback" not in result.output


def test_a_port_the_configuration_does_not_serve_is_exit_2_before_any_connection(tmp_path, monkeypatch):
    (tmp_path / "nginx.conf").write_text(nginx_conf(8443, tls_server(8443, "a.test", tmp_path, "a")))

    def no_network(*_args, **_kwargs):
        raise AssertionError("connected although the configuration has no TLS site on that port")

    monkeypatch.setattr("nginxssl.engine.probe.probe", no_network)
    result = sslint_probe("a.test", str(tmp_path / "nginx.conf"))
    assert result.exit_code == 2
    assert "does not describe a.test:443: no site speaks TLS on port 443 (it speaks TLS on port 8443)" \
        in result.stderr


def test_dns_failure_is_exit_2_with_a_message(tmp_path, monkeypatch):
    def unknown(*_args, **_kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)  # no resolver is asked
    (tmp_path / "nginx.conf").write_text(nginx_conf(443, tls_server(443, "a.test", tmp_path, "a")))
    result = sslint_probe("no-such-host.test", str(tmp_path / "nginx.conf"))
    assert result.exit_code == 2
    assert "sslint: cannot resolve no-such-host.test: Name or service not known" in result.stderr


def test_a_port_that_accepts_but_never_answers_times_out(tmp_path):
    with socket.socket() as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen(1)  # the kernel completes the connection; nobody ever speaks TLS
        port = silent.getsockname()[1]
        (tmp_path / "nginx.conf").write_text(nginx_conf(port, tls_server(port, "a.test", tmp_path, "a")))
        started = time.monotonic()
        result = sslint_probe(f"{LOOPBACK}:{port}", "--servername", "a.test", "--timeout", "0.5",
                              str(tmp_path / "nginx.conf"))
        elapsed = time.monotonic() - started
    assert result.exit_code == 2
    assert "did not finish within 0.5 s" in result.stderr
    assert elapsed < 5


def test_plain_http_and_a_refused_name_are_tls_failures(tmp_path):
    require("nginx")
    from pki import build

    build(RENEWAL, tmp_path)
    tls, plain = free_port(), free_port()
    while plain == tls:
        plain = free_port()
    served = nginx_conf(tls, "".join([
        tls_server(tls, "a.test", tmp_path, "a"),
        f"    server {{\n        listen {LOOPBACK}:{tls} ssl default_server;\n        server_name _;\n"
        f"        ssl_reject_handshake on;\n    }}\n",
        f"    server {{\n        listen {LOOPBACK}:{plain};\n        return 204;\n    }}\n",
    ]))
    # What the admin believes: TLS on both ports.
    believed = tmp_path / "believed.conf"
    believed.write_text(nginx_conf(tls, tls_server(tls, "a.test", tmp_path, "a")
                                   + tls_server(plain, "a.test", tmp_path, "a")))
    with running_nginx(served, tmp_path, port=tls):
        not_tls = sslint_probe(f"{LOOPBACK}:{plain}", "--servername", "a.test", str(believed))
        refused = sslint_probe(f"{LOOPBACK}:{tls}", "--servername", "nobody.test", str(believed))
    assert not_tls.exit_code == 2 and "the port answers without TLS" in not_tls.stderr, not_tls.output
    assert refused.exit_code == 2 and "refuses the name it was sent" in refused.stderr, refused.output
    assert "Traceback" not in not_tls.output + refused.output


# ---------------------------------------------------------------- HOST[:PORT] and site selection, offline


@pytest.mark.parametrize("text,servername,expected", [
    ("a.test", None, Endpoint("a.test", 443, "a.test")),
    ("A.Test.:8443", None, Endpoint("A.Test", 8443, "a.test")),
    ("https://a.test:8443/path?q", None, Endpoint("a.test", 8443, "a.test")),
    ("192.0.2.1", None, Endpoint("192.0.2.1", 443, None)),
    ("192.0.2.1:8443", "a.test", Endpoint("192.0.2.1", 8443, "a.test")),
    ("[2001:db8::1]:8443", None, Endpoint("2001:db8::1", 8443, None)),
    ("2001:db8::1", None, Endpoint("2001:db8::1", 443, None)),
    ("bücher.test", None, Endpoint("bücher.test", 443, "xn--bcher-kva.test")),
])
def test_endpoints(text, servername, expected):
    assert parse_endpoint(text, servername) == expected


@pytest.mark.parametrize("text,servername", [
    ("a.test:0", None), ("a.test:65536", None), ("a.test:https", None), ("a.test:", None),
    ("http://a.test", None), ("a b", None), ("[2001:db8::1", None), ("a.test", "192.0.2.1"), ("a..test", None),
])
def test_bad_endpoints_are_usage_errors(text, servername):
    with pytest.raises(ProbeError) as raised:
        parse_endpoint(text, servername)
    assert raised.value.kind == "usage"


def _choice(tmp_path: Path, conf: str, servername: str | None, address: str = "", port: int = 443):
    (tmp_path / "nginx.conf").write_text(conf)
    sites = sites_of(parse(discover(str(tmp_path / "nginx.conf")), None))
    recorded = Probe(Endpoint(address or "a.test", port, servername), address, ())
    return choose_site(sites, recorded)


def test_a_specific_address_has_its_own_server_blocks(tmp_path):
    conf = nginx_conf(443, "".join([
        "    server { listen 443 ssl; server_name a.test; ssl_certificate any.pem; ssl_certificate_key any.key; }\n",
        "    server { listen 192.0.2.7:443 ssl; server_name b.test; ssl_certificate b.pem; "
        "ssl_certificate_key b.key; }\n",
    ]))
    on_address = _choice(tmp_path, conf, "a.test", "192.0.2.7")
    assert on_address.site.name_list == ("b.test",) and on_address.socket == "192.0.2.7:443"
    assert "default server" in on_address.reason  # a.test lives on *:443, which 192.0.2.7 never reaches
    elsewhere = _choice(tmp_path, conf, "a.test", "198.51.100.1")
    assert elsewhere.site.name_list == ("a.test",) and elsewhere.socket == "0.0.0.0:443"  # as nginx writes it


def test_no_tls_site_on_the_port_chooses_nothing(tmp_path):
    conf = nginx_conf(443, "    server { listen 80; server_name a.test; }\n"
                           "    server { listen 8443 ssl; server_name a.test; ssl_certificate a.pem; "
                           "ssl_certificate_key a.key; }\n")
    choice = _choice(tmp_path, conf, "a.test")
    assert choice.site is None and "port 443" in choice.reason
