"""--fix under faults: killed at every step, out of disk space, in a read-only directory.

The fix of a three-site tree writes three new fullchain files and edits three
site files. A fault-injection point in nginxssl/fix/apply.py ($SSLINT_FAULT,
see `_fault` there) kills the real `sslint --fix` process at each step of that
work in turn, or fails one write with ENOSPC; a second loop kills it from
outside at random moments. After every fault each file is wholly old or wholly
new (never partial), every path the configuration names exists, a temporary
file left behind is never read as configuration, and the next `--fix` removes
it and finishes the job. A write that fails restores every file.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nginxssl.fix.apply import FAULT_ENV, TEMP_PREFIX, TEMP_SUFFIX, FixFailed, Validation, apply
from nginxssl.fix.plan import plan
from nginxssl.model.edits import InsertLine, NewFile, ReplaceArgs

REPO = Path(__file__).resolve().parents[1]
NOW = "2026-01-01T00:00:00Z"
SITES = ("a", "b", "c")
PKI = {
    "pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
            **{site: {"issuer": "inter", "names": [f"{site}.test"]} for site in SITES}},
    "files": {"ca/root.pem": ["root"], "ssl/chain.pem": ["inter"],
              **{f"ssl/{site}.pem": [site] for site in SITES},
              **{f"ssl/{site}.key": {"key": site} for site in SITES}},
}


def is_temporary(relative: str) -> bool:
    name = os.path.basename(relative)
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def nginx_tree(directory: Path, third_site_in: str = "sites") -> Path:
    """Three TLS sites, each missing its intermediate (SSL201: a new fullchain file and an edit)
    and sending HSTS without `always` (SSL403: a second edit)."""
    from pki import build

    build(PKI, directory)
    (directory / "nginx.conf").write_text(
        "events {}\nhttp {\n    ssl_protocols TLSv1.2 TLSv1.3;\n    include sites/*.conf;\n"
        + (f"    include {third_site_in}/*.conf;\n" if third_site_in != "sites" else "") + "}\n")
    for site in SITES:
        folder = directory / (third_site_in if site == "c" else "sites")
        folder.mkdir(exist_ok=True)
        (folder / f"{site}.conf").write_text(
            f"server {{\n    listen 443 ssl;\n    server_name {site}.test;\n"
            f"    ssl_certificate ssl/{site}.pem;\n    ssl_certificate_key ssl/{site}.key;\n"
            f"    add_header Content-Security-Policy \"upgrade-insecure-requests\" always;\n"
            f"    add_header Strict-Transport-Security \"max-age=31536000\";\n}}\n")
    return directory


def apache_tree(directory: Path) -> Path:
    """The same sites for Apache, read through `Include sites/` (a directory: httpd reads every
    file in it, dot files too, so a stray temporary there would be configuration)."""
    from pki import build

    build(PKI, directory)
    (directory / "apache2.conf").write_text(
        f"ServerRoot {directory}\nListen 443\nSSLProtocol -all +TLSv1.2 +TLSv1.3\nInclude sites/\n")
    (directory / "sites").mkdir()
    for site in SITES:
        (directory / "sites" / f"{site}.conf").write_text(
            f"<VirtualHost *:443>\n    ServerName {site}.test\n    SSLEngine on\n"
            f"    SSLCertificateFile ssl/{site}.pem\n    SSLCertificateKeyFile ssl/{site}.key\n"
            "    Header always set Content-Security-Policy \"upgrade-insecure-requests\"\n"
            "    Header always set Strict-Transport-Security \"max-age=31536000\"\n</VirtualHost>\n")
    return directory


TREES = {"nginx": nginx_tree, "apache": apache_tree}


def sslint(tree: Path, *args: str, fault: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    command = [sys.executable, "-m", "nginxssl", str(tree), "--now", NOW, "--no-system-trust",
               "--ca-file", str(tree / "ca" / "root.pem"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def sslint_here(tree: Path, *args: str):
    """The same, in this process (fast): for the runs nobody kills."""
    import typer.testing

    from nginxssl.cli import lint_app

    result = typer.testing.CliRunner().invoke(
        lint_app, [str(tree), "--now", NOW, "--no-system-trust", "--ca-file", str(tree / "ca" / "root.pem"), *args],
        catch_exceptions=False)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def snapshot(tree: Path) -> dict[str, bytes]:
    return {str(path.relative_to(tree)): path.read_bytes() for path in sorted(tree.rglob("*")) if path.is_file()}


def fresh(pristine: Path, into: Path) -> Path:
    if into.exists():
        shutil.rmtree(into)
    shutil.copytree(pristine, into, symlinks=True)
    return into


def assert_each_file_old_or_new(state: dict[str, bytes], before: dict[str, bytes], after: dict[str, bytes],
                                context: str) -> None:
    for relative in sorted(set(state) | set(before) | set(after)):
        if is_temporary(relative):
            continue
        now = state.get(relative)
        assert now in (before.get(relative), after.get(relative)), (
            f"{context}: {relative} is neither its old nor its new content:\n{now!r}")
    for relative, content in state.items():
        if is_temporary(relative):
            # Killed between writing a temporary and renaming it: the temporary is complete
            # (fsynced) and holds what some file was about to become.
            assert content in after.values() or content in before.values(), f"{context}: partial temporary {relative}"


def temporaries_around(tree: Path) -> list[Path]:
    """Every temporary in the tree, or beside it (where the fixer writes those of loaded directories)."""
    return sorted(path for path in [*tree.rglob("*"), *tree.parent.iterdir()] if is_temporary(path.name))


def assert_consistent(tree: Path, context: str) -> None:
    """Every file the configuration names exists; no temporary is read as configuration, none lies
    where the server reads configuration, and each one left over is reported (SSL001, its path)."""
    done = sslint_here(tree, "--select", "SSL0", "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    reported = set()
    for finding in report["findings"]:
        if TEMP_PREFIX in finding["file"] + finding["message"]:
            assert finding["rule"] == "SSL001" and "left behind" in finding["message"], (
                f"{context}: a temporary was read as configuration:\n{done.stdout}")
            reported.add(finding["file"])
    assert '"SSL002"' not in done.stdout, f"{context}: the configuration names a file that is not there:\n{done.stdout}"
    left = temporaries_around(tree)
    assert {str(path) for path in left} == reported, f"{context}: leftovers {left}, reported {reported}"
    for path in left:
        loaded = path.parent == tree or path.parent.name in ("sites", "zlocked") or (
            (tree / "apache2.conf").exists() and tree in path.parents)
        assert not loaded, f"{context}: {path} is where the server reads configuration"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    trees = {}
    for server, make in TREES.items():
        trees[server] = make(tmp_path_factory.mktemp(f"pristine-{server}"))
    return trees


@pytest.fixture(scope="module")
def fixed(pristine, tmp_path_factory):
    """What a --fix that is never interrupted leaves behind."""
    results = {}
    for server, tree in pristine.items():
        copy = fresh(tree, tmp_path_factory.mktemp(f"fixed-{server}") / "tree")
        done = sslint(copy, "--fix", "--no-validate")
        assert done.returncode == 0, done.stdout + done.stderr
        results[server] = snapshot(copy)
    return results


@pytest.mark.parametrize("server", sorted(TREES))
def test_the_fix_writes_several_files(server, pristine, fixed):
    before = snapshot(pristine[server])
    changed = {path for path in fixed[server] if fixed[server][path] != before.get(path)}
    assert {f"ssl/{site}.fullchain.pem" for site in SITES} <= changed
    assert {f"sites/{site}.conf" for site in SITES} <= changed
    assert not any(is_temporary(path) for path in fixed[server])


@pytest.mark.parametrize("server", sorted(TREES))
def test_killed_at_every_step_each_file_is_old_or_new_and_a_rerun_finishes(server, pristine, fixed, tmp_path):
    before = snapshot(pristine[server])
    after = fixed[server]
    kills = 0
    for step in range(1, 200):
        tree = fresh(pristine[server], tmp_path / "tree")
        done = sslint(tree, "--fix", "--no-validate", fault=f"kill:{step}")
        if done.returncode != -signal.SIGKILL:
            assert done.returncode == 0, done.stdout + done.stderr
            assert snapshot(tree) == after  # the fault point never fired: the run was whole
            break
        kills += 1
        context = f"killed at step {step}"
        state = snapshot(tree)
        assert_each_file_old_or_new(state, before, after, context)
        assert_consistent(tree, context)
        again = sslint_here(tree, "--fix", "--no-validate")
        assert again.returncode == 0, f"{context}: the next --fix did not finish:\n{again.stdout}{again.stderr}"
        assert snapshot(tree) == after, f"{context}: the next --fix left another tree (temporaries removed?)"
        assert not temporaries_around(tree), context
    # Two steps (written, renamed) for each of the six files, at the least.
    assert kills >= 12, kills


def test_killed_at_random_moments_from_outside(pristine, fixed, tmp_path):
    """No fault injection: SIGKILL from another process at random moments of a real run."""
    before = snapshot(pristine["nginx"])
    after = fixed["nginx"]
    started = time.monotonic()
    sslint(fresh(pristine["nginx"], tmp_path / "tree"), "--fix", "--no-validate")
    duration = time.monotonic() - started
    chooser = random.Random(20261201)
    env = {key: value for key, value in os.environ.items() if key != FAULT_ENV}
    for attempt in range(4):
        tree = fresh(pristine["nginx"], tmp_path / "tree")
        command = [sys.executable, "-m", "nginxssl", str(tree), "--now", NOW, "--no-system-trust",
                   "--ca-file", str(tree / "ca" / "root.pem"), "--fix", "--no-validate"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
        # Late in the run, where the writing happens (start-up and linting come first).
        time.sleep(duration * chooser.uniform(0.5, 1.0))
        process.kill()
        process.wait(timeout=60)
        context = f"killed from outside, attempt {attempt}"
        assert_each_file_old_or_new(snapshot(tree), before, after, context)
        assert_consistent(tree, context)
        again = sslint_here(tree, "--fix", "--no-validate")
        assert again.returncode == 0, again.stdout + again.stderr
        assert snapshot(tree) == after, context


@pytest.mark.parametrize("fault", ["enospc", "interrupt"])
@pytest.mark.parametrize("server", sorted(TREES))
def test_a_write_that_fails_or_is_interrupted_restores_every_file(server, fault, pristine, tmp_path, monkeypatch):
    """A full disk at any of the first writes, or Ctrl-C there (a fix may repoint a certificate in
    one file and its key in another: stopped between the two, the tree would serve the certificate
    with the wrong key): every file goes back."""
    import nginxssl.fix.apply

    before = snapshot(pristine[server])
    for write in range(1, 7):
        tree = fresh(pristine[server], tmp_path / "tree")
        monkeypatch.setenv(FAULT_ENV, f"{fault}:{write}")
        monkeypatch.setattr(nginxssl.fix.apply, "_fault_steps", {"any": 0, "written": 0})
        done = sslint_here(tree, "--fix", "--no-validate")
        if fault == "enospc":
            assert done.returncode == 1, done.stdout + done.stderr
            assert "No space left on device" in done.stderr and "every file was restored" in done.stderr, done.stderr
        else:
            assert done.returncode not in (0, 2), done.stdout + done.stderr  # the command line's "Aborted!"
        assert snapshot(tree) == before, f"{fault} at write {write}, and the tree was not restored"


def test_a_read_only_directory_restores_every_file_even_for_root(tmp_path):
    """chattr +i: not even root may create the temporary beside the third site file."""
    if shutil.which("chattr") is None:
        pytest.skip("no chattr on this machine")
    tree = nginx_tree(tmp_path / "tree", third_site_in="zlocked")
    before = snapshot(tree)
    locked = tree / "zlocked"
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("this file system or this user cannot set the immutable flag")
    try:
        done = sslint(tree, "--fix", "--no-validate")
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "every file was restored" in done.stderr and "zlocked" in done.stderr, done.stderr
    assert snapshot(tree) == before


def _run_as_nobody(function) -> int:
    """Run `function()` in a child process that has become `nobody`; its exit code (0: no exception)."""
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            function()
            code = 0
        except BaseException as error:  # noqa: BLE001 (reported by the exit code)
            sys.stderr.write(f"{type(error).__name__}: {error}\n")
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])


def test_a_directory_the_user_cannot_write_restores_every_file():
    """As an unprivileged user: the third site's directory belongs to root; the first writes succeed,
    the third fails with EACCES, and everything written before it is put back."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    # pytest's tmp_path lives under a 0700 directory `nobody` cannot enter.
    base = Path(tempfile.mkdtemp(prefix="sslint-faults-"))
    try:
        os.chmod(base, 0o755)
        tree = nginx_tree(base / "tree", third_site_in="zlocked")
        for path in [tree, *tree.rglob("*")]:
            if path.parent != tree / "zlocked" and path != tree / "zlocked":
                os.lchown(path, 65534, 65534)
        before = snapshot(tree)
        plans = plan([NewFile(str(tree / "ssl" / f"{site}.fullchain.pem"), b"fullchain\n", like=str(tree / "ssl" / f"{site}.pem"))
                      for site in SITES]
                     + [ReplaceArgs(str(tree / folder / f"{site}.conf"), 4, "ssl_certificate", (f"ssl/{site}.fullchain.pem",))
                        for site, folder in (("a", "sites"), ("b", "sites"), ("c", "zlocked"))]
                     + [InsertLine(str(tree / "sites" / "a.conf"), 1, "# touched")])

        def fix_as_nobody() -> None:
            try:
                apply(plans, None)
            except FixFailed as error:
                assert "Permission denied" in str(error) and "every file was restored" in str(error), str(error)
                return
            raise AssertionError("the write into a directory nobody may write to succeeded")

        assert _run_as_nobody(fix_as_nobody) == 0
        assert snapshot(tree) == before
    finally:
        shutil.rmtree(base)


def test_killed_while_restoring_each_file_is_still_old_or_new(tmp_path):
    """The validation fails, the restore begins, and the process dies in the middle of it."""
    before = {f"site{number}.conf": f"server {{\n    listen {number};\n}}\n".encode() for number in range(3)}

    def prepare():
        for leftover in tmp_path.iterdir():
            leftover.unlink()
        for name, data in before.items():
            (tmp_path / name).write_bytes(data)
        return plan([InsertLine(str(tmp_path / name), 1, "    server_name x.test;") for name in before]
                    + [NewFile(str(tmp_path / "new.pem"), b"new\n")])

    after = {os.path.basename(path): file_plan.new for path, file_plan in prepare().items()}
    kills = 0
    for step in range(1, 100):
        prepared = prepare()
        child = os.fork()
        if child == 0:
            os.environ[FAULT_ENV] = f"kill:{step}"
            try:
                apply(prepared, Validation(("false",)))
            except FixFailed:
                os._exit(0)
            os._exit(3)
        status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        state = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
        if status != -signal.SIGKILL:
            assert status == 0
            assert state == before  # validation failed: everything restored, nothing left over
            break
        kills += 1
        assert_each_file_old_or_new(state, before, after, f"killed at step {step}")
    # Four writes, then three restores of old contents (two steps each); the new file is unlinked.
    assert kills == 14, kills


@pytest.mark.parametrize("leftover", [b"", b"<VirtualHost *:443>\n    ServerName a.te", None])
def test_a_stale_temporary_is_never_configuration_and_the_next_fix_removes_it(leftover, pristine, fixed, tmp_path):
    """What a killed run leaves in an included directory: empty, cut short, or a whole copy of a site."""
    tree = fresh(pristine["apache"], tmp_path / "tree")
    stale = tree / "sites" / f"{TEMP_PREFIX}k1lled{TEMP_SUFFIX}"
    stale.write_bytes((tree / "sites" / "a.conf").read_bytes() if leftover is None else leftover)
    clean = fresh(pristine["apache"], tmp_path / "clean")
    # The lint names it (httpd would read it), and judges nothing else differently.
    with_leftover, without = sslint_here(tree, "--format", "json"), sslint_here(clean, "--format", "json")
    findings = json.loads(with_leftover.stdout)["findings"]
    (named,) = [finding for finding in findings if TEMP_PREFIX in finding["file"]]
    assert named["rule"] == "SSL001" and named["file"] == str(stale)
    assert "apache2 reads it as configuration" in named["message"]
    assert json.dumps([f for f in findings if f is not named]) == json.dumps(
        json.loads(without.stdout)["findings"]).replace(str(clean), str(tree))
    diff, clean_diff = sslint_here(tree, "--diff"), sslint_here(clean, "--diff")
    assert diff.stdout.replace(str(tree), "") == clean_diff.stdout.replace(str(clean), "")
    done = sslint_here(tree, "--fix", "--no-validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot(tree) == fixed["apache"]


def test_a_stale_temporary_goes_even_when_there_is_nothing_to_fix(pristine, tmp_path):
    tree = fresh(pristine["nginx"], tmp_path / "tree")
    assert sslint_here(tree, "--fix", "--no-validate").returncode == 0
    fixed_state = snapshot(tree)
    for directory in ("sites", "."):
        (tree / directory / f"{TEMP_PREFIX}k1lled{TEMP_SUFFIX}").write_text("server { listen 80; }\n")
    done = sslint_here(tree, "--fix", "--no-validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sslint: fixed" not in done.stderr and "0 fixed" in done.stderr  # nothing to do, and yet:
    assert snapshot(tree) == fixed_state


def test_the_parser_knows_the_temporaries_fix_writes(tmp_path):
    from nginxssl.parse.apache.reader import _SSLINT_TEMPORARY

    for _ in range(20):
        handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=tmp_path)
        os.close(handle)
        assert _SSLINT_TEMPORARY.match(os.path.basename(name))
    assert not _SSLINT_TEMPORARY.match("site.conf") and not _SSLINT_TEMPORARY.match(".sslint.yaml")


# ---------------------------------------------------------------- issue 20: a 20-site fix killed, two fixes at once

MANY = tuple(f"s{number:02d}" for number in range(20))


def many_sites_tree(directory: Path) -> Path:
    """Twenty sites read through Apache's `Include sites/` (a directory: every file in it is
    configuration), each missing its intermediate and sending HSTS without `always`."""
    from pki import build

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
                   **{site: {"issuer": "inter", "names": [f"{site}.test"]} for site in MANY}},
           "files": {"ca/root.pem": ["root"], "ssl/chain.pem": ["inter"],
                     **{f"ssl/{site}.pem": [site] for site in MANY},
                     **{f"ssl/{site}.key": {"key": site} for site in MANY}}}, directory)
    (directory / "apache2.conf").write_text(
        f"ServerRoot {directory}\nListen 443\nSSLProtocol -all +TLSv1.2 +TLSv1.3\nInclude sites/\n")
    (directory / "sites").mkdir()
    for site in MANY:
        (directory / "sites" / f"{site}.conf").write_text(
            f"<VirtualHost *:443>\n    ServerName {site}.test\n    SSLEngine on\n"
            f"    SSLCertificateFile ssl/{site}.pem\n    SSLCertificateKeyFile ssl/{site}.key\n"
            "    Header always set Content-Security-Policy \"upgrade-insecure-requests\"\n"
            "    Header set Strict-Transport-Security \"max-age=31536000\"\n</VirtualHost>\n")
    return directory


def test_a_twenty_site_fix_killed_anywhere_converges_on_rerun(tmp_path):
    """SIGKILL at steps spread over the 80 writes of a 20-site fix (20 fullchains, 20 site files,
    twice: SSL201 then SSL403 in a second round): after each, every file is old or new, no
    temporary lies in a directory httpd includes, each leftover is reported (SSL001), and one
    more --fix gives exactly the tree a clean run gives."""
    pristine = many_sites_tree(tmp_path / "pristine" / "tree")
    clean = fresh(pristine, tmp_path / "clean" / "tree")
    done = sslint(clean, "--fix", "--no-validate")
    assert done.returncode == 0, done.stdout + done.stderr
    after = snapshot(clean)
    before = snapshot(pristine)
    assert sum(1 for path in after if path.endswith(".fullchain.pem")) == 20
    kills = 0
    for step in (1, 2, 9, 20, 39, 40, 41, 42, 57, 80, 81, 99, 120, 159):
        tree = fresh(pristine, tmp_path / f"k{step}" / "tree")
        killed = sslint(tree, "--fix", "--no-validate", fault=f"kill:{step}")
        context = f"killed at step {step}"
        if killed.returncode != -signal.SIGKILL:
            assert killed.returncode == 0 and snapshot(tree) == after, context
            continue
        kills += 1
        state = snapshot(tree)
        # A round is SSL201 alone, then SSL403: a file may also be at its state between the two rounds.
        for relative, content in state.items():
            if relative.endswith(".conf") and content not in (before.get(relative), after.get(relative)):
                assert content.count(b"fullchain") == 1 and b"Header set Strict" in content, (context, relative)
            elif relative not in (".conf",) and not relative.endswith(".conf"):
                assert content in (before.get(relative), after.get(relative)), (context, relative)
        assert_consistent(tree, context)
        again = sslint_here(tree, "--fix", "--no-validate")
        assert again.returncode == 0, f"{context}:\n{again.stdout}{again.stderr}"
        assert snapshot(tree) == after, f"{context}: the re-run did not converge to the clean run's tree"
        assert not temporaries_around(tree), context
    assert kills >= 10, kills


def test_two_fixes_at_once_one_waits_for_the_other(tmp_path):
    """The first --fix pauses 3 s inside its writes (holding the tree's lock); a second one started
    then says it waits, waits, and finds nothing left to do; the tree is the clean fix's, with no
    stray `-2` fullchain and no temporary."""
    pristine = nginx_tree(tmp_path / "pristine" / "tree")
    clean = fresh(pristine, tmp_path / "clean" / "tree")
    assert sslint(clean, "--fix", "--no-validate").returncode == 0
    tree = fresh(pristine, tmp_path / "race" / "tree")
    env = {key: value for key, value in os.environ.items() if key != FAULT_ENV}
    command = [sys.executable, "-m", "nginxssl", str(tree), "--now", NOW, "--no-system-trust",
               "--ca-file", str(tree / "ca" / "root.pem"), "--fix", "--no-validate"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**env, FAULT_ENV: "pause:2"}, cwd=REPO)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list((tree / "ssl").glob("*.fullchain.pem")):
        time.sleep(0.05)  # the first run is inside its writes now
    second = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_out + first_err
    assert second.returncode == 0, second.stdout + second.stderr
    assert "another sslint --fix is working on" in second.stderr and "waiting" in second.stderr, second.stderr
    assert "0 fixed, " in second.stdout, second.stdout
    assert snapshot(tree) == snapshot(clean)
    assert not temporaries_around(tree)
