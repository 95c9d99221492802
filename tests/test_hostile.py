"""A hostile file system: sslint answers every case with a clear message, never a traceback, never a hang.

Each case runs the real command in its own process with a time limit (a hang
fails the test instead of the suite): FIFOs and devices where files belong,
directories, 50 MB files, a bundle of 5,000 certificates, a certificate with
10,000 names, include cycles and include bombs, symlink loops, sections nested
thousands deep, unreadable files (as an unprivileged user), latin-1 and
invalid UTF-8, an empty tree and a path that does not exist.
"""

from __future__ import annotations

import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import pytest
from conftest import CORPUS
from judges import find_binary, nginx_test
from text_report import blocks

REPO = Path(__file__).resolve().parents[1]
NOW = "2026-01-01T00:00:00Z"
TIME_LIMIT = 90  # seconds; every case takes a few
MEMORY_LIMIT = 2 << 30  # bytes of address space for one run (a lint of a small tree takes ~50 MB)
PKI = {"pki": {"root": {"ca": True}, "leaf": {"issuer": "root", "names": ["a.test"]}},
       "files": {"a.pem": ["leaf"], "a.key": {"key": "leaf"}, "root.pem": ["root"]}}


def _limit_memory() -> None:
    """In the child: at most MEMORY_LIMIT bytes of address space, so a bomb is a MemoryError (a
    traceback, which fails the case) instead of gigabytes taken from the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def sslint(*args: object, cwd: Path | None = None, timeout: float = TIME_LIMIT,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real command in its own process; a hang raises TimeoutExpired (the process is killed)."""
    command = [sys.executable, "-m", "nginxssl", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout,
                          cwd=cwd or REPO, stdin=subprocess.DEVNULL, preexec_fn=_limit_memory,
                          env=None if env is None else {**os.environ, **env})
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1, 2), (done.returncode, done.stdout, done.stderr)
    return done


def lint(*args: object, **kwargs) -> subprocess.CompletedProcess:
    return sslint(*args, "--now", NOW, **kwargs)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    from pki import build

    directory = tmp_path_factory.mktemp("pki")
    build(PKI, directory)
    return directory


def nginx_site(directory: Path, body: str, name: str = "nginx.conf") -> Path:
    """A whole nginx configuration with one TLS server whose directives are `body`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(
        "events {}\nhttp {\n    ssl_protocols TLSv1.2 TLSv1.3;\n    server {\n        listen 443 ssl;\n"
        f"        server_name a.test;\n{body}    }}\n}}\n")
    return directory / name


def apache_site(directory: Path, body: str, outside: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "apache2.conf").write_text(
        f"Listen 443\nSSLProtocol -all +TLSv1.2 +TLSv1.3\n{outside}<VirtualHost *:443>\n    ServerName a.test\n"
        f"    SSLEngine on\n{body}</VirtualHost>\n")
    return directory / "apache2.conf"


def lines_with(output: str, *words: str) -> list[str]:
    """The findings (first line and detail, as one line) that hold every word."""
    return [line for line in blocks(output) if all(word in line for word in words)]


# ---------------------------------------------------------------- FIFOs and devices


def test_fifos_named_as_certificate_key_password_and_include(tmp_path, pki):
    os.mkfifo(tmp_path / "fifo.pem")
    os.mkfifo(tmp_path / "fifo.conf")
    os.mkfifo(tmp_path / "chain.pem")  # a sibling the chain search reads
    config = nginx_site(tmp_path, "        ssl_certificate fifo.pem;\n        ssl_certificate_key fifo.pem;\n"
                                  "        ssl_password_file fifo.pem;\n        include fifo.conf;\n")
    done = lint(config)
    assert done.returncode == 1
    assert len(lines_with(done.stdout, "fifo.pem", "not a regular file")) >= 2, done.stdout
    assert lines_with(done.stdout, "SSL001", "fifo.conf", "not a regular file"), done.stdout


def test_a_config_swapped_for_a_fifo_after_its_stat_does_not_block(tmp_path):
    """The stat saw a regular file; by the time the file is opened it is a FIFO (a race an
    attacker with write access to the config directory could win): an error, not a hang."""
    fifo = tmp_path / "site.conf"
    os.mkfifo(fifo)
    script = ("import os, nginxssl.parse.nginx as n\n"
              "# What the stats said a moment earlier: a regular file of 100 bytes.\n"
              "n.readable_regular_file = lambda path: None\n"
              "n.os.stat = lambda path: os.stat_result((0o100644, 0, 0, 1, 0, 0, 100, 0, 0, 0))\n"
              f"print(n._parse_one({str(fifo)!r}).errors[0].message)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIME_LIMIT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cannot read {fifo}: is not a regular file (a FIFO, socket or device)"


def test_apache_fifos(tmp_path):
    os.mkfifo(tmp_path / "fifo.pem")
    os.mkfifo(tmp_path / "fifo.conf")
    (tmp_path / "conf.d").mkdir()
    os.mkfifo(tmp_path / "conf.d" / "site.conf")
    config = apache_site(tmp_path, "    SSLCertificateFile fifo.pem\n    SSLCertificateKeyFile fifo.pem\n"
                                   "    SSLCertificateChainFile fifo.pem\n", outside="Include fifo.conf\nInclude conf.d/\n")
    os.mkfifo(tmp_path / "envvars")  # Debian's shell file beside apache2.conf
    done = lint(config)
    assert done.returncode == 1
    assert lines_with(done.stdout, "SSL002", "fifo.pem", "not a regular file"), done.stdout
    assert lines_with(done.stdout, "SSL001", "fifo.conf"), done.stdout
    assert lines_with(done.stdout, "SSL001", "site.conf"), done.stdout


def test_a_fifo_or_a_device_on_the_command_line_or_as_a_trust_file(tmp_path, pki):
    os.mkfifo(tmp_path / "fifo")
    config = nginx_site(tmp_path / "tree", f"        ssl_certificate {pki / 'a.pem'};\n"
                                           f"        ssl_certificate_key {pki / 'a.key'};\n")
    for path in (tmp_path / "fifo", "/dev/zero"):
        done = lint(path)
        assert done.returncode == 2 and "not a regular file" in done.stderr, done.stderr
        done = lint(config, "--ca-file", path)
        assert done.returncode == 2 and "--ca-file" in done.stderr and "not a regular file" in done.stderr, done.stderr
        done = sslint("certs", config, "--ca-file", path)
        assert done.returncode == 2 and "not a regular file" in done.stderr, done.stderr
    # A settings file anyone can commit names the FIFO.
    (tmp_path / "tree" / ".sslint.yaml").write_text(f"ca-files: [{tmp_path / 'fifo'}]\n")
    done = lint(config)
    assert done.returncode == 2 and "not a regular file" in done.stderr, done.stderr


def test_devices_named_as_certificate_key_and_include(tmp_path):
    config = nginx_site(tmp_path, "        ssl_certificate /dev/zero;\n        ssl_certificate_key /dev/urandom;\n"
                                  "        ssl_password_file /dev/zero;\n        ssl_trusted_certificate /dev/zero;\n"
                                  "        include /dev/zero;\n")
    done = lint(config)
    assert done.returncode == 1
    assert lines_with(done.stdout, "SSL002", "/dev/zero", "not a regular file"), done.stdout
    assert lines_with(done.stdout, "SSL002", "/dev/urandom", "not a regular file"), done.stdout
    assert lines_with(done.stdout, "SSL001", "/dev/zero"), done.stdout
    done = lint(apache_site(tmp_path / "apache", "    SSLCertificateFile /dev/zero\n    SSLCertificateKeyFile /dev/zero\n",
                            outside="Include /dev/zero\n"))
    assert lines_with(done.stdout, "SSL002", "/dev/zero"), done.stdout
    assert lines_with(done.stdout, "SSL001", "/dev/zero"), done.stdout


def test_fifos_and_devices_in_the_intermediates_directory(tmp_path, pki):
    pool = tmp_path / "pool"
    pool.mkdir()
    os.mkfifo(pool / "fifo.pem")
    (pool / "zero.pem").symlink_to("/dev/zero")
    config = nginx_site(tmp_path / "tree", f"        ssl_certificate {pki / 'a.pem'};\n"
                                           f"        ssl_certificate_key {pki / 'a.key'};\n")
    done = lint(config, "--intermediates", pool, "--select", "SSL2")
    assert done.returncode in (0, 1)


def test_kernel_files_whose_read_blocks(tmp_path, pki):
    """/proc/kmsg stats as an empty regular file, and a plain read of it waits for the next kernel message."""
    kmsg = Path("/proc/kmsg")
    try:
        os.close(os.open(kmsg, os.O_RDONLY | os.O_NONBLOCK))
    except OSError:
        pytest.skip("/proc/kmsg cannot be opened here")
    config = nginx_site(tmp_path / "nginx", "        ssl_certificate /proc/kmsg;\n        ssl_certificate_key /proc/kmsg;\n"
                                            "        ssl_password_file /proc/kmsg;\n        include /proc/kmsg;\n")
    done = lint(config, timeout=60)
    assert len(lines_with(done.stdout, "SSL002", "/proc/kmsg")) == 3, done.stdout  # certificate, key, passwords
    apache = apache_site(tmp_path / "apache", "    SSLCertificateFile /proc/kmsg\n    SSLCertificateKeyFile /proc/kmsg\n",
                         outside="Include /proc/kmsg\n")
    done = lint(apache, timeout=60)
    assert lines_with(done.stdout, "SSL002", "/proc/kmsg"), done.stdout
    done = lint(config, "--ca-file", kmsg, timeout=60)
    assert done.returncode == 2 and "--ca-file" in done.stderr
    # A settings file anyone can commit, linked to it.
    (tmp_path / "nginx" / ".sslint.yaml").symlink_to(kmsg)
    (tmp_path / "nginx" / "pyproject.toml").symlink_to(kmsg)
    assert lint(config, timeout=60).returncode == 1


def test_the_whole_file_system_as_the_intermediates_pool(tmp_path, pki):
    """`--intermediates /` (or `intermediates: [/]` in a committed settings file): a capped walk, no hang."""
    from pki import build

    build({"pki": {"root": {"ca": True}, "inter": {"ca": True, "issuer": "root"},
                   "leaf": {"issuer": "inter", "names": ["a.test"]}},
           "files": {"a.pem": ["leaf"], "a.key": {"key": "leaf"}, "root.pem": ["root"]}}, tmp_path / "ssl")
    config = nginx_site(tmp_path, "        ssl_certificate ssl/a.pem;\n        ssl_certificate_key ssl/a.key;\n")
    done = lint(config, "--intermediates", "/", "--ca-file", tmp_path / "ssl" / "root.pem", "--no-system-trust",
                "--select", "SSL201", timeout=120)
    assert lines_with(done.stdout, "SSL201"), done.stdout


# ---------------------------------------------------------------- directories and large files


def test_a_directory_as_certificate_key_and_include(tmp_path):
    (tmp_path / "certs").mkdir()
    config = nginx_site(tmp_path, "        ssl_certificate certs;\n        ssl_certificate_key certs;\n"
                                  "        include certs;\n")
    done = lint(config)
    assert len(lines_with(done.stdout, "SSL002", "is a directory")) == 2, done.stdout
    assert lines_with(done.stdout, "SSL001", "certs", "directory"), done.stdout
    apache = apache_site(tmp_path / "apache", "    SSLCertificateFile /\n    SSLCertificateKeyFile /tmp\n")
    assert len(lines_with(lint(apache).stdout, "SSL002", "is a directory")) == 2
    done = lint(config, "--ca-file", tmp_path / "certs")
    assert done.returncode == 2 and "is a directory" in done.stderr


def test_fifty_megabyte_certificate_config_and_trust_file(tmp_path, pki):
    block = (pki / "a.pem").read_bytes()
    big = tmp_path / "big.pem"
    with open(big, "wb") as handle:
        handle.write(block * (50_000_000 // len(block) + 1))
    huge_conf = tmp_path / "huge.conf"
    with open(huge_conf, "wb") as handle:
        handle.write(b"# padding\n" * 5_000_000)
    config = nginx_site(tmp_path, f"        ssl_certificate big.pem;\n        ssl_certificate_key {pki / 'a.key'};\n"
                                  "        include huge.conf;\n")
    done = lint(config)
    assert lines_with(done.stdout, "SSL003", "big.pem", "bytes"), done.stdout
    assert lines_with(done.stdout, "SSL001", "huge.conf", "larger than"), done.stdout
    done = lint(huge_conf)
    assert done.returncode == 2 and "larger than" in done.stderr
    done = lint(config, "--ca-file", big)
    assert done.returncode == 2 and "bytes" in done.stderr
    done = sslint("certs", config, "--now", NOW)
    assert "big.pem" in done.stdout


@pytest.fixture(scope="module")
def bundle_5000(tmp_path_factory) -> Path:
    """5,000 distinct certificates in one file (2.3 MB), the first a leaf whose key is beside it; the leaf
    5,000 times; the leaf and 2,000 look-alike CAs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("bundle")
    key = ec.derive_private_key(20261201, ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sslint bulk CA")])
    start, end = datetime.datetime(2025, 1, 1), datetime.datetime(2045, 1, 1)
    blocks = []
    for number in range(5000):
        name = f"c{number}.test"
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(issuer).public_key(key.public_key()).serial_number(number + 1)
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .sign(key, hashes.SHA256()))
        blocks.append(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "bundle.pem").write_bytes(b"".join(blocks))
    # 2,000 look-alike CAs: one name, each its own key, no key identifiers, so that only a signature
    # check tells which one issued what (a million of them, if every pair were tried).
    lookalikes = [blocks[0]]
    for number in range(2000):
        own = ec.derive_private_key(1000 + number, ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(issuer).issuer_name(issuer).public_key(own.public_key())
                .serial_number(number + 1).not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(own, hashes.SHA256()))
        lookalikes.append(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "lookalike.pem").write_bytes(b"".join(lookalikes))
    (directory / "same.pem").write_bytes(blocks[0] * 5000)
    (directory / "bundle.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    os.chmod(directory / "bundle.key", 0o600)
    return directory


@pytest.mark.parametrize("name", ["bundle.pem", "same.pem", "lookalike.pem"])
def test_a_bundle_of_5000_certificates(tmp_path, bundle_5000, name):
    config = nginx_site(tmp_path, f"        ssl_certificate {bundle_5000 / name};\n"
                                  f"        ssl_certificate_key {bundle_5000 / 'bundle.key'};\n"
                                  f"        ssl_trusted_certificate {bundle_5000 / name};\n", name="nginx.conf")
    done = lint(config, "--format", "json", "--select", "SSL2", timeout=60)
    findings = json.loads(done.stdout)["findings"]
    if name == "lookalike.pem":  # the leaf's issuer is none of them (none holds its key)
        assert any(f["rule"] in ("SSL201", "SSL202") for f in findings), findings[:3]
    else:
        assert any(f["rule"] == "SSL201" for f in findings)  # the issuer is nowhere
        extras = [f for f in findings if f["rule"] == "SSL204"]
        assert len(extras) == 4999, len(extras)  # unrelated, or duplicates of the leaf
    done = sslint("certs", config, "--now", NOW, "--format", "csv", timeout=60)
    assert done.returncode == 0 and name in done.stdout


def test_a_certificate_with_10000_names(tmp_path):
    sans = CORPUS / "badssl.com" / "certs" / "sets" / "test" / "gen" / "chain" / "subdomain-10000-sans.pem"
    if not sans.is_file():
        pytest.skip(f"{sans} is not here")
    names = " ".join([f"san{number}.badssl.test" for number in range(2, 40)] + ["other.test", "x.10000-sans.badssl.test"])
    config = nginx_site(tmp_path, f"        ssl_certificate {sans};\n        ssl_certificate_key {sans};\n")
    config.write_text(config.read_text().replace("server_name a.test;", f"server_name {names};"))
    for format in ("text", "json", "sarif", "github"):
        done = lint(config, "--format", format, timeout=60)
        assert done.returncode == 1
        assert max(len(line) for line in done.stdout.splitlines()) < 4000  # the names are abbreviated
    text = lint(config).stdout
    assert len(lines_with(text, "SSL301")) == 2, text  # other.test and x.10000-sans..., the rest are covered
    for format in ("table", "json", "csv"):
        done = sslint("certs", config, "--now", NOW, "--format", format, timeout=60)
        assert "10000-sans" in done.stdout


# ---------------------------------------------------------------- cycles, bombs, loops, depth


def test_nginx_include_cycles(tmp_path):
    (tmp_path / "selfglob").mkdir()
    (tmp_path / "selfglob" / "x.conf").write_text("include selfglob/*.conf;\n")
    (tmp_path / "b.conf").write_text("include c.conf;\n")
    (tmp_path / "c.conf").write_text("include b.conf;\n")
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    include nginx.conf;\n    include b.conf;\n"
                                         "    include selfglob/*.conf;\n}\n")
    done = lint(tmp_path)
    assert done.returncode == 1
    assert len(lines_with(done.stdout, "SSL001", "include cycle")) == 3, done.stdout


def test_apache_include_cycles(tmp_path):
    (tmp_path / "b.conf").write_text("Include c.conf\n")
    (tmp_path / "c.conf").write_text("Include b.conf\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "up").symlink_to("..")  # a directory that holds itself
    (tmp_path / "apache2.conf").write_text("Include apache2.conf\nInclude b.conf\nIncludeOptional dir/\n")
    done = lint(tmp_path)
    assert done.returncode == 1
    assert len(lines_with(done.stdout, "SSL001", "loops back on itself")) >= 3, done.stdout
    assert lines_with(done.stdout, "SSL001", "contains itself"), done.stdout


def _bomb(directory: Path, server: str, depth: int = 24) -> Path:
    """Each file includes the next one twice, `depth` deep: 2**24 copies of the last if nobody stops."""
    directory.mkdir(parents=True, exist_ok=True)
    include = "include {};" if server == "nginx" else "Include {}"
    for level in range(depth):
        (directory / f"l{level}.conf").write_text(f"{include.format(f'l{level + 1}.conf')}\n" * 2)
    if server == "nginx":
        (directory / f"l{depth}.conf").write_text("server { listen 443 ssl; server_name a.test; }\n")
        (directory / "nginx.conf").write_text("events {}\nhttp {\n    include l0.conf;\n}\n")
    else:
        (directory / f"l{depth}.conf").write_text("<VirtualHost *:443>\n    ServerName a.test\n</VirtualHost>\n")
        (directory / "apache2.conf").write_text("Include l0.conf\n")
    return directory


@pytest.mark.parametrize("server", ["nginx", "apache"])
def test_an_include_bomb_stops_with_a_message(tmp_path, server):
    done = lint(_bomb(tmp_path, server), "--select", "SSL001", timeout=60)
    assert done.returncode == 1
    assert lines_with(done.stdout, "SSL001", "over and over"), done.stdout


def test_a_macro_bomb_stops_with_a_message(tmp_path):
    depth = 24
    macros = "".join(f"<Macro M{level}>\n    Use M{level + 1}\n    Use M{level + 1}\n</Macro>\n" for level in range(depth))
    (tmp_path / "apache2.conf").write_text(f"LoadModule macro_module modules/mod_macro.so\n<Macro M{depth}>\n"
                                           f"    ServerAlias a.test\n</Macro>\n{macros}Use M0\n")
    done = lint(tmp_path, timeout=60)
    assert lines_with(done.stdout, "SSL001", "over and over"), done.stdout


def test_symlink_loops(tmp_path, pki):
    for first, second in (("loop.pem", "loop2.pem"), ("loop.conf", "loop2.conf"), ("loopdir", "loopdir2")):
        (tmp_path / first).symlink_to(second)
        (tmp_path / second).symlink_to(first)
    config = nginx_site(tmp_path, "        ssl_certificate loop.pem;\n        ssl_certificate_key loop.pem;\n"
                                  "        include loop.conf;\n        include loopdir/*.conf;\n")
    done = lint(config)
    assert len(lines_with(done.stdout, "SSL002", "loop.pem", "symbolic links")) == 2, done.stdout
    assert lines_with(done.stdout, "SSL001", "loop.conf"), done.stdout
    # nginx 1.22.1 -t: 'open() ".../loop.conf" failed (40: Too many levels of symbolic links)'
    # (sslint said "No such file or directory")
    assert "Too many levels of symbolic links" in "".join(
        block for block in blocks(done.stdout) if "SSL001" in block and "loop.conf" in block), done.stdout
    if find_binary("nginx"):
        judge = tmp_path / "judged.conf"
        judge.write_text(f"events {{}}\nhttp {{\n    include {tmp_path}/loop.conf;\n}}\n")
        judged = nginx_test(judge)
        assert not judged.ok and "Too many levels of symbolic links" in judged.output, judged.output
    apache = apache_site(tmp_path / "apache", "    SSLCertificateFile ../loop.pem\n    SSLCertificateKeyFile ../loop.pem\n",
                         outside="Include ../loop.conf\nInclude ../loopdir\nIncludeOptional ../loopdir/*.conf\n")
    done = lint(apache)
    assert lines_with(done.stdout, "SSL002", "symbolic links"), done.stdout
    assert len(lines_with(done.stdout, "SSL001", "symbolic links")) >= 2, done.stdout


def test_symlink_loops_under_a_root(tmp_path):
    root = tmp_path / "checkout"
    (root / "etc" / "ssl").mkdir(parents=True)
    (root / "etc" / "ssl" / "a.pem").symlink_to("/etc/ssl/b.pem")  # absolute: re-rooted, then loops
    (root / "etc" / "ssl" / "b.pem").symlink_to("/etc/ssl/a.pem")
    (root / "etc" / "nginx").mkdir()
    (root / "etc" / "nginx" / "loop").symlink_to("/etc/nginx/loop")
    config = nginx_site(root / "etc" / "nginx", "        ssl_certificate /etc/ssl/a.pem;\n"
                                                "        ssl_certificate_key /etc/ssl/a.pem;\n"
                                                "        include /etc/nginx/loop/*.conf;\n        include /etc/nginx/loop;\n")
    done = lint(config, "--root", root)
    assert done.returncode == 1
    assert "symbolic links" in done.stdout, done.stdout


@pytest.mark.parametrize("server", ["nginx", "apache"])
def test_sections_nested_thousands_deep(tmp_path, server):
    depth = 3000
    if server == "nginx":
        body = "        location / {\n" * depth + "        }\n" * depth
        config = nginx_site(tmp_path, body)
    else:
        config = apache_site(tmp_path, "<Location />\n" * depth + "</Location>\n" * depth)
    done = lint(config)
    assert done.returncode == 1
    assert lines_with(done.stdout, "SSL001", "deep") or lines_with(done.stdout, "SSL001", "recursion"), done.stdout


# ---------------------------------------------------------------- unreadable (as an unprivileged user)


def _as_nobody(args: list[str]) -> tuple[int, str, str]:
    """Run the CLI in a child process that has become `nobody` (uid 65534).

    The interpreter lives where `nobody` may not read, so the child is a fork of
    this process (everything sslint needs already imported) rather than a new one.
    """
    import typer.testing

    from nginxssl.cli import lint_app

    # The same run as root first imports every module the CLI imports lazily.
    typer.testing.CliRunner().invoke(lint_app, args)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(reader)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            result = typer.testing.CliRunner().invoke(lint_app, args)
            payload = {"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                       "exception": None if result.exception is None or isinstance(result.exception, SystemExit)
                       else repr(result.exception)}
        except BaseException as error:  # noqa: BLE001 (reported to the parent)
            payload = {"code": -1, "stdout": "", "stderr": "", "exception": repr(error)}
        with os.fdopen(writer, "w") as out:
            json.dump(payload, out)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as source:
        payload = json.load(source)
    os.waitpid(child, 0)
    assert payload["exception"] is None, payload
    return payload["code"], payload["stdout"], payload["stderr"]


@pytest.fixture
def world_readable_tmp():
    """pytest's tmp_path is under a 0700 directory; `nobody` needs a way in."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a case as the unprivileged user nobody")
    base = Path(tempfile.mkdtemp(prefix="sslint-hostile-"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base)


def test_unreadable_files_as_an_unprivileged_user(world_readable_tmp, pki):
    tree = world_readable_tmp
    for name in ("a.pem", "a.key"):
        shutil.copy(pki / name, tree / name)
    (tree / "secret").mkdir()
    (tree / "secret" / "site.conf").write_text("server { listen 80; }\n")
    (tree / "locked.conf").write_text("server { listen 81; }\n")
    config = nginx_site(tree, "        ssl_certificate a.pem;\n        ssl_certificate_key a.key;\n"
                              "        include locked.conf;\n        include secret/*.conf;\n")
    os.chmod(tree / "a.pem", 0o000)
    os.chmod(tree / "a.key", 0o600)  # root's, as it should be: nobody cannot read it
    os.chmod(tree / "locked.conf", 0o000)
    os.chmod(tree / "secret", 0o000)
    code, out, err = _as_nobody([str(config), "--now", NOW])
    assert code == 1, out + err
    assert lines_with(out, "SSL002", "a.pem", "ermission denied"), out
    assert lines_with(out, "SSL002", "a.key", "ermission denied"), out
    assert lines_with(out, "SSL001", "locked.conf", "ermission denied"), out
    os.chmod(config, 0o000)
    code, out, err = _as_nobody([str(config), "--now", NOW])
    assert code == 2 and "permission denied" in err.lower(), err
    code, out, err = _as_nobody([str(tree), "--now", NOW])  # the directory: its nginx.conf is unreadable
    assert code in (1, 2) and "permission denied" in (out + err).lower(), out + err


def test_unreadable_apache_files_as_an_unprivileged_user(world_readable_tmp, pki):
    tree = world_readable_tmp
    for name in ("a.pem", "a.key"):
        shutil.copy(pki / name, tree / name)
    (tree / "conf.d").mkdir()
    (tree / "conf.d" / "x.conf").write_text("ServerAlias b.test\n")
    (tree / "locked.conf").write_text("ServerAlias c.test\n")
    config = apache_site(tree, f"    SSLCertificateFile {tree / 'a.pem'}\n    SSLCertificateKeyFile {tree / 'a.key'}\n",
                         outside="Include locked.conf\nInclude conf.d/\n")
    (tree / "envvars").write_text("export APACHE_RUN_USER=www-data\n")
    for path, mode in ((tree / "a.pem", 0), (tree / "a.key", 0o600), (tree / "locked.conf", 0), (tree / "conf.d", 0),
                       (tree / "envvars", 0)):
        os.chmod(path, mode)
    code, out, err = _as_nobody([str(config), "--now", NOW])
    assert code == 1, out + err
    assert len(lines_with(out, "SSL002", "ermission denied")) == 2, out
    assert lines_with(out, "SSL001", "locked.conf", "ermission denied"), out
    assert lines_with(out, "SSL001", "conf.d", "ermission denied"), out


# ---------------------------------------------------------------- encodings, empty and absent


LATIN1_NGINX = ("# caf\xe9 cr\xe8me\nevents {}\nhttp {\n    ssl_protocols TLSv1.2 TLSv1.3;\n    server {\n"
                "        listen 443 ssl;\n        server_name caf\xe9.test a.test;\n"
                "        ssl_certificate \xe9t\xe9.pem;\n        ssl_certificate_key a.key;\n"
                "        add_header X-Caf\xe9 \"cr\xe8me\" always;\n    }\n}\n").encode("latin-1")
INVALID_UTF8 = b"\xff\xfe\xc3\x28 \xa0\xed\xa0\x80"
LATIN1_APACHE = ("# caf\xe9\nListen 443\n<VirtualHost *:443>\n    ServerName caf\xe9.test\n    ServerAlias a.test\n"
                 "    SSLEngine on\n    SSLCertificateFile \xe9t\xe9.pem\n    SSLCertificateKeyFile a.key\n"
                 "</VirtualHost>\n").encode("latin-1")


@pytest.mark.parametrize("server", ["nginx", "apache"])
@pytest.mark.parametrize("encoding", ["latin-1", "invalid-utf-8"])
def test_configs_in_latin1_and_invalid_utf8(tmp_path, pki, server, encoding):
    data = LATIN1_NGINX if server == "nginx" else LATIN1_APACHE
    if encoding == "invalid-utf-8":
        data = data.replace(b"caf\xe9", b"caf" + INVALID_UTF8)
    shutil.copy(pki / "a.key", tmp_path / "a.key")
    shutil.copy(pki / "a.pem", tmp_path / os.fsdecode(b"\xe9t\xe9.pem"))
    config = tmp_path / ("nginx.conf" if server == "nginx" else "apache2.conf")
    config.write_bytes(data)
    texts = {}
    for format in ("text", "json", "sarif", "github"):
        done = lint(config, "--format", format, "--ca-file", pki / "root.pem")
        assert done.returncode in (0, 1), done.stderr
        texts[format] = done.stdout
    assert json.loads(texts["json"])["findings"]
    assert json.loads(texts["sarif"])["runs"][0]["results"]
    assert lines_with(texts["text"], "SSL401", "https://caf"), texts["text"]  # the site is there, named as written


@pytest.mark.parametrize("server", ["nginx", "apache"])
def test_a_latin1_file_name_in_a_config_is_found(tmp_path, pki, server):
    """nginx and httpd take file names as bytes: a latin-1 config naming a latin-1 file finds it."""
    shutil.copy(pki / "a.key", tmp_path / "a.key")
    shutil.copy(pki / "a.pem", tmp_path / os.fsdecode(b"\xe9t\xe9.pem"))
    config = tmp_path / ("nginx.conf" if server == "nginx" else "apache2.conf")
    config.write_bytes(LATIN1_NGINX if server == "nginx" else LATIN1_APACHE)
    done = lint(config, "--ca-file", pki / "root.pem", "--select", "SSL0")
    assert "SSL002" not in done.stdout, done.stdout


def test_nul_bytes_in_paths(tmp_path):
    """A NUL ends the path, as it ends the C string the servers open; never a ValueError."""
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "nginx.conf").write_bytes(
        b"events {}\nhttp {\n    include x\x00.conf;\n    include y\x00*.conf;\n    server {\n        listen 443 ssl;\n"
        b"        server_name a.test;\n        ssl_certificate \"a\x00b.pem\";\n        ssl_certificate_key k\x00.pem;\n"
        b"        ssl_password_file p\x00;\n        ssl_trusted_certificate t\x00;\n    }\n}\n")
    (tmp_path / "apache").mkdir()
    (tmp_path / "apache" / "apache2.conf").write_bytes(
        b"ServerRoot /tmp\x00/x\nInclude x\x00.conf\nIncludeOptional y\x00/*.conf\nInclude z/\x00*.conf\n"
        b"<VirtualHost *:443>\n    ServerName a.test\n    SSLEngine on\n    SSLCertificateFile a\x00.pem\n"
        b"    SSLCertificateKeyFile b\x00.pem\n    SSLCertificateChainFile c\x00.pem\n</VirtualHost>\n")
    for tree in (tmp_path / "nginx", tmp_path / "apache"):
        for args in ([], ["--root", tree], ["--format", "json"]):
            done = lint(tree, *args)
            assert done.returncode == 1 and "SSL002" in done.stdout, done.stdout
        assert lint(tree, "--diff").returncode in (0, 1)
        assert sslint("certs", tree, "--now", NOW).returncode == 0
    (tmp_path / "nginx" / ".sslint.yaml").write_text('ca-files: ["a\\0b"]\n')
    done = lint(tmp_path / "nginx")
    assert done.returncode == 2 and "--ca-file" in done.stderr and "no such file" in done.stderr, done.stderr


def test_an_empty_tree_and_empty_configs(tmp_path):
    (tmp_path / "empty").mkdir()
    done = lint(tmp_path / "empty")
    assert done.returncode == 2 and "no nginx.conf, apache2.conf or httpd.conf" in done.stderr
    for name, content in (("nginx.conf", b""), ("apache2.conf", b""), ("site.conf", b"  \n\n\t\n"),
                          ("bom.conf", b"\xef\xbb\xbf")):
        directory = tmp_path / name.replace(".", "-")
        directory.mkdir()
        (directory / name).write_bytes(content)
        done = lint(directory / name)
        assert done.returncode in (0, 1), done.stderr
        assert "no TLS site found in 1 configuration" in done.stdout, done.stdout
    done = sslint("certs", tmp_path / "nginx-conf", "--now", NOW)
    assert done.returncode == 0 and "0 certificate files" in done.stdout


def test_a_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "no" / "such" / "nginx.conf"
    for args in ([missing], ["certs", missing], ["probe", "127.0.0.1:1", missing]):
        done = sslint(*args)
        assert done.returncode == 2 and "no such file or directory" in done.stderr, done.stderr
    nginx_site(tmp_path / "tree", "")
    for option in ("--root", "--intermediates", "--ca-file", "--config"):
        done = lint(tmp_path / "tree", option, missing)
        assert done.returncode == 2 and str(missing) in done.stderr and option in done.stderr, (option, done.stderr)
    dangling = tmp_path / "dangling.conf"
    dangling.symlink_to(missing)
    done = lint(dangling)
    assert done.returncode == 2 and "no such file" in done.stderr, done.stderr


def _self_signed_site(directory: Path, common_name: str = "a.test", key_format: str = "PKCS8",
                      damage: Callable[[bytearray], None] | None = None) -> Path:
    """An nginx site serving a self-signed certificate for a.test (CN `common_name`) and its key written
    in `key_format` (cryptography's PrivateFormat name); `damage` edits the certificate's DER first (the
    signature no longer matters: nginx never checks its own certificate's)."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(5).not_valid_before(datetime.datetime(2025, 6, 1))
            .not_valid_after(datetime.datetime(2026, 6, 1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    if damage is not None:
        damage(der)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "a.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bytes(der))
                                      + b"-----END CERTIFICATE-----\n")
    (directory / "a.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                        getattr(serialization.PrivateFormat, key_format),
                                                        serialization.NoEncryption()))
    (directory / "a.key").chmod(0o600)
    return nginx_site(directory, "        ssl_certificate a.pem;\n        ssl_certificate_key a.key;\n")


def _version_3(der: bytearray) -> None:
    der[der.index(bytes([0xA0, 0x03, 0x02, 0x01, 0x02])) + 4] = 3  # the version field: v4


def _subject_bit_string(der: bytearray) -> None:
    der[der.rindex(b"\x0c\x06a.test")] = 0x03  # the subject's CN as a BIT STRING


def _damaged(directory: Path, damage: str) -> Path:
    """A self-signed a.test certificate damaged as the fuzzer found it: "version" sets the version field
    to 3 (v4), "subject" gives the subject's common name a BIT STRING tag."""
    return _self_signed_site(directory, damage=_version_3 if damage == "version" else _subject_bit_string)


@pytest.mark.parametrize("damage, nginx_starts, says", [
    ("version", True, "version field 3 (v4: only v1, v2 and v3 exist); nginx starts and serves it, but every client"),
    ("subject", False, "`nginx -t` fails with 'cannot load certificate' and nginx will not start"),
])
def test_a_certificate_that_decodes_only_in_part_is_unloadable_not_a_traceback(tmp_path, damage, nginx_starts, says):
    """Two certificates a fuzzer made: cryptography loads them lazily and failed deep in the chain analysis
    (a traceback, exit 1). Now SSL003 says what nginx does with each, as `nginx -t` showed it."""
    from judges import find_binary, nginx_test

    conf = _damaged(tmp_path / damage, damage)
    if find_binary("nginx"):
        assert nginx_test(conf).ok is nginx_starts
    done = lint(conf, "--select", "SSL003", "--format", "json")
    assert done.returncode == 1
    [finding] = json.loads(done.stdout)["findings"]
    assert finding["rule"] == "SSL003" and says in finding["message"], finding


# ---------------------------------------------------------------- what a message may quote


FAKE_SHADOW = ("root:$6$FAKEsaltROOT$FAKEHASHrootAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:19000:0:99999:7:::\n"
               "daemon:*:19000:0:99999:7:::\n"
               "alice:$y$j9T$FAKEsaltALICE$FAKEHASHaliceBBBBBBBBBBBBBBBBBBBBBBBBBBBBB:19000:0:99999:7:::\n"
               "bob $6$FAKEsaltBOB$FAKEHASHbobCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC\n")
SECRETS = ("FAKEHASH", "FAKEsalt", "$6$", "$y$", "hunter2", "SSLINT_HOSTILE_SECRET_VALUE")


def _apache_judge(conf: Path) -> str:
    """`apache2 -t` on a whole config that loads an MPM first (httpd wants one before anything else)."""
    from judges import apache_module_dir, apache_test

    text = conf.read_text(errors="surrogateescape")
    conf.write_text(f"LoadModule mpm_event_module {apache_module_dir() / 'mod_mpm_event.so'}\n{text}",
                    errors="surrogateescape")
    try:
        return apache_test(conf, conf.parent, standalone=True).output
    finally:
        conf.write_text(text, errors="surrogateescape")


def _judges_here(*binaries: str) -> None:
    from judges import find_binary

    if not all(find_binary(binary) for binary in binaries):
        pytest.skip(f"needs {', '.join(binaries)}")


def test_an_apache_include_of_the_process_environment_quotes_a_short_token(tmp_path):
    """`Include /proc/self/environ`: the whole environment printed in one SSL001 before. httpd reads the
    file as one line, up to its first NUL, and says `Invalid command 'PATH=/usr/sbin:/usr/bin'` (the first
    variable, whole). sslint quotes the variable's name only."""
    _judges_here("apache2")
    (tmp_path / "apache2.conf").write_text("Include /proc/self/environ\n")
    judged = _apache_judge(tmp_path / "apache2.conf")
    assert "Syntax error on line 1 of /proc/self/environ" in judged and "Invalid command '" in judged, judged
    done = lint(tmp_path, env={"SSLINT_HOSTILE_SECRET": "SSLINT_HOSTILE_SECRET_VALUE"})
    [line] = lines_with(done.stdout, "SSL001")
    assert "/proc/self/environ:1:" in line and "Invalid command '" in line and "…'" in line, line
    assert "=" not in line.split("Invalid command")[1].split("'")[1], line
    for format in ("text", "json", "sarif", "github"):
        output = lint(tmp_path, "--format", format, env={"SSLINT_HOSTILE_SECRET": "SSLINT_HOSTILE_SECRET_VALUE"}).stdout
        assert "SSLINT_HOSTILE_SECRET_VALUE" not in output and os.environ.get("PATH", "/") not in output, output


@pytest.mark.parametrize("server", ["nginx", "apache"])
def test_an_include_of_a_password_file_quotes_no_hash(tmp_path, server):
    """A password file included by mistake (or by a hostile pull request). Before: one SSL001 per line,
    each quoting the line's first word, the whole hash. httpd stops at line 1 and quotes that line's first
    word whole (`Invalid command 'root:$6$...'`); nginx says `unexpected end of file, expecting ";" or "}"`
    (no `;` in the file) and quotes nothing. sslint: one SSL001, at line 1 for Apache, with `'root…'`."""
    (tmp_path / "shadow").write_text(FAKE_SHADOW)
    if server == "apache":
        _judges_here("apache2")
        (tmp_path / "apache2.conf").write_text("Include shadow\n")
        judged = _apache_judge(tmp_path / "apache2.conf")
        assert "Syntax error on line 1 of" in judged and "Invalid command 'root:$6$FAKEsalt" in judged, judged
    else:
        _judges_here("nginx")
        from judges import nginx_test

        (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    include shadow;\n}\n")
        judged = nginx_test(tmp_path / "nginx.conf").output
        assert 'unexpected end of file, expecting ";" or "}"' in judged and "FAKE" not in judged, judged
    for format in ("text", "json", "github"):
        done = lint(tmp_path, "--format", format)
        assert done.returncode == 1
        assert not [secret for secret in SECRETS if secret in done.stdout + done.stderr], done.stdout
    [line] = lines_with(lint(tmp_path).stdout, "SSL001")
    if server == "apache":
        assert "shadow:1:" in line and "Invalid command 'root…'" in line, line


@pytest.mark.parametrize("server", ["nginx", "apache"])
def test_nothing_after_a_nul_is_read_or_quoted(tmp_path, server):
    """httpd reads each line into a C string: `apache2 -t` on `ServerName a.test\\0...` keeps a.test, and
    on `root:x\\0PASSWORD=hunter2` says `Invalid command 'root:x'`: the rest of the line is never read.
    nginx on the same file: `unexpected end of file`, nothing quoted."""
    (tmp_path / "inc.conf").write_bytes(b"ServerName a.test\x00PASSWORD=hunter2\nroot:x\x00PASSWORD=hunter2 y\n"
                                        b"ServerAlias b.test\n")
    if server == "apache":
        _judges_here("apache2")
        (tmp_path / "apache2.conf").write_text("Include inc.conf\n")
        judged = _apache_judge(tmp_path / "apache2.conf")
        assert "Syntax error on line 2 of" in judged and "Invalid command 'root:x'," in judged, judged
        from nginxssl.parse.apache.reader import parse_apache

        config = parse_apache(str(tmp_path / "apache2.conf"))
        assert [(node.directive, node.args) for node in config.nodes] == [("servername", ("a.test",))]
        assert [error.message[:25] for error in config.errors] == ["Invalid command 'root…', "]
    else:
        (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    include inc.conf;\n}\n")
    done = lint(tmp_path)
    assert done.returncode == 1 and lines_with(done.stdout, "SSL001"), done.stdout
    assert "hunter2" not in done.stdout and "PASSWORD" not in done.stdout, done.stdout


# ---------------------------------------------------------------- budgets: bombs of a few small files


def _timed(*args: object, **kwargs) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = lint(*args, **kwargs)
    return done, time.monotonic() - start


def test_nginx_files_that_each_include_their_directory_twice(tmp_path):
    """60 files of 36 bytes, each `include d/*.conf;` twice: 70 s and 1.9 GB before (every path through
    the cycles, an error for each). `nginx -t` itself dies of it (SIGSEGV after 0.3 s: the recursion never
    ends). Now: each cycle reported once, a budget message, in seconds."""
    (tmp_path / "d").mkdir()
    for number in range(60):
        (tmp_path / "d" / f"f{number:02}.conf").write_text("include d/*.conf;\ninclude d/*.conf;\n")
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n    include d/*.conf;\n}\n")
    done, seconds = _timed(tmp_path, timeout=60)
    assert seconds < 20, seconds
    assert done.returncode == 1
    assert len(lines_with(done.stdout, "SSL001", "include cycle")) == 60, done.stdout
    assert len(lines_with(done.stdout, "SSL001", "over and over")) == 1, done.stdout


def test_an_apache_includeoptional_fan_out(tmp_path):
    """40 files, each `IncludeOptional d/*.conf`: over 90 s before. httpd follows the first loop down to
    its include depth and stops (`apache2 -t`: a Syntax error nested in 'Syntax error on line 1 of
    .../f00.conf'). Now: each loop reported once, within seconds."""
    (tmp_path / "d").mkdir()
    for number in range(40):
        (tmp_path / "d" / f"f{number:02}.conf").write_text(f"IncludeOptional {tmp_path}/d/*.conf\n")
    (tmp_path / "apache2.conf").write_text(f"IncludeOptional {tmp_path}/d/*.conf\n")
    if shutil.which("apache2") or shutil.which("apache2", path="/usr/sbin"):
        judged = _apache_judge(tmp_path / "apache2.conf")
        assert "Syntax error on line 1 of" in judged and "f00.conf" in judged, judged
    done, seconds = _timed(tmp_path, timeout=60)
    assert seconds < 20, seconds
    assert len(lines_with(done.stdout, "SSL001", "loops back on itself")) == 40, done.stdout


def test_an_apache_define_that_doubles_itself(tmp_path):
    """`Define A ${A}${A}`, 40 times: a MemoryError traceback after 2.1 GB before. httpd has no limit
    either: 24 doublings took apache2 -t 3.3 s and 1.5 GB, 26 doublings more than 30 s and 4.9 GB
    (measured; not run here). Now: SSL001 where the line grows past a mebibyte, and the file ends."""
    doublings = "".join("Define A ${A}${A}\n" for _ in range(40))
    (tmp_path / "apache2.conf").write_text(f"Define A xxxxxxxxxxxxxxxx\n{doublings}ServerName ${{A}}\n")
    done, seconds = _timed(tmp_path, timeout=60)
    assert seconds < 20, seconds
    [line] = lines_with(done.stdout, "SSL001")
    assert "apache2.conf:17:" in line and "expand to more than 1,048,576 characters" in line, line
    assert "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" not in done.stdout


def test_a_second_main_file_included_from_many_places_is_not_a_budget(tmp_path):
    """The budgets grow with the tree: 2,000 servers each including the same three snippets (6,000
    includes of files read once) are read whole, without a budget message."""
    (tmp_path / "snippets").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "snippets" / f"{name}.conf").write_text("add_header X-A a;\n")
    servers = "".join(f"    server {{\n        listen 80;\n        server_name s{number}.test;\n"
                      "        include snippets/a.conf;\n        include snippets/b.conf;\n"
                      "        include snippets/c.conf;\n    }\n" for number in range(2000))
    (tmp_path / "nginx.conf").write_text(f"events {{}}\nhttp {{\n{servers}}}\n")
    from nginxssl.parse.nginx import parse_nginx

    config = parse_nginx(str(tmp_path / "nginx.conf"))
    assert config.errors == ()
    assert sum(1 for server in config.nodes[1].children for node in server.children if node.directive == "add_header") \
        == 6000


# ---------------------------------------------------------------- config regexes: never backtracking


def test_a_config_regex_runs_in_linear_time():
    """`^(a+)+$` took Python's re 0.67 s on a 24-character name, doubling per character; RE2 answers
    for 100,000 characters at once. What RE2 cannot express is not run at all: None, 'cannot judge'."""
    from nginxssl.model.pattern import ConfigRegex

    start = time.monotonic()
    regex = ConfigRegex.from_server_name("~^(a+)+$")
    assert regex.search("a" * 100_000 + ".test") is False and regex.search("a" * 1000) is True
    # As nginx compiles server_name regexes: caseless only when the pattern holds a capital letter
    # (the host is lowercased before it is matched either way: sites/routing.py).
    assert regex.search("A" * 1000) is False and ConfigRegex.from_server_name("~^WWW\\.").search("www.a") is True
    assert ConfigRegex.from_nginx("~^([a-z/;= -]|[a-z/;= -]|[a-z/;= -])*X").search("text/html; charset=utf-8" * 100) \
        is False
    assert time.monotonic() - start < 1
    assert ConfigRegex.from_server_name("~^(?<sub>.+)\\.a\\.test$").search("www.a.test") is True  # PCRE names
    assert ConfigRegex.from_nginx("~^(?'sub'.+)$").search("x") is True
    assert ConfigRegex.from_nginx("~*^TEXT/").search("text/html") is True
    assert ConfigRegex.from_nginx("~^TEXT/").search("text/html") is False  # `~` is case-sensitive
    for pcre_only in (r"~^(a)\1$", "~^(?=a)a", "~^(?!b)a", "~^(?<=a)b", "~a++", "~(?>a)"):
        regex = ConfigRegex.from_nginx(pcre_only)
        assert regex.search("aa") is None and "cannot read it" in (regex.problem or ""), pcre_only


def test_a_map_regex_that_backtracks_does_not_hang_the_lint(tmp_path, pki):
    """A `map $sent_http_content_type` key that backtracks exponentially on "text/html; charset=utf-8":
    more than 60 s before (killed), `nginx -t` accepts it at once. Now the lint takes seconds."""
    from nginxssl.model.headers import MapDef
    from nginxssl.model.node import Node

    key = "~^([a-z/;= -]|[a-z/;= -]|[a-z/;= -])*X"
    config = nginx_site(tmp_path, f"        ssl_certificate {pki / 'a.pem'};\n        ssl_certificate_key {pki / 'a.key'};\n"
                                  "        add_header Content-Security-Policy $csp always;\n")
    config.write_text(config.read_text().replace(
        "http {\n", f'http {{\n    map $sent_http_content_type $csp {{\n        "{key}" "x";\n'
                    '        default "upgrade-insecure-requests";\n    }\n'))
    _judges_here("nginx")
    from judges import nginx_test

    assert nginx_test(config).ok
    _done, seconds = _timed(config, "--select", "SSL4", timeout=60)
    assert seconds < 20, seconds
    mapping = MapDef(Node("map", (), "nginx.conf", 1), "$sent_http_content_type", ((key, "x"), (r"~(a)\1", "y")), "d")
    assert mapping.value_for("text/html") is None  # the backreference: cannot judge
    assert MapDef(Node("map", (), "nginx.conf", 1), "$x", ((key, "x"),), "d").value_for("text/html; charset=utf-8") == "d"


# ---------------------------------------------------------------- library warnings


def test_a_common_name_over_64_characters_prints_no_warning(tmp_path):
    """cryptography warns ("UserWarning: Attribute's length must be >= 1 and <= 64") when it decodes a
    CN of 75 characters: those lines reached the user's stderr. The verdicts stay; stderr is empty."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the very warning, given to the builder here
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a" * 70 + ".test", _validate=False)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(5).not_valid_before(datetime.datetime(2025, 1, 1))
            .not_valid_after(datetime.datetime(2027, 1, 1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "a.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "a.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (tmp_path / "a.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (tmp_path / "a.key").chmod(0o600)
    config = nginx_site(tmp_path, "        ssl_certificate a.pem;\n        ssl_certificate_key a.key;\n"
                                  "        ssl_trusted_certificate a.der;\n")
    for args in ([config], [config, "--format", "json"], ["certs", config]):
        done = lint(*args) if args[0] != "certs" else sslint(*args, "--now", NOW)
        assert done.stderr == "", done.stderr
        assert "a" * 20 in done.stdout
    assert lines_with(lint(config).stdout, "SSL104", "a" * 70), "the verdict on the certificate is kept"


def test_an_apache_header_condition_that_backtracks_does_not_hang_the_lint(tmp_path, pki):
    """h5bp's `expr=%{CONTENT_TYPE} =~ m#...#` with a regex that backtracks on "text/html; charset=utf-8":
    more than 30 s before (killed). Now seconds; a regex RE2 cannot read is 'cannot judge' (None)."""
    from nginxssl.model.headers import condition_holds

    regex = "^([a-z/;= -]|[a-z/;= -]|[a-z/;= -])*X"
    config = apache_site(tmp_path, f"    SSLCertificateFile {pki / 'a.pem'}\n    SSLCertificateKeyFile {pki / 'a.key'}\n"
                                   '    Header always set Content-Security-Policy "upgrade-insecure-requests" '
                                   f'"expr=%{{CONTENT_TYPE}} =~ m#{regex}#"\n')
    _done, seconds = _timed(config, "--select", "SSL4", timeout=60)
    assert seconds < 20, seconds
    assert condition_holds(f"expr=%{{CONTENT_TYPE}} =~ m#{regex}#") is False
    assert condition_holds("expr=%{CONTENT_TYPE} =~ m#^TEXT/HTML#i") is True
    assert condition_holds(r"expr=%{CONTENT_TYPE} =~ m#^(t)\1#") is None


# ---------------------------------------------------------------- output a log or terminal must not obey


def test_a_file_name_starting_with_colons_never_starts_a_line(tmp_path):
    """pre-commit passes any file name: `::stop-commands::x.conf` at the start of a text line would
    be a workflow command to GitHub Actions and silence every annotation after it."""
    site = tmp_path / "::stop-commands::x.conf"
    site.write_text("server { listen 443 ssl; server_name a.test; ssl_certificate /absent.pem; "
                    "ssl_certificate_key /absent.key; }\n")
    for output in ("text", "concise", "github"):
        done = lint(site.name, "--format", output, cwd=tmp_path)
        assert done.returncode == 1
        plain = [line for line in done.stdout.splitlines() if line.startswith("::")]
        # github's own annotations are the only lines that may start with `::`, and only with a level.
        assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in plain), plain
        assert "./::stop-commands::x.conf:1:" in done.stdout


def test_a_crafted_common_name_reaches_csv_as_plain_escaped_text(tmp_path):
    """A CN with ESC, BEL, CR, LF and a line `::add-mask::` is anyone's to choose: the CSV inventory
    carries it escaped, no control character raw and no line starting with `::`."""
    crafted = "a.test\x1b[31m\x07\r\n::add-mask::secret\n=cmd|' /C calc'!A0"
    conf = _self_signed_site(tmp_path, common_name=crafted)
    done = sslint("certs", conf, "--now", NOW, "--format", "csv")
    assert done.returncode in (0, 1), done.stderr
    assert not any(char in done.stdout for char in "\x1b\x07\r")
    assert not any(line.startswith("::") for line in done.stdout.splitlines())
    assert "\\x1b[31m" in done.stdout and "::add-mask::secret" in done.stdout  # escaped, still readable


def test_an_openssh_key_is_one_nginx_cannot_load(tmp_path):
    """ssh-keygen's format: cryptography reads it, OpenSSL's PEM reader (so nginx and apache2) does not
    (nginx -t: 'PEM_read_bio_PrivateKey() failed'). sslint said nothing; now SSL003, with the conversion."""
    from judges import find_binary, nginx_test

    conf = _self_signed_site(tmp_path, key_format="OpenSSH")
    if find_binary("nginx"):
        verdict = nginx_test(conf)
        assert not verdict.ok and "PEM_read_bio_PrivateKey" in verdict.output, verdict.output
    done = lint(conf, "--select", "SSL003", "--format", "json")
    assert done.returncode == 1
    [finding] = json.loads(done.stdout)["findings"]
    assert "OpenSSH private key" in finding["message"] and "ssh-keygen -p -m PKCS8" in finding["message"]
