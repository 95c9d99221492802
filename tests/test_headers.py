"""Effective response headers (nginxssl/headers.py) and SSL401-SSL404 on real-world trees.

The inheritance rules are nginx's and mod_headers' own; tests/test_headers_live.py
shows a real nginx and apache2 send exactly what this model predicts. Here: the
model on small configs, variable resolution, and the corpus benchmarks --
badssl.com's EXPECTED-sslint.tsv (csp column) and h5bp's CSP through a `map`.
"""

from __future__ import annotations

import csv
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import CORPUS

from nginxssl.catalogue import catalogue
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.model.headers import CSP, HSTS, UNKNOWN, Header, MapDef, Variables
from nginxssl.model.node import Node
from nginxssl.model.settings import Settings
from nginxssl.parse.apache.reader import parse_apache
from nginxssl.parse.nginx import parse_nginx
from nginxssl.sites import sites_of
from nginxssl.sites.headers.apache import apache_apply, apache_headers
from nginxssl.sites.headers.values import csp_directive_names, csp_upgrade, hsts, hsts_max_age

BADSSL = CORPUS / "badssl.com"
H5BP = CORPUS / "h5bp-server-configs-nginx"
BADSSL_NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
SETTINGS = Settings(now=BADSSL_NOW, server_version="nginx/1.22.1 OpenSSL/3.0.13")


def site_headers(tmp_path: Path, text: str, name: str | None = None):
    """The ResponseHeaders of the (first, or named) TLS site of an nginx config text."""
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    sites = [site for site in sites_of(parse_nginx(str(path))) if site.headers is not None]
    if name is not None:
        sites = [site for site in sites if name in site.name_list]
    return sites[0].headers


def keys(scope) -> list[str]:
    return [header.key for header in scope.headers]


def by_label(headers, label: str):
    return next(scope for scope in headers.scopes if scope.label == label)


def run(path: Path, root: Path | None = None, settings: Settings = SETTINGS):
    if root is not None:
        settings = Settings(now=settings.now, server_version=settings.server_version, root=str(root))
    return lint(discover(str(path)), settings, tuple(catalogue())).findings


# ----------------------------------------------------------------- nginx inheritance


def test_a_level_with_its_own_add_header_inherits_none(tmp_path):
    headers = site_headers(tmp_path, """
        events {}
        http {
            add_header Strict-Transport-Security "max-age=1" always;
            server {
                listen 443 ssl;
                location / { }
                location /own { add_header X-A 1; }
                location /nest {
                    location /nest/deeper { }
                    location /nest/own { add_header X-B 2; }
                    if ($arg_x) { add_header X-C 3; }
                }
            }
        }""")
    assert keys(headers.base) == [HSTS]  # the server inherits the http level
    assert keys(by_label(headers, "location /")) == [HSTS]
    assert keys(by_label(headers, "location /own")) == ["x-a"]
    assert by_label(headers, "location /own").dropped() [0].key == HSTS
    assert keys(by_label(headers, "location /nest/deeper in location /nest")) == [HSTS]
    assert keys(by_label(headers, "location /nest/own in location /nest")) == ["x-b"]
    assert keys(by_label(headers, "if ($arg_x) in location /nest")) == ["x-c"]


def test_add_header_inherit_merge_off_and_its_own_inheritance(tmp_path):
    headers = site_headers(tmp_path, """
        events {}
        http {
            add_header_inherit merge;
            add_header Content-Security-Policy "upgrade-insecure-requests" always;
            server {
                listen 443 ssl;
                add_header X-S 1;
                location /a { add_header X-A 1; }
                location /b { add_header_inherit on; add_header X-B 1; }
                location /c { add_header_inherit off; }
                location /d { location /d/e { add_header X-E 1; } }
            }
        }""")
    assert keys(headers.base) == ["x-s", CSP]  # merge: own first, then the parent's
    assert keys(by_label(headers, "location /a")) == ["x-a", "x-s", CSP]
    assert keys(by_label(headers, "location /b")) == ["x-b"]  # `on` restores replacement
    assert keys(by_label(headers, "location /c")) == []  # `off` inherits nothing, even with no add_header
    assert by_label(headers, "location /c").replaces
    assert keys(by_label(headers, "location /d/e in location /d")) == ["x-e", "x-s", CSP]  # mode inherited


def test_always_and_empty_values(tmp_path):
    headers = site_headers(tmp_path, """
        server {
            listen 443 ssl;
            add_header Content-Security-Policy "upgrade-insecure-requests";
            add_header Strict-Transport-Security "max-age=60" always;
            location /empty { add_header Content-Security-Policy ""; }
        }""")
    csp, hsts_header = headers.base.headers
    assert not csp.always and hsts_header.always
    # An empty value sends nothing, but still counts as an add_header of that level.
    assert csp_upgrade(by_label(headers, "location /empty").headers, headers.variables).status == "absent"


def test_responses_redirect_closed_and_catch_all(tmp_path):
    headers = site_headers(tmp_path, """
        server {
            listen 443 ssl;
            location / { }
            location /old { return 301 /new; }
            location /gone { return 444; }
            location /plain { return https://a.test/; }
            location /back { rewrite ^ http://a.test/ permanent; }
        }""")
    assert [scope.response for scope in headers.scopes] == [
        "content", "content", "redirect", "closed", "redirect", "redirect-http"]
    assert 0 not in headers.endpoints()  # `location /` takes every URI the others leave
    redirect = site_headers(tmp_path, "server { listen 443 ssl; return 301 https://b.test$request_uri; }")
    assert redirect.endpoints() == (0,) and not redirect.serves_content()


def test_more_set_headers_counts_on_every_status(tmp_path):
    headers = site_headers(tmp_path, """
        server {
            listen 443 ssl;
            more_set_headers "Strict-Transport-Security: max-age=60";
            more_set_headers -s 404 "Content-Security-Policy: upgrade-insecure-requests";
            location /x { add_header X-A 1; }
        }""")
    by_key = {header.key: header for header in by_label(headers, "location /x").headers}
    assert by_key[HSTS].always and not by_key[CSP].always  # headers-more: -s limits the statuses


# ----------------------------------------------------------------- values


def node(directive: str, *args: str) -> Node:
    return Node(directive, args, "t.conf", 1)


def test_map_on_the_response_type_is_evaluated_for_an_html_page():
    mapping = MapDef(node("map"), "$sent_http_content_type",
                     (("~*text/(html|javascript)|application/pdf|xml", "upgrade-insecure-requests"),
                      ("text/css", "default-src 'self'")), default="")
    resolution = Variables({"csp": mapping}).resolve("$csp")
    assert resolution.values == ("upgrade-insecure-requests",) and resolution.for_documents
    assert mapping.value_for("TEXT/CSS") == "default-src 'self'"  # exact keys compare case-insensitively
    assert mapping.value_for("image/png") == ""


def test_map_set_nesting_and_unknown_variables():
    maps = {"base": MapDef(node("map"), "$host", (("a.test", "default-src 'self'"),), default="img-src *"),
            "loop": MapDef(node("map"), "$host", (), default="$loop")}
    sets = {"csp": (node("set", "$csp", "${base}; upgrade-insecure-requests"),)}
    variables = Variables(maps, sets)
    resolution = variables.resolve("$csp")
    assert set(resolution.values) == {"default-src 'self'; upgrade-insecure-requests",
                                      "img-src *; upgrade-insecure-requests"}
    assert not resolution.unknown
    assert variables.resolve("$http_x_csp").unknown == ("$http_x_csp",)
    assert variables.resolve("$loop").unknown == ("$loop",)  # a cycle is unknowable, not a hang
    header = Header("Content-Security-Policy", "$csp", True, node("add_header"))
    assert csp_upgrade([header], variables).status == "present"
    mixed = Header("Content-Security-Policy", "$base", True, node("add_header"))
    assert csp_upgrade([mixed], variables).reason == "no-upgrade"
    unknown = Header("Content-Security-Policy", "$http_x; default-src 'self'", True, node("add_header"))
    assert csp_upgrade([unknown], variables).status == "undecidable"


def test_csp_and_hsts_parsing():
    assert "upgrade-insecure-requests" in csp_directive_names("default-src 'self';  Upgrade-Insecure-Requests ;")
    assert "upgrade-insecure-requests" in csp_directive_names("default-src 'self', upgrade-insecure-requests")
    assert "upgrade-insecure-requests" not in csp_directive_names("default-src upgrade-insecure-requests")
    assert "upgrade-insecure-requests" not in csp_directive_names(f"upgrade-insecure-requests{UNKNOWN}")
    assert hsts_max_age('max-age="31536000"; includeSubDomains') == 31536000
    assert hsts_max_age("includeSubDomains") is None
    zero = Header("Strict-Transport-Security", "max-age=0", True, node("add_header"))
    assert hsts([zero], Variables()).reason == "max-age-0"
    report_only = Header("Content-Security-Policy-Report-Only", "upgrade-insecure-requests", True,
                         node("add_header"))
    assert csp_upgrade([report_only], Variables()).reason == "report-only"


# ----------------------------------------------------------------- Apache


def test_apache_tables_and_actions():
    def action(*args: str) -> Header:
        from nginxssl.sites.headers.apache import _apache_header

        return _apache_header(node("header", *args))

    result = apache_apply([
        action("set", "Content-Security-Policy", "default-src 'self'"),
        action("always", "set", "Strict-Transport-Security", "max-age=60"),
        action("append", "Content-Security-Policy", "upgrade-insecure-requests"),
        action("unset", "Strict-Transport-Security"),  # onsuccess unset leaves the always table alone
        action("set", "X-A", "1", "env=HTTPS"),
    ])
    by_key = {header.key: header for header in result}
    assert by_key[HSTS].always
    assert by_key[CSP].value == "default-src 'self', upgrade-insecure-requests" and not by_key[CSP].always
    assert by_key["x-a"].conditional


def test_apache_sections_merge_down(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("""Header always set Strict-Transport-Security "max-age=60"
<VirtualHost *:443>
    ServerName a.test
    Header always set Content-Security-Policy "upgrade-insecure-requests"
    <Location /api>
        Header set Access-Control-Allow-Origin "*"
    </Location>
    <Location /raw>
        Header always unset Content-Security-Policy
    </Location>
</VirtualHost>
""")
    config = parse_apache(str(conf), fragment=True)
    vhost = next(n for n in config.nodes if n.directive == "virtualhost")
    server_level = tuple(n for n in config.nodes if n.directive != "virtualhost")
    headers = apache_headers(vhost, server_level)
    assert sorted(keys(headers.base)) == [CSP, HSTS]
    assert sorted(keys(by_label(headers, "<Location /api>"))) == ["access-control-allow-origin", CSP, HSTS]
    assert keys(by_label(headers, "<Location /raw>")) == [HSTS]
    assert not any(scope.replaces for scope in headers.scopes)  # Apache never drops silently


# ----------------------------------------------------------------- badssl.com benchmark


@pytest.fixture(scope="module")
def badssl_root(tmp_path_factory) -> Path:
    """badssl's absolute paths laid out under a --root sysroot (corpus/README.md).

    Copies, not links: --root keeps every symlink inside the sysroot.
    """
    if not (BADSSL / "_site").is_dir():
        pytest.skip("badssl.com corpus not present")
    root = tmp_path_factory.mktemp("badssl-root")
    site = root / "var/www/badssl/_site"
    shutil.copytree(BADSSL / "_site", site)
    shutil.copytree(BADSSL / "certs/sets/test/gen", site / "certs/sets/current/gen")
    shutil.copytree(BADSSL / "certs/sets/test/gen/key", root / "etc/keys")
    (root / "nginx.conf").write_text("events {}\nhttp {\n    include /var/www/badssl/_site/nginx.conf;\n}\n")
    return root


def badssl_rows() -> list[dict]:
    with open(BADSSL / "EXPECTED-sslint.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_badssl_csp_column(badssl_root):
    """Only `upgrade` has the header; its /test/cors drops it; redirect-only servers are exempt."""
    config = parse_nginx(str(badssl_root / "nginx.conf"), root=str(badssl_root))
    sites = sites_of(config)
    findings = run(badssl_root / "nginx.conf", badssl_root)
    at_server = {(f.file, f.line) for f in findings if f.rule == "SSL401"}
    checked = 0
    for row in badssl_rows():
        conf = str(badssl_root / "var/www/badssl/_site" / row["conf"])
        port = int(row["listen"])
        site = next(s for s in sites if s.file == conf and any(listen.port == port for listen in s.listens)
                    and (row["server_name"] in s.name_list))
        expected = row["csp_upgrade_insecure_requests"]
        reported = (site.file, site.line) in at_server
        assert reported == (expected == "MISSING"), (row, reported)
        checked += 1
    assert checked == 97

    upgrade = next(s for s in sites if "upgrade.badssl.test" in s.name_list and s.tls)
    drops = [f for f in findings if f.rule == "SSL402" and "upgrade.badssl.test" in f.names]
    assert len(drops) == 1, drops
    assert drops[0].file.endswith("common/common.conf") and drops[0].line == 11  # location /test/cors
    assert "location /test/cors" in drops[0].message and "Content-Security-Policy" in drops[0].message
    assert "upgrade.conf:23" in drops[0].message  # where the dropped header was set
    assert not [f for f in findings if f.rule == "SSL401" and f.names == upgrade.name_list]
    # Its CSP has no `always`: the 404 page (try_files ... =404) goes out without it.
    assert any(f.rule == "SSL403" and f.file.endswith("upgrade/upgrade.conf") and f.line == 23 for f in findings)


def test_badssl_hsts_servers(badssl_root):
    findings = run(badssl_root / "nginx.conf", badssl_root)
    hsts_missing = {name for f in findings if f.rule == "SSL404" for name in f.names}
    # The servers that set HSTS (hsts, preloaded-hsts, mozilla-modern's TLS include) are not reported.
    assert {"hsts.badssl.test", "preloaded-hsts.badssl.test", "mozilla-modern.badssl.test"}.isdisjoint(hsts_missing)
    assert "upgrade.badssl.test" in hsts_missing and "sha256.badssl.test" in hsts_missing
    # http.badssl.test's TLS server sends browsers back to http:// on purpose: no HSTS advice.
    assert "http.badssl.test" not in hsts_missing


# ----------------------------------------------------------------- h5bp


@pytest.fixture()
def h5bp_tree(tmp_path) -> Path:
    """h5bp's nginx.conf with its test vhosts enabled, plus one TLS vhost that includes the CSP
    snippet (a `map` on $sent_http_content_type) and the svgz location."""
    if not H5BP.is_dir():
        pytest.skip("h5bp corpus not present")
    tree = tmp_path / "h5bp"
    shutil.copytree(H5BP, tree)
    for vhost in (tree / "test" / "vhosts").glob("*.conf"):
        shutil.copy(vhost, tree / "conf.d" / vhost.name)
    secure = (tree / "test" / "vhosts" / "secure.server.localhost.conf").read_text()
    assert "include h5bp/security/strict-transport-security.conf;" in secure
    csp = secure.replace("server_name secure.server.localhost;", "server_name csp.server.localhost;").replace(
        "server_name www.secure.server.localhost;", "server_name www.csp.server.localhost;").replace(
        "include h5bp/security/strict-transport-security.conf;",
        "include h5bp/security/strict-transport-security.conf;\n"
        "  include h5bp/security/content-security-policy.conf;\n"
        "  include h5bp/location/web_performance_svgz-compression.conf;")
    (tree / "conf.d" / "csp.server.localhost.conf").write_text(csp)
    return tree


def test_h5bp_csp_through_a_map_resolves(h5bp_tree):
    findings = run(h5bp_tree / "nginx.conf")
    csp401 = [f for f in findings if f.rule == "SSL401"]
    # The vhost that includes h5bp's content-security-policy.conf: the map gives an HTML page
    # "default-src 'self'; ...; upgrade-insecure-requests" -- no SSL401, not even "undecidable".
    assert not [f for f in csp401 if "csp.server.localhost" in f.names]
    # h5bp's own secure vhost does not include the CSP snippet: a true finding.
    assert [f.names for f in csp401] == [("secure.server.localhost",)]
    # The svgz location re-includes the CSP snippet (no CSP drop), but not HSTS: a real drop.
    drops = [f for f in findings if f.rule == "SSL402"]
    assert len(drops) == 1 and drops[0].file.endswith("web_performance_svgz-compression.conf")
    assert "Strict-Transport-Security" in drops[0].message and "Content-Security-Policy" not in drops[0].message
    # The default server answers 444 (no response at all): no header advice for it.
    assert not [f for f in findings if f.rule.startswith("SSL40") and "_" in f.names]


H5BP_APACHE = CORPUS / "h5bp-server-configs-apache"


def test_h5bp_apache_policy_by_response_type_resolves(tmp_path):
    """h5bp's Apache snippets send CSP with `expr=%{CONTENT_TYPE} =~ m#text/(html|...)#i` and HSTS
    with `expr=%{HTTPS} == 'on'`: both hold for an HTML page over TLS, so no SSL401/SSL404."""
    if not H5BP_APACHE.is_dir():
        pytest.skip("h5bp Apache corpus not present")
    tree = tmp_path / "h5bp-apache"
    shutil.copytree(H5BP_APACHE, tree)
    site = tree / "test" / "vhosts" / "csp.conf"
    site.write_text("<VirtualHost *:443>\n    ServerName csp.server.localhost\n"
                    "    Include h5bp/tls/ssl_engine.conf\n    Include h5bp/tls/certificate_files.conf\n"
                    "    Include h5bp/security/strict-transport-security.conf\n"
                    "    Include h5bp/security/content-security-policy.conf\n</VirtualHost>\n")
    settings = Settings(now=BADSSL_NOW, server_version="2.4.71")
    findings = lint(discover(str(site), "apache"), settings, tuple(catalogue())).findings
    assert not [f for f in findings if f.rule in ("SSL401", "SSL403", "SSL404")], findings
    secure = tree / "test" / "vhosts" / "secure.server.localhost.conf"
    findings = lint(discover(str(secure), "apache"), settings, tuple(catalogue())).findings
    assert [f.rule for f in findings if f.rule.startswith("SSL40")] == ["SSL401"]  # HSTS yes, CSP not included


def test_a_one_line_wrapper_is_a_main_file_and_gets_no_fragment_caveat(tmp_path):
    """SWAG's /etc/nginx/nginx.conf is `include /config/nginx/nginx.conf;`: the tree after the include
    has the http block, so the http-level headers are seen and no "linted on its own" caveat is printed."""
    real = tmp_path / "config" / "nginx.conf"
    real.parent.mkdir()
    real.write_text("events {}\nhttp {\n  add_header Strict-Transport-Security \"max-age=1\" always;\n"
                    "  server { listen 443 ssl; server_name a.test; ssl_certificate a.pem; ssl_certificate_key a.key; }\n"
                    "  server { listen 443 ssl; server_name b.test; ssl_certificate a.pem; ssl_certificate_key a.key;\n"
                    "           add_header X-Frame-Options DENY; }\n}\n")
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(f"include {real};\n")
    config = parse_nginx(str(wrapper))
    assert config.fragment is False and config.prefix == str(tmp_path)
    findings = [f for f in run(wrapper) if f.rule in ("SSL401", "SSL404")]
    assert findings and not any("linted on its own" in f.message for f in findings)
    # a.test inherits the http block's HSTS (seen: no SSL404); b.test's own add_header drops it
    assert not [f for f in findings if f.rule == "SSL404"]
    assert [f.names for f in run(wrapper) if f.rule == "SSL402"] == [("b.test",)]
    lone = tmp_path / "site.conf"
    lone.write_text("server { listen 443 ssl; server_name c.test; ssl_certificate a.pem; ssl_certificate_key a.key; }\n")
    assert parse_nginx(str(lone)).fragment is True
    assert any("linted on its own" in f.message for f in run(lone) if f.rule == "SSL404")
