"""What ships beside the code: licence, changelog, project URLs, the container recipe and the GitHub
Action, each exercised as far as this machine allows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
NOW = "2030-01-01T00:00:00Z"


def test_licence_changelog_and_urls():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    licence = (REPO / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence and "END OF TERMS" in licence
    # No public home exists yet: no made-up project URL (SARIF's helpUri follows the metadata when one is set).
    assert "urls" not in project or all(not url.startswith("https://github.com/sslint") for url in project["urls"].values())
    assert "## Unreleased" in (REPO / "CHANGELOG.md").read_text()


def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "nginxssl", "rules"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("SSL001")


def test_dockerfile_copies_what_exists_and_builds_where_an_engine_is():
    lines = (REPO / "Dockerfile").read_text().splitlines()
    copied = [part for line in lines if line.startswith("COPY ") and "--from" not in line
              for part in line.split()[1:-1]]
    assert copied and all((REPO / part).exists() for part in copied), copied
    assert 'ENTRYPOINT ["sslint"]' in lines
    engine = shutil.which("docker") or shutil.which("podman")
    if engine is None or subprocess.run([engine, "info"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("no running container engine on this machine: the image is not built")
    built = subprocess.run([engine, "build", "-q", "-t", "sslint-test", str(REPO)], capture_output=True, text=True,
                           timeout=900)
    assert built.returncode == 0, built.stderr
    version = subprocess.run([engine, "run", "--rm", "sslint-test", "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("sslint ")


def _action_step(name: str) -> dict:
    action = YAML(typ="safe").load((REPO / "action.yml").read_text())
    return next(step for step in action["runs"]["steps"] if step.get("name") == name)


@pytest.mark.parametrize("broken", [False, True])
def test_the_actions_lint_step_runs_as_github_would(tmp_path, demo, broken):
    """The Lint step's script, run by bash with the environment GitHub gives it, on a checkout."""
    step = _action_step("Lint")
    checkout = tmp_path / "checkout"
    shutil.copytree(demo, checkout / "etc" / "nginx", symlinks=True)
    if not broken:
        for site in (checkout / "etc" / "nginx" / "sites-enabled").iterdir():
            if site.name != "good.conf":
                site.unlink()
    output = tmp_path / "github-output"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GITHUB_OUTPUT": str(output), "GITHUB_WORKSPACE": str(checkout),
           "SSLINT_PATH": "etc/nginx", "SSLINT_ROOT": "etc/nginx",
           "SSLINT_ARGS": f"--now {NOW} --ca-file 'etc/nginx/ssl/ca/root.pem' --select SSL0,SSL1,SSL2",
           "SSLINT_SARIF": "sslint.sarif"}
    assert set(step["env"]) == {"SSLINT_PATH", "SSLINT_ROOT", "SSLINT_ARGS", "SSLINT_SARIF"}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == (1 if broken else 0), done.stdout + done.stderr
    assert output.read_text() == f"exit-code={done.returncode}\n"
    log = json.loads((checkout / "sslint.sarif").read_text())
    results = log["runs"][0]["results"]
    assert bool(results) is broken
    if broken:  # repository paths, as code scanning needs them, and annotations in the log
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
        assert all(uri.startswith("etc/nginx/") for uri in uris), uris
        assert "::error file=etc/nginx/sites-enabled/" in done.stdout
