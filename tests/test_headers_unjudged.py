"""A Content-Security-Policy picked by a regex sslint cannot run (model/pattern.py: RE2 only, never a
backtracking engine) is "cannot tell", at info level, and the finding says which regex and why.

nginx and apache2 run the same regex on PCRE: the real servers, serving an HTML page, are the
witnesses that the regex is valid configuration whose verdict sslint can only leave to the admin.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from judges import LOOPBACK, free_port, http_get, needs_apache, needs_nginx, running_apache, running_nginx

from nginxssl.catalogue import catalogue
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.model.headers import MapDef, condition_problem
from nginxssl.model.node import Node
from nginxssl.model.settings import Settings

SETTINGS = Settings(now=datetime(2026, 12, 1, tzinfo=timezone.utc), server_version="1.22.1")
PKI = {
    "pki": {"root": {"ca": True}, "a": {"issuer": "root", "names": ["a.test"]}},
    "files": {"a.pem": ["a"], "a.key": {"key": "a"}},
}
LOOKAHEAD = "^text/(?!plain)"  # PCRE takes it; RE2 has no lookaround
NGINX = """events {{}}
http {{
    access_log off;
    map $sent_http_content_type $csp {{
        default "";
        "~{regex}" "upgrade-insecure-requests";
    }}
    server {{
        listen {address}:{port} ssl;
        server_name a.test;
        ssl_certificate {pki}/a.pem;
        ssl_certificate_key {pki}/a.key;
        add_header Content-Security-Policy $csp always;
        default_type text/html;
        return 200 "<!doctype html>";
    }}
}}
"""
APACHE = """AddType text/html .html
<VirtualHost {address}:{port}>
    ServerName a.test
    SSLEngine on
    SSLCertificateFile {pki}/a.pem
    SSLCertificateKeyFile {pki}/a.key
    Header always set Content-Security-Policy "upgrade-insecure-requests" "expr=%{{CONTENT_TYPE}} =~ m#{regex}#i"
</VirtualHost>
"""


def csp401(findings) -> list:
    return [finding for finding in findings if finding.rule == "SSL401"]


def test_the_map_says_which_regex_kept_its_value_unknown():
    node = Node("map", ("$sent_http_content_type", "$csp"), "nginx.conf", 4)
    mapping = MapDef(node, "$sent_http_content_type", (("text/plain", "none"), (f"~{LOOKAHEAD}", "upgrade")), "")
    assert mapping.value_for("text/html") is None
    unjudged = mapping.unjudged_for("text/html")
    assert unjudged is not None and (unjudged.node, unjudged.regex) == (node, f"~{LOOKAHEAD}")
    assert unjudged.problem.startswith("RE2, the linear-time engine sslint runs config regexes on, cannot read it")
    assert mapping.unjudged_for("text/plain") is None and mapping.value_for("text/plain") == "none"  # exact first
    assert condition_problem(f"expr=%{{CONTENT_TYPE}} =~ m#{LOOKAHEAD}#i") == unjudged.problem
    assert condition_problem("expr=%{CONTENT_TYPE} =~ m#text/html#i") is None


@needs_nginx
def test_nginx_map_regex_sslint_cannot_run(tmp_path: Path):
    from pki import build

    build(PKI, tmp_path)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX.format(address=LOOPBACK, port=port, pki=tmp_path, regex=LOOKAHEAD))
    with running_nginx(conf, tmp_path):
        status, headers = http_get(port, "/index.html", host="a.test")
    # The witness: nginx's PCRE ran the lookahead and sent the upgrade with the HTML page.
    assert (status, headers.get("content-security-policy")) == (200, "upgrade-insecure-requests")
    findings = csp401(lint(discover(str(conf)), SETTINGS, tuple(catalogue())).findings)
    assert [(finding.severity, finding.line) for finding in findings] == [("info", 13)]  # at the add_header
    message = findings[0].message
    assert message.startswith("sslint cannot tell whether ")
    assert f"comes from the map at {conf}:4, whose regex '~{LOOKAHEAD}' sslint cannot judge for an HTML page" \
        in message
    assert "RE2, the linear-time engine sslint runs config regexes on, cannot read it" in message


@needs_apache
def test_apache_expr_regex_sslint_cannot_run(tmp_path: Path):
    from pki import build

    build(PKI, tmp_path)
    port = free_port()
    site = tmp_path / "site.conf"
    site.write_text(APACHE.format(address=LOOPBACK, port=port, pki=tmp_path, regex=LOOKAHEAD))
    with running_apache(site, tmp_path, port=port):
        status, headers = http_get(port, "/index.html", host="a.test")
    assert (status, headers.get("content-security-policy")) == (200, "upgrade-insecure-requests")  # PCRE ran it
    findings = csp401(lint(discover(str(site), "apache"), SETTINGS, tuple(catalogue())).findings)
    assert [(finding.severity, finding.line) for finding in findings] == [("info", 7)]
    message = findings[0].message
    assert "applies only to some requests" in message
    assert "and sslint cannot judge its regex for an HTML page: RE2, the linear-time engine" in message
