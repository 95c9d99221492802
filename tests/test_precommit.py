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


@pytest.fixture
def config_repo(tmp_path, hook_repo, environment) -> Path:
    """A config repository (etc/nginx with one clean site) that uses both hooks, installed in git."""
    from pki import build

    repo = tmp_path / "configs"
    nginx = repo / "etc" / "nginx"
    build({"pki": {"root": {"ca": True},
                   "good": {"issuer": "root", "names": ["good.test"]},
                   "bad": {"issuer": "root", "names": ["bad.test"]}},
           "files": {"ssl/good.pem": ["good"], "ssl/good.key": {"key": "good"}, "ssl/bad.pem": ["bad"]}}, nginx)
    (nginx / "nginx.conf").write_text("events {}\nhttp {\n    include sites-enabled/*.conf;\n}\n")
    (nginx / "sites-enabled").mkdir()
    (nginx / "sites-enabled" / "good.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name good.test;\n"
        "    ssl_certificate ssl/good.pem;\n    ssl_certificate_key ssl/good.key;\n}\n")
    (repo / "README.md").write_text("configs\n")
    path, rev = hook_repo
    # Only the file-level rules: the test PKI's private root would (rightly) trip the trust rules.
    common = f"[--now, '{NOW}', --select, SSL0"
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n"
        f"  - repo: {path}\n"
        f"    rev: {rev}\n"
        f"    hooks:\n"
        f"      - id: sslint\n"
        f"        args: {common}]\n"
        f"      - id: sslint-tree\n"
        f"        args: {common}, etc/nginx]\n")
    git("init", "-q", cwd=repo, env=environment)
    installed = run(sys.executable, "-m", "pre_commit", "install", cwd=repo, env=environment)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return repo


def commit(repo: Path, environment: dict[str, str], message: str) -> subprocess.CompletedProcess:
    git("add", "-A", cwd=repo, env=environment)
    return run("git", "commit", "-m", message, cwd=repo, env=environment)


def test_a_broken_site_fails_the_commit_and_a_clean_one_passes(config_repo, environment):
    clean = commit(config_repo, environment, "a clean site")
    output = clean.stdout + clean.stderr
    assert clean.returncode == 0, output
    assert "sslint (changed nginx/Apache config files)" in output and "Passed" in output
    assert "Failed" not in output

    bad = config_repo / "etc" / "nginx" / "sites-enabled" / "bad.conf"
    bad.write_text("server {\n    listen 443 ssl;\n    server_name bad.test;\n"
                   "    ssl_certificate ssl/bad.pem;\n    ssl_certificate_key ssl/bad.key;\n}\n")
    broken = commit(config_repo, environment, "a site without its key")
    output = broken.stdout + broken.stderr
    assert broken.returncode != 0, output
    # Both hooks fail, each pointing at the file and line.
    assert output.count("etc/nginx/sites-enabled/bad.conf:5: SSL002") == 2, output
    assert output.count("Failed") == 2, output
    assert git("rev-list", "--count", "HEAD", cwd=config_repo, env=environment) == "1"


def test_the_file_hook_skips_files_that_are_not_configs(config_repo, environment):
    assert commit(config_repo, environment, "a clean site").returncode == 0
    (config_repo / "README.md").write_text("configs, documented\n")
    result = commit(config_repo, environment, "docs only")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "sslint (changed nginx/Apache config files)" in output and "(no files to check)Skipped" in output
    assert "sslint (whole nginx/Apache configuration)" in output  # always_run
