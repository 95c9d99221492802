"""The fullchain fix (SSL201-SSL204): which chain, which file, which words in the config, and when not.

The judges here are the fixer's own last look (fix.fullchain.check: the promised chain
re-checked on the planned bytes), `git apply --check` for the diffs and
`openssl verify` for what is written; tests/test_fix_e2e.py has the running
servers judge the result.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
import typer.testing
from cryptography import x509

from nginxssl.catalogue import catalogue
from nginxssl.cli import lint_app
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.fix import fullchain
from nginxssl.fix.plan import plan
from nginxssl.fix.run import planned
from nginxssl.model.edits import DeleteLine, ExpectChain, InsertLine, NewFile, ReplaceArgs
from nginxssl.model.finding import Finding, Fix
from nginxssl.model.settings import Settings
from nginxssl.pki.analyse import ChainAnalyser
from nginxssl.pki.chain import common_name
from nginxssl.pki.load import Loader
from nginxssl.pki.trust import public_key_der

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
NOW_TEXT = "2030-01-01T00:00:00Z"
CHAIN_RULES = ("SSL201", "SSL202", "SSL203", "SSL204")

PKI = {
    "root": {"ca": True, "cn": "Fix Test Root"},
    "inter": {"ca": True, "issuer": "root", "cn": "Fix Test Inter"},
    "other_root": {"ca": True, "cn": "Other Root"},
    "other_inter": {"ca": True, "issuer": "other_root", "cn": "Other Inter"},
    "old_inter": {"ca": True, "issuer": "root", "cn": "Fix Test Old Inter", "not_before": "2020-01-01",
                  "not_after": "2021-01-01"},
    "leaf": {"issuer": "inter", "names": ["a.test"]},
    "b": {"issuer": "inter", "names": ["b.test"]},
    "foreign": {"issuer": "other_inter", "names": ["c.test"]},
    "stale": {"issuer": "old_inter", "names": ["d.test"]},
    "aia_leaf": {"issuer": "inter", "names": ["aia.test"], "aia_ca_issuers": "http://ca.test/inter.der"},
}


def build(tmp_path: Path, files: dict, config: str, name: str = "site.conf") -> Path:
    from pki import build as build_pki

    build_pki({"pki": PKI, "files": {"root.pem": ["root"], **files}}, tmp_path)
    path = tmp_path / name
    path.write_text(config)
    return path


def settings(tmp_path: Path, **extra) -> Settings:
    return Settings(now=NOW, ca_files=(str(tmp_path / "root.pem"),), system_trust=False, **extra)


def chain_findings(config: Path, tmp_path: Path, analyser: ChainAnalyser | None = None, **extra) -> list[Finding]:
    result = lint(discover(str(config)), settings(tmp_path, **extra), CHAIN_RULES, analyser=analyser)
    return list(result.findings)


def sslint(*args: str) -> typer.testing.Result:
    return typer.testing.CliRunner().invoke(lint_app, list(args), catch_exceptions=False)


def site(cert: str, key: str, name: str = "a.test", extra: str = "") -> str:
    return (f"server {{\n    listen 443 ssl;\n    server_name {name};\n    ssl_certificate {cert};\n"
            f"    ssl_certificate_key {key};\n{extra}}}\n")


def edits_of(findings: list[Finding], kind: type) -> list:
    return [edit for finding in findings if finding.fix for edit in finding.fix.edits if isinstance(edit, kind)]


# ---------------------------------------------------------------- the fixer's last look (fix.fullchain.check)


def _promise(tmp_path: Path, path: Path, key_entity: str = "leaf", key_file: str | None = "a.key") -> ExpectChain:
    from pki import build as build_pki

    made = build_pki({"pki": PKI, "files": {"root.pem": ["root"]}}, tmp_path)
    return ExpectChain(str(path), public_key_der(made.cert(key_entity)),
                       str(tmp_path / key_file) if key_file else None, (str(tmp_path / "root.pem"),), False, NOW_TEXT)


@pytest.mark.parametrize("content,why", [
    (["leaf", "inter"], None),
    (["inter", "leaf"], "does not match the key"),
    (["leaf", "inter", "root"], "holds the root"),
    (["leaf", "inter", "inter"], "same certificate twice"),
    (["leaf", "other_inter"], "did not issue"),
    (["leaf"], "does not verify"),
    (["leaf", "inter", {"key": "leaf"}], "besides certificates"),
])
def test_the_promised_chain_is_checked_on_the_bytes(tmp_path, content, why):
    from pki import build as build_pki

    build_pki({"pki": PKI, "files": {"chain.pem": content, "a.key": {"key": "leaf"}}}, tmp_path)
    problem = fullchain.broken(_promise(tmp_path, tmp_path / "chain.pem"), {})
    if why is None:
        assert problem is None
    else:
        assert problem is not None and why in problem, problem


def test_the_promise_names_the_key_file_that_does_not_match(tmp_path):
    from pki import build as build_pki

    build_pki({"pki": PKI, "files": {"chain.pem": ["leaf", "inter"], "a.key": {"key": "b"}}}, tmp_path)
    problem = fullchain.broken(_promise(tmp_path, tmp_path / "chain.pem"), {})
    assert problem is not None and "a.key" in problem and "is not the key of 'a.test'" in problem


def test_an_expired_intermediate_makes_the_promise_fail(tmp_path):
    from pki import build as build_pki

    build_pki({"pki": PKI, "files": {"chain.pem": ["stale", "old_inter"], "d.key": {"key": "stale"}}}, tmp_path)
    problem = fullchain.broken(_promise(tmp_path, tmp_path / "chain.pem", "stale", "d.key"), {})
    assert problem is not None and "does not verify" in problem


def test_a_broken_promise_drops_only_that_fix_and_says_why(tmp_path):
    from pki import build as build_pki

    made = build_pki({"pki": PKI, "files": {"root.pem": ["root"], "a.key": {"key": "leaf"}}}, tmp_path)
    config = tmp_path / "site.conf"
    config.write_text("server {\n    ssl_certificate a.pem;\n}\n")
    from cryptography.hazmat.primitives import serialization

    wrong = b"".join(made.cert(name).public_bytes(serialization.Encoding.PEM) for name in ("inter", "leaf"))
    target = tmp_path / "a.fullchain.pem"
    bad = Finding("SSL202", str(config), 2, "m", fix=Fix("write it", (
        NewFile(str(target), wrong), ReplaceArgs(str(config), 2, "ssl_certificate", ("a.fullchain.pem",)),
        _promise(tmp_path, target))))
    good = Finding("SSL401", str(config), 1, "m", fix=Fix("add", (InsertLine(str(config), 1, "add_header X 1;"),)))
    chosen, plans, notes = planned([bad, good])
    assert chosen == [good] and str(target) not in plans
    assert len(notes) == 1 and "SSL202" in notes[0] and "does not match the key" in notes[0]


# ---------------------------------------------------------------- which file, in which words


def test_relative_paths_stay_relative_and_the_diff_applies(tmp_path, monkeypatch):
    from test_fix import git_apply_check

    config = build(tmp_path, {"ssl/a.pem": ["leaf"], "ssl/a.key": {"key": "leaf"}, "ssl/chain.pem": ["inter"]},
                   site("ssl/a.pem", "ssl/a.key"))
    findings = chain_findings(config, tmp_path)
    assert [f.rule for f in findings] == ["SSL201"]
    (new_file,) = edits_of(findings, NewFile)
    assert new_file.path == str(tmp_path / "ssl" / "a.fullchain.pem") and new_file.like == str(tmp_path / "ssl/a.pem")
    assert edits_of(findings, ReplaceArgs) == [ReplaceArgs(str(config), 4, "ssl_certificate", ("ssl/a.fullchain.pem",))]
    monkeypatch.chdir(tmp_path)
    diff = sslint(str(config), "--diff", "--now", NOW_TEXT, "--no-system-trust", "--ca-file", str(tmp_path / "root.pem"),
                  "--select", "SSL2")
    assert diff.exit_code == 1
    assert "--- /dev/null\n+++ b/ssl/a.fullchain.pem" in diff.stdout
    assert "+    ssl_certificate ssl/a.fullchain.pem;" in diff.stdout
    git_apply_check(diff.stdout, tmp_path)


def test_absolute_paths_under_root_are_written_as_the_config_names_them(tmp_path):
    root = tmp_path / "sysroot"
    (root / "etc/nginx").mkdir(parents=True)
    from pki import build as build_pki

    build_pki({"pki": PKI, "files": {"etc/ssl/a.pem": ["inter", "leaf"], "etc/ssl/a.key": {"key": "leaf"}}}, root)
    build_pki({"pki": PKI, "files": {"root.pem": ["root"]}}, tmp_path)
    config = root / "etc/nginx/site.conf"
    config.write_text(site("/etc/ssl/a.pem", "/etc/ssl/a.key"))
    findings = chain_findings(config, tmp_path, root=str(root))
    assert {f.rule for f in findings} == {"SSL202"}
    (new_file,) = edits_of(findings, NewFile)
    assert new_file.path == str(root / "etc/ssl/a.fullchain.pem")
    assert edits_of(findings, ReplaceArgs)[0].args == ("/etc/ssl/a.fullchain.pem",)
    (promise,) = edits_of(findings, ExpectChain)
    assert promise.path == str(root / "etc/ssl/a.fullchain.pem") and promise.key_path == str(root / "etc/ssl/a.key")


def test_certbot_live_directory_reuses_fullchain_pem(tmp_path):
    """live/NAME/cert.pem -> ../../archive/NAME/cert1.pem, as certbot lays it out: the directive
    is pointed at live/NAME/fullchain.pem (compared certificate by certificate), nothing is written."""
    from pki import build as build_pki

    build_pki({"pki": PKI, "files": {
        "root.pem": ["root"],
        "archive/a.test/cert1.pem": ["leaf"], "archive/a.test/chain1.pem": ["inter"],
        "archive/a.test/fullchain1.pem": {"text": ""}, "archive/a.test/privkey1.pem": {"key": "leaf"}}}, tmp_path)
    from cryptography.hazmat.primitives import serialization

    made = build_pki({"pki": PKI, "files": {}}, tmp_path / "scratch")
    # certbot writes fullchain as the leaf's PEM then the chain's, with its own line endings: compare
    # certificates, not bytes.
    pems = [made.cert(name).public_bytes(serialization.Encoding.PEM) for name in ("leaf", "inter")]
    (tmp_path / "archive/a.test/fullchain1.pem").write_bytes(b"\n".join(pems).replace(b"\n", b"\r\n"))
    live = tmp_path / "live/a.test"
    live.mkdir(parents=True)
    for name in ("cert", "chain", "fullchain", "privkey"):
        (live / f"{name}.pem").symlink_to(f"../../archive/a.test/{name}1.pem")
    config = tmp_path / "site.conf"
    config.write_text(site("live/a.test/cert.pem", "live/a.test/privkey.pem"))
    findings = chain_findings(config, tmp_path)
    assert [f.rule for f in findings] == ["SSL201"]
    assert not edits_of(findings, NewFile)
    assert edits_of(findings, ReplaceArgs)[0].args == ("live/a.test/fullchain.pem",)
    assert "point ssl_certificate at live/a.test/fullchain.pem" in findings[0].message
    result = sslint(str(config), "--fix", "--now", NOW_TEXT, "--no-system-trust", "--ca-file",
                    str(tmp_path / "root.pem"), "--select", "SSL2")
    assert result.exit_code == 0, result.output
    assert "ssl_certificate live/a.test/fullchain.pem;" in config.read_text()
    assert sorted(os.listdir(live)) == ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"]


def test_every_fullchain_name_taken_is_a_refusal_not_an_overwrite(tmp_path):
    files = {"a.pem": ["leaf"], "a.key": {"key": "leaf"}, "chain.pem": ["inter"],
             "a.fullchain.pem": {"text": "old\n"}}
    files.update({f"a.fullchain-{n}.pem": {"text": "old\n"} for n in range(2, 10)})
    config = build(tmp_path, files, site("a.pem", "a.key"))
    (finding,) = chain_findings(config, tmp_path)
    assert not finding.fix.edits and "never overwrites" in finding.fix.description
    assert "sslint --fix cannot do this" in finding.message


def test_the_new_file_takes_the_certificate_files_mode(tmp_path):
    config = build(tmp_path, {"a.pem": {"pem": ["leaf"], "mode": "0640"}, "a.key": {"key": "leaf"},
                              "chain.pem": ["inter"]}, site("a.pem", "a.key"))
    result = sslint(str(config), "--fix", "--now", NOW_TEXT, "--no-system-trust", "--ca-file",
                    str(tmp_path / "root.pem"), "--select", "SSL2")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.fullchain.pem").stat().st_mode & 0o777 == 0o640


def test_missing_intermediate_from_aia_with_fetch(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from pki import build as build_pki

    made = build_pki({"pki": PKI, "files": {}}, tmp_path / "scratch")
    config = build(tmp_path, {"a.pem": ["aia_leaf"], "a.key": {"key": "aia_leaf"}}, site("a.pem", "a.key"))
    asked = []

    def fetcher(url: str) -> bytes:
        asked.append(url)
        return made.cert("inter").public_bytes(serialization.Encoding.DER)

    analyser = ChainAnalyser(Loader(), NOW, ca_files=(str(tmp_path / "root.pem"),), system_trust=False, fetch=True,
                             fetcher=fetcher)
    findings = chain_findings(config, tmp_path, analyser=analyser, fetch=True)
    assert asked == ["http://ca.test/inter.der"]
    (new_file,) = edits_of(findings, NewFile)
    expected = b"".join(made.cert(n).public_bytes(serialization.Encoding.PEM) for n in ("aia_leaf", "inter"))
    assert new_file.content == expected
    assert "(AIA caIssuers" in findings[0].message
    without = chain_findings(config, tmp_path)  # no --fetch: found nowhere, nothing to write
    assert without and not any(f.fix.edits for f in without)
    assert "--fetch" in without[0].fix.description


# ---------------------------------------------------------------- when not


def test_reversed_chain_without_the_leafs_key_is_refused_and_says_why(tmp_path):
    config = build(tmp_path, {"a.pem": ["inter", "leaf"], "inter.key": {"key": "inter"}}, site("a.pem", "inter.key"))
    findings = chain_findings(config, tmp_path)
    (finding,) = [f for f in findings if f.rule == "SSL202"]
    assert not finding.fix.edits
    assert "sslint --fix cannot do this: the configured key belongs to the CA 'Fix Test Inter'" in finding.message
    assert "'a.test'" in finding.fix.description
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    shown = sslint(str(config), "--diff", "--now", NOW_TEXT, "--no-system-trust", "--ca-file",
                   str(tmp_path / "root.pem"), "--select", "SSL2")
    assert shown.exit_code == 0 and shown.stdout == ""  # nothing to apply ...
    assert "SSL202 not fixed automatically: the configured key belongs to the CA" in shown.stderr  # ... and why, beside the patch
    result = sslint(str(config), "--fix", "--now", NOW_TEXT, "--no-system-trust", "--ca-file",
                    str(tmp_path / "root.pem"), "--select", "SSL2")
    assert "SSL202 not fixed automatically: the configured key belongs to the CA" in result.output
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_reversed_chain_finds_the_leafs_key_beside_the_configured_key(tmp_path):
    config = build(tmp_path, {"certs/a.pem": ["inter", "leaf"], "keys/inter.key": {"key": "inter"},
                              "keys/b.key": {"key": "b"}, "keys/site.key": {"key": "leaf"}},
                   site("certs/a.pem", "keys/inter.key"))
    findings = chain_findings(config, tmp_path)
    assert [edit.args for edit in edits_of(findings, ReplaceArgs)][:2] == [("certs/a.fullchain.pem",),
                                                                          ("keys/site.key",)]
    (promise,) = set(edits_of(findings, ExpectChain))
    assert promise.key_path == str(tmp_path / "keys/site.key")


def test_a_bundle_of_two_real_leaves_serves_the_one_whose_key_lies_beside_it(tmp_path):
    """The diagnosis completes the chain of each real leaf of a CA-keyed bundle; the plan serves the
    one whose own key file it finds (here only b's), and the promise holds on the written bytes."""
    config = build(tmp_path, {"certs/a.pem": ["inter", "leaf", "b"], "keys/inter.key": {"key": "inter"},
                              "keys/z.key": {"key": "b"}},
                   site("certs/a.pem", "keys/inter.key"))
    findings = chain_findings(config, tmp_path)
    (new_file,) = set(edits_of(findings, NewFile))
    written = x509.load_pem_x509_certificates(new_file.content)
    assert [common_name(cert.subject) for cert in written] == ["b.test", "Fix Test Inter"]
    assert [edit.args for edit in edits_of(findings, ReplaceArgs)][:2] == [("certs/a.fullchain.pem",),
                                                                          ("keys/z.key",)]
    (promise,) = set(edits_of(findings, ExpectChain))
    assert fullchain.broken(promise, plan([new_file])) is None


def test_a_chain_that_does_not_verify_is_not_written(tmp_path):
    config = build(tmp_path, {"d.pem": ["stale"], "d.key": {"key": "stale"}, "chain.pem": ["old_inter"]},
                   site("d.pem", "d.key", "d.test"))
    findings = [f for f in chain_findings(config, tmp_path) if f.rule == "SSL201"]
    assert findings and not findings[0].fix.edits
    assert "does not verify" in findings[0].fix.description


def test_apache_key_inside_the_certificate_file_is_never_copied(tmp_path):
    config = build(tmp_path, {"combined.pem": ["leaf", {"key": "leaf"}], "chain.pem": ["inter"]},
                   "<VirtualHost *:443>\n    ServerName a.test\n    SSLEngine on\n"
                   "    SSLCertificateFile combined.pem\n</VirtualHost>\n")
    findings = [f for f in chain_findings(config, tmp_path) if f.rule == "SSL201"]
    assert findings and not findings[0].fix.edits
    assert "never copies a private key" in findings[0].fix.description


def test_an_http_level_certificate_shared_by_sites_with_different_keys_is_left_alone(tmp_path):
    config = build(tmp_path, {"a.pem": ["leaf"], "a.key": {"key": "leaf"}, "b.key": {"key": "b"},
                              "chain.pem": ["inter"]},
                   "events {}\nhttp {\n    ssl_certificate a.pem;\n"
                   "    server {\n        listen 443 ssl;\n        server_name a.test;\n"
                   "        ssl_certificate_key a.key;\n    }\n"
                   "    server {\n        listen 443 ssl;\n        server_name b.test;\n"
                   "        ssl_certificate_key b.key;\n    }\n}\n", name="nginx.conf")
    findings = [f for f in chain_findings(config, tmp_path) if f.rule == "SSL201"]
    assert findings and all(not f.fix.edits for f in findings)
    (for_a,) = [f for f in findings if f.names == ("a.test",)]
    assert "nginx.conf:3 is shared by sites that need different chains or keys (a.test, b.test)" in for_a.fix.description
    (for_b,) = [f for f in findings if f.names == ("b.test",)]
    assert "belongs to no certificate of the file" in for_b.fix.description


def test_an_http_level_certificate_shared_by_sites_with_one_key_is_fixed_once(tmp_path):
    config = build(tmp_path, {"a.pem": ["leaf"], "a.key": {"key": "leaf"}, "chain.pem": ["inter"]},
                   "events {}\nhttp {\n    ssl_certificate a.pem;\n    ssl_certificate_key a.key;\n"
                   "    server {\n        listen 443 ssl;\n        server_name a.test;\n    }\n"
                   "    server {\n        listen 443 ssl;\n        server_name www.a.test;\n    }\n}\n",
                   name="nginx.conf")
    findings = chain_findings(config, tmp_path)
    assert [f.rule for f in findings] == ["SSL201"] and set(findings[0].names) == {"a.test", "www.a.test"}
    assert edits_of(findings, ReplaceArgs) == [ReplaceArgs(str(config), 3, "ssl_certificate", ("a.fullchain.pem",))]


def test_an_apache_chain_file_another_site_still_needs_is_not_deleted(tmp_path):
    config = build(tmp_path, {"a.pem": ["leaf"], "a.key": {"key": "leaf"}, "c.pem": ["foreign"],
                              "c.key": {"key": "foreign"}, "bundle.pem": ["inter", "root"]},
                   "SSLCertificateChainFile bundle.pem\n"
                   "<VirtualHost *:443>\n    ServerName a.test\n    SSLEngine on\n"
                   "    SSLCertificateFile a.pem\n    SSLCertificateKeyFile a.key\n</VirtualHost>\n"
                   "<VirtualHost *:443>\n    ServerName c.test\n    SSLEngine on\n"
                   "    SSLCertificateFile c.pem\n    SSLCertificateKeyFile c.key\n</VirtualHost>\n")
    findings = [f for f in chain_findings(config, tmp_path) if "a.test" in f.names]
    assert findings and all(not f.fix.edits for f in findings)
    assert any("SSLCertificateChainFile at" in f.fix.description and "also used by a site" in f.fix.description
               for f in findings)


def test_apache_served_chain_is_the_chain_files_not_the_certificate_files(tmp_path):
    """mod_ssl sends SSLCertificateChainFile instead of the chain inside SSLCertificateFile
    (tests/test_fix_e2e.py shows apache2 doing it)."""
    config = build(tmp_path, {"full.pem": ["leaf", "inter"], "a.key": {"key": "leaf"}, "junk.pem": ["root"]},
                   "<VirtualHost *:443>\n    ServerName a.test\n    SSLEngine on\n    SSLCertificateFile full.pem\n"
                   "    SSLCertificateKeyFile a.key\n    SSLCertificateChainFile junk.pem\n</VirtualHost>\n")
    findings = chain_findings(config, tmp_path)
    assert {f.rule for f in findings} == {"SSL201", "SSL203"}
    # full.pem already holds exactly the chain: the chain file goes, nothing is written or repointed.
    assert set(edits_of(findings, DeleteLine)) == {DeleteLine(str(config), 6, "SSLCertificateChainFile")}
    assert not edits_of(findings, NewFile) and not edits_of(findings, ReplaceArgs)


def test_refusals_and_the_rule_cases_cover_every_chain_rule():
    for rule in CHAIN_RULES:
        assert catalogue()[rule].fixable == "safe"
        assert any("fixed" in case for case in catalogue()[rule].cases), rule


def test_the_plan_refuses_two_contents_for_one_new_file(tmp_path):
    from nginxssl.model.edits import EditConflict

    with pytest.raises(EditConflict, match="different contents"):
        plan([NewFile(str(tmp_path / "a.pem"), b"one"), NewFile(str(tmp_path / "a.pem"), b"two")])


def test_an_existing_fullchain_that_is_exactly_right_is_reused_not_rewritten(tmp_path):
    config = build(tmp_path, {"a.pem": ["inter", "leaf"], "a.key": {"key": "leaf"},
                              "a.fullchain.pem": ["leaf", "inter"]}, site("a.pem", "a.key"))
    findings = chain_findings(config, tmp_path)
    assert [f.rule for f in findings] == ["SSL202"]
    assert not edits_of(findings, NewFile)
    assert edits_of(findings, ReplaceArgs) == [ReplaceArgs(str(config), 4, "ssl_certificate", ("a.fullchain.pem",))]


def test_dropping_a_cross_signed_root_copy_needs_unsafe_fixes(tmp_path):
    """A cross-signed copy of a trusted root is what clients without that root build on."""
    PKI["root_x"] = {"ca": True, "issuer": "other_root", "cn": "Fix Test Root", "key_of": "root"}
    try:
        config = build(tmp_path, {"a.pem": ["leaf", "inter", "root_x"], "a.key": {"key": "leaf"}},
                       site("a.pem", "a.key"))
        findings = chain_findings(config, tmp_path)
    finally:
        del PKI["root_x"]
    (finding,) = [f for f in findings if f.rule == "SSL203"]
    assert "cross-signed copy" in finding.message
    assert finding.fix.edits and not finding.fix.safe and "unsafe" in finding.fix.description


def test_a_new_file_already_written_with_the_same_bytes_is_not_a_conflict(tmp_path):
    """Two targets (`sslint /etc/nginx /etc/apache2 --fix`) may share a certificate directory:
    the second finds the first's fullchain already written and only repoints its directive."""
    from nginxssl.model.edits import EditConflict

    (tmp_path / "a.fullchain.pem").write_bytes(b"same")
    assert plan([NewFile(str(tmp_path / "a.fullchain.pem"), b"same")]) == {}
    with pytest.raises(EditConflict, match="never overwrites"):
        plan([NewFile(str(tmp_path / "a.fullchain.pem"), b"other")])
