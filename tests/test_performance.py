"""What the performance work (issue #8) changed must not change a single finding or byte.

- the second process (workers.py) gives exactly the findings of one process, on generated trees,
  badssl.com and every case of the rule catalogue;
- the hand-written JSON report is byte for byte what json.dump(indent=2) wrote;
- the catalogue read without `cases:` holds what the whole YAML holds;
- certificates, keys and OIDs survive the trip between processes.

Timings are never asserted here: benchmarks/run.py measures them.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import pytest
from cases import all_cases, case_id, materialise, run_case
from conftest import CORPUS
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from nginxssl.catalogue import catalogue
from nginxssl.checks import LATE_RULE, VIEWS, Inputs, WithheldView, check, registry
from nginxssl.discover import discover
from nginxssl.engine import lint as lint_module
from nginxssl.engine.lint import lint
from nginxssl.engine.parallel import Forked, _dumps
from nginxssl.fix.plan import plan
from nginxssl.model.edits import InsertLine, NewFile
from nginxssl.model.finding import Finding, Fix
from nginxssl.model.settings import Settings
from nginxssl.report import json as json_report
from nginxssl.report import sarif

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from gen_tree import generate  # noqa: E402

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
BADSSL = CORPUS / "badssl.com"


@contextmanager
def _answers(jobs: str, monkeypatch) -> Iterator[list[bool]]:
    """Runs inside with one process or two; yields the list of whether each of the child's
    answers arrived (a failed child's work is done by the parent, which would prove nothing)."""
    monkeypatch.setenv("SSLINT_JOBS", jobs)
    answers: list[bool] = []
    answer = Forked.next

    def recorded(self):
        value = answer(self)
        answers.append(value is not None)
        return value

    monkeypatch.setattr(Forked, "next", recorded)
    yield answers
    monkeypatch.setattr(Forked, "next", answer)
    assert answers == ([True, True] if jobs == "2" else []), answers


def _findings(target: str, jobs: str, monkeypatch, server: str | None = None, **options) -> tuple[Finding, ...]:
    """lint()'s findings with one process or two; with two, every answer of the child must arrive."""
    with _answers(jobs, monkeypatch):
        return lint(discover(target, server), Settings(now=NOW, **options), tuple(catalogue())).findings


@pytest.mark.parametrize("server", ["nginx", "apache"])
def test_two_processes_find_what_one_finds_on_a_generated_tree(tmp_path, monkeypatch, server):
    main = generate(tmp_path / server, 300, 12, 60, server)
    one = _findings(str(main), "1", monkeypatch)
    two = _findings(str(main), "2", monkeypatch)
    assert one and {f.rule for f in one} >= {"SSL105", "SSL301"}
    assert two == one


@pytest.mark.skipif(not BADSSL.is_dir(), reason="badssl.com corpus absent")
def test_two_processes_find_what_one_finds_on_badssl(tmp_path, monkeypatch):
    from test_badssl import sysroot

    root = sysroot(tmp_path)
    options = dict(root=str(root), system_trust=False,
                   ca_files=(str(BADSSL / "certs/sets/test/gen/crt/ca-root.crt"),))
    one = _findings(str(root / "etc/nginx"), "1", monkeypatch, **options)
    two = _findings(str(root / "etc/nginx"), "2", monkeypatch, **options)
    assert len(one) > 50 and any(f.fix for f in one)  # chains, names, fixes: the heavy answers
    assert two == one


def test_two_processes_through_the_command_line(tmp_path):
    main = generate(tmp_path / "tree", 120, 6, 30, "nginx")
    outputs = []
    for jobs in ("1", "2"):
        done = subprocess.run([sys.executable, "-m", "nginxssl", str(main), "--now", "2026-12-01T00:00:00Z",
                               "--format", "json"], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "SSLINT_JOBS": jobs})
        assert done.returncode == 1, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]


CASES = all_cases()


@pytest.mark.parametrize("rule_id,case", CASES, ids=[case_id(*entry) for entry in CASES])
def test_two_processes_find_what_one_finds_on_every_rule_case(rule_id, case, tmp_path, monkeypatch):
    """Every rule on every case of the catalogue, split between two processes: the second one's
    rules never read a chain diagnosis (reading one would fail the child), and the findings are
    the same, in the same order."""
    config = materialise(case, tmp_path)
    with _answers("1", monkeypatch):
        one = run_case(case, config).findings
    with _answers("2", monkeypatch):
        two = run_case(case, config).findings
    assert two == one


# The rules the second process ran while lint.py named them by hand (issue 15): what the
# declarations (@check needs=) derive must be this same split.
_SPLIT_BY_HAND = ("SSL0", "SSL304", "SSL4", "SSL501", "SSL504", "SSL505", "SSL507")  # SSL507: issue 17


def test_the_second_process_runs_the_rules_that_read_no_diagnosis():
    checks = registry()
    without_chains = {rule for rule, check in checks.items() if "chains" not in check.needs}
    assert without_chains - {LATE_RULE} == {rule for rule in catalogue()
                                             if rule.startswith(_SPLIT_BY_HAND) and rule != LATE_RULE}
    # The parent has not read the child's keys: the rules it runs read no file.
    assert all(not check.needs & {"material", "passwords"} for check in checks.values() if "chains" in check.needs)


@pytest.mark.parametrize("rule_id,case", CASES, ids=[case_id(*entry) for entry in CASES])
def test_every_rule_reads_only_the_views_it_declares(rule_id, case, tmp_path, monkeypatch):
    """Every rule on every case of the catalogue, on inputs where what its @check does not
    declare is withheld (reading it raises WithheldView): the findings are those of the
    ordinary run."""
    config = materialise(case, tmp_path)
    monkeypatch.setenv("SSLINT_JOBS", "1")
    one = run_case(case, config).findings
    judge = lint_module._judge
    checks = registry()
    withheld: list[str] = []

    def declared_only(inputs: Inputs, severities: dict[str, str] | None, runnable: Iterable[str] = ()):
        def findings_of(rule: str) -> list[Finding]:
            withheld.append(rule)
            return judge(inputs.without(VIEWS - checks[rule].needs), severities, runnable)(rule)

        return findings_of

    monkeypatch.setattr(lint_module, "_judge", declared_only)
    assert run_case(case, config).findings == one
    assert set(withheld) == set(catalogue())


def test_reading_a_view_withheld_fails_loudly(tmp_path, monkeypatch):
    """What the test above relies on: a rule run without a view it reads raises, directly
    (chains, material, build, probe) or through a view derived from it (served)."""
    main = generate(tmp_path / "tree", 4, 1, 2, "nginx")
    seen: list[Inputs] = []
    judge = lint_module._judge

    def keep(inputs: Inputs, severities: dict[str, str] | None, runnable: Iterable[str] = ()):
        seen.append(inputs)
        return judge(inputs, severities, runnable)

    monkeypatch.setenv("SSLINT_JOBS", "1")
    monkeypatch.setattr(lint_module, "_judge", keep)
    lint(discover(str(main)), Settings(now=NOW), tuple(catalogue()))
    inputs = seen[0]
    checks = registry()
    assert inputs.served and inputs.references
    for rule, view in (("SSL101", "chains"), ("SSL301", "chains"), ("SSL005", "material"),
                       ("SSL501", "build"), ("SSL601", "probe")):
        assert view in checks[rule].needs
        with pytest.raises(WithheldView, match=f"Inputs.{view}"):
            list(checks[rule](inputs.without({view})))
    for name in ("chains", "served", "material", "passwords", "build", "probe", "unused_suppressions"):
        with pytest.raises(WithheldView):
            getattr(inputs.without(VIEWS), name)
    assert inputs.without(VIEWS).references == inputs.references  # made from the sites alone
    twice = inputs.without({"chains"}).without({"material"})
    for name in ("chains", "material"):
        with pytest.raises(WithheldView):
            getattr(twice, name)
    with pytest.raises(ValueError, match="not a view"):
        check("SSL999", needs={"chain"})  # type: ignore[arg-type]


def test_changed_inputs_keep_only_the_views_that_read_nothing_changed(tmp_path, monkeypatch):
    """replaced() and without() carry a view worked out before (the parent's rules would regroup
    every directive's diagnoses again) only while what it reads is unchanged and not withheld."""
    main = generate(tmp_path / "tree", 4, 1, 2, "nginx")
    seen: list[Inputs] = []
    judge = lint_module._judge
    monkeypatch.setenv("SSLINT_JOBS", "1")
    monkeypatch.setattr(lint_module, "_judge",
                        lambda inputs, severities, runnable=(): seen.append(inputs) or judge(inputs, severities))
    lint(discover(str(main)), Settings(now=NOW), tuple(catalogue()))
    inputs = seen[0]
    served, routes = inputs.served, inputs.routes
    assert served and routes
    assert inputs.replaced(chain_fixes={}).served is served
    assert inputs.without({"material", "passwords"}).served is served
    assert inputs.without({"chains"}).routes is routes
    emptied = inputs.replaced(chains={})
    assert emptied.served == ()  # worked out again: no diagnosis, nothing served
    assert emptied.routes is routes
    with pytest.raises(WithheldView):
        inputs.without({"chains"}).served  # noqa: B018 (reading it is the test)
    assert inputs.replaced(sites=inputs.sites[:1]).routes is not routes


@pytest.mark.parametrize("selected", [None, ("SSL401", "SSL501")])
def test_the_header_models_are_forgotten_once_the_header_rules_have_run(tmp_path, monkeypatch, selected):
    """Every site's response headers (65 MiB of a 50,000-block tree) are held by Inputs.http_sites
    alone, not by the sites, and only until the last header rule of the run has run; the rules after
    them keep the views they share (routes)."""
    main = generate(tmp_path / "tree", 4, 1, 2, "nginx")
    rules = selected or tuple(catalogue())
    seen: list[Inputs] = []
    after: list[tuple[str, bool]] = []
    judge = lint_module._judge

    def keep(inputs: Inputs, severities: dict[str, str] | None, runnable: Iterable[str] = ()):
        seen.append(inputs)
        findings_of = judge(inputs, severities, runnable)

        def watched(rule: str) -> list[Finding]:
            found = findings_of(rule)
            after.append((rule, "http_sites" in vars(inputs)))
            return found

        return watched

    monkeypatch.setenv("SSLINT_JOBS", "1")
    monkeypatch.setattr(lint_module, "_judge", keep)
    result = lint(discover(str(main)), Settings(now=NOW), rules)
    assert any(finding.rule == "SSL401" for finding in result.findings)  # the header rules read them
    header_rules = [rule for rule in rules if rule.startswith("SSL40")]
    held = dict(after)
    assert not held[header_rules[-1]]  # forgotten after the last of them
    assert all(held[rule] for rule in header_rules[:-1])  # and not before
    assert all("headers" not in vars(site) for site in result.sites)
    assert seen[0].http_sites  # asked again, worked out anew


@pytest.mark.parametrize("answers", [0, 1])
def test_a_failing_child_leaves_its_work_to_the_parent(tmp_path, monkeypatch, answers):
    """The child dies at once, or after sending its diagnoses (before its rules' findings): the
    parent reads the files it left to the child (keys: SSL005) and does the rest itself."""
    main = generate(tmp_path / "tree", 40, 4, 10, "nginx")
    keys = main.parent / "ssl"
    for number in (1, 2):  # a wrong key in each process's half of the pairs
        (keys / f"cert{number}.key").write_bytes((keys / f"cert{number + 2}.key").read_bytes())
    one = _findings(str(main), "1", monkeypatch)
    assert {"SSL005", "SSL105"} <= {finding.rule for finding in one}
    answer = Forked.next
    given = []

    def failing(self):  # what next() says of a child that died: None (the exchange is closed)
        given.append(None)
        if len(given) <= answers:
            return answer(self)
        self.close()
        return None

    monkeypatch.setattr("nginxssl.engine.parallel.Forked.next", failing)
    monkeypatch.setenv("SSLINT_JOBS", "2")
    assert lint(discover(str(main)), Settings(now=NOW), tuple(catalogue())).findings == one
    assert len(given) == 2


def test_no_second_process_to_be_had_leaves_the_work_to_the_first(tmp_path, monkeypatch):
    """fork refused (the process limit), or no memory file (a sandbox): never a traceback."""
    import errno

    main = generate(tmp_path / "tree", 40, 4, 10, "nginx")
    one = _findings(str(main), "1", monkeypatch)

    def no_memfd(*_args):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "memfd_create", no_memfd, raising=False)
    assert _findings(str(main), "2", monkeypatch) == one  # through an unlinked temporary file

    def no_fork():
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setenv("SSLINT_JOBS", "2")
    assert lint(discover(str(main)), Settings(now=NOW), tuple(catalogue())).findings == one


def test_certificates_keys_and_names_cross_between_processes(tmp_path):
    main = generate(tmp_path / "tree", 4, 1, 2, "nginx")
    from nginxssl.pki.load import Loader

    material = Loader().load(str(main.parent / "ssl" / "cert1.pem"))
    key = Loader().load(str(main.parent / "ssl" / "cert1.key"))
    with Forked(lambda: iter([(material.certs, material.certs[0], key.keys[0], material.certs[0].subject)])) as child:
        certs, first, public, subject = child.next()
    assert certs == material.certs and first is certs[0]  # one pickle keeps identities inside it
    assert public.fingerprint == key.keys[0].fingerprint and public.key == key.keys[0].key
    assert subject == material.certs[0].subject
    with Forked(lambda: iter([1 / 0])) as child:
        assert child.next() is None


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT, st.integers(0, 10**6), st.lists(_TEXT, max_size=3), st.booleans()),
                max_size=4))
def test_json_report_is_what_json_dump_wrote(rows):
    findings = []
    for message, file, line, names, fixable in rows:
        fix = Fix("f", (InsertLine(file, line, "x"),)) if fixable else None
        findings.append(Finding("SSL201", file, line, message, tuple(names), "nginx", "error", "chain-incomplete",
                                fix))
    out = io.StringIO()
    json_report.render(findings, out, 3, ["/etc/nginx/nginx.conf"])
    summary = {severity: sum(1 for f in findings if f.severity == severity) for severity in ("error", "warning", "info")}
    summary.update({"findings": len(findings), "sites": 3, "configs": ["/etc/nginx/nginx.conf"]})
    expected = io.StringIO()
    json.dump({"version": json_report.__version__, "findings": [json_report.as_dict(f) for f in findings],
               "summary": summary}, expected, indent=2, ensure_ascii=False)
    assert out.getvalue() == expected.getvalue() + "\n"


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(_TEXT, inner, max_size=4) | st.dictionaries(st.integers() | st.booleans(), inner, max_size=2),
    max_leaves=30)


@hypothesis_settings(max_examples=500, deadline=None)
@given(_JSON_VALUES, st.sampled_from(["", "  ", " " * 8]))
def test_indented_is_what_json_dumps_indent_2_writes(value, prefix):
    """The SARIF log's writer (report/json.py indented) against the json module, alone and nested
    `prefix` deep in a document."""
    from nginxssl.report.json import indented

    assert indented(value) == json.dumps(value, indent=2, ensure_ascii=False)
    depth = len(prefix) // 2
    nested: object = value
    for _ in range(depth):
        nested = [nested]
    whole = json.dumps(nested, indent=2, ensure_ascii=False)
    opening = "".join(f"{'  ' * level}[\n" for level in range(depth)) + prefix
    closing = "".join(f"\n{'  ' * level}]" for level in reversed(range(depth)))
    assert whole == opening + indented(value, prefix) + closing


def test_sarif_report_is_what_json_dump_wrote(tmp_path):
    """render() writes the log a result at a time: the bytes json.dump(indent=2) writes of log()."""
    conf = tmp_path / "a.conf"
    conf.write_text("server {\n    listen 443 ssl;\n}\n")
    findings = [Finding("SSL201", str(conf), line, f"message {line} \u00e9", ("a.test",), "nginx", "error",
                        "chain-incomplete", Fix("f", (InsertLine(str(conf), line, "x"),)) if line % 2 else None)
                for line in (1, 2, 3)]
    for some in (findings, []):
        out = io.StringIO()
        sarif.render(some, out, plan, cwd=str(tmp_path))
        expected = io.StringIO()
        json.dump(sarif.log(some, cwd=str(tmp_path), planner=plan), expected, indent=2, ensure_ascii=False)
        assert out.getvalue() == expected.getvalue() + "\n"


def test_catalogue_without_cases_holds_what_the_whole_yaml_holds():
    from ruamel.yaml import YAML

    from nginxssl.catalogue import _cases

    yaml = YAML(typ="safe")
    for rule in catalogue().values():
        with open(rule.source, encoding="utf-8") as handle:
            whole = yaml.load(handle)
        assert (rule.id, rule.name, rule.severity) == (whole["id"], whole["name"], whole["severity"])
        assert rule.summary == str(whole["summary"]).strip() and rule.fix == str(whole.get("fix") or "").strip()
        # Read afresh: other tests may have changed the remembered cases (they are plain dicts).
        assert _cases.__wrapped__(rule.source) == tuple(whole.get("cases") or ()), rule.id
        assert whole.get("cases"), rule.id


def test_picklable_answers_hold_new_files():
    finding = Finding("SSL201", "a", 1, "m", fix=Fix("f", (NewFile("/x", b"\x00pem"),)))
    with Forked(lambda: iter([finding])) as child:
        assert child.next() == finding
    assert _dumps(finding)


@hypothesis_settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from("ab \t\u00a0\u2028\x0b\\\"'#<>"), max_size=30))
def test_apache_words_split_fast_as_they_split_slowly(text):
    from nginxssl.parse.apache.lexer import _split_quoted, split_words

    assert split_words(text) == _split_quoted(text)


def test_named_is_replace_with_the_name_and_severity():
    """Finding.named builds the finding field by field: it must keep every field replace() keeps."""
    from dataclasses import fields, replace

    from nginxssl.model.finding import Related

    finding = Finding("SSL201", "/etc/nginx/a.conf", 7, "message", ("a.test", "b.test"), "apache", "warning",
                      "old-name", Fix("do it", (InsertLine("/etc/nginx/a.conf", 3, "x;"),), safe=False),
                      (Related("/etc/nginx/b.conf", 1, ("b.test",)),))
    named = finding.named("chain-incomplete", "error")
    assert named == replace(finding, name="chain-incomplete", severity="error")
    assert [field.name for field in fields(Finding)] == [
        "rule", "file", "line", "message", "names", "server", "severity", "name", "fix", "summary", "related"]  # named()'s order


def test_catalogue_read_as_one_stream_still_names_the_broken_file(tmp_path, monkeypatch):
    import shutil

    from nginxssl import catalogue as module

    for rule in catalogue().values():
        shutil.copy(rule.source, tmp_path)
    monkeypatch.setattr(module, "rules_dir", lambda: str(tmp_path))
    assert module.catalogue.__wrapped__() == {rule_id: replace(rule, source=str(tmp_path / Path(rule.source).name))
                                              for rule_id, rule in catalogue().items()}
    broken = tmp_path / "SSL105.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("severity:", "severity: [", 1), encoding="utf-8")
    with pytest.raises(module.CatalogueError, match=r"SSL105\.yaml"):
        module.catalogue.__wrapped__()
    (tmp_path / "SSL106.yaml").write_text("---\nid: SSL106\n", encoding="utf-8")  # two documents in one file
    broken.write_text((tmp_path / "SSL104.yaml").read_text(encoding="utf-8").replace("SSL104", "SSL105"),
                      encoding="utf-8")
    with pytest.raises(module.CatalogueError, match=r"SSL106\.yaml: missing or malformed field"):
        module.catalogue.__wrapped__()


def _sibling_tree(out: Path, sites: int) -> Path:
    """`sites` server blocks, each serving its whole chain from a directory of its own, beside a
    chain.pem that holds the intermediate (a sibling file, looked into for every pair)."""
    from gen_tree import _cert, _key, _name, _pem
    from cryptography.hazmat.primitives import serialization

    root_key = _key("root")
    root = _cert("Sibling Root", root_key, _name("Sibling Root"), root_key, ca=True)
    inter_key = _key("inter")
    inter = _cert("Sibling Intermediate", inter_key, root.subject, root_key, ca=True, serial=5)
    out.mkdir(parents=True)
    (out / "root.pem").write_bytes(_pem(root))
    blocks = []
    for number in range(sites):
        directory = out / f"d{number}"
        directory.mkdir()
        key = _key(f"leaf{number}")
        leaf = _cert(f"s{number}.test", key, inter.subject, inter_key, ca=False, names=[f"s{number}.test"],
                     serial=100 + number)
        (directory / "cert.pem").write_bytes(_pem(leaf, inter))
        (directory / "chain.pem").write_bytes(_pem(inter))
        (directory / "key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        blocks.append(f"server {{ listen 443 ssl; server_name s{number}.test; "
                      f"ssl_certificate {directory}/cert.pem; ssl_certificate_key {directory}/key.pem; }}\n")
    (out / "nginx.conf").write_text("events {}\nhttp {\n" + "".join(blocks) + "}\n")
    return out / "nginx.conf"


def test_two_processes_record_every_file_the_child_read(tmp_path, monkeypatch):
    """What a cached result watches (ChainAnalyser.inputs_read) is the same in one process and in
    two: the sibling files and directories only the child looked into for its half of the pairs
    are the parent's record too (the parent's own reads held only its half: d0, d2, d4)."""
    from nginxssl.engine.lint import chain_analyser
    from nginxssl.pki.load import Loader

    main = _sibling_tree(tmp_path / "tree", 6)
    settings = Settings(now=NOW, ca_files=(str(main.parent / "root.pem"),), system_trust=False)
    read = {}
    for jobs in ("1", "2"):
        with _answers(jobs, monkeypatch):
            analyser = chain_analyser(settings, Loader())
            found = lint(discover(str(main)), settings, tuple(catalogue()), analyser=analyser).findings
        assert not any(finding.rule.startswith("SSL2") for finding in found)  # whole chains: nothing to fix
        files, directories = analyser.inputs_read()
        read[jobs] = (set(files), set(directories))
    assert read["2"] == read["1"]
    assert {str(main.parent / f"d{number}") for number in range(6)} <= read["2"][1]
    assert {str(main.parent / f"d{number}" / "chain.pem") for number in range(6)} <= read["2"][0]
