"""Shared test set-up: the fixtures PKI generator and the real-server judges are plain modules, and
the one place the tests find shared/corpus (CORPUS, needs_corpus, the `corpus` fixture)."""

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

# Property tests try the same examples on every run (a fixed seed) and never fail on time: a verdict
# must not depend on the draw or on how busy the machine is (CI lands or not on one run).
# SSLINT_HYPOTHESIS=random explores new examples, for a developer hunting bugs.
if os.environ.get("SSLINT_HYPOTHESIS") != "random":
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("sslint", derandomize=True, deadline=None)
    _hypothesis_settings.load_profile("sslint")


def _corpus() -> Path:
    """shared/corpus (real material written by others, read-only): beside the clone, as CI lays it
    out, else where $SSLINT_CORPUS says. Where neither is, the path beside the clone, which does
    not exist: the tests that need it skip (needs_corpus, the `corpus` fixture)."""
    beside = Path(REPO).parent / "shared" / "corpus"
    named = os.environ.get("SSLINT_CORPUS")
    if not beside.is_dir() and named and Path(named).is_dir():
        return Path(named)
    return beside


CORPUS = _corpus()
CORPUS_ABSENT = f"shared/corpus absent: neither {CORPUS} nor $SSLINT_CORPUS is a directory"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=CORPUS_ABSENT)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo tree (fixtures/demo/nginx) as an admin's box would hold it: keys readable by root only
    (git keeps no modes, so a checkout has them 0644)."""
    copy = tmp_path / "nginx"
    shutil.copytree(Path(REPO) / "fixtures" / "demo" / "nginx", copy, symlinks=True)
    for key in copy.rglob("*.key"):
        key.chmod(0o600)
    return copy


@pytest.fixture
def corpus() -> Path:
    """shared/corpus, or the test is skipped (with the reason) where it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(CORPUS_ABSENT)
    return CORPUS


@pytest.fixture(autouse=True)
def private_result_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test lints with a result cache of its own (engine/cache.py), never the user's
    ~/.cache/sslint: two runs of one test share it, as two runs of a user's do."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
