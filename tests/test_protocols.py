"""SSL501, SSL504, SSL505 judged by the real programs.

* SSL501: `openssl s_client -tls1 / -tls1_3` against a real nginx and apache2 says which
  protocol versions a client really gets; sslint's message must tell the same story
  (enabled, dead at OpenSSL 3's security level, or no protocol at all). The client
  offers every cipher (@SECLEVEL=0) so that only the server decides.
* SSL504: a server with certificates behind `listen PORT;` answers plain HTTP (a TLS
  handshake fails, an http:// GET works); `ssl on` on nginx < 1.25.1 and a socket made
  TLS by another server's `listen ... ssl` really speak TLS -- no "plain HTTP" claim.
* SSL505: what sslint says nginx will log is what `nginx -t` prints.
"""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from judges import (
    LOOPBACK,
    find_binary,
    free_port,
    http_get,
    needs_apache,
    needs_nginx,
    needs_openssl,
    nginx_test,
    running_apache,
    running_nginx,
)

from nginxssl.catalogue import catalogue
from nginxssl.checks.protocols import apache_default_protocols, apache_protocols, nginx_default_protocols
from nginxssl.discover import discover
from nginxssl.engine.installed import build_for, installed
from nginxssl.engine.lint import lint
from nginxssl.model.build import Build, parse_build
from nginxssl.model.settings import Settings

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
PKI = {"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
               "leaf": {"issuer": "inter", "names": ["a.test", "b.test"]}},
       "files": {"a.pem": ["leaf", "inter"], "leaf.pem": ["leaf"], "a.key": {"key": "leaf"}}}
_VERSION_FLAGS = {"TLSv1": "-tls1", "TLSv1.1": "-tls1_1", "TLSv1.2": "-tls1_2", "TLSv1.3": "-tls1_3"}


def handshake(port: int, version: str, servername: str = "a.test") -> bool:
    """Does a client that offers only `version` (and every cipher) complete a handshake?"""
    argv = [find_binary("openssl"), "s_client", "-connect", f"{LOOPBACK}:{port}", "-servername", servername,
            _VERSION_FLAGS[version]]
    if version != "TLSv1.3":
        argv += ["-cipher", "DEFAULT@SECLEVEL=0"]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
    # The session block ("Protocol  : TLSv1.2"; "Protocol: ..." in OpenSSL 3.2+) is printed only
    # once a TLS 1.3 session ticket arrived, which races with s_client's exit: there the
    # "New, TLSv1.3, Cipher is ..." line tells.
    negotiated = re.search(r"^\s*Protocol\s*:\s*(\S+)", done.stdout, re.MULTILINE)
    if version == "TLSv1.3":
        return done.returncode == 0 and re.search(r"^New, TLSv1\.3, Cipher is (?!\(NONE\))", done.stdout,
                                                  re.MULTILINE) is not None
    return done.returncode == 0 and negotiated is not None and negotiated.group(1) == version


def lint_path(path: Path, server: str | None = None, version: str | None = None):
    settings = Settings(now=NOW, server_version=version)
    return lint(discover(str(path), server), settings, tuple(catalogue()))


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    from pki import build

    build(PKI, tmp_path)
    return tmp_path


# ----------------------------------------------------------------- what the servers enable


def test_nginx_defaults_by_version():
    assert nginx_default_protocols(Build("nginx", (1, 22, 1))) == ("TLSv1", "TLSv1.1", "TLSv1.2")
    assert nginx_default_protocols(Build("nginx", (1, 23, 4))) == ("TLSv1.2", "TLSv1.3")
    assert "SSLv3" in nginx_default_protocols(Build("nginx", (1, 8, 0)))


def test_apache_protocol_words():
    assert apache_protocols(("all", "-SSLv3")) == ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
    assert apache_protocols(("-all", "+TLSv1.2", "+TLSv1.3")) == ("TLSv1.2", "TLSv1.3")
    assert apache_protocols(("TLSv1.2", "TLSv1.1")) == ("TLSv1.1",)  # a bare word replaces the set
    assert apache_protocols(("ALL", "-tlsv1", "-TLSV1.1")) == ("TLSv1.2", "TLSv1.3")
    assert apache_protocols(("all",), openssl_has_sslv3=True)[0] == "SSLv3"
    assert apache_default_protocols() == ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def test_builds_are_parsed_and_named():
    build = parse_build("nginx", "nginx/1.22.1 OpenSSL/3.0.13")
    assert build.version == (1, 22, 1) and build.openssl == (3, 0, 13)
    output = "nginx/1.18.0\nbuilt with OpenSSL 1.1.1w  11 Sep 2023 (running with OpenSSL 3.0.2 15 Mar 2022)"
    assert parse_build("nginx", output).openssl == (3, 0, 2)  # the library in use, not the headers
    assert build_for("nginx", "none") is None and build_for("nginx", "1.25.1").version == (1, 25, 1)


@needs_nginx
def test_the_installed_nginx_is_asked():
    build = installed("nginx")
    version = subprocess.run([find_binary("nginx"), "-v"], capture_output=True, text=True).stderr
    assert build is not None and build.version_text in version


# ----------------------------------------------------------------- SSL501 against handshakes

# What SSL501 says where the installed OpenSSL refuses TLS 1.0/1.1 at its default security level.
REFUSED = "no handshake uses them today"

PROTOCOL_CONF = """
events {{}}
http {{
    access_log off;
    ssl_certificate {pki}/a.pem;
    ssl_certificate_key {pki}/a.key;
    server {{ listen 127.0.0.1:{explicit} ssl; ssl_protocols TLSv1 TLSv1.1 TLSv1.2; return 200; }}
    server {{ listen 127.0.0.1:{seclevel} ssl; ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
              ssl_ciphers DEFAULT@SECLEVEL=0; return 200; }}
    server {{ listen 127.0.0.1:{sslv3} ssl; ssl_protocols SSLv3; return 200; }}
    server {{ listen 127.0.0.1:{tls1only} ssl; ssl_protocols TLSv1; return 200; }}
    server {{ listen 127.0.0.1:{default} ssl; return 200; }}
    server {{ listen 127.0.0.1:{modern} ssl; ssl_protocols TLSv1.2 TLSv1.3; return 200; }}
}}
"""


@needs_nginx
@needs_openssl
def test_ssl501_tells_what_a_client_gets_from_nginx(pki_dir):
    ports = {name: free_port() for name in ("explicit", "seclevel", "sslv3", "tls1only", "default", "modern")}
    conf = pki_dir / "nginx.conf"
    conf.write_text(PROTOCOL_CONF.format(pki=pki_dir, **ports))
    result = lint_path(conf)  # judged for the installed nginx, as a user runs it
    build = installed("nginx")
    findings = {f.line: f for f in result.findings if f.rule == "SSL501"}
    lines = {name: next(i for i, text in enumerate(conf.read_text().splitlines(), 1) if f":{port} ssl" in text)
             for name, port in ports.items()}
    with running_nginx(conf, pki_dir):
        got = {name: {version: handshake(port, version) for version in _VERSION_FLAGS}
               for name, port in ports.items()}

    explicit = findings[lines["explicit"]]
    # What the message claims about TLS 1.0 is what the handshake shows, and the severity with it:
    # a warning where an old client gets through, info where the installed OpenSSL refuses it.
    assert got["explicit"]["TLSv1"] == (REFUSED not in explicit.message), (got, explicit.message)
    assert explicit.severity == ("warning" if got["explicit"]["TLSv1"] else "info")
    seclevel = findings[lines["seclevel"]]
    assert got["seclevel"]["TLSv1"] and REFUSED not in seclevel.message and seclevel.severity == "warning"
    sslv3 = findings[lines["sslv3"]]
    assert not any(got["sslv3"].values()) and sslv3.severity == "error"  # no protocol at all
    # Error exactly where no client of any version gets through (TLSv1 alone is dead at OpenSSL 3's level).
    for name in ("explicit", "seclevel", "sslv3", "tls1only"):
        assert (findings[lines[name]].severity == "error") == (not any(got[name].values())), (name, got[name])
    assert lines["modern"] not in findings and got["modern"]["TLSv1.2"] and not got["modern"]["TLSv1.1"]
    # The one server without ssl_protocols (the others write theirs): reported at that server block,
    # the place that decides, with the severity the same effect has when written.
    default = next((f for f in findings.values() if f.message.startswith("ssl_protocols is not set")), None)
    if build.at_least(1, 23, 4):
        assert default is None and got["default"]["TLSv1.3"]
    else:  # the old default: no TLS 1.3, TLS 1.0/1.1 asked for
        assert default is not None and default.line == lines["default"], default
        assert "not TLSv1.3" in default.message and not got["default"]["TLSv1.3"]
        assert got["default"]["TLSv1"] == (default.severity == "warning") == (REFUSED not in default.message)
        assert default.severity == explicit.severity


@needs_apache
@needs_openssl
def test_ssl501_tells_what_a_client_gets_from_apache(pki_dir):
    port = free_port()
    site = pki_dir / "site.conf"
    site.write_text(f"""<VirtualHost 127.0.0.1:{port}>
    ServerName a.test
    SSLEngine on
    SSLProtocol all -SSLv3
    SSLCertificateFile {pki_dir}/a.pem
    SSLCertificateKeyFile {pki_dir}/a.key
</VirtualHost>
""")
    result = lint_path(site, "apache")
    found = [f for f in result.findings if f.rule == "SSL501"]
    with running_apache(site, pki_dir, port=port):
        got = {version: handshake(port, version) for version in _VERSION_FLAGS}
    assert len(found) == 1 and found[0].line == 4 and "TLSv1, TLSv1.1" in found[0].message
    assert got["TLSv1.2"] and got["TLSv1.3"]  # `all` really includes TLS 1.3
    assert got["TLSv1"] == (REFUSED not in found[0].message), (got, found[0].message)
    assert found[0].severity == ("warning" if got["TLSv1"] else "info")


# ----------------------------------------------------------------- SSL504 against the wire


@needs_nginx
@needs_openssl
def test_ssl504_plain_http_on_a_tls_port(pki_dir):
    """A server with its own certificates behind a plain listen answers plain HTTP where its
    admin meant TLS: SSL504. One that only inherits http's default certificates and listens
    plainly on another port (metrics, an internal API) is plain on purpose: nothing."""
    plain, ssl_on, shared, internal = free_port(), free_port(), free_port(), free_port()
    build = installed("nginx")
    ssl_on_server = "" if build.at_least(1, 25, 1) else f"""
    server {{ listen 127.0.0.1:{ssl_on}; server_name a.test; ssl on; return 200; }}"""
    conf = pki_dir / "nginx.conf"
    conf.write_text(f"""events {{}}
http {{
    access_log off;
    ssl_certificate {pki_dir}/a.pem;
    ssl_certificate_key {pki_dir}/a.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {{ listen 127.0.0.1:{plain}; server_name a.test; ssl_certificate {pki_dir}/a.pem;
             ssl_certificate_key {pki_dir}/a.key; return 200; }}
    server {{ listen 127.0.0.1:{internal}; server_name metrics.internal; return 200; }}
    server {{ listen 127.0.0.1:{shared} ssl; server_name a.test; return 200; }}
    server {{ listen 127.0.0.1:{shared}; server_name b.test; return 200; }}{ssl_on_server}
}}
""")
    result = lint_path(conf)
    text = conf.read_text().splitlines()
    line_of = {port: next(i for i, row in enumerate(text, 1) if f":{port};" in row)
               for port in (plain, shared, internal)}
    with running_nginx(conf, pki_dir, port=plain):
        assert not handshake(plain, "TLSv1.2")
        assert http_get(plain, "/", "a.test", tls=False)[0] == 200  # what the browser's TLS meets: HTTP
        assert http_get(internal, "/", "metrics.internal", tls=False)[0] == 200  # plain, as meant
        assert http_get(shared, "/", "b.test", tls=True)[0] == 200  # the socket is TLS for b.test too
        if ssl_on_server:
            assert http_get(ssl_on, "/", "a.test", tls=True)[0] == 200
    found = [f for f in result.findings if f.rule == "SSL504"]
    plain_http = [f for f in found if "plain HTTP" in f.message]
    assert [(f.line, f.severity) for f in plain_http] == [(line_of[plain], "error")]
    assert line_of[shared] not in {f.line for f in found} and line_of[internal] not in {f.line for f in found}
    if ssl_on_server:  # obeyed by this nginx: a deprecation warning, never "plain HTTP"
        (deprecated,) = [f for f in found if "`ssl on`" in f.message]
        assert deprecated.severity == "warning" and build.program in deprecated.message


@needs_nginx
@needs_openssl
def test_ssl504_fix_keeps_the_ssl_off_that_shields_a_plain_server(pki_dir):
    """Under an http-level `ssl on` (here one --fix cannot delete: it shares its line), the
    `ssl off` of the one plain server is what keeps it plain: --fix must leave it, and must not
    take its plain listen, beside inherited certificates, for a forgotten `ssl` (either would turn
    that port into TLS). nginx judges the result."""
    if installed("nginx").at_least(1, 25, 1):
        pytest.skip("this nginx no longer knows `ssl on`")
    tls, plain = free_port(), free_port()
    conf = pki_dir / "nginx.conf"
    conf.write_text(f"""events {{}}
http {{
    access_log off;
    ssl on; ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate {pki_dir}/a.pem;
    ssl_certificate_key {pki_dir}/a.key;
    server {{
        listen 127.0.0.1:{tls};
        server_name a.test;
        return 200;
    }}
    server {{
        listen 127.0.0.1:{plain};
        server_name b.test;
        ssl off;
        return 200;
    }}
}}
""")
    from nginxssl.cli import main

    with pytest.raises(SystemExit):
        main([str(conf), "--fix", "--server-version", "1.22.1", "--now", "2030-01-01T00:00:00Z"])
    fixed = conf.read_text()
    assert f"listen 127.0.0.1:{tls} ssl;" in fixed  # what `ssl on` did there, written out
    assert "ssl on; ssl_protocols" in fixed and "        ssl off;\n" in fixed
    with running_nginx(conf, pki_dir, port=tls):
        assert http_get(tls, "/", "a.test", tls=True)[0] == 200
        assert http_get(plain, "/", "b.test", tls=False)[0] == 200  # still plain, as before the fix


@needs_nginx
@needs_openssl
def test_ssl_on_decides_a_socket_only_in_its_default_server(pki_dir):
    """nginx 1.22.1 reads `ssl on` of a socket's default server only. Measured: behind a plain
    default server, a block with `ssl on` answers http:// (its handshake fails), and `nginx -t`
    passes (sslint said SSL001 'no "ssl_certificate" is defined for the "listen ... ssl"
    directive' of the plain default and 'nginx will refuse to start'); behind an `ssl on` default,
    a plain block answers https://. --fix writes `ssl` only where `ssl on` made a listen TLS: the
    plain socket stays plain for its default and the `ssl on` block."""
    if installed("nginx").at_least(1, 25, 1):
        pytest.skip("this nginx no longer knows `ssl on`")
    plain, tls = free_port(), free_port()
    conf = pki_dir / "nginx.conf"
    conf.write_text(f"""events {{}}
http {{
    access_log off;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {{ listen 127.0.0.1:{plain}; server_name plain.test; return 200; }}
    server {{
        listen 127.0.0.1:{plain};
        ssl on;
        server_name a.test;
        ssl_certificate {pki_dir}/a.pem;
        ssl_certificate_key {pki_dir}/a.key;
        return 200;
    }}
    server {{
        listen 127.0.0.1:{tls};
        ssl on;
        server_name b.test;
        ssl_certificate {pki_dir}/a.pem;
        ssl_certificate_key {pki_dir}/a.key;
        return 200;
    }}
    server {{ listen 127.0.0.1:{tls}; server_name c.test; return 200; }}
}}
""")

    def judged() -> None:
        assert nginx_test(conf).ok
        with running_nginx(conf, pki_dir, port=plain):
            assert not handshake(plain, "TLSv1.2")
            assert http_get(plain, "/", "a.test", tls=False)[0] == 200
            assert http_get(plain, "/", "plain.test", tls=False)[0] == 200
            assert http_get(tls, "/", "b.test", tls=True)[0] == 200
            assert http_get(tls, "/", "c.test", tls=True)[0] == 200

    judged()
    found = lint_path(conf, version="1.22.1").findings
    assert not [f for f in found if f.rule == "SSL001"]
    ignored = [f for f in found if f.rule == "SSL504" and f.line == 8]
    assert len(ignored) == 1 and f"not on `listen 127.0.0.1:{plain}` ({conf}:7)" in ignored[0].message
    assert "answers plain HTTP there" in ignored[0].message
    from nginxssl.cli import main

    with pytest.raises(SystemExit):
        main([str(conf), "--fix", "--select", "SSL504", "--server-version", "1.22.1", "--now", "2030-01-01T00:00:00Z"])
    fixed = conf.read_text()
    assert f"listen 127.0.0.1:{tls} ssl;" in fixed and "ssl on" not in fixed
    assert f"listen 127.0.0.1:{plain};" in fixed and f"listen 127.0.0.1:{plain} ssl" not in fixed
    judged()  # the same answers after the fix


def test_ssl504_ssl_on_wording_follows_the_version(tmp_path):
    site = tmp_path / "site.conf"
    site.write_text("server {\n    listen 443;\n    listen 80;\n    server_name a.test;\n    ssl on;\n}\n")
    old = [f for f in lint_path(site, version="1.22.1").findings if f.rule == "SSL504"]
    new = [f for f in lint_path(site, version="1.25.1").findings if f.rule == "SSL504"]
    unknown = [f for f in lint_path(site, version="none").findings if f.rule == "SSL504"]
    assert [f.severity for f in old] == ["warning"] and "still obeys it" in old[0].message
    assert "listen 80" in old[0].message  # ssl on turns port 80 into TLS too
    assert [f.severity for f in new] == ["error"] and "refuses to start" in new[0].message
    assert [f.severity for f in unknown] == ["warning"] and "could not tell" in unknown[0].message


# ----------------------------------------------------------------- SSL505 against nginx -t


@needs_nginx
@pytest.mark.parametrize("server, logged", [
    ("ssl_certificate {pki}/leaf.pem; resolver 127.0.0.53;", "issuer certificate not found"),
    ("ssl_certificate {pki}/a.pem; resolver 127.0.0.53;", "no OCSP responder URL in the certificate"),
    ("ssl_certificate {pki}/a.pem; ssl_stapling_responder http://ocsp.ca.test/;", "host not found in OCSP responder"),
])
def test_ssl505_says_what_nginx_logs(pki_dir, server, logged):
    conf = pki_dir / "nginx.conf"
    conf.write_text(f"""events {{}}
http {{
    server {{
        listen 127.0.0.1:{free_port()} ssl;
        server_name a.test;
        {server.format(pki=pki_dir)}
        ssl_certificate_key {pki_dir}/a.key;
        ssl_stapling on;
    }}
}}
""")
    verdict = nginx_test(conf)
    assert verdict.ok and logged in verdict.output, verdict.output
    found = [f for f in lint_path(conf).findings if f.rule == "SSL505"]
    assert len(found) == 1 and logged in found[0].message, found


@needs_nginx
def test_ssl_on_fix_keeps_every_listen_tls(pki_dir):
    """--fix for `ssl on`: `ssl` onto every listen (port 80 too: that is what `ssl on` did), the line goes;
    nginx -t accepts the result and the server speaks TLS exactly where it did."""
    from nginxssl.fix.plan import plan

    site = pki_dir / "site.conf"
    site.write_text(f"server {{\n    listen 127.0.0.1:{free_port()};\n    listen 127.0.0.1:{free_port()} http2;\n"
                    f"    server_name a.test;\n    ssl on;\n    ssl_certificate {pki_dir}/a.pem;\n"
                    f"    ssl_certificate_key {pki_dir}/a.key;\n}}\n")
    (finding,) = [f for f in lint_path(site, version="1.22.1").findings if f.rule == "SSL504"]
    new = plan(list(finding.fix.edits))[str(site)].new.decode()
    assert "    ssl on;" not in new
    assert [line.split()[-1] for line in new.splitlines() if "listen" in line] == ["ssl;", "ssl;"]
    site.write_text(new)
    main = pki_dir / "nginx.conf"
    main.write_text(f"events {{}}\nhttp {{\n    include {site};\n}}\n")
    assert nginx_test(main).ok
    assert not [f for f in lint_path(site, version="1.22.1").findings if f.rule == "SSL504"]
