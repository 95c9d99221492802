"""The chain fixtures served by a real nginx on 127.0.0.1, judged by `openssl s_client`.

One nginx, one TLS port, every scenario a server block chosen by SNI (plus the
plain-HTTP name and the name claimed twice). `openssl s_client
-verify_return_error -verify_hostname` must fail exactly where sslint reports a
certificate a browser refuses (SSL104, SSL105, SSL201, SSL301, and the others of
chain_fixtures.UNTRUSTED), and succeed on the clean ones.

sslint lints the same configuration with the ports written as 443 and 80
(its SSL303 reasoning is about where https://NAME/ lands: port 443); nginx
serves it on free loopback ports, which stand in for them.
"""

from __future__ import annotations

import pytest
from chain_fixtures import DUP_NAME, FAMILY, NOW, PLAIN_NAME, SCENARIOS, files_spec, nginx_conf
from judges import free_port, require, running_nginx, s_client_verify

from nginxssl.catalogue import catalogue
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.model.settings import Settings

LIVE = [scenario for scenario in SCENARIOS if scenario.live_ok is not None]
REFUSED = {"SSL101", "SSL102", "SSL104", "SSL105", "SSL106", "SSL201", "SSL301"}
# What s_client's final "Verify return code" is, for the rule that explains it.
# (SSL105: 19 when the untrusted root is sent, 20 when it is found nowhere.)
CODES = {"SSL104": {18}, "SSL105": {19, 20}, "SSL201": {21}, "SSL301": {62}, "SSL101": {10}, "SSL102": {9}}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(port, sslint findings, s_client verdict per name) for one nginx serving every scenario."""
    require("nginx")
    require("openssl")
    from pki import build

    directory = tmp_path_factory.mktemp("live")
    build(files_spec(SCENARIOS), directory)
    (directory / "lint.conf").write_text(nginx_conf(directory, LIVE, "127.0.0.1:443", "127.0.0.1:80"))
    settings = Settings(now=NOW, ca_files=(str(directory / "root.pem"),), system_trust=False)
    result = lint(discover(str(directory / "lint.conf")), settings, tuple(catalogue()))
    findings = [finding for finding in result.findings if finding.rule in FAMILY]

    tls, plain = free_port(), free_port()
    while plain == tls:
        plain = free_port()
    conf = nginx_conf(directory, LIVE, f"127.0.0.1:{tls}", f"127.0.0.1:{plain}")
    verdicts = {}
    with running_nginx(conf, directory, port=tls):
        for name in [scenario.host for scenario in LIVE] + [PLAIN_NAME, DUP_NAME]:
            verdicts[name] = s_client_verify(tls, name, directory / "root.pem", attime=int(NOW.timestamp()))
    return findings, verdicts


def rules_for(name: str, findings) -> set[str]:
    return {finding.rule for finding in findings if name in finding.names}


@pytest.mark.parametrize("scenario", LIVE, ids=[scenario.host for scenario in LIVE])
def test_s_client_fails_exactly_where_sslint_says_untrusted(scenario, served):
    findings, verdicts = served
    verdict = verdicts[scenario.host]
    reported = rules_for(scenario.host, findings)
    assert reported == set(scenario.rules), [f.message for f in findings if scenario.host in f.names]
    assert verdict.ok == scenario.live_ok, verdict.output
    if reported & REFUSED:
        assert not verdict.ok
        [rule] = sorted(reported & REFUSED)
        assert verdict.code in CODES.get(rule, {verdict.code}), verdict.output
    if not verdict.ok:
        assert any(f.severity == "error" for f in findings if scenario.host in f.names)


def test_clean_sites_verify(served):
    findings, verdicts = served
    clean = [s.host for s in LIVE if not set(s.rules) & (REFUSED | {"SSL302", "SSL202"})]
    assert "clean.test" in clean and len(clean) >= 5
    for host in clean:
        assert verdicts[host].ok, verdicts[host].output


def test_incomplete_chain_is_verify_return_code_21(served):
    _findings, verdicts = served
    verdict = verdicts["incomplete.test"]
    assert verdict.code == 21 and verdict.chain_subjects == ["CN=incomplete.test"]


def test_plain_name_falls_to_the_default_certificate(served):
    findings, verdicts = served
    verdict = verdicts[PLAIN_NAME]
    assert rules_for(PLAIN_NAME, findings) == {"SSL303"}
    assert not verdict.ok and verdict.code == 62
    assert verdict.chain_subjects[0] == "CN=clean.test"  # the default server's certificate, as sslint says
    [finding] = [f for f in findings if f.rule == "SSL303"]
    assert "'clean.test'" in finding.message


def test_name_claimed_twice_is_served_by_the_first_block(served):
    findings, verdicts = served
    assert rules_for(DUP_NAME, findings) == {"SSL304"}
    verdict = verdicts[DUP_NAME]
    assert verdict.ok and verdict.chain_subjects[0] == "CN=dup.test (first block)"
