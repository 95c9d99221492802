"""SSL101-SSL106, SSL201-SSL204, SSL301-SSL304, SSL502-SSL503 on fixture chains, judged by openssl.

Every scenario of chain_fixtures.py is one server block of one nginx.conf,
linted once. For each, sslint's findings must be exactly the scenario's rules,
and `openssl verify` on exactly the chain the server sends must give the
scenario's verdict; where the two seem to disagree (SHA-1, the CN fallback,
reordered intermediates) the scenario says why, and the real server proves it
(`nginx -t` refuses weak keys and signatures). Also here: the load stage
(pool lookup order, one diagnosis per file, --ca-file errors) and --fetch.
"""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from pathlib import Path

import pytest
from chain_fixtures import BY_HOST, DUP_NAME, FAMILY, NOW, NOW_TEXT, PLAIN_NAME, SCENARIOS, files_spec, nginx_conf
from judges import nginx_test, openssl_verify, require
from text_report import joined
from typer.testing import CliRunner

from nginxssl.catalogue import catalogue
from nginxssl.cli import lint_app
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.model.settings import Settings

# A certificate problem that makes a browser refuse the site.
UNTRUSTED = {"SSL101", "SSL102", "SSL104", "SSL105", "SSL106", "SSL201", "SSL301"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    from pki import build

    directory = tmp_path_factory.mktemp("chains")
    build(files_spec(SCENARIOS), directory)
    (directory / "nginx.conf").write_text(nginx_conf(directory, SCENARIOS, "127.0.0.1:443", "127.0.0.1:80"))
    return directory


def settings(tree: Path, **extra) -> Settings:
    return Settings(now=NOW, ca_files=(str(tree / "root.pem"),), system_trust=False, **extra)


@pytest.fixture(scope="module")
def findings(tree):
    result = lint(discover(str(tree / "nginx.conf")), settings(tree), tuple(catalogue()))
    return [finding for finding in result.findings if finding.rule in FAMILY]


def rules_for(name: str, findings) -> set[str]:
    return {finding.rule for finding in findings if name in finding.names}


@pytest.mark.parametrize("host", sorted(BY_HOST))
def test_sslint_reports_exactly_the_scenario_rules(host, findings):
    scenario = BY_HOST[host]
    shown = "\n".join(f"{f.rule} {f.message}" for f in findings if host in f.names)
    assert rules_for(host, findings) == set(scenario.rules), shown


@pytest.mark.parametrize("host", sorted(BY_HOST))
def test_openssl_verify_agrees(host, tree):
    require("openssl")
    scenario = BY_HOST[host]
    judge = tree / "judge" / scenario.directory
    untrusted = judge / "untrusted.pem"
    verdict = openssl_verify(judge / "leaf.pem", tree / "root.pem", untrusted if untrusted.exists() else None,
                             hostname=host, attime=int(NOW.timestamp()))
    assert verdict.code == scenario.openssl, verdict.output
    reported = set(scenario.rules)
    if reported & UNTRUSTED:
        assert not verdict.ok, f"sslint says {sorted(reported)} but openssl accepts: {verdict.output}"
    if not verdict.ok:
        assert reported, f"openssl refuses ({verdict.output}) and sslint reports nothing"


def test_every_rule_of_the_family_is_exercised(findings):
    seen = {finding.rule for finding in findings}
    assert seen == FAMILY, f"not exercised: {sorted(FAMILY - seen)}"


def test_plain_name_gets_the_default_certificate(tree, findings):
    """SSL303: plain.test has no TLS server; the default server (the first, clean.test) answers."""
    require("openssl")
    assert rules_for(PLAIN_NAME, findings) == {"SSL303"}
    [finding] = [f for f in findings if f.rule == "SSL303"]
    assert "clean.test" in finding.message and "127.0.0.1:443" in finding.message
    judge = tree / "judge" / BY_HOST["clean.test"].directory
    verdict = openssl_verify(judge / "leaf.pem", tree / "root.pem", judge / "untrusted.pem",
                             hostname=PLAIN_NAME, attime=int(NOW.timestamp()))
    assert verdict.code == 62, verdict.output


def test_conflicting_name_reported_at_the_second_block(tree, findings):
    [finding] = [f for f in findings if f.rule == "SSL304"]
    text = (tree / "nginx.conf").read_text().splitlines()
    assert "server_name dup.test" in text[finding.line - 1]
    first = next(i for i, line in enumerate(text, 1) if f"server_name {DUP_NAME}" in line)
    assert finding.line > first and f"nginx.conf:{first - 2}" in finding.message


@pytest.mark.parametrize("host", sorted(h for h, s in BY_HOST.items() if s.live_ok is None))
def test_nginx_refuses_what_sslint_calls_fatal(host, tree):
    """The scenarios nginx will not start on: each alone in a config, `nginx -t` fails, sslint errs."""
    require("nginx")
    scenario = BY_HOST[host]
    conf = tree / f"alone-{scenario.directory}.conf"
    conf.write_text(nginx_conf(tree, [scenario], "127.0.0.1:443", "127.0.0.1:80"))
    verdict = nginx_test(conf, prefix=tree)
    assert not verdict.ok, verdict.output
    expected = {"SSL202": "key values mismatch", "SSL502": "ee key too small", "SSL503": "ca md too weak"}
    [rule] = scenario.rules
    assert expected[rule] in verdict.output
    result = lint(discover(str(conf)), settings(tree), tuple(catalogue()))
    assert any(f.rule == rule and f.severity == "error" and expected[rule] in f.message for f in result.findings)


def test_nginx_accepts_the_rest(tree):
    require("nginx")
    conf = tree / "startable.conf"
    conf.write_text(nginx_conf(tree, [s for s in SCENARIOS if s.live_ok is not None], "127.0.0.1:443",
                               "127.0.0.1:80"))
    assert nginx_test(conf, prefix=tree).ok


# ---------------------------------------------------------------- messages


def test_messages_say_what_where_and_what_to_run(findings):
    by_rule = {}
    for finding in findings:
        by_rule.setdefault(finding.rule, []).append(finding.message)
    [incomplete] = [m for m in by_rule["SSL201"] if "incomplete_test" in m]
    assert "'Chain Test Inter'" in incomplete and "chain.pem (a sibling file)" in incomplete
    assert "`cat " in incomplete  # chain.pem holds exactly the missing intermediate
    [lost] = [m for m in by_rule["SSL201"] if "lost_test" in m]
    assert "found it nowhere" in lost and "'Chain Lost Inter'" in lost
    [expired] = by_rule["SSL101"]
    assert "expired on 2021-01-01 (2,160 days ago)" in expired and "NET::ERR_CERT_DATE_INVALID" in expired
    for message in by_rule["SSL104"] + by_rule["SSL105"]:
        assert "public CA" in message and "update-ca-certificates" in message
        assert "certutil -addstore root ca.crt" in message and "Keychain" in message and "--ca-file" in message
    [internal] = [m for m in by_rule["SSL105"] if "corpnoroot_test" in m]
    assert "ends at 'Corp Issuing CA 2', issued by 'Corp Root CA 2'" in internal
    [wrong_order, reversed_chain, misordered] = sorted(by_rule["SSL202"], key=lambda m: ("wrongorder" not in m,
                                                                                          "reversed" not in m))
    assert "key values mismatch" in wrong_order
    assert "nginx starts" in reversed_chain and "reordering alone" in reversed_chain
    assert "'Chain Upper CA'" in misordered and "'Chain Lower CA'" in misordered


# ---------------------------------------------------------------- load stage


def test_each_certificate_file_is_diagnosed_once(tmp_path, monkeypatch):
    """200 server blocks over 5 certificate files: 5 diagnoses, whatever the number of sites."""
    from pki import build

    import nginxssl.pki.analyse as pool

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
                   **{f"leaf{i}": {"issuer": "inter", "names": [f"s{i}.test"]} for i in range(5)}},
           "files": {"root.pem": ["root"],
                     **{f"c{i}/cert.pem": [f"leaf{i}", "inter"] for i in range(5)},
                     **{f"c{i}/key.pem": {"key": f"leaf{i}"} for i in range(5)}}}, tmp_path)
    servers = "".join(
        f"server {{ listen 443 ssl; server_name s{n % 5}.test; ssl_certificate c{n % 5}/cert.pem; "
        f"ssl_certificate_key c{n % 5}/key.pem; }}\n" for n in range(200))
    (tmp_path / "sites.conf").write_text(servers)
    calls = []
    real = pool.diagnose
    monkeypatch.setattr(pool, "diagnose", lambda *args, **kw: calls.append(1) or real(*args, **kw))
    result = lint(discover(str(tmp_path / "sites.conf")), settings(tmp_path), ("SSL201", "SSL301"))
    assert len(calls) == 5
    assert len(result.sites) == 200


def test_pool_lookup_order_prefers_siblings(tmp_path):
    """The same intermediate in a sibling and in --intermediates: the sibling is named."""
    from pki import build

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root", "cn": "Pool Inter"},
                   "leaf": {"issuer": "inter", "names": ["a.test"]}},
           "files": {"root.pem": ["root"], "site/a.pem": ["leaf"], "site/a.key": {"key": "leaf"},
                     "site/intermediate.crt": ["inter"], "pool/inter.pem": ["inter"]}}, tmp_path)
    (tmp_path / "a.conf").write_text("server { listen 443 ssl; server_name a.test; "
                                     "ssl_certificate site/a.pem; ssl_certificate_key site/a.key; }\n")
    result = lint(discover(str(tmp_path / "a.conf")),
                  settings(tmp_path, intermediates=(str(tmp_path / "pool"),)), ("SSL201",))
    [finding] = result.findings
    assert "site/intermediate.crt (a sibling file)" in finding.message
    (tmp_path / "site/intermediate.crt").unlink()
    result = lint(discover(str(tmp_path / "a.conf")),
                  settings(tmp_path, intermediates=(str(tmp_path / "pool"),)), ("SSL201",))
    [finding] = result.findings
    assert "pool/inter.pem (--intermediates)" in finding.message


def test_bad_ca_file_is_a_usage_error(tmp_path):
    (tmp_path / "a.conf").write_text("server { listen 80; }\n")
    (tmp_path / "empty.pem").write_text("")
    runner = CliRunner()
    for bad in (tmp_path / "absent.pem", tmp_path):
        result = runner.invoke(lint_app, [str(tmp_path / "a.conf"), "--ca-file", str(bad)])
        assert result.exit_code == 2, result.output
        assert "--ca-file" in result.output and str(bad) in result.output
    # A file that holds no certificate is skipped with a finding naming it; the run goes on
    # on the system's roots, and is a usage error only when nothing at all is trusted.
    result = runner.invoke(lint_app, [str(tmp_path / "a.conf"), "--ca-file", str(tmp_path / "empty.pem")])
    assert result.exit_code == 1 and f"{tmp_path / 'empty.pem'}:1: SSL003" in result.output, result.output
    result = runner.invoke(lint_app, [str(tmp_path / "a.conf"), "--no-system-trust",
                                      "--ca-file", str(tmp_path / "empty.pem")])
    assert result.exit_code == 2 and "nothing" not in result.output and "empty.pem" in result.output
    result = runner.invoke(lint_app, [str(tmp_path / "a.conf"), "--no-system-trust"])
    assert result.exit_code == 2 and "--ca-file" in result.output
    result = runner.invoke(lint_app, [str(tmp_path / "a.conf"), "--intermediates", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a directory" in result.output


# ---------------------------------------------------------------- --fetch


def _aia_tree(tmp_path: Path, url: str) -> Path:
    from pki import build

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root", "cn": "AIA Inter"},
                   "leaf": {"issuer": "inter", "names": ["a.test"], "aia_ca_issuers": url}},
           "files": {"root.pem": ["root"], "site/a.pem": ["leaf"], "site/a.key": {"key": "leaf"},
                     "served/inter.der": {"der": "inter"}}}, tmp_path)
    (tmp_path / "a.conf").write_text("server { listen 443 ssl; server_name a.test; "
                                     "ssl_certificate site/a.pem; ssl_certificate_key site/a.key; }\n")
    return tmp_path / "a.conf"


def test_no_network_without_fetch(tmp_path, monkeypatch):
    """Without --fetch sslint opens no socket, even for a certificate that names its issuer's URL."""
    conf = _aia_tree(tmp_path, "http://127.0.0.1:9/inter.der")

    def refuse(*args, **kwargs):
        raise AssertionError("sslint opened a network connection without --fetch")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    result = CliRunner().invoke(lint_app, [str(conf), "--now", NOW_TEXT, "--no-system-trust",
                                           "--ca-file", str(tmp_path / "root.pem"), "--select", "SSL201"])
    assert result.exit_code == 1, result.output
    assert "http://127.0.0.1:9/inter.der" in joined(result.output) and "--fetch" in result.output


def test_fetch_completes_the_chain_from_aia(tmp_path):
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    handler = functools.partial(quiet, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    url = f"http://127.0.0.1:{server.server_address[1]}/inter.der"
    conf = _aia_tree(tmp_path, url)
    thread.start()
    try:
        result = CliRunner().invoke(lint_app, [str(conf), "--now", NOW_TEXT, "--no-system-trust", "--fetch",
                                               "--ca-file", str(tmp_path / "root.pem"), "--select", "SSL201"])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 1, result.output
    report = joined(result.output)
    assert "'AIA Inter'" in report and f"found in {url} (AIA caIssuers, fetched with --fetch)" in report


def test_fetch_failure_is_reported_not_raised(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = _aia_tree(tmp_path, f"http://127.0.0.1:{port}/inter.der")
    result = CliRunner().invoke(lint_app, [str(conf), "--now", NOW_TEXT, "--no-system-trust", "--fetch",
                                           "--ca-file", str(tmp_path / "root.pem"), "--select", "SSL201"])
    assert result.exit_code == 1, result.output
    assert "found it nowhere" in joined(result.output) and "--fetch tried" in joined(result.output)


def test_a_wildcard_right_above_a_top_level_domain_is_named_as_the_reason(tmp_path):
    """*.test covers nothing (browsers and openssl want two labels after the `*`): the message must
    say so, not that blog.test is one label too deep, which it is not."""
    from pki import build

    build({"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["*.test"]}},
           "files": {"root.pem": ["root"], "leaf.pem": ["leaf"], "leaf.key": {"key": "leaf"}}}, tmp_path)
    (tmp_path / "site.conf").write_text("server {\n    listen 443 ssl;\n    server_name blog.test;\n"
                                        "    ssl_certificate leaf.pem;\n    ssl_certificate_key leaf.key;\n}\n")
    result = lint(discover(str(tmp_path / "site.conf")), settings(tmp_path), ("SSL301",))
    (finding,) = result.findings
    assert "(*.test covers no name at all: browsers take no wildcard right above a top-level domain)" \
        in finding.message, finding.message
    assert "one label" not in finding.message


def test_an_intermediate_with_the_issuers_name_but_another_key_is_no_issuer(tmp_path):
    """Issue 16 item 3: the served intermediate has the leaf's issuer name, but another key signed the
    leaf. The chain is incomplete (SSL201 names the real issuer, found in a sibling file), the stray
    certificate is extra (SSL204); openssl agrees that what is served does not verify."""
    from pki import build

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root", "cn": "Same Name CA"},
                   "old": {"ca": True, "issuer": "root", "cn": "Same Name CA", "key": "ec384"},
                   "leaf": {"issuer": "inter", "names": ["a.test"]}},
           "files": {"root.pem": ["root"], "site/a.pem": ["leaf", "old"], "site/a.key": {"key": "leaf"},
                     "site/chain.pem": ["inter"], "leaf.pem": ["leaf"], "old.pem": ["old"]}}, tmp_path)
    (tmp_path / "a.conf").write_text("server { listen 443 ssl; server_name a.test; "
                                     "ssl_certificate site/a.pem; ssl_certificate_key site/a.key; }\n")
    result = lint(discover(str(tmp_path / "a.conf")), settings(tmp_path), tuple(catalogue()))
    by_rule = {finding.rule: finding.message for finding in result.findings}
    assert {"SSL201", "SSL204"} <= set(by_rule), by_rule
    assert "chain.pem (a sibling file)" in by_rule["SSL201"] and "its key did not sign" in by_rule["SSL201"]
    assert "not its key" in by_rule["SSL204"]
    require("openssl")
    verdict = openssl_verify(tmp_path / "leaf.pem", tmp_path / "root.pem", tmp_path / "old.pem",
                             hostname="a.test", attime=int(NOW.timestamp()))
    assert not verdict.ok and verdict.code == 20, verdict.output
