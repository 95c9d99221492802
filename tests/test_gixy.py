"""gixy's add_header test configs (shared/corpus/gixy*, data only) as SSL402 cases.

gixy names its cases by outcome: `*_fp.conf` must stay silent (a false positive
if flagged), every other file is a finding. Its add_header_redefinition cases drop
X-Frame-Options (and, in the newer gixy, X-Bar at low severity). sslint judges
only the headers a browser's "untrusted" verdict depends on -- Content-Security-Policy
and Strict-Transport-Security -- so on gixy's files as written it stays silent
everywhere, by design. Read with X-Frame-Options standing for one of those two
headers, the very same structures must give SSL402 exactly where gixy finds the
drop, and nothing on gixy's false positives (a header re-declared where it is
dropped, a `server` that is not a block).

The fragments are wrapped in a TLS server (`location /` around bare statements,
since nginx allows add_header in an `if` only inside a location; gixy's
`if (1)` becomes `if ($arg_gixy)`, a condition nginx accepts) and each wrapping
is shown valid by `nginx -t` where nginx is installed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cases import PINNED_NOW
from conftest import CORPUS, needs_corpus

from nginxssl.catalogue import catalogue
from nginxssl.discover import discover
from nginxssl.engine.lint import lint
from nginxssl.model.settings import Settings

pytestmark = needs_corpus
REDEFINITION = [CORPUS / repo / "tests/plugins/simply/add_header_redefinition" for repo in ("gixy", "gixy-yandex")]
MULTILINE = [CORPUS / repo / "tests/plugins/simply/add_header_multiline" for repo in ("gixy", "gixy-yandex")]

# file -> does gixy report a drop of X-Frame-Options (the header we substitute)?
# The not_secure_* files drop only X-Bar: the newer gixy reports that at LOW
# severity (not_secure_dropped/outer), the older one names them *_fp; neither
# is about a header sslint judges, so no SSL402 either way.
DROPS_X_FRAME_OPTIONS = {
    "duplicate_fp.conf": False,
    "if_replaces.conf": True,
    "location_replaces.conf": True,
    "nested_block.conf": True,
    "non_block_fp.conf": False,
    "not_secure_dropped.conf": False,
    "not_secure_outer.conf": False,
    "not_secure_both_fp.conf": False,
    "not_secure_outer_fp.conf": False,
    "step_replaces.conf": True,
}
SUBSTITUTES = {
    "Content-Security-Policy": '"upgrade-insecure-requests"',
    "Strict-Transport-Security": '"max-age=31536000"',
}


def redefinition_files() -> list[Path]:
    files = sorted(path for directory in REDEFINITION if directory.is_dir() for path in directory.glob("*.conf"))
    return files


def multiline_files() -> list[Path]:
    return sorted(path for directory in MULTILINE if directory.is_dir() for path in directory.glob("*.conf"))


def case_id(path: Path) -> str:
    return f"{path.parts[-6]}/{path.parts[-2]}/{path.name}"


def wrap(text: str, directory: Path) -> Path:
    """A whole nginx.conf with the gixy fragment inside a TLS server on 127.0.0.1."""
    from pki import build

    build({"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["gixy.test"]}},
           "files": {"a.pem": ["leaf"], "a.key": {"key": "leaf"}}}, directory)
    tls = "listen 127.0.0.1:8443 ssl; server_name gixy.test; ssl_certificate a.pem; ssl_certificate_key a.key;"
    text = text.replace("if (1)", "if ($arg_gixy)")  # gixy's `if (1)` is not a condition nginx accepts
    if re.search(r"^\s*http\s*\{", text, re.MULTILINE):
        main = "events {}\n" + re.sub(r"server\s*\{", "server {\n    " + tls, text, count=1)
    elif re.search(r"^\s*server\s*\{", text, re.MULTILINE):
        main = "events {}\nhttp {\n" + re.sub(r"server\s*\{", "server {\n    " + tls, text, count=1) + "\n}\n"
    else:
        main = f"events {{}}\nhttp {{\nserver {{\n    {tls}\n    location / {{\n{text}\n    }}\n}}\n}}\n"
    config = directory / "nginx.conf"
    config.write_text(main)
    return config


def findings(config: Path, rule: str) -> list:
    settings = Settings(now=PINNED_NOW, server_version="1.22.1")
    return [f for f in lint(discover(str(config)), settings, tuple(catalogue())).findings if f.rule == rule]


def test_the_corpus_holds_the_cases():
    names = {path.name for path in redefinition_files()}
    assert names == set(DROPS_X_FRAME_OPTIONS), names
    # gixy's convention: a *_fp.conf is one it must not flag.
    assert not any(drops for name, drops in DROPS_X_FRAME_OPTIONS.items() if name.endswith("_fp.conf"))


@pytest.mark.parametrize("path", redefinition_files(), ids=case_id)
def test_as_written_only_other_headers_drop(path, tmp_path):
    """gixy flags X-Frame-Options drops; they are not sslint's business: silent."""
    assert findings(wrap(path.read_text(), tmp_path), "SSL402") == []


@pytest.mark.parametrize("header", sorted(SUBSTITUTES))
@pytest.mark.parametrize("path", redefinition_files(), ids=case_id)
def test_security_header_drops_are_ssl402_where_gixy_finds_them(path, header, tmp_path):
    text = path.read_text().replace('X-Frame-Options "DENY"', f"{header} {SUBSTITUTES[header]}")
    config = wrap(text, tmp_path)
    found = findings(config, "SSL402")
    if DROPS_X_FRAME_OPTIONS[path.name]:
        assert len(found) == 1, found
        assert header in found[0].message and "gixy.test" in found[0].names
    else:
        assert found == [], found


@pytest.mark.parametrize("path", redefinition_files(), ids=case_id)
def test_wrapped_cases_are_valid_nginx(path, tmp_path):
    from judges import nginx_test, require

    require("nginx")
    verdict = nginx_test(wrap(path.read_text(), tmp_path))
    if path.name == "non_block_fp.conf":
        assert not verdict.ok and '"server" directive is not allowed here' in verdict.output
    else:
        assert verdict.ok, verdict.output


@pytest.mark.parametrize("path", multiline_files(), ids=case_id)
def test_multiline_values(path, tmp_path):
    """gixy's multiline-header cases: no drops anywhere; a policy split over lines is still read."""
    config = wrap(path.read_text(), tmp_path)
    assert findings(config, "SSL402") == []
    missing = findings(config, "SSL401")
    assert len(missing) == 1  # none of these policies has upgrade-insecure-requests
    if path.name == "add_header.conf":
        assert "has no upgrade-insecure-requests" in missing[0].message  # the policy was found and parsed
