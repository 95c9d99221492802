"""The result cache (engine/cache.py): a cached report is the cold one, byte for byte.

Behaviour only, never time: every corpus tree gives the same report cold, warm, with
--no-cache, and with one and two processes; a change to any single input (a certificate, a
key, an included file, a trust anchor, the settings, a key's mode, the clock) gives the report
a cold run gives; the cache's files are private, and a corrupt, foreign or older entry is
ignored. A warm run is proven to be one by making the pipeline fail if it is entered.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import typer.testing
from conftest import CORPUS, REPO, needs_corpus

import nginxssl.engine.lint
from nginxssl.cli import lint_app
from nginxssl.engine.cache import clock_span
from nginxssl.pki.chain import days_left, is_expired, is_not_yet_valid

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
from gen_tree import NOW, generate  # noqa: E402

RUNNER = typer.testing.CliRunner()


def report(*args: object, cache: Path | None = None) -> tuple[int, str]:
    options = ["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]
    done = RUNNER.invoke(lint_app, [*map(str, args), "--format", "json", *options], catch_exceptions=False)
    return done.exit_code, done.stdout


def _warm_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, entering the pipeline fails the test: a report must come from the cache."""
    def entered(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the pipeline ran: the cache was not used")
    monkeypatch.setattr(nginxssl.engine.lint, "lint", entered)


def _mains() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(path for path in CORPUS.rglob("*") if path.name in ("nginx.conf", "apache2.conf", "httpd.conf")
                  and path.is_file() and "x509-limbo" not in path.parts)


@needs_corpus
@pytest.mark.parametrize("main", _mains(), ids=lambda path: str(path.relative_to(CORPUS)))
def test_every_corpus_tree_reports_the_same_cold_warm_and_in_two_processes(main, tmp_path, monkeypatch):
    arguments = (main, "--now", NOW)
    cold = report(*arguments)
    monkeypatch.setenv("SSLINT_JOBS", "2")
    assert report(*arguments) == cold
    for jobs in ("1", "2"):
        monkeypatch.setenv("SSLINT_JOBS", jobs)
        assert report(*arguments, cache=tmp_path / "cache") == cold  # filled
    _warm_only(monkeypatch)  # nginx and Apache trees alike
    for jobs in ("1", "2"):
        monkeypatch.setenv("SSLINT_JOBS", jobs)
        assert report(*arguments, cache=tmp_path / "cache") == cold  # read back


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small realistic tree (benchmarks/gen_tree.py): verified chains, an expired leaf, a
    leaf-only chain, a name missing from a certificate, HSTS and CSP on most sites."""
    generate(tmp_path / "tree", 60, 6, 30, "nginx")
    return _settled(tmp_path / "tree")


def _settled(tree: Path) -> Path:
    """`tree`, once older than the run that reads it: the cache keeps no input written within a
    clock tick of a run's start (engine/cache.py written_since), and these trees were just written."""
    time.sleep(0.05)
    return tree


CHANGES = {
    "certificate": lambda tree: _flip_pem(tree / "ssl/cert3.pem"),
    "key": lambda tree: _flip_pem(tree / "ssl/cert4.key"),
    "chain in a served file": lambda tree: _flip_pem(tree / "ssl/cert5.pem", last=True),
    "included file": lambda tree: (tree / "sites-enabled/sites0002.conf").write_text(
        (tree / "sites-enabled/sites0002.conf").read_text().replace(" always;", ";", 1)),
    "file added to an include glob": lambda tree: (tree / "sites-enabled/zz.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name new.bench.test;\n    ssl_certificate ssl/cert1.pem;\n"
        "    ssl_certificate_key ssl/cert1.key;\n}\n"),
    "trust anchor": lambda tree: _flip_pem(tree / "ssl/root.pem"),
    "key mode": lambda tree: (tree / "ssl/cert6.key").chmod(0o644),
    "settings": lambda tree: (tree / ".sslint.yaml").write_text("ignore: [SSL404]\n"),
    "sibling chain file": lambda tree: (tree / "ssl/chain.pem").write_bytes(
        (tree / "ssl/cert2.pem").read_bytes().split(b"-----END CERTIFICATE-----\n", 1)[1]),
    # The configuration alone, but what the chain diagnoses answer (ChainAnalyser.question):
    "certificate directive": lambda tree: (tree / "sites-enabled/sites0001.conf").write_text(
        (tree / "sites-enabled/sites0001.conf").read_text().replace("ssl/cert5.pem", "ssl/cert0.pem", 1)),
}


def _flip_pem(path: Path, last: bool = False) -> None:
    """One byte changed in the body of a PEM block (the first, or the last)."""
    data = bytearray(path.read_bytes())
    begin = data.rindex(b"-----\n", 0, data.rindex(b"-----END")) if last else data.index(b"-----\n")
    at = begin + 6 + 40  # inside the base64 of the first line of the body
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_one_changed_input_gives_the_cold_report(change, tree, tmp_path):
    arguments = (tree, "--ca-file", tree / "ssl/root.pem", "--now", NOW)
    cache = tmp_path / "cache"
    before = report(*arguments, cache=cache)
    assert report(*arguments, cache=cache) == before
    CHANGES[change](tree)
    after = report(*arguments, cache=cache)
    assert after == report(*arguments)  # as cold
    assert after != before  # and the change is one the report shows
    assert report(*arguments, cache=cache) == after


@pytest.mark.parametrize("moved", [timedelta(seconds=1), timedelta(days=1), timedelta(days=-1), timedelta(days=200)])
def test_the_clock_is_judged_at_every_run(moved, tree, tmp_path, monkeypatch):
    """Days counted in messages and expiry verdicts follow --now, cached or not."""
    now = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    cache = tmp_path / "cache"
    report(tree, "--ca-file", tree / "ssl/root.pem", "--now", NOW, cache=cache)
    later = (now + moved).isoformat()
    assert report(tree, "--ca-file", tree / "ssl/root.pem", "--now", later, cache=cache) == \
        report(tree, "--ca-file", tree / "ssl/root.pem", "--now", later)


def test_clock_span_keeps_every_verdict_and_no_more(tree):
    """Within the span every clock-dependent answer on the tree's certificates is the one at
    --now; one microsecond beyond either end, one differs."""
    from cryptography import x509

    certs = [cert for path in sorted((tree / "ssl").glob("*.pem"))
             for cert in x509.load_pem_x509_certificates(path.read_bytes())]
    for now in (datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2027, 5, 20, 13, 5, 7, 250, timezone.utc),
                datetime(2026, 5, 31, 23, 59, 59, 999999, timezone.utc)):
        low, high = clock_span(((cert.not_valid_before_utc, cert.not_valid_after_utc) for cert in certs), now, 30)

        def answers(moment: datetime) -> list:
            """What the checks read of the clock: the verdicts, and the days their messages count
            (checks/validity.py: ago for an expired leaf, ahead for one not yet valid, left within 30)."""
            found = []
            for cert in certs:
                expired, early, left = is_expired(cert, moment), is_not_yet_valid(cert, moment), days_left(cert, moment)
                ahead = (cert.not_valid_before_utc - moment).total_seconds() / 86400
                counted = int(abs(ahead)) if early else int(abs(left)) if expired or left <= 30 else None
                found.append((expired, early, left <= 30, counted))
            return found

        epoch = datetime(1, 1, 1, tzinfo=timezone.utc)

        def at(microseconds: int) -> datetime:
            return epoch + timedelta(days=-1, microseconds=microseconds)

        assert at(low) <= now <= at(high)
        expected = answers(now)
        assert answers(at(low)) == expected and answers(at(high)) == expected
        assert answers(at(low - 1)) != expected or answers(at(high + 1)) != expected


def test_cache_files_are_private_and_where_the_user_keeps_caches(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    RUNNER.invoke(lint_app, [str(tree), "--now", NOW, "--format", "json"], catch_exceptions=False)
    directory = tmp_path / "xdg" / "sslint"
    entries = sorted(directory.iterdir())
    # The report's entry (what decides, the findings, the report rendered from them), and the
    # tree's chain diagnoses (what decides, the diagnoses).
    assert len(entries) == 5
    assert sum(entry.name.endswith(".pickle") for entry in entries) == 1
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {stat.S_IMODE(entry.stat().st_mode) for entry in entries} == {0o600}
    RUNNER.invoke(lint_app, [str(tree), "--now", NOW, "--format", "json", "--no-cache",
                             "--cache-dir", str(tmp_path / "other")], catch_exceptions=False)
    assert not (tmp_path / "other").exists()  # --no-cache writes nothing


def _files(cache: Path) -> tuple[Path, Path, Path]:
    """The report entry's header, findings and rendered report."""
    names = sorted(cache.iterdir(), key=lambda path: path.name.count("."))
    header = next(path for path in names if path.name.count(".") == 1 and "question" not in json.loads(path.read_text()))
    findings = next(path for path in names if path.name.endswith(".findings.json"))
    rendered = next(path for path in names if path.name.endswith(".out"))
    return header, findings, rendered


def _tamper(cache: Path, how: str) -> None:
    header, findings, rendered = _files(cache)
    if how == "corrupt":
        header.write_bytes(header.read_bytes()[: header.stat().st_size // 2])
    elif how == "older version":
        document = json.loads(header.read_text())
        document["version"] = "0.0.1"
        header.write_text(json.dumps(document))
    elif how == "writable by others":
        rendered.chmod(0o666)
        findings.chmod(0o666)
    elif how == "directory writable by others":
        cache.chmod(0o777)
    elif how == "foreign type":
        rendered.unlink()
        document = json.loads(findings.read_text())
        document[0]["@"] = "Popen"
        findings.write_text(json.dumps(document))


@pytest.mark.parametrize("how", ["corrupt", "older version", "writable by others", "directory writable by others",
                                 "foreign type"])
def test_a_corrupt_foreign_or_older_cache_is_ignored(how, tree, tmp_path):
    arguments = (tree, "--ca-file", tree / "ssl/root.pem", "--now", NOW)
    cache = tmp_path / "cache"
    cold = report(*arguments)
    report(*arguments, cache=cache)
    _header, findings, rendered = _files(cache)
    # What a forged entry says is believed as long as it is this user's, private and whole...
    rendered.write_text("{}\n")
    assert report(*arguments, cache=cache) == (cold[0], "{}\n")
    rendered.unlink()
    document = json.loads(findings.read_text())
    findings.write_text(json.dumps(document[:1]))
    assert report(*arguments, cache=cache) not in (cold, (cold[0], "{}\n"))
    report(*arguments, cache=cache)  # rendered again from the forged findings
    _tamper(cache, how)
    assert report(*arguments, cache=cache) == cold  # ...and ignored otherwise


def test_a_report_is_kept_only_whole(tmp_path):
    """The report is kept as it is written (engine/cache.py rendering_kept): a rendering that
    fails half-way keeps nothing and leaves no temporary file; a whole one is what a warm run writes."""
    from nginxssl.engine.cache import Cache

    cache = Cache(str(tmp_path / "cache"))
    hit = cache.put("k" * 64, (), ("nginx.conf",), 0, ({}, {}), (0, 2**62))
    assert hit is not None
    before = sorted(path.name for path in (tmp_path / "cache").iterdir())
    with pytest.raises(RuntimeError):
        with cache.rendering_kept(hit, "json") as keep:
            keep('{"findings": [')
            raise RuntimeError("the renderer failed")
    assert cache.rendered_file(hit, "json") is None
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == before
    with cache.rendering_kept(hit, "json") as keep:
        keep('{"findings": [\n')
        keep("\udcff]}\n")  # a file name's stray byte, as the report carries it
    kept = cache.rendered_file(hit, "json")
    assert kept is not None
    with kept:
        assert kept.read() == '{"findings": [\n\udcff]}\n'.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_edit_that_leaves_the_certificates_alone_keeps_their_diagnoses(jobs, tree, tmp_path, monkeypatch):
    """The chain diagnoses are kept apart from the report (engine/cache.py): after an edit of the
    configuration that serves the same files, no chain is diagnosed again (in one process or
    two), and the report is the cold one."""
    from nginxssl.pki.analyse import ChainAnalyser

    arguments = (tree, "--ca-file", tree / "ssl/root.pem", "--now", NOW)
    cache = tmp_path / "cache"
    report(*arguments, cache=cache)
    CHANGES["included file"](tree)
    cold = report(*arguments)

    def diagnosed(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a chain was diagnosed again")

    monkeypatch.setattr(ChainAnalyser, "_analyse_pair", diagnosed)
    monkeypatch.setenv("SSLINT_JOBS", jobs)
    assert report(*arguments, cache=cache) == cold
    _warm_only(monkeypatch)
    assert report(*arguments, cache=cache) == cold  # and the report itself is kept again


def test_kept_diagnoses_are_read_back_as_nothing_but_diagnoses(tree, tmp_path):
    """The diagnoses are a pickle: read back, it builds only sslint's own data classes (and the
    certificates from their bytes). A forged one naming anything else is no entry: the run
    diagnoses again and says what a cold run says."""
    import pickle

    arguments = (tree, "--ca-file", tree / "ssl/root.pem", "--now", NOW)
    cache = tmp_path / "cache"
    cold = report(*arguments, cache=cache)
    kept = next(cache.glob("*.pickle"))

    class Forged:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    kept.write_bytes(pickle.dumps({("x", None, None): Forged()}))
    CHANGES["included file"](tree)
    assert report(*arguments, cache=cache) == report(*arguments)
    assert not (tmp_path / "ran").exists()
    assert report(*arguments, cache=cache) != cold


@pytest.fixture
def apache_tree(tmp_path: Path) -> Path:
    """A small Apache tree (gen_tree.py) whose main file also depends on what is not configuration:
    an <IfFile> test, an <IfDefine> the distribution's service flags switch on, an envvars export,
    and an IncludeOptional directory (Config.consulted: what a cached result watches)."""
    generate(tmp_path / "tree", 12, 3, 6, "apache")
    root = tmp_path / "tree"
    main = root / "apache2.conf"
    main.write_text(main.read_text() + (
        "<IfFile flags/extra.flag>\n    Include extra/*.conf\n</IfFile>\n"
        "<IfDefine SSLTEST>\n    Include defined/*.conf\n</IfDefine>\n"
        "IncludeOptional optional/\n"
        "<VirtualHost *:443>\n    ServerName env.bench.test\n    SSLEngine on\n"
        "    SSLCertificateFile ${SITE_CERT}\n    SSLCertificateKeyFile ssl/cert1.key\n</VirtualHost>\n"))
    for directory in ("extra", "defined", "optional", "flags"):  # flags/: no configuration file in it
        (root / directory).mkdir()
    added = ("<VirtualHost *:443>\n    ServerName {name}.bench.test\n    SSLEngine on\n"
             "    SSLCertificateFile ssl/cert1.pem\n    SSLCertificateKeyFile ssl/cert1.key\n</VirtualHost>\n")
    for directory in ("extra", "defined"):
        (root / directory / "site.conf").write_text(added.format(name=directory))
    (root / "envvars").write_text("export SITE_CERT=ssl/cert1.pem\n")
    return _settled(root)


APACHE_CHANGES = {
    "<IfFile> target appears": lambda tree: (tree / "flags" / "extra.flag").write_text(""),
    "service flags switch an <IfDefine> on": lambda tree: (tree.parent / "conf.d").mkdir() or (  # Gentoo's
        tree.parent / "conf.d" / "apache2").write_text('APACHE2_OPTS="-D SSLTEST"\n'),
    "file added to a directory include": lambda tree: (tree / "optional" / "late.conf").write_text(
        "<VirtualHost *:443>\n    ServerName late.bench.test\n    SSLEngine on\n    SSLCertificateFile ssl/nothere.pem\n"
        "    SSLCertificateKeyFile ssl/cert1.key\n</VirtualHost>\n"),
    "envvars export": lambda tree: (tree / "envvars").write_text("export SITE_CERT=ssl/cert2.pem\n"),  # not key 1's
}


@pytest.mark.parametrize("change", sorted(APACHE_CHANGES))
def test_an_apache_tree_is_cached_while_what_its_reader_asked_is_unchanged(change, apache_tree, tmp_path, monkeypatch):
    main = apache_tree / "apache2.conf"
    arguments = (main, "--ca-file", apache_tree / "ssl/root.pem", "--now", NOW)
    cache = tmp_path / "cache"
    before = report(*arguments, cache=cache)
    with monkeypatch.context() as warm:
        _warm_only(warm)
        assert report(*arguments, cache=cache) == before  # cached
    APACHE_CHANGES[change](apache_tree)
    after = report(*arguments, cache=cache)
    assert after == report(*arguments)  # as cold
    assert after != before  # and the change is one the report shows


# Changed while a run reads the tree: after the files are read, before the cache records them.
RACED = ("certificate", "included file", "file added to an include glob", "key mode")


@pytest.mark.parametrize("change", RACED)
def test_an_input_changed_while_the_run_reads_it_is_not_kept_as_read(change, tree, tmp_path, monkeypatch):
    """The cache records what the run read: a file written between its reading and the end of
    the run (an editor saving, a certificate renewed by cron) must not pass for the version the
    findings were made from. The next run gives the cold report of the file as it is now."""
    arguments = (tree, "--ca-file", tree / "ssl/root.pem", "--now", NOW)
    cache = tmp_path / "cache"
    monkeypatch.setenv("SSLINT_JOBS", "1")
    plan = nginxssl.engine.lint.plan_fullchains

    def plan_then_change(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(nginxssl.engine.lint, "plan_fullchains", plan)  # once
        CHANGES[change](tree)
        return plan(*args, **kwargs)

    monkeypatch.setattr(nginxssl.engine.lint, "plan_fullchains", plan_then_change)
    before = report(*arguments, cache=cache)
    assert before != report(*arguments)  # the run read the tree as it was: the change is one the report shows
    assert report(*arguments, cache=cache) == report(*arguments)
