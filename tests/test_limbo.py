"""x509-limbo's SERVER cases as sites: sslint rejects what must fail and accepts what must pass.

x509-limbo (C2SP's path-validation suite, shared/corpus/x509-limbo/limbo.json) says, for
each case, whether a client that trusts `trusted_certs` at `validation_time` and asks for
`expected_peer_name` accepts a server sending the leaf then `untrusted_intermediates`.
Here each case becomes what sslint lints: an nginx server block serving exactly that
chain (the leaf, then the intermediates, in one ssl_certificate file) with the case's key,
its server_name the expected peer name, on a port of its own. sslint's verdict on the case
is "rejected" when an error among the certificate, chain and name rules sits in the case's
server block.

Cases go through the engine the command line runs (engine.lint) in as few runs as is
sound. Trust and time belong to a run, not a site, so a run holds cases that share a
validation time and whose certificates cannot complete each other's chains: no public key,
subject key identifier or authority key identifier is shared between two cases of a run
(a certificate can only be issued by a key, and without an authority key identifier the
issuer's name joins the identity too). The run then trusts the union of its cases' roots;
a root of one case can certify nothing of another. One run also goes through the real
`sslint` command, which must say exactly what the engine said.

A short list of cases is pinned (UNFOLLOWED), each with its reason: sslint has no
revocation input, client-side limits are no property of a site, and CA issuance rules that
no browser enforces are no reason for an admin's error. Any other disagreement fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from nginxssl.catalogue import catalogue
from nginxssl.discover import discover
from nginxssl.engine.lint import Result, lint
from nginxssl.model.settings import Settings
from nginxssl.pki.trust import TrustStoreError, authority_key_id, public_key_der, subject_key_id

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():
    CORPUS = Path(os.environ.get("SSLINT_CORPUS", "/work/shared/corpus"))
LIMBO = CORPUS / "x509-limbo" / "limbo.json"

pytestmark = pytest.mark.skipif(not LIMBO.is_file(), reason="x509-limbo corpus absent")

# Cases without a validation time are judged "now": every certificate of those is valid
# from 1970 to 2969, so any fixed instant in that span is the same question.
DEFAULT_TIME = datetime(2030, 1, 1, tzinfo=timezone.utc)
FIRST_PORT = 20000

# Errors of these rules say a browser refuses the certificate or its chain: the
# certificate (SSL1xx), chain (SSL2xx) and name (SSL301, SSL302) rules, and the keys and
# signatures browsers refuse (SSL502, SSL503, SSL506).
REJECTING = ("SSL1", "SSL2", "SSL301", "SSL302", "SSL502", "SSL503", "SSL506")

CN_IN_SAN = ("CA issuance rule no browser enforces (CABF BR 7.1.4.3: the subject CN must repeat a SAN "
             "entry): browsers judge names by the SAN alone, and the SAN names the peer")
PRIVATE_SUFFIX = ("Chrome accepts a wildcard over the public suffix list's PRIVATE section (*.s3.amazonaws.com, "
                  "*.github.io: real sites serve them); only ICANN suffixes refuse one")
REVOCATION = "revocation: sslint has no revocation input (no CRL, no OCSP)"
DEPTH = "client limit: max_chain_depth is the client's own setting, no property of the site"
ISSUANCE = ("CA issuance rule no browser enforces: OpenSSL and cryptography's verifier accept the chain, "
            "and so does sslint")
CA_LEAF = ("conflicts with webpki::ca-as-leaf: Firefox refuses a CA certificate as a site's "
           "(MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY), RFC 5280 alone allows it: SSL107")
ROOT_AKI = ("the root's own authorityKeyIdentifier: OpenSSL takes such a root for not self-signed and "
            "looks for its issuer; cryptography's verifier and sslint accept it")

# Case id -> why sslint's verdict differs from limbo's, on purpose.
UNFOLLOWED: dict[str, str] = {
    "crl::revoked-certificate-with-crl": REVOCATION,
    "crl::crlnumber-missing": REVOCATION,
    "crl::crlnumber-critical": REVOCATION,
    "crl::issuer-missing-crlsign": REVOCATION,
    "pathlen::max-chain-depth-0-exhausted": DEPTH,
    "pathlen::max-chain-depth-1-exhausted": DEPTH,
    "rfc5280::nc::permitted-dn-match": ("no peer name: limbo asks for none; a site's certificate must name its "
                                        "host in a DNS or IP subjectAltName (SSL302)"),
    "rfc5280::ca-as-leaf": CA_LEAF,
    "pathlen::validation-ignores-pathlen-in-leaf": CA_LEAF,
    "rfc5280::aki::leaf-missing-aki": ISSUANCE,
    "rfc5280::aki::intermediate-missing-aki": ISSUANCE,
    "rfc5280::ski::root-missing-ski": ISSUANCE,
    "rfc5280::ski::intermediate-missing-ski": ISSUANCE,
    "rfc5280::root-non-critical-basic-constraints": ISSUANCE,
    "rfc5280::serial::zero": ISSUANCE,
    "rfc5280::pc::ica-noncritical-pc": ISSUANCE,
    "rfc5280::nc::permitted-dns-match-noncritical": ISSUANCE,
    "webpki::eku::ee-without-eku": ISSUANCE,
    "webpki::eku::ee-anyeku": ISSUANCE + " (Chrome too, with a warning)",
    "webpki::eku::root-has-eku": ISSUANCE,
    "webpki::forbidden-rsa-not-divisible-by-8-in-root": ISSUANCE,
    "webpki::forbidden-rsa-key-not-divisible-by-8-in-leaf": ISSUANCE,
    "webpki::aki::root-with-aki-missing-keyidentifier": ISSUANCE,
    "rfc5280::aki::cross-signed-root-missing-aki": ROOT_AKI,
    "webpki::aki::root-with-aki-all-fields": ROOT_AKI,
    "webpki::aki::root-with-aki-ski-mismatch": ROOT_AKI,
    **{case_id: CN_IN_SAN for case_id in (
        "webpki::cn::ipv4-hex-mismatch", "webpki::cn::ipv4-leading-zeros-mismatch",
        "webpki::cn::ipv6-uppercase-mismatch", "webpki::cn::ipv6-uncompressed-mismatch",
        "webpki::cn::ipv6-non-rfc5952-mismatch", "webpki::cn::punycode-not-in-san",
        "webpki::cn::utf8-vs-punycode-mismatch", "webpki::cn::not-in-san", "webpki::cn::case-mismatch")},
    "webpki::san::public-suffix-private-namespace-wildcard-san": PRIVATE_SUFFIX,
}


@dataclass(frozen=True)
class Case:
    id: str
    expected: str  # "SUCCESS" | "FAILURE"
    peer: str | None  # the expected peer name (DNS or IP), None: the case names none
    time: datetime
    leaf: str  # PEM
    intermediates: tuple[str, ...]
    roots: tuple[str, ...]
    key: str  # PEM, "" when the case gives none

    @property
    def must_pass(self) -> bool:
        return self.expected == "SUCCESS"


@dataclass(frozen=True)
class Verdict:
    case: Case
    rejected: bool
    findings: tuple[str, ...]  # "SSL201 error: ..." of the case's server block
    refused: str = ""  # what stopped the run (the command line's exit 2)

    @property
    def agrees(self) -> bool:
        return not self.refused and self.rejected != self.case.must_pass


@cache
def cases() -> tuple[Case, ...]:
    document = json.loads(LIMBO.read_text())
    found = []
    for raw in document["testcases"]:
        if raw["validation_kind"] != "SERVER":
            continue
        peer = raw.get("expected_peer_name")
        time = datetime.fromisoformat(raw["validation_time"]) if raw.get("validation_time") else DEFAULT_TIME
        found.append(Case(raw["id"], raw["expected_result"], peer["value"] if peer else None, time,
                          raw["peer_certificate"], tuple(raw["untrusted_intermediates"]),
                          tuple(raw["trusted_certs"]), raw.get("peer_certificate_key") or ""))
    return tuple(found)


def _identity(case: Case) -> set[object]:
    """What a certificate of another case would have to share to chain with this case's ones."""
    identity: set[object] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        for pem in (case.leaf, *case.intermediates, *case.roots):
            cert = x509.load_pem_x509_certificate(pem.encode())
            identity.update(value for value in (public_key_der(cert), subject_key_id(cert), authority_key_id(cert))
                            if value)
            # Names too: the verifier tries every anchor and intermediate of a matching name, and the
            # cases share names ("x509-limbo-root"): in one run they ran it into its signature-check limit.
            identity.update((kind, name.public_bytes()) for kind, name in (("name", cert.subject), ("name", cert.issuer)))
    return identity


def runs(selected: tuple[Case, ...]) -> list[list[Case]]:
    """The cases split into runs: one validation time each, no identity shared inside a run."""
    by_time: dict[datetime, list[Case]] = defaultdict(list)
    for case in selected:
        by_time[case.time].append(case)
    grouped: list[list[Case]] = []
    for same_time in by_time.values():
        groups: list[tuple[list[Case], set[object]]] = []
        for case in same_time:
            identity = _identity(case)
            home = next((group for group in groups if not group[1] & identity), None)
            if home is None:
                groups.append(([case], identity))
            else:
                home[0].append(case)
                home[1].update(identity)
        grouped.extend(group for group, _identity_set in groups)
    return grouped


@dataclass(frozen=True)
class Tree:
    config: Path
    roots: tuple[str, ...]  # the --ca-file files
    time: datetime
    blocks: dict[str, tuple[int, int]]  # case id -> first and last line of its server block


def _unrelated_root() -> str:
    """A root no case chains to, trusted in every run beside the cases' own: a case whose only root
    cannot be loaded (skipped with an SSL003 warning) then leaves the run something to trust, as a
    real trust store always holds, instead of the command line's 'nothing is trusted' (exit 2)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(20261207, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "sslint harness: an unrelated root")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime(1970, 1, 1, tzinfo=timezone.utc))
            .not_valid_after(datetime(2969, 1, 1, tzinfo=timezone.utc))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def write_tree(run: list[Case], directory: Path) -> Tree:
    """One nginx.conf with a server block per case, each serving its own files on its own port."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["events {}", "http {"]
    blocks: dict[str, tuple[int, int]] = {}
    roots = []
    for number, case in enumerate(run):
        folder = directory / f"case{number:03d}"
        folder.mkdir()
        (folder / "chain.pem").write_text("".join(pem if pem.endswith("\n") else pem + "\n"
                                                  for pem in (case.leaf, *case.intermediates)))
        (folder / "roots.pem").write_text("".join(case.roots))
        roots.append(str(folder / "roots.pem"))
        first = len(lines) + 1
        lines.append("    server {")
        lines.append(f"        listen 127.0.0.1:{FIRST_PORT + number} ssl;")
        if case.peer is not None:
            lines.append(f"        server_name {case.peer};")
        lines.append(f"        ssl_certificate {folder.name}/chain.pem;")
        if case.key:
            (folder / "key.pem").write_text(case.key)
            (folder / "key.pem").chmod(0o600)
            lines.append(f"        ssl_certificate_key {folder.name}/key.pem;")
        lines.append("    }")
        blocks[case.id] = (first, len(lines))
    lines.append("}")
    (directory / "unrelated-root.pem").write_text(_unrelated_root())
    roots.append(str(directory / "unrelated-root.pem"))
    config = directory / "nginx.conf"
    config.write_text("\n".join(lines) + "\n")
    return Tree(config, tuple(roots), run[0].time, blocks)


def settings(tree: Tree) -> Settings:
    return Settings(now=tree.time, ca_files=tree.roots, system_trust=False)


def rejecting(rule: str, severity: str) -> bool:
    return severity == "error" and rule.startswith(REJECTING)


def verdicts_of(run: list[Case], tree: Tree, findings: list[tuple[str, str, int, str, str]]) -> list[Verdict]:
    """Each case's verdict from (rule, file, line, severity, message) findings of its tree."""
    config = str(tree.config)
    result = []
    for case in run:
        first, last = tree.blocks[case.id]
        mine = [(rule, severity, message) for rule, file, line, severity, message in findings
                if file == config and first <= line <= last]
        # The findings that speak about the certificate and its chain, not headers or protocols.
        shown = tuple(f"{rule} {severity}: {message}" for rule, severity, message in mine
                      if rule.startswith(("SSL0", "SSL1", "SSL2", "SSL3", "SSL5")))
        result.append(Verdict(case, any(rejecting(rule, severity) for rule, severity, _ in mine), shown))
    return result


def engine_findings(result: Result) -> list[tuple[str, str, int, str, str]]:
    return [(f.rule, f.file, f.line, f.severity, f.message) for f in result.findings]


def judge(selected: tuple[Case, ...], directory: Path, alone: bool = False) -> list[Verdict]:
    """Every case through engine.lint, run by run (`alone`: one case per run)."""
    verdicts = []
    for number, run in enumerate([[case] for case in selected] if alone else runs(selected)):
        tree = write_tree(run, directory / f"run{number:03d}")
        try:
            result = lint(discover(str(tree.config)), settings(tree), tuple(catalogue()))
        except TrustStoreError as error:  # the command line's exit 2
            if len(run) > 1:  # find the case that stops the run: each alone
                verdicts.extend(judge(tuple(run), directory / f"run{number:03d}-alone", alone=True))
            else:
                verdicts.append(Verdict(run[0], False, (), str(error)))
            continue
        verdicts.extend(verdicts_of(run, tree, engine_findings(result)))
    return verdicts


def disagreements(verdicts: list[Verdict]) -> list[Verdict]:
    return [verdict for verdict in verdicts if not verdict.agrees and verdict.case.id not in UNFOLLOWED]


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def limbo_verdicts(tmp_path_factory: pytest.TempPathFactory) -> list[Verdict]:
    return judge(cases(), tmp_path_factory.mktemp("limbo"))


def _shown(verdicts: list[Verdict]) -> str:
    return "\n".join(f"{v.case.id} (limbo: {v.case.expected}): " + ("; ".join(v.findings) or "no finding")
                     for v in verdicts)


def test_every_server_case_agrees_with_limbo_or_is_pinned(limbo_verdicts):
    wrong = disagreements(limbo_verdicts)
    assert not wrong, f"{len(wrong)} case(s) disagree with x509-limbo:\n{_shown(wrong)}"


def test_no_chain_limbo_accepts_is_rejected(limbo_verdicts):
    false_rejections = [v for v in limbo_verdicts if v.case.must_pass and v.rejected and v.case.id not in UNFOLLOWED]
    assert not false_rejections, _shown(false_rejections)


def test_pinned_cases_are_few_known_and_still_disagree(limbo_verdicts):
    """A pinned case that sslint now follows must be unpinned, and the list stays short."""
    by_id = {verdict.case.id: verdict for verdict in limbo_verdicts}
    assert set(UNFOLLOWED) <= set(by_id), sorted(set(UNFOLLOWED) - set(by_id))
    following = [by_id[case_id] for case_id in UNFOLLOWED if by_id[case_id].agrees]
    assert not following, f"these pinned cases now agree; unpin them:\n{_shown(following)}"
    assert len(UNFOLLOWED) <= 36


def test_runs_share_no_key_between_cases():
    """The soundness of judging several cases per run: no two cases of a run share an identity."""
    for run in runs(cases()):
        seen: set[object] = set()
        for case in run:
            identity = _identity(case)
            assert not seen & identity, case.id
            seen |= identity
        assert len({case.time for case in run}) == 1


def test_the_command_line_says_what_the_engine_says(tmp_path):
    """The largest run through the real `sslint` command: the same findings, and no exit 2."""
    run = max(runs(cases()), key=len)
    tree = write_tree(run, tmp_path / "tree")
    arguments = [sys.executable, "-m", "nginxssl", str(tree.config), "--no-system-trust",
                 "--now", tree.time.isoformat(), "--format", "json"]
    for root in tree.roots:
        arguments += ["--ca-file", root]
    completed = subprocess.run(arguments, check=False, capture_output=True, text=True, timeout=120)
    assert completed.returncode in (0, 1), completed.stderr
    printed = json.loads(completed.stdout)["findings"]
    from_command = [(f["rule"], f["file"], f["line"], f["severity"], f["message"]) for f in printed]
    from_engine = engine_findings(lint(discover(str(tree.config)), settings(tree), tuple(catalogue())))
    assert sorted(from_command) == sorted(from_engine)
    assert verdicts_of(run, tree, from_command) == verdicts_of(run, tree, from_engine)


if __name__ == "__main__":  # a table of every case: python tests/test_limbo.py OUTDIR
    import tempfile

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as scratch:
        everything = judge(cases(), Path(sys.argv[1] if len(sys.argv) > 1 else scratch))
    agreed = sum(verdict.agrees for verdict in everything)
    for verdict in everything:
        if not verdict.agrees:
            pinned = UNFOLLOWED.get(verdict.case.id, "")
            shown = verdict.refused or " | ".join(verdict.findings)
            print(f"{verdict.case.id}\t{verdict.case.expected}\t{pinned}\t{shown[:600]}")
    named = [verdict for verdict in everything if verdict.case.peer is not None]
    print(f"agree: {agreed}/{len(everything)}; with a peer name: {sum(v.agrees for v in named)}/{len(named)}; "
          f"runs: {len(runs(cases()))}")
