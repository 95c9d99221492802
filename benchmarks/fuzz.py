"""Fuzz sslint with mutated real configs and certificates, from a fixed seed: every run is reproducible.

    python benchmarks/fuzz.py                      # 2,000 cases from seed 20, each in its own process
    python benchmarks/fuzz.py --seed 7 --count 50000 --out /tmp/fuzz-findings

Each case is a small tree: a file of shared/corpus (nginx or Apache), cut, spliced and
sprinkled with what breaks readers and what an attacker would write (self-including globs,
a Define that doubles, NULs, a regex that backtracks, quotes), beside a certificate, a key
and a chain, some of them damaged the same way. Every case runs the real command in its
own process with a time and a memory limit; a traceback, an exit code other than 0, 1 or 2,
a timeout or a memory error is a finding, whose tree is kept under --out to replay.

tests/test_fuzz.py runs a few hundred of the same cases in the suite (in the test process,
bounded by a timer), so this module owns the generator both use.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SSLINT_CORPUS", REPO.parent / "shared" / "corpus"))
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus")
NOW = "2026-01-01T00:00:00Z"
TIME_LIMIT = 60  # seconds for one case
MEMORY_LIMIT = 2 << 30  # bytes of address space for one case

# What an attacker (or an accident) puts in a config, beside the words of the grammar.
NGINX_INSERTS = [
    b"include *.conf;\n", b"include nginx.conf;\n", b"server_name ~^(a+)+$ aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!;\n",
    b'map $sent_http_content_type $m { "~^(.|.)*X" a; default b; }\n', b"add_header Content-Security-Policy $m;\n",
    b"server {\n", b"}\n", b"{", b"}", b";", b'"', b"'", b"\\", b"\x00", b"\xff\xfe", b"\r\n", b"#", b"$", b"${",
    b"ssl_certificate cert.pem;\n", b"ssl_certificate_key key.pem;\n", b"listen 443 ssl;\n", b"include /proc/self/environ;\n",
    b"ssl_certificate data:-----BEGIN;\n", b"location ~ (?<n>x)\\1 {\n",
]
APACHE_INSERTS = [
    b"Include *.conf\n", b"IncludeOptional *\n", b"Include apache2.conf\n", b"Define A ${A}${A}\n", b"Define A x\n",
    b"<Macro M $x>\nUse M $x\n</Macro>\nUse M 1\n", b"<VirtualHost *:443>\n", b"</VirtualHost>\n", b"<IfModule x>\n",
    b"</IfModule>\n", b"SSLEngine on\n", b"SSLCertificateFile cert.pem\n", b"SSLCertificateKeyFile key.pem\n",
    b"Include /proc/self/environ\n", b"root:$6$x$y:1:::\n", b"\\\n", b"\x00", b"\xef\xbb\xbf", b"<", b">", b'"', b"${",
    b"ServerName ${A}\n", b"Header always set Content-Security-Policy \"expr=%{CONTENT_TYPE} =~ m#^(.|.)*X#\"\n",
]
PEM_INSERTS = [b"\n", b"\r", b"-----", b"=", b"\x00", b"\x30\x82\xff\xff", b"-----BEGIN CERTIFICATE-----\n",
               b"-----END CERTIFICATE-----\n", b"\x02\x01\x03"]


def corpus_files(server: str) -> list[Path]:
    """The corpus files of one server, sorted (the seed picks among them by index)."""
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.rglob("*.conf")):
        text = str(path).lower()
        wanted = "nginx" in text if server == "nginx" else ("apache" in text or "httpd" in text)
        try:
            if wanted and path.is_file() and not path.is_symlink() and path.stat().st_size < 100_000:
                found.append(path)
        except OSError:
            continue
    return found


def mutate(rng: random.Random, data: bytes, inserts: list[bytes], steps: int = 6) -> bytes:
    """`data` cut, spliced, repeated and sprinkled with `inserts` and random bytes."""
    out = bytearray(data)
    for _ in range(rng.randint(1, steps)):
        position = rng.randint(0, len(out))
        kind = rng.choice(("insert", "insert", "delete", "repeat", "flip", "truncate", "bytes"))
        if kind == "insert":
            out[position:position] = rng.choice(inserts)
        elif kind == "delete":
            del out[position:position + rng.randint(1, 200)]
        elif kind == "repeat":
            out[position:position] = out[position:position + rng.randint(1, 400)] * rng.randint(1, 3)
        elif kind == "flip" and out:
            out[min(position, len(out) - 1)] ^= 1 << rng.randint(0, 7)
        elif kind == "truncate" and position > 0:
            del out[position:]
        else:
            out[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(out)


@dataclass(frozen=True)
class Case:
    """One tree to lint: file name -> bytes, the main file, and the command's extra arguments."""

    number: int
    files: dict[str, bytes]
    main: str
    args: tuple[str, ...]


FORMATS = ("text", "json", "sarif", "github")


def cases(seed: int, count: int, material: dict[str, bytes]) -> list[Case]:
    """`count` cases from `seed`: about 40 % nginx and 40 % Apache corpus files, 20 % damaged material
    under a plain site; `material` names real certificate files ("chain.pem", "leaf.key", ...)."""
    rng = random.Random(seed)
    nginx, apache = corpus_files("nginx"), corpus_files("apache")
    pem_names = sorted(name for name in material if name != "ca.pem")
    out = []
    for number in range(count):
        files = {"cert.pem": material.get("chain.pem", b""), "key.pem": material.get("leaf.key", b""),
                 "ca.pem": material.get("ca.pem", b"")}
        roll = rng.random()
        if roll < 0.4 and nginx:
            main = "nginx.conf"
            files[main] = mutate(rng, rng.choice(nginx).read_bytes(), NGINX_INSERTS)
            files["a.conf"] = mutate(rng, rng.choice(nginx).read_bytes(), NGINX_INSERTS, 2)
            server = "nginx"
        elif roll < 0.8 and apache:
            main = "apache2.conf"
            files[main] = mutate(rng, rng.choice(apache).read_bytes(), APACHE_INSERTS)
            files["a.conf"] = mutate(rng, rng.choice(apache).read_bytes(), APACHE_INSERTS, 2)
            server = "apache"
        else:
            server = rng.choice(("nginx", "apache"))
            for name in ("cert.pem", "key.pem", "chain.pem"):
                files[name] = mutate(rng, material[rng.choice(pem_names)], PEM_INSERTS, 4)
            if server == "nginx":
                main = "nginx.conf"
                files[main] = (b"events {}\nhttp {\n    server {\n        listen 443 ssl;\n        server_name a.test;\n"
                               b"        ssl_certificate cert.pem;\n        ssl_certificate_key key.pem;\n"
                               b"        ssl_trusted_certificate chain.pem;\n    }\n}\n")
            else:
                main = "apache2.conf"
                files[main] = (b"Listen 443\n<VirtualHost *:443>\n    ServerName a.test\n    SSLEngine on\n"
                               b"    SSLCertificateFile cert.pem\n    SSLCertificateKeyFile key.pem\n"
                               b"    SSLCertificateChainFile chain.pem\n</VirtualHost>\n")
        command = rng.choice(FORMATS + ("certs", "diff"))
        if command == "certs":
            args: tuple[str, ...] = ("certs", "--format", rng.choice(("table", "json", "csv")))
        elif command == "diff":
            args = ("--diff", "--server", server)
        else:
            args = ("--format", command, "--server", server)
        out.append(Case(number, files, main, args))
    return out


def write(case: Case, directory: Path) -> Path:
    for name, data in case.files.items():
        (directory / name).write_bytes(data)
    return directory / case.main


def argv(case: Case, main: Path) -> list[str]:
    """The command line of a case (after `sslint`)."""
    if case.args[0] == "certs":
        return ["certs", str(main), "--now", NOW, *case.args[1:]]
    return [str(main), "--now", NOW, "--no-system-trust", "--ca-file", str(main.parent / "ca.pem"), *case.args]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def material_files(directory: Path) -> dict[str, bytes]:
    """Real certificates and keys to damage, built by the suite's fixtures script (fixtures/pki.py)."""
    sys.path.insert(0, str(REPO / "fixtures"))
    from pki import build  # type: ignore[import-not-found]

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
                   "leaf": {"issuer": "inter", "names": ["a.test", "*.a.test"]},
                   "rsa": {"issuer": "inter", "names": ["a.test"], "key": "rsa2048"}},
           "files": {"ca.pem": ["root"], "chain.pem": ["leaf", "inter"], "leaf.key": {"key": "leaf"},
                     "rsa.key": {"key": "rsa", "format": "traditional"}, "enc.key": {"key": "leaf", "password": "pw"},
                     "leaf.der": {"der": "leaf"}, "bundle.p12": {"pkcs12": "leaf", "chain": ["inter"], "password": "pw"},
                     "both.pem": ["rsa", {"key": "rsa"}, "inter"]}}, directory)
    return {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "sslint-fuzz-findings")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sslint-fuzz-") as scratch:
        material = material_files(Path(scratch) / "material")
        findings = 0
        slowest = (0.0, -1)
        for case in cases(options.seed, options.count, material):
            directory = Path(scratch) / f"case-{case.number}"
            directory.mkdir()
            main_file = write(case, directory)
            start = time.monotonic()
            try:
                done = subprocess.run([sys.executable, "-m", "nginxssl", *argv(case, main_file)], capture_output=True,
                                      text=True, errors="replace", timeout=TIME_LIMIT, cwd=REPO,
                                      stdin=subprocess.DEVNULL, preexec_fn=_limit_memory, check=False)
                problem = ("traceback" if "Traceback" in done.stderr else
                           f"exit {done.returncode}" if done.returncode not in (0, 1, 2) else "")
            except subprocess.TimeoutExpired:
                problem = f"no answer within {TIME_LIMIT} s"
            seconds = time.monotonic() - start
            slowest = max(slowest, (seconds, case.number))
            if problem:
                findings += 1
                kept = options.out / f"seed{options.seed}-case{case.number}"
                shutil.rmtree(kept, ignore_errors=True)
                shutil.copytree(directory, kept)
                print(f"case {case.number}: {problem}: {kept} (sslint {' '.join(argv(case, kept / case.main))})")
            shutil.rmtree(directory)
        print(f"{options.count} cases from seed {options.seed}: {findings} findings; "
              f"slowest case {slowest[1]} took {slowest[0]:.1f} s")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
