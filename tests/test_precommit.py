"""The pre-commit hooks, run by the real `pre-commit` against a throwaway config repository.

pre-commit clones a hook repository at a commit and pip-installs it into a
virtualenv of its own, so the hooks are tested from a temporary repository
holding the CURRENT working tree (committed there), not from whatever this
checkout last committed. Installing needs PyPI (or the machine's pip index),
as CI has.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# What `pip install .` needs to build sslint, and the hook definitions.
SHIPPED = ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml", "nginxssl", "rules")
NOW = "2030-01-01T00:00:00Z"
GIT_ENV = {"GIT_AUTHOR_NAME": "sslint tests", "GIT_AUTHOR_EMAIL": "tests@sslint.invalid",
           "GIT_COMMITTER_NAME": "sslint tests", "GIT_COMMITTER_EMAIL": "tests@sslint.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def run(*args: str, cwd: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    done = run("git", *args, cwd=cwd, env=env)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    home = tmp_path_factory.mktemp("pre-commit-home")
    return {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory, environment) -> tuple[Path, str]:
    """This checkout's working tree, committed in a repository of its own: (path, commit)."""
    repo = tmp_path_factory.mktemp("sslint-hooks")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SHIPPED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, repo / name)
    git("init", "-q", cwd=repo, env=environment)
    git("add", "-A", cwd=repo, env=environment)
    git("commit", "-q", "-m", "working tree under test", cwd=repo, env=environment)
    return repo, git("rev-parse", "HEAD", cwd=repo, env=environment)


def sample_repo(tmp_path: Path, hook_repo: tuple[Path, str], environment: dict[str, str], config: str,
                absolute: bool = False) -> Path:
    """A config repository (etc/nginx with one clean site, nginx.conf including the sites by an
    absolute path when `absolute`, as a server's own file would) using the hook as README.md says."""
    from pki import build

    repo = tmp_path / "configs"
    nginx = repo / "etc" / "nginx"
    build({"pki": {"root": {"ca": True},
                   "good": {"issuer": "root", "names": ["good.test"]},
                   "bad": {"issuer": "root", "names": ["bad.test"]}},
           "files": {"ssl/good.pem": ["good"], "ssl/good.key": {"key": "good"}, "ssl/bad.pem": ["bad"]}}, nginx)
    sites = "/etc/nginx/sites-enabled/*.conf" if absolute else "sites-enabled/*.conf"
    (nginx / "nginx.conf").write_text(f"events {{}}\nhttp {{\n    include {sites};\n}}\n")
    (nginx / "sites-enabled").mkdir()
    (nginx / "sites-enabled" / "good.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name good.test;\n"
        "    ssl_certificate ssl/good.pem;\n    ssl_certificate_key ssl/good.key;\n}\n")
    (repo / "README.md").write_text("configs\n")
    path, rev = hook_repo
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {path}\n    rev: {rev}\n    hooks:\n{config}")
    git("init", "-q", cwd=repo, env=environment)
    installed = run(sys.executable, "-m", "pre_commit", "install", cwd=repo, env=environment)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return repo


# Only the file-level rules: the test PKI's private root would (rightly) trip the trust rules.
ARGS = f"[etc/nginx, --root, ., --now, '{NOW}', --select, SSL0]"


@pytest.fixture
def config_repo(tmp_path, hook_repo, environment) -> Path:
    """README.md's setup: the one hook, its args naming the tree."""
    return sample_repo(tmp_path, hook_repo, environment, f"      - id: sslint\n        args: {ARGS}\n")


def commit(repo: Path, environment: dict[str, str], message: str) -> subprocess.CompletedProcess:
    git("add", "-A", cwd=repo, env=environment)
    return run("git", "commit", "-m", message, cwd=repo, env=environment)


# A certificate file that is not there: an error even in a config repository (absent keys are one info).
BAD_SITE = ("server {\n    listen 443 ssl;\n    server_name bad.test;\n"
            "    ssl_certificate ssl/missing.pem;\n    ssl_certificate_key ssl/good.key;\n}\n")


def test_a_broken_site_fails_the_commit_and_a_clean_one_passes(config_repo, environment):
    clean = commit(config_repo, environment, "a clean site")
    output = clean.stdout + clean.stderr
    assert clean.returncode == 0, output
    assert "sslint (nginx/Apache TLS configuration)" in output and "Passed" in output
    assert "Failed" not in output

    (config_repo / "etc" / "nginx" / "sites-enabled" / "bad.conf").write_text(BAD_SITE)
    broken = commit(config_repo, environment, "a site without its key")
    output = broken.stdout + broken.stderr
    assert broken.returncode != 0, output
    # The hook fails once, pointing at the file and line once.
    assert output.count("etc/nginx/sites-enabled/bad.conf:4: SSL002 error: ") == 1, output
    assert output.count("Failed") == 1, output
    assert git("rev-list", "--count", "HEAD", cwd=config_repo, env=environment) == "1"


def test_run_all_files_reports_each_finding_once(config_repo, environment):
    """`pre-commit run --all-files` passes nginx.conf and every site file: still one tree, linted once."""
    (config_repo / "etc" / "nginx" / "sites-enabled" / "bad.conf").write_text(BAD_SITE)
    (config_repo / "etc" / "nginx" / "sites-available").mkdir()
    (config_repo / "etc" / "nginx" / "sites-available" / "draft.conf").write_text(BAD_SITE.replace("bad", "draft"))
    git("add", "-A", cwd=config_repo, env=environment)
    result = run(sys.executable, "-m", "pre_commit", "run", "--all-files", cwd=config_repo, env=environment)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert output.count("etc/nginx/sites-enabled/bad.conf:4: SSL002 error: ") == 1, output
    # A site the tree does not include is linted on its own, once too.
    assert output.count("sites-available/draft.conf:4: SSL002 error: ") == 1, output
    # Two TLS sites in the tree and the draft: not one per file pre-commit passed.
    assert "2 errors in 3 TLS sites" in output, output
    assert output.count("SSL002 error") == 2


def test_forgetting_root_stops_instead_of_linting_the_machine(tmp_path, hook_repo, environment):
    repo = sample_repo(tmp_path, hook_repo, environment,
                       f"      - id: sslint\n        args: [etc/nginx, --now, '{NOW}']\n", absolute=True)
    git("add", "-A", cwd=repo, env=environment)
    result = run(sys.executable, "-m", "pre_commit", "run", "--all-files", cwd=repo, env=environment)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "did you mean `--root .`?" in output, output


def test_the_hook_skips_commits_without_configs(config_repo, environment):
    assert commit(config_repo, environment, "a clean site").returncode == 0
    (config_repo / "README.md").write_text("configs, documented\n")
    result = commit(config_repo, environment, "docs only")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "sslint (nginx/Apache TLS configuration)" in output and "(no files to check)Skipped" in output
