"""The rule catalogue is the contract: every rule documented, checked, and proven by its cases."""

from __future__ import annotations

import re

import pytest
from cases import all_cases, case_id, main_config, materialise, run_case

from nginxssl.catalogue import SEVERITIES, catalogue
from nginxssl.checks import registry

CASES = all_cases()


def test_catalogue_and_registry_match_one_to_one():
    assert set(catalogue()) == set(registry())


def test_ids_and_names_are_unique_and_well_formed():
    rules = catalogue().values()
    names = [rule.name for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert re.fullmatch(r"SSL\d{3}", rule.id)
        assert re.fullmatch(r"[a-z0-9-]+", rule.name)
        assert rule.severity in SEVERITIES
        assert rule.summary and rule.why and rule.fix, rule.id


@pytest.mark.parametrize("rule", sorted(catalogue()))
def test_every_rule_has_a_failing_and_a_passing_case(rule):
    cases = catalogue()[rule].cases
    assert any(rule in (case.get("expect") or []) for case in cases), f"{rule} has no failing case"
    assert any(rule not in (case.get("expect") or []) for case in cases), f"{rule} has no passing case"


@pytest.mark.parametrize("rule_id,case", CASES, ids=[case_id(*entry) for entry in CASES])
def test_case_behaves_as_written(rule_id, case, tmp_path):
    config = materialise(case, tmp_path)
    result = run_case(case, config)
    raised = {finding.rule for finding in result.findings}
    expected = set(case.get("expect") or [])
    shown = "\n".join(f"{f.file}:{f.line}: {f.rule} {f.message}" for f in result.findings)
    assert expected <= raised, f"expected {sorted(expected)}, got:\n{shown}"
    if rule_id not in expected:
        assert rule_id not in raised, f"{rule_id} raised on a passing case:\n{shown}"


NGINX_CASES = [(rule_id, case) for rule_id, case in CASES if "nginx_t" in case]


@pytest.mark.parametrize("rule_id,case", NGINX_CASES, ids=[case_id(*entry) for entry in NGINX_CASES])
def test_real_nginx_agrees(rule_id, case, tmp_path):
    """nginx itself is the judge: where a case says nginx -t fails, it must, and sslint must say error."""
    from judges import nginx_test, require

    require("nginx")
    config = materialise(case, tmp_path)
    verdict = nginx_test(main_config(case, config), prefix=tmp_path)
    assert verdict.ok == (case["nginx_t"] == "ok"), verdict.output
    result = run_case(case, config)
    errors = [f for f in result.findings if f.severity == "error"]
    if case["nginx_t"] == "fail":
        assert errors, "nginx -t fails but sslint reports no error"


S_CLIENT_CASES = [(rule_id, case) for rule_id, case in CASES if "s_client" in case]


@pytest.mark.parametrize("rule_id,case", S_CLIENT_CASES, ids=[case_id(*entry) for entry in S_CLIENT_CASES])
def test_openssl_s_client_agrees(rule_id, case, tmp_path):
    """The client is the judge: nginx serves the case, `openssl s_client -verify_return_error` verifies
    what it sends; where the client refuses, sslint must say error."""
    from cases import s_client_verdict
    from judges import require

    require("nginx")
    require("openssl")
    config = materialise(case, tmp_path)
    verdict = s_client_verdict(case, config)
    assert verdict.ok == (case["s_client"] == "ok"), verdict.output
    result = run_case(case, config)
    errors = [f for f in result.findings if f.severity == "error"]
    if case["s_client"] == "fail":
        assert errors, f"openssl s_client refuses ({verdict.text}) but sslint reports no error"


APACHE_CASES = [(rule_id, case) for rule_id, case in CASES if "apache_t" in case or "apache_start" in case]


@pytest.mark.parametrize("rule_id,case", APACHE_CASES, ids=[case_id(*entry) for entry in APACHE_CASES])
def test_real_apache_agrees(rule_id, case, tmp_path):
    """apache2 is the judge: `apache2 -t` and, where keys matter, a real start-up on 127.0.0.1.

    Where apache2 refuses (either way), sslint must report an error; where it
    serves, the case's own rule must stay silent (test_case_behaves_as_written).
    """
    from cases import apache_start
    from judges import apache_test, require

    require("apache2")
    config = materialise(case, tmp_path)
    if "apache_t" in case:
        verdict = apache_test(config, tmp_path)
        assert verdict.ok == (case["apache_t"] == "ok"), verdict.output
    if "apache_start" in case:
        started, output = apache_start(config, tmp_path)
        assert started == (case["apache_start"] == "ok"), output
    result = run_case(case, config)
    errors = [f for f in result.findings if f.severity == "error"]
    if "fail" in (case.get("apache_t"), case.get("apache_start")):
        assert errors, "apache2 refuses this config but sslint reports no error"


# ---------------------------------------------------------------- fix cases (STYLE.md: as sqlfluff's)

FIXABLE = sorted(rule.id for rule in catalogue().values() if rule.fixable)
FIX_CASES = [(rule_id, case) for rule_id, case in CASES if "fixed" in case]
UNFIXED = [(rule_id, case) for rule_id, case in CASES
           if rule_id in (case.get("expect") or []) and "fixed" not in case]


@pytest.mark.parametrize("rule", FIXABLE)
def test_every_fixable_rule_has_a_fix_case(rule):
    assert any("fixed" in case for case in catalogue()[rule].cases), f"{rule} is fixable but has no `fixed:` case"


@pytest.mark.parametrize("rule_id,case", FIX_CASES, ids=[case_id(*entry) for entry in FIX_CASES])
def test_fix_case_writes_what_it_says_and_relints_clean(rule_id, case, tmp_path):
    """--fix changes exactly the files `fixed:` names, into exactly that text; the rule is then
    silent; a second --fix changes no byte; where the case says so, nginx -t accepts the result."""
    from cases import expected_after_fix, run_fix, snapshot

    tree = tmp_path / "case"
    tree.mkdir()
    config = materialise(case, tree)
    before = snapshot(tree)
    after_fix = run_fix(rule_id, case, config)
    after = snapshot(tree)
    expected = expected_after_fix(case, tmp_path / "expected")
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert changed == set(expected), f"changed {sorted(changed)}, the case says {sorted(expected)}"
    for path, data in expected.items():
        assert after[path] == data, f"{path} after --fix:\n{after[path].decode(errors='replace')}"
    left = [f"{f.rule} {f.message}" for f in after_fix.findings if f.rule == rule_id]
    assert not left, left
    run_fix(rule_id, case, config)
    assert snapshot(tree) == after, "a second --fix changed something"
    if "fixed_nginx_t" in case:
        from judges import nginx_test, require

        require("nginx")
        verdict = nginx_test(main_config(case, config), prefix=tree)
        assert verdict.ok == (case["fixed_nginx_t"] == "ok"), verdict.output
    if "fixed_apache_t" in case:
        from judges import apache_test, require

        require("apache2")
        verdict = apache_test(config, tree)
        assert verdict.ok == (case["fixed_apache_t"] == "ok"), verdict.output


@pytest.mark.parametrize("rule_id,case", UNFIXED, ids=[case_id(*entry) for entry in UNFIXED])
def test_failing_case_without_a_fix_comes_back_byte_identical(rule_id, case, tmp_path):
    from cases import run_fix, snapshot

    config = materialise(case, tmp_path)
    before = snapshot(tmp_path)
    run_fix(rule_id, case, config)
    assert snapshot(tmp_path) == before
