"""`--format html`: one self-contained page of every certificate, every site's chain and every finding.

The page is read back with the standard library's html.parser (what a browser's parser sees as text
and attributes, not regular expressions over the markup), and compared with the JSON reports of the
same runs: every certificate of `sslint certs --format json` and every finding of `sslint --format
json` must be on it. Headless Chromium, where installed, loads each page and must log no error.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_badssl import BADSSL, sysroot

NOW = "2026-12-01T00:00:00Z"


class Page(HTMLParser):
    """The text, the elements and the ids of a page, as a browser's parser reads them."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.script: list[str] = []
        self._in_script = False
        self.feed(source)
        self.close()
        self.text = " ".join(self.texts)
        self.ids = {attributes.get("id") for _tag, attributes in self.elements}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.script if self._in_script else self.texts).append(data)

    def with_tag(self, tag: str) -> list[dict[str, str | None]]:
        return [attributes for name, attributes in self.elements if name == tag]


def sslint(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nginxssl", *arguments, "--now", NOW], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def pages(tree: list[str], out: Path) -> tuple[Page, Page, dict, dict]:
    """The two HTML pages of a tree (lint, certs) and the two JSON reports they must show."""
    lint_page, certs_page = out / "lint.html", out / "certs.html"
    for command, page in (([], lint_page), (["certs"], certs_page)):
        done = sslint(*command, *tree, "--format", "html", "-o", str(page))
        assert done.returncode in (0, 1), done.stderr
        assert "Traceback" not in done.stderr
    findings = json.loads(sslint(*tree, "--format", "json", "-q").stdout)
    inventory = json.loads(sslint("certs", *tree, "--format", "json").stdout)
    return Page(lint_page.read_text()), Page(certs_page.read_text()), findings, inventory


def check_complete(page: Page, findings: dict, inventory: dict) -> None:
    """Every certificate file and every served certificate of the inventory, every finding (its rule,
    file:line and message), each rule's text, and each site drawn with a text alternative."""
    assert inventory["certificates"] and findings["findings"]
    for row in inventory["certificates"]:
        assert row["path"] in page.text, row["path"]
        if row["not_after"]:
            assert row["not_after"][:10] in page.text
        for chain in (row["chain"] or {}).get("served", ()):
            for link in chain["links"]:
                assert link["label"] in page.text, link["label"]
    rows = {attributes["id"]: attributes for attributes in page.with_tag("tr") if attributes.get("data-rule")}
    assert len(rows) == len(findings["findings"]), (sorted(r["data-rule"] for r in rows.values()), [f["rule"] for f in findings["findings"]])
    for number, finding in enumerate(findings["findings"]):
        row = rows[f"finding-{number}"]
        assert (row["data-rule"], row["data-severity"]) == (finding["rule"], finding["severity"])
        assert finding["message"] in page.text
        assert f"{finding['file']}:{finding['line']}" in page.text
        assert f"rule-{finding['rule']}" in page.ids  # the rule's text, which the row links to
        assert f"#rule-{finding['rule']}" in {a.get("href") for a in page.with_tag("a")}
    drawings = [svg for svg in page.with_tag("svg") if svg.get("class") == "chain"]
    sites = {(use["file"], use["line"]) for row in inventory["certificates"] for use in row["sites"]}
    assert drawings and len(drawings) <= len(sites)
    assert all(svg.get("role") == "img" and svg.get("aria-label") for svg in drawings)
    # Self-contained: nothing loaded from anywhere.
    for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
        assert not [element for element in page.with_tag(tag) if element.get(attribute)]
    assert "http://" not in "".join(page.script) and "https://" not in "".join(page.script)


def test_the_demo_page_shows_every_certificate_and_finding(demo: Path, tmp_path: Path) -> None:
    lint_page, certs_page, findings, inventory = pages([str(demo)], tmp_path)
    for page in (lint_page, certs_page):
        check_complete(page, findings, inventory)
    # The demo's broken chains, marked on the drawing in words (colour is never the only signal).
    labels = " ".join(svg.get("aria-label") or "" for svg in lint_page.with_tag("svg"))
    assert "incomplete.pem" in labels
    assert "NOT SENT" in lint_page.text and "sent 2nd, belongs 1st" in lint_page.text
    assert "self-signed" in lint_page.text and "the configured key does not match it" in lint_page.text
    assert "expired" in lint_page.text and "SSL201 at " in lint_page.text


def test_the_badssl_page_shows_every_certificate_and_finding(corpus: Path, tmp_path: Path) -> None:
    root = sysroot(tmp_path)
    tree = [str(root / "etc/nginx"), "--root", str(root), "--no-system-trust",
            "--ca-file", str(BADSSL / "certs/sets/test/gen/crt/ca-root.crt")]
    lint_page, certs_page, findings, inventory = pages(tree, tmp_path)
    for page in (lint_page, certs_page):
        check_complete(page, findings, inventory)
    assert "untrusted root" in lint_page.text.lower() or "issuer not found" in lint_page.text


HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_names_from_certificates_and_configs_are_escaped(tmp_path: Path) -> None:
    """A CN, a server_name and a file name are anyone's to choose: on the page they are text."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2026, 1, 1))
            .not_valid_after(datetime.datetime(2026, 12, 10))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    tree = tmp_path / "nginx"
    tree.mkdir()
    stem = "<b>x<b &amp;"  # a file name holds no slash
    (tree / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tree / f"{stem}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tree / f"{stem}.key").chmod(0o600)
    (tree / "nginx.conf").write_text(
        "events {}\nhttp {\n  server {\n    listen 443 ssl;\n    server_name 'a.test' '<i>x</i>';\n"
        f"    ssl_certificate '{stem}.pem';\n    ssl_certificate_key '{stem}.key';\n  }}\n}}\n")
    page_file = tmp_path / "page.html"
    done = sslint(str(tree), "--format", "html", "-o", str(page_file))
    assert done.returncode == 1, done.stderr
    source = page_file.read_text()
    page = Page(source)
    # Only the page's own script, and no element the names could have opened.
    assert len(page.with_tag("script")) == 1 and not page.with_tag("img") and not page.with_tag("b")
    assert not page.with_tag("i")
    assert HOSTILE in page.text and stem in page.text and "<i>x</i>" in page.text
    assert "<script>alert" not in source
    policy = next(meta["content"] for meta in page.with_tag("meta") if meta.get("http-equiv"))
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "unsafe-inline" not in policy.split(
        "script-src")[1]
    chromium_loads(page_file)


def test_probe_refuses_html() -> None:
    done = subprocess.run([sys.executable, "-m", "nginxssl", "probe", "localhost:1", ".", "--format", "html"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--format html" in done.stderr


# ---------------------------------------------------------------- Chromium


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def chromium_loads(page: Path) -> str:
    """Load the page in headless Chromium; fail on any script error or refused resource it logs.
    Returns the DOM after the page's script ran."""
    binary = chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): the page was not loaded in a browser")
    done = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                           "--user-data-dir=" + str(page.parent / "chromium-profile"), "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
               or "Content Security Policy" in line or "Refused to" in line]
    assert not console, "\n".join(console)
    return done.stdout


def test_chromium_loads_the_demo_page_without_errors(demo: Path, tmp_path: Path) -> None:
    page = tmp_path / "demo.html"
    assert sslint(str(demo), "--format", "html", "-o", str(page)).returncode == 1
    dom = chromium_loads(page)
    # The script ran (the CSP let it, by its hash): the filters are shown and count the findings.
    shown = Page(dom)
    form = next(attributes for attributes in shown.with_tag("form") if attributes.get("id") == "filters")
    assert "hidden" not in form
    assert "findings shown" in shown.text
