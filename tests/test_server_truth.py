"""Issue 17, server truth: which server answers, with which certificate, protocols and directives,
as the installed nginx 1.22.1, apache2 2.4 and OpenSSL 3.0 really do it; each behaviour next to
sslint's finding on the same tree.

What the real programs showed (openssl s_client -servername, curl, nginx -t, apache2 -t):
- nginx, a name served on `listen 127.0.0.1:P ssl` but not on the site's `[::1]:P` twin: an IPv6
  client asking for it gets the certificate of the [::1]:P default server (this machine has ::1:
  `ip -6 addr show lo`; ::1 and 127.0.0.1 stand for the [::]:443 and 0.0.0.0:443 wildcards);
- Apache, a <VirtualHost 127.0.0.1:P> set takes every connection to 127.0.0.1:P, names served by
  a <VirtualHost *:P> included; a name with only a plain vhost gets the first TLS vhost's
  certificate; a vhost named for a port no `Listen` binds is never answered (connection refused);
- Apache, certificates in a vhost without `SSLEngine on` behind a plain `Listen`: curl https://
  fails with "wrong version number", http:// answers;
- nginx, ssl_protocols is decided by the default server of the socket, ssl_ciphers and the
  certificate by the server the SNI name picks (s_client -tls1_2 and -cipher);
- Apache, `SSLProtocol TLSv1.2 TLSv1.3` passes `apache2 -t` ("Syntax OK") and leaves TLS 1.3 only;
- nginx, an RSA key for an ECDSA certificate (no RSA certificate in the block) passes `nginx -t`, and
  every handshake then fails with alert 40.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import typer.testing
from cases import PINNED_NOW
from judges import LOOPBACK, apache_base_config, free_port, nginx_test, require, running_apache, running_nginx

from nginxssl.catalogue import catalogue
from nginxssl.cli import lint_app
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.model.finding import Finding
from nginxssl.model.settings import Settings

STEMS = ("a", "b", "c")
RUNNER = typer.testing.CliRunner()


def _has_ipv6_loopback() -> bool:
    done = subprocess.run(["ip", "-6", "addr", "show", "lo"], capture_output=True, text=True, check=False)
    return "::1/128" in done.stdout


def _pki(directory: Path) -> None:
    from pki import build

    build({"pki": {"root": {"ca": True}, **{stem: {"issuer": "root", "names": [f"{stem}.test"]} for stem in STEMS}},
           "files": {"root.pem": ["root"], **{f"{stem}.pem": [stem] for stem in STEMS},
                     **{f"{stem}.key": {"key": stem} for stem in STEMS}}}, directory)


def handshake(address: str, port: int, name: str, *options: str) -> str:
    """What `openssl s_client -connect ADDRESS:PORT -servername NAME` got: the subject of the
    certificate sent (`CN=a.test`), or the error line it printed."""
    target = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    done = subprocess.run(["openssl", "s_client", "-connect", target, "-servername", name, *options],
                          input="", capture_output=True, text=True, timeout=30, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("subject="):
            return line.removeprefix("subject=").replace(" = ", "=").strip()
    errors = [line for line in done.stderr.splitlines() if "error:" in line or "errno=" in line]
    return errors[0] if errors else done.stderr.strip()


def negotiated(port: int, name: str, ciphers: str) -> str:
    """The TLS 1.2 cipher 127.0.0.1:port agrees on for SNI `name` when the client offers `ciphers`."""
    done = subprocess.run(["openssl", "s_client", "-connect", f"{LOOPBACK}:{port}", "-servername", name, "-tls1_2",
                           "-cipher", ciphers], input="", capture_output=True, text=True, timeout=30, check=False)
    return next((line.rsplit(" ", 1)[1] for line in done.stdout.splitlines() if "Cipher is" in line), done.stderr)


def findings(path: Path, rule: str, version: str | None = None) -> list[Finding]:
    result = lint(discover(str(path)), Settings(now=PINNED_NOW, server_version=version, system_trust=False,
                                                ca_files=(str(path.parent / "root.pem"),)), tuple(catalogue()))
    return [finding for finding in result.findings if finding.rule == rule]


def _nginx_server(tmp_path: Path, listens: list[str], name: str, stem: str, extra: str = "") -> str:
    written = " ".join(f"listen {listen};" for listen in listens)
    return (f"    server {{ {written} server_name {name}; ssl_certificate {tmp_path}/{stem}.pem; "
            f"ssl_certificate_key {tmp_path}/{stem}.key; {extra}}}\n")


# ---------------------------------------------------------------- 1, 2: routing and SSL303


def test_a_name_missing_on_the_ipv6_twin_gets_the_default_certificate_there(tmp_path):
    require("nginx")
    require("openssl")
    if not _has_ipv6_loopback():
        pytest.skip("no ::1 on this machine")
    _pki(tmp_path)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    access_log off;\n"
                    + _nginx_server(tmp_path, [f"{LOOPBACK}:{port} ssl", f"[::1]:{port} ssl"], "a.test", "a")
                    + _nginx_server(tmp_path, [f"{LOOPBACK}:{port} ssl"], "b.test", "b") + "}\n")
    with running_nginx(conf, tmp_path, port=port):
        ipv4, ipv6 = handshake(LOOPBACK, port, "b.test"), handshake("::1", port, "b.test")
    assert (ipv4, ipv6) == ("CN=b.test", "CN=a.test")  # nginx 1.22.1: IPv6 clients get a.test's certificate
    [finding] = findings(conf, "SSL303")
    assert finding.line == 5 and finding.names == ("b.test",)
    assert f"IPv6 clients of b.test arrive on [::1]:{port}" in finding.message
    assert "certificate 'a.test'" in finding.message and f"add `listen [::1]:{port} ssl;`" in finding.message

    # the edit the message names, made by hand: nginx then serves b.test on ::1, and sslint is quiet
    conf.write_text(conf.read_text().replace(f"listen {LOOPBACK}:{port} ssl; server_name b.test",
                                             f"listen {LOOPBACK}:{port} ssl; listen [::1]:{port} ssl; "
                                             "server_name b.test"))
    with running_nginx(conf, tmp_path, port=port):
        assert handshake("::1", port, "b.test") == "CN=b.test"
    assert findings(conf, "SSL303") == []


def test_the_twin_of_a_site_listening_on_both_families_is_quiet(tmp_path):
    _pki(tmp_path)
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n"
                    + _nginx_server(tmp_path, ["443 ssl", "[::]:443 ssl"], "a.test", "a")
                    + _nginx_server(tmp_path, ["443 ssl", "[::]:443 ssl"], "b.test", "b")
                    + "    server { listen 127.0.0.1:80; server_name localhost; }\n}\n")
    assert findings(conf, "SSL303") == []


def _apache_vhost(tmp_path: Path, address: str, name: str, stem: str, engine: bool = True) -> str:
    return (f"<VirtualHost {address}>\n    ServerName {name}\n" + ("    SSLEngine on\n" if engine else "")
            + f"    SSLCertificateFile {tmp_path}/{stem}.pem\n    SSLCertificateKeyFile {tmp_path}/{stem}.key\n"
            "</VirtualHost>\n")


def test_apache_an_address_set_takes_the_names_of_the_wildcard(tmp_path):
    """apache2 at 127.0.0.1; sslint on the same tree with 127.0.0.1 written as 192.0.2.10, since a
    socket only the machine itself reaches is internal: browsers elsewhere never connect to it."""
    require("apache2")
    require("openssl")
    _pki(tmp_path)
    port = free_port()
    site = tmp_path / "site.conf"
    text = (f"Listen {LOOPBACK}:{port} https\n" + _apache_vhost(tmp_path, f"{LOOPBACK}:{port}", "a.test", "a")
            + _apache_vhost(tmp_path, f"*:{port}", "b.test", "b"))
    site.write_text(text)
    with running_apache(site, tmp_path, port=port):
        served = handshake(LOOPBACK, port, "b.test")
    assert served == "CN=a.test"  # apache2 2.4: the 127.0.0.1 set answers, b.test is not in it
    public = tmp_path / "public.conf"
    public.write_text(text.replace(f"{LOOPBACK}:{port}>", f"192.0.2.10:{port}>"))
    messages = [finding.message for finding in findings(public, "SSL303") if finding.names == ("b.test",)]
    assert len(messages) == 1 and f"that connect to 192.0.2.10 arrive on 192.0.2.10:{port}" in messages[0]
    assert "certificate 'a.test'" in messages[0]


def test_apache_a_plain_only_name_gets_the_first_tls_vhost(tmp_path):
    """apache2 on free ports standing for 80 and 443; sslint on the same tree with 80 and 443
    (https://NAME/ goes to port 443)."""
    require("apache2")
    require("openssl")
    _pki(tmp_path)
    plain, tls = free_port(), free_port()
    text = ("Listen 127.0.0.1:{plain} http\nListen 127.0.0.1:{tls} https\n"
            "<VirtualHost *:{plain}>\n    ServerName c.test\n</VirtualHost>\n"
            + _apache_vhost(tmp_path, "*:{tls}", "a.test", "a"))
    site = tmp_path / "site.conf"
    site.write_text(text.format(plain=plain, tls=tls))
    with running_apache(site, tmp_path, port=tls):
        assert handshake(LOOPBACK, tls, "c.test") == "CN=a.test"
    written = tmp_path / "written.conf"
    written.write_text(text.format(plain=80, tls=443))
    [finding] = findings(written, "SSL303")
    assert finding.names == ("c.test",) and "served only over plain HTTP" in finding.message
    assert "arrives on *:443" in finding.message and "certificate 'a.test'" in finding.message


def test_apache_a_vhost_no_listen_binds_never_answers(tmp_path):
    require("apache2")
    require("openssl")
    _pki(tmp_path)
    port, unbound = free_port(), free_port()
    site = tmp_path / "site.conf"
    site.write_text(f"Listen {LOOPBACK}:{port} https\n" + _apache_vhost(tmp_path, f"{LOOPBACK}:{port}", "a.test", "a")
                    + _apache_vhost(tmp_path, f"{LOOPBACK}:{unbound}", "b.test", "b"))
    with running_apache(site, tmp_path, port=port):
        assert handshake(LOOPBACK, port, "b.test") == "CN=a.test"
        assert "Connection refused" in handshake(LOOPBACK, unbound, "b.test")
    main = tmp_path / "httpd.conf"  # the whole configuration, as the harness starts it
    main.write_text(apache_base_config(tmp_path, tmp_path / "run", site, []))
    [finding] = findings(main, "SSL303")
    assert finding.line == 8 and "no `Listen` binds it" in finding.message
    assert f"add `Listen {unbound} https`" in finding.message


# ---------------------------------------------------------------- 3: SSL504 for Apache


def curl(url: str) -> str:
    done = subprocess.run(["curl", "-sS", "-k", "--max-time", "10", url], capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip()


def test_apache_certificates_without_sslengine_serve_plain_http_and_the_fix_turns_tls_on(tmp_path):
    require("apache2")
    require("curl")
    _pki(tmp_path)
    port = free_port()
    site = tmp_path / "site.conf"
    site.write_text(f"Listen {LOOPBACK}:{port}\n" + _apache_vhost(tmp_path, f"{LOOPBACK}:{port}", "a.test", "a",
                                                                   engine=False))
    with running_apache(site, tmp_path, port=port):
        assert "wrong version number" in curl(f"https://{LOOPBACK}:{port}/index.html")
        assert curl(f"http://{LOOPBACK}:{port}/index.html") == "ok"
    [finding] = findings(site, "SSL504")
    assert finding.line == 2 and "answers plain HTTP" in finding.message and "wrong version number" in finding.message

    result = RUNNER.invoke(lint_app, [str(site), "--fix", "--select", "SSL504"], catch_exceptions=False)
    assert "SSLEngine on" in site.read_text(), result.stdout
    with running_apache(site, tmp_path, port=port):
        assert curl(f"https://{LOOPBACK}:{port}/index.html") == "ok"
    assert findings(site, "SSL504") == []


# ---------------------------------------------------------------- 4: SSL507


def _two_servers(tmp_path: Path, port: int, default: str, named: str) -> Path:
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    access_log off;\n"
                    + _nginx_server(tmp_path, [f"{LOOPBACK}:{port} ssl"], "a.test", "a", default)
                    + _nginx_server(tmp_path, [f"{LOOPBACK}:{port} ssl"], "b.test", "b", named) + "}\n")
    return conf


def test_nginx_the_default_server_decides_the_protocol_version_the_name_the_ciphers(tmp_path):
    require("nginx")
    require("openssl")
    _pki(tmp_path)
    port = free_port()
    conf = _two_servers(tmp_path, port, "ssl_protocols TLSv1.3; ", "ssl_protocols TLSv1.2 TLSv1.3; ")
    with running_nginx(conf, tmp_path, port=port):
        assert "tlsv1 alert protocol version" in handshake(LOOPBACK, port, "b.test", "-tls1_2")
        assert handshake(LOOPBACK, port, "b.test", "-tls1_3") == "CN=b.test"
    [finding] = findings(conf, "SSL507")
    assert finding.line == 5 and "does not decide the handshake" in finding.message
    assert "that speak TLSv1.2 at most are refused" in finding.message

    conf = _two_servers(tmp_path, port, "ssl_protocols TLSv1.2 TLSv1.3; ", "ssl_protocols TLSv1.3; ")
    with running_nginx(conf, tmp_path, port=port):
        assert handshake(LOOPBACK, port, "b.test", "-tls1_2") == "CN=b.test"  # TLS 1.2 gets through all the same
    [finding] = findings(conf, "SSL507")
    assert "TLSv1.2 handshakes still succeed for b.test" in finding.message

    # ssl_ciphers is per name: the named server's own list decides, the default's does not
    conf = _two_servers(tmp_path, port, "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256; ",
                        "ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384; ")
    both = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
    with running_nginx(conf, tmp_path, port=port):
        assert negotiated(port, "b.test", both) == "ECDHE-ECDSA-AES256-GCM-SHA384"
        assert negotiated(port, "a.test", both) == "ECDHE-ECDSA-AES128-GCM-SHA256"
        assert handshake(LOOPBACK, port, "b.test", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384") == "CN=b.test"
        assert "handshake failure" in handshake(LOOPBACK, port, "b.test", "-tls1_2", "-cipher",
                                                "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert findings(conf, "SSL507") == []


def test_apache_sslprotocol_keywords_without_signs_leave_the_last_one(tmp_path):
    require("apache2")
    require("openssl")
    _pki(tmp_path)
    port = free_port()
    site = tmp_path / "site.conf"
    site.write_text(f"Listen {LOOPBACK}:{port} https\n"
                    + _apache_vhost(tmp_path, f"{LOOPBACK}:{port}", "a.test", "a").replace(
                        "</VirtualHost>", "    SSLProtocol TLSv1.2 TLSv1.3\n</VirtualHost>"))
    with running_apache(site, tmp_path, port=port):
        assert "tlsv1 alert protocol version" in handshake(LOOPBACK, port, "a.test", "-tls1_2")
        assert handshake(LOOPBACK, port, "a.test", "-tls1_3") == "CN=a.test"
    [finding] = findings(site, "SSL507")
    assert finding.line == 7 and "enables TLSv1.3 only, not TLSv1.2" in finding.message
    assert "`SSLProtocol -all +TLSv1.2 +TLSv1.3`" in finding.message
    site.write_text(site.read_text().replace("SSLProtocol TLSv1.2 TLSv1.3", "SSLProtocol -all +TLSv1.2 +TLSv1.3"))
    with running_apache(site, tmp_path, port=port):
        assert handshake(LOOPBACK, port, "a.test", "-tls1_2") == "CN=a.test"
    assert findings(site, "SSL507") == []


# ---------------------------------------------------------------- 6: dual certificates


def _dual_pki(directory: Path) -> None:
    from pki import build

    build({"pki": {"root": {"ca": True}, "rsa": {"issuer": "root", "names": ["a.test"], "key": "rsa2048"},
                   "ecdsa": {"issuer": "root", "names": ["a.test"], "key": "ec256"}},
           "files": {"root.pem": ["root"], "rsa.pem": ["rsa"], "rsa.key": {"key": "rsa"}, "ecdsa.pem": ["ecdsa"],
                     "ecdsa.key": {"key": "ecdsa"}}}, directory)


def test_nginx_files_dual_keys_by_type(tmp_path):
    require("nginx")
    require("openssl")
    _dual_pki(tmp_path)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n    access_log off;\n    server {{ listen {LOOPBACK}:{port} ssl; "
                    f"server_name a.test; ssl_certificate {tmp_path}/rsa.pem; ssl_certificate_key {tmp_path}/ecdsa.key; "
                    f"ssl_certificate {tmp_path}/ecdsa.pem; ssl_certificate_key {tmp_path}/rsa.key; }}\n}}\n")
    root = str(tmp_path / "root.pem")
    with running_nginx(conf, tmp_path, port=port):
        for cipher, key in (("ECDHE-RSA-AES128-GCM-SHA256", "rsaEncryption"),
                            ("ECDHE-ECDSA-AES128-GCM-SHA256", "id-ecPublicKey")):
            done = subprocess.run(["openssl", "s_client", "-connect", f"{LOOPBACK}:{port}", "-servername", "a.test",
                                   "-tls1_2", "-cipher", cipher, "-CAfile", root, "-verify_return_error",
                                   "-verify_hostname", "a.test", "-showcerts"],
                                  input="", capture_output=True, text=True, timeout=30, check=False)
            assert "Verify return code: 0 (ok)" in done.stdout, done.stdout + done.stderr
            assert f"Cipher is {cipher}" in done.stdout
    assert findings(conf, "SSL005") == []


def test_nginx_starts_with_a_key_of_another_type_and_fails_every_handshake(tmp_path):
    """A key of another type than its certificate, with no certificate of the key's type in the
    block: OpenSSL files the key in its own type's slot and compares it with nothing. nginx 1.22.1:
    `nginx -t` passes, nginx starts, and s_client gets alert 40 'handshake failure' (TLS 1.3 and 1.2;
    the info log says 'no suitable signature algorithm'). The ECDSA block inheriting the http
    block's RSA key (it forgot its own) is the same; an ECDSA key for another ECDSA certificate is
    'key values mismatch' and nginx does not start."""
    require("nginx")
    require("openssl")
    _dual_pki(tmp_path)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n    access_log off;\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
                    f"    ssl_certificate_key {tmp_path}/rsa.key;\n"
                    f"    server {{ listen {LOOPBACK}:{port} ssl; server_name a.test; "
                    f"ssl_certificate {tmp_path}/ecdsa.pem; }}\n}}\n")
    assert nginx_test(conf).ok
    with running_nginx(conf, tmp_path, port=port):
        for version in ("-tls1_3", "-tls1_2"):
            assert "alert handshake failure" in handshake(LOOPBACK, port, "a.test", version)
    (found,) = findings(conf, "SSL005")
    assert "`nginx -t` passes and nginx starts" in found.message and "every handshake fails" in found.message
    assert "key values mismatch" not in found.message
    conf.write_text(conf.read_text().replace("rsa.key", "other.key"))
    from pki import build

    build({"pki": {"root": {"ca": True}, "other": {"issuer": "root", "names": ["a.test"], "key": "ec256"}},
           "files": {"other.key": {"key": "other"}}}, tmp_path)
    judged = nginx_test(conf)
    assert not judged.ok and "key values mismatch" in judged.output
    (found,) = findings(conf, "SSL005")
    assert "`nginx -t` fails with 'key values mismatch'" in found.message


def test_apache_checks_dual_pairs_as_written(tmp_path):
    """mod_ssl checks each SSLCertificateFile against the SSLCertificateKeyFile of its position."""
    require("apache2")
    _dual_pki(tmp_path)
    port = free_port()
    site = tmp_path / "site.conf"
    site.write_text(f"Listen {LOOPBACK}:{port} https\n<VirtualHost {LOOPBACK}:{port}>\n    ServerName a.test\n"
                    f"    SSLEngine on\n    SSLCertificateFile {tmp_path}/rsa.pem\n"
                    f"    SSLCertificateKeyFile {tmp_path}/ecdsa.key\n    SSLCertificateFile {tmp_path}/ecdsa.pem\n"
                    f"    SSLCertificateKeyFile {tmp_path}/rsa.key\n</VirtualHost>\n")
    said = ""
    try:
        with running_apache(site, tmp_path, port=port) as server:
            time.sleep(1)  # apache2 binds its sockets before mod_ssl loads the keys
            said = server.logs()
    except RuntimeError as error:
        said = str(error)
    assert "AH02565: Certificate and private key" in said and "do not match" in said, said
    found = findings(site, "SSL005")  # both pairs as written are wrong; apache2 stops at the first
    assert [finding.line for finding in found] == [6, 8] and all("AH02565" in finding.message for finding in found)


# ---------------------------------------------------------------- 7: a key inherited from outside the block


def test_a_server_block_that_forgets_its_key_is_told_at_its_own_certificate(tmp_path):
    """nginx merges ssl_certificate and ssl_certificate_key each on its own: a server block that
    names its own certificate and no key pairs it with the http block's key. nginx 1.22.1 -t:
    'SSL_CTX_use_PrivateKey(".../a.key") failed (... key values mismatch)'. The cause is each such
    block's missing key line: one SSL005 at each block's ssl_certificate, not two at the http
    block's key line (the same file:line:rule never twice), naming the key the configuration
    already holds for that certificate."""
    require("nginx")
    _pki(tmp_path)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\n"
        "http {\n"
        f"    ssl_certificate {tmp_path}/a.pem;\n"
        f"    ssl_certificate_key {tmp_path}/a.key;\n"
        f"    server {{ listen {LOOPBACK}:{free_port()} ssl; server_name a.test; }}\n"
        "    server {\n"
        f"        listen {LOOPBACK}:{free_port()} ssl;\n"
        "        server_name b.test;\n"
        f"        ssl_certificate {tmp_path}/b.pem;\n"
        "    }\n"
        "    server {\n"
        f"        listen {LOOPBACK}:{free_port()} ssl;\n"
        "        server_name c.test;\n"
        f"        ssl_certificate {tmp_path}/c.pem;\n"
        "    }\n"
        "    server {\n"
        f"        listen {LOOPBACK}:{free_port()} ssl;\n"
        "        server_name b2.test;\n"
        f"        ssl_certificate {tmp_path}/b.pem;\n"
        f"        ssl_certificate_key {tmp_path}/b.key;\n"
        "    }\n"
        "}\n")
    judged = nginx_test(conf)
    assert not judged.ok and "key values mismatch" in judged.output and f"{tmp_path}/a.key" in judged.output
    found = findings(conf, "SSL005")
    assert [(finding.line, finding.names) for finding in found] == [(9, ("b.test",)), (14, ("c.test",))]
    b, c = found
    assert b.message.startswith(f'ssl_certificate "{tmp_path}/b.pem" has no ssl_certificate_key in its server block;')
    assert f"the server block at {conf}:6 names its own certificate (CN=b.test)" in b.message
    assert f"inherits from {conf}:4" in b.message and "key values mismatch" in b.message
    assert f"fix: add `ssl_certificate_key {tmp_path}/b.key;` to that server block" in b.message
    assert f"({conf}:20 names it)" in b.message
    assert "fix: add ssl_certificate_key with the key of CN=c.test to that server block" in c.message
    # Written in the same block, the key is what is wrong: reported at the key line, as before.
    conf.write_text(conf.read_text().replace(f"ssl_certificate_key {tmp_path}/b.key;",
                                             f"ssl_certificate_key {tmp_path}/c.key;"))
    assert [finding.line for finding in findings(conf, "SSL005")] == [9, 14, 20]


def test_a_virtual_host_that_forgets_its_key_is_told_at_its_own_certificate(tmp_path):
    """mod_ssl the same: a <VirtualHost> with its own SSLCertificateFile and no SSLCertificateKeyFile
    takes the server config's key at that position, and apache2 stops with AH02565 (the SSL005 rule
    case "apache virtual host pairs its certificate with the server config's key" starts apache2)."""
    _pki(tmp_path)
    site = tmp_path / "site.conf"
    site.write_text(f"SSLCertificateFile {tmp_path}/a.pem\nSSLCertificateKeyFile {tmp_path}/a.key\n"
                    f"<VirtualHost {LOOPBACK}:8443>\n    ServerName b.test\n    SSLEngine on\n"
                    f"    SSLCertificateFile {tmp_path}/b.pem\n</VirtualHost>\n")
    (found,) = findings(site, "SSL005")
    assert found.line == 6 and found.message.startswith(
        f'SSLCertificateFile "{tmp_path}/b.pem" has no SSLCertificateKeyFile in its <VirtualHost>;')
    assert "AH02565" in found.message and f"inherits from {site}:2" in found.message


# ---------------------------------------------------------------- 5: SSL001 in the server's own words


@pytest.mark.parametrize("body,words", [
    ("server {{ listen 127.0.0.1:{port} ssl; server_name a.test; }}",
     'no "ssl_certificate" is defined for the "listen ... ssl" directive'),
    ("server {{ listen 127.0.0.1:{port}; server_name a.test; }}\nserver {{ listen 127.0.0.1:{port} ssl; {cert} }}",
     'no "ssl_certificate" is defined for the "listen ... ssl" directive'),  # the first server is the default
    ("server {{ listen 127.0.0.1:{port} ssl; server_name a.test; {cert} http2 on; }}", 'unknown directive "http2"'),
    ("add_header_inherit merge; server {{ listen 127.0.0.1:{port} ssl; server_name a.test; {cert} }}",
     'unknown directive "add_header_inherit"'),
    ("server {{ listen 127.0.0.1:{port} quic; listen 127.0.0.1:{port} ssl; server_name a.test; {cert} }}",
     'invalid parameter "quic"'),
    ("server {{ listen 127.0.0.1:{port} ssl; server_name a.test; {cert} if ($host = x) {{ add_header X-A b; }} }}",
     '"add_header" directive is not allowed here'),
])
def test_nginx_refuses_in_the_words_sslint_quotes(tmp_path, body, words):
    require("nginx")
    _pki(tmp_path)
    cert = f"ssl_certificate {tmp_path}/a.pem; ssl_certificate_key {tmp_path}/a.key;"
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n" + body.format(port=free_port(), cert=cert) + "\n}\n")
    verdict = nginx_test(conf, tmp_path)
    assert not verdict.ok and words in verdict.output, verdict.output  # nginx 1.22.1
    line = int(verdict.output.split(f"{conf}:", 1)[1].split()[0].rstrip(")"))
    found = [finding for finding in findings(conf, "SSL001", "nginx/1.22.1") if words in finding.message]
    assert [(finding.line, finding.severity) for finding in found] == [(line, "error")]
    if "ssl_certificate" not in words and "not allowed" not in words:  # judged for no version: info
        unknown = [finding for finding in findings(conf, "SSL001", "none") if words in finding.message]
        assert [finding.severity for finding in unknown] == ["info"]
        assert "the judged version is unknown" in unknown[0].message


def test_nginx_starts_the_configurations_sslint_passes(tmp_path):
    """ssl_reject_handshake in the default server, add_header in a location-level if."""
    require("nginx")
    _pki(tmp_path)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    access_log off;\n"
                    f"    server {{ listen {LOOPBACK}:{port} ssl default_server; ssl_reject_handshake on; }}\n"
                    + _nginx_server(tmp_path, [f"{LOOPBACK}:{port} ssl"], "a.test", "a",
                                    "location / { if ($host = x) { add_header X-A b; } } ") + "}\n")
    with running_nginx(conf, tmp_path, port=port):
        assert handshake(LOOPBACK, port, "a.test") == "CN=a.test"
        assert "unrecognized name" in handshake(LOOPBACK, port, "other.test")
    assert findings(conf, "SSL001", "nginx/1.22.1") == []
