"""Shared test set-up: the fixtures PKI generator and the real-server judges are plain modules."""

import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (HERE, os.path.join(REPO, "fixtures")):
    if path not in sys.path:
        sys.path.insert(0, path)

os.environ.setdefault("SSLINT_PKI_CACHE", os.path.join(REPO, ".pki-cache"))


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo tree (fixtures/demo/nginx) as an admin's box would hold it: keys readable by root only
    (git keeps no modes, so a checkout has them 0644)."""
    copy = tmp_path / "nginx"
    shutil.copytree(Path(REPO) / "fixtures" / "demo" / "nginx", copy, symlinks=True)
    for key in copy.rglob("*.key"):
        key.chmod(0o600)
    return copy
