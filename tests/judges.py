"""The real programs as test judges.

This module owns the harness that lets a test ask the programs that decide
whether a site is trusted, instead of comparing sslint with itself:

* ``nginx_test`` / ``apache_test``: the configuration checks (``nginx -t``,
  ``apache2 -t``);
* ``running_nginx`` / ``running_apache``: a real server on 127.0.0.1 for the
  duration of a ``with`` block;
* ``s_client_verify`` / ``served_chain_pem``: what ``openssl s_client`` sees on
  the wire; ``openssl_verify``: ``openssl verify`` on files;
* ``http_get``: status and headers of one request (HSTS, ``add_header``);
* ``require`` and the ``needs_*`` marks: skip where a program is missing, but
  fail in CI, where a silently skipped judge would prove nothing.

Rules kept by every function here: argument lists, never a shell; every
command and every wait has a time limit and every loop an attempt limit;
servers listen on 127.0.0.1 only (checked before start and, on Linux, on the
live sockets after start) and are always stopped when the block ends.

Running as root vs unprivileged:

* nginx as root runs its workers as ``nobody``; certificates and keys are read
  by the master (root), so nothing needs to be world-readable for TLS.
  Unprivileged, nginx needs every path it opens to be writable by the user:
  the harness points ``pid`` and ``error_log`` into a temporary directory, but
  http-level paths cannot be injected with ``-g`` (main context only), so such
  a config must set ``access_log off;`` (or a path of its own) and the
  ``*_temp_path`` directories must exist or be set (``/var/lib/nginx/*`` are
  created by the first root run).
* Apache refuses ``User root`` ("Apache has not been designed to serve pages
  while running as root", unless built with BIG_SECURITY_HOLE). As root the
  harness sets ``User``/``Group`` to ``www-data`` (or ``nobody``/its group);
  keys are loaded by the root parent, but files the children serve and lock
  files they reopen must be reachable by that user. So runtime files live in
  a 0755 directory under the system temporary directory, and
  ``RunningServer.docroot`` is a world-readable document root there (pytest's
  ``tmp_path`` sits under a 0700 directory the children cannot enter).
  Unprivileged, Apache ignores ``User``/``Group`` and needs nothing more.
* ``apache2 -t`` does not run mod_ssl's post-config hook: it checks syntax and
  that certificate files exist, but a key that does not match its
  certificate only fails at start-up (AH02565) -- use ``running_apache``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import http.client
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509

LOOPBACK = "127.0.0.1"

COMMAND_TIMEOUT = 30.0  # seconds for one nginx -t / apache2 -t / openssl run
START_TIMEOUT = 15.0  # seconds for a server to accept connections
START_ATTEMPTS = 600  # polls while waiting (50 ms apart)
STOP_TIMEOUT = 5.0  # seconds for the polite signal before SIGKILL
CONNECT_TIMEOUT = 0.5  # seconds for one readiness probe
HTTP_TIMEOUT = 10.0  # seconds per socket operation in http_get
MAX_BODY = 1 << 20  # bytes read from a response, at most

# Where Debian, Fedora/RHEL and Alpine/Arch keep the Apache modules.
APACHE_MODULE_DIRS = (
    "/usr/lib/apache2/modules",
    "/usr/lib64/httpd/modules",
    "/usr/lib/httpd/modules",
    "/usr/libexec/apache2",
)
# mpm first: Apache wants exactly one MPM before anything that needs one.
APACHE_BASE_MODULES = ("mpm_event", "authz_core", "mime", "socache_shmcb", "ssl", "headers")

# nginx and apache2 live in sbin, which is not on every user's PATH.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"]
)
# Names a program goes by across distributions.
_BINARY_NAMES = {"apache2": ("apache2", "httpd"), "httpd": ("httpd", "apache2")}

_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL
)


# --------------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True)
class JudgeResult:
    """A judge's verdict: did the program accept, and everything it said.

    ``code`` is the X509 verification error number where the program gave one
    (``openssl verify``), else None.
    """

    ok: bool
    output: str
    code: int | None = None


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What ``openssl s_client`` concluded about a server's chain.

    ``code`` is OpenSSL's X509 verification result (0 ok, 20 unable to get
    local issuer, 21 unable to verify the first certificate, 10 expired,
    62 hostname mismatch, ...), None when the handshake ended before any
    verification. ``chain_subjects`` are the RFC 4514 subjects of the
    certificates the server sent, in the order sent; ``errors`` every
    (depth, code, text) s_client reported on a failure.
    """

    ok: bool
    code: int | None
    text: str
    chain_subjects: list[str]
    chain_pem: list[bytes] = dataclasses.field(default_factory=list)
    errors: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)
    output: str = ""


@dataclasses.dataclass
class RunningServer:
    """A server started by ``running_nginx`` / ``running_apache``."""

    program: str
    port: int
    ports: tuple[int, ...]
    pid: int
    error_log: Path
    console_log: Path
    docroot: Path | None = None
    # A line the server logs once it has finished starting. apache2 binds its ports before mod_ssl
    # loads the keys, so a port that accepts does not yet mean it started (AH00489 says it did).
    ready_line: str | None = None

    def started(self) -> bool:
        if self.ready_line is None:
            return True
        try:
            return self.ready_line in self.error_log.read_text(errors="replace")
        except OSError:
            return False

    def logs(self) -> str:
        """The server's console output and error log, for failure messages."""
        logs = _read_logs(("console", self.console_log), ("error log", self.error_log))
        return logs or "(the server wrote nothing)"


# --------------------------------------------------------------------------
# Programs: find, skip, require


def find_binary(binary: str) -> str | None:
    """Path of ``binary`` (or its other distribution name), searching sbin too."""
    for name in _BINARY_NAMES.get(binary, (binary,)):
        found = shutil.which(name, path=_SEARCH_PATH)
        if found:
            return found
    return None


def require(binary: str) -> str:
    """Path of ``binary``; skip the test without it, but FAIL when ``CI`` is set.

    CI installs nginx, apache2 and openssl: a judge skipped there would let a
    broken feature pass unnoticed.
    """
    found = find_binary(binary)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{binary} is not installed, but CI is set: the judges must run in CI")
    pytest.skip(f"{binary} is not installed")


def _needs(binary: str) -> pytest.MarkDecorator:
    # In CI the mark never skips: the judge then fails with a clear message.
    missing = find_binary(binary) is None and not os.environ.get("CI")
    return pytest.mark.skipif(missing, reason=f"{binary} is not installed")


needs_nginx = _needs("nginx")
needs_apache = _needs("apache2")
needs_openssl = _needs("openssl")


def _binary(binary: str) -> str:
    found = find_binary(binary)
    if found is None:
        raise RuntimeError(f"{binary} is not installed (searched PATH and sbin directories)")
    return found


def _run(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(
            f"{_show(argv)} did not finish within {timeout:g}s\n"
            f"stdout:\n{_decoded(exc.stdout)}\nstderr:\n{_decoded(exc.stderr)}"
        ) from None


def _show(argv: Sequence[str]) -> str:
    return " ".join(str(arg) for arg in argv)


def _decoded(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def _read_logs(*named: tuple[str, Path]) -> str:
    parts = []
    for name, path in named:
        try:
            text = path.read_text(errors="replace").strip()
        except OSError:
            continue
        if text:
            parts.append(f"--- {name} ({path}) ---\n{text}")
    return "\n".join(parts)


# --------------------------------------------------------------------------
# Ports and the loopback-only rule


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=CONNECT_TIMEOUT):
            return True
    except OSError:
        return False


def _proc_address(hex_address: str) -> str:
    # /proc/net/tcp{,6} print addresses as host-order 32-bit words in hex.
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening_addresses(pid: int) -> set[tuple[str, int]] | None:
    """TCP (address, port) pairs process ``pid`` listens on; None where /proc cannot tell."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    except OSError:
        return None
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.add((_proc_address(address), int(port, 16)))
    return found


# --------------------------------------------------------------------------
# Processes


def _exit_status(pid: int) -> int | None:
    """The exit status of our child ``pid`` if it has exited, without reaping it.

    Not reaping keeps the pid (and so the process group id) from being reused
    until ``_stop`` has signalled whatever is left of the group.
    """
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return -1
    return None if info is None else info.si_status


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for _attempt in range(int(timeout / 0.02) + 1):
        if _exit_status(pid) is not None:
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    return _exit_status(pid) is not None


def _stop(process: subprocess.Popen[bytes], polite: signal.Signals) -> None:
    """Stop the server and every process of its group: ``polite``, then SIGKILL."""
    if _exit_status(process.pid) is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, polite)
        _wait_exit(process.pid, STOP_TIMEOUT)
    # Workers orphaned by a master that died, or that ignored the signal: the
    # group is ours (start_new_session) and its id is still held by our child.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"process {process.pid} survived SIGKILL for {STOP_TIMEOUT:g}s") from None


@contextlib.contextmanager
def _serving(
    program: str,
    argv: list[str],
    *,
    ports: Sequence[int],
    run_dir: Path,
    error_log: Path,
    polite: signal.Signals,
    docroot: Path | None = None,
    ready_line: str | None = None,
) -> Iterator[RunningServer]:
    console_log = run_dir / "console.log"
    with open(console_log, "wb") as console:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so _stop can end it all
        )
    server = RunningServer(
        program=program,
        port=ports[0],
        ports=tuple(ports),
        pid=process.pid,
        error_log=error_log,
        console_log=console_log,
        docroot=docroot,
        ready_line=ready_line,
    )
    try:
        _wait_until_serving(server, _show(argv))
        yield server
    finally:
        _stop(process, polite)


def _wait_until_serving(server: RunningServer, command: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for _attempt in range(START_ATTEMPTS):
        status = _exit_status(server.pid)
        if status is not None:
            raise RuntimeError(
                f"{server.program} exited (status {status}) before serving\n"
                f"command: {command}\n{server.logs()}"
            )
        listening = listening_addresses(server.pid)
        if listening is not None:
            stray = sorted(f"{address}:{port}" for address, port in listening if address not in (LOOPBACK, "::1"))
            if stray:
                raise RuntimeError(
                    f"{server.program} listens on {', '.join(stray)}: only {LOOPBACK} and ::1 are "
                    f"allowed; it has been stopped\ncommand: {command}"
                )
        # Owning the socket matters: another program on the same port would
        # also accept the probe.
        owns_ports = listening is None or all((LOOPBACK, port) in listening for port in server.ports)
        if owns_ports and all(_accepts(port) for port in server.ports) and server.started():
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    raise RuntimeError(
        f"{server.program} did not accept connections on {LOOPBACK}:{list(server.ports)} "
        f"within {START_TIMEOUT:g}s\ncommand: {command}\n{server.logs()}"
    )


# --------------------------------------------------------------------------
# nginx


@dataclasses.dataclass
class _Block:
    name: str
    directives: set[str] = dataclasses.field(default_factory=set)


def _nginx_tokens(text: str) -> Iterator[str]:
    """Words, ``{``, ``}`` and ``;`` of an nginx config: enough for the harness's
    checks (main-level directives, listen addresses), not a parser."""
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "#":
            newline = text.find("\n", i)
            i = end if newline < 0 else newline + 1
        elif char in "{};":
            yield char
            i += 1
        elif char in "\"'":
            j = i + 1
            while j < end and text[j] != char:
                j += 2 if text[j] == "\\" else 1
            yield text[i + 1 : j]
            i = j + 1
        else:
            j = i
            while j < end and not text[j].isspace() and text[j] not in ";{}":
                if text[j] == "$" and j + 1 < end and text[j + 1] == "{":
                    close = text.find("}", j)
                    j = end if close < 0 else close + 1
                else:
                    j += 1
            yield text[i:j]
            i = j


def _nginx_scan(text: str) -> tuple[set[str], list[list[str]], list[str]]:
    """(main-level directive names, every ``listen``'s arguments, http servers without ``listen``)."""
    main: set[str] = set()
    listens: list[list[str]] = []
    no_listen: list[str] = []
    stack: list[_Block] = []
    statement: list[str] = []
    for token in _nginx_tokens(text):
        if token == ";":
            if statement:
                if not stack:
                    main.add(statement[0])
                else:
                    stack[-1].directives.add(statement[0])
                if statement[0] == "listen":
                    listens.append(statement[1:])
            statement = []
        elif token == "{":
            name = statement[0] if statement else ""
            if stack:
                stack[-1].directives.add(name)
            else:
                main.add(name)
            stack.append(_Block(name))
            statement = []
        elif token == "}":
            if stack:
                block = stack.pop()
                in_http = bool(stack) and stack[-1].name == "http"
                # A server with no listen binds *:80 (root) or *:8000; one with an
                # include may take its listen from there (the live check decides).
                if block.name == "server" and in_http and not {"listen", "include"} & block.directives:
                    no_listen.append("server without listen")
            statement = []
        else:
            statement.append(token)
    return main, listens, no_listen


_LOOPBACK_PORT = re.compile(r"(?:127\.0\.0\.1|\[::1\]):(\d+)")  # ::1: the IPv6 twin of a socket


def _nginx_ports(text: str) -> list[int]:
    """Ports of the ``listen 127.0.0.1:N`` directives, in order, or an AssertionError
    naming any listen that could reach beyond loopback."""
    _main, listens, no_listen = _nginx_scan(text)
    problems = list(no_listen)
    ports: list[int] = []
    for args in listens:
        address = args[0] if args else ""
        match = _LOOPBACK_PORT.fullmatch(address)
        if match:
            ports.append(int(match[1]))
        elif not address.startswith("unix:"):
            problems.append(f"listen {' '.join(args)}")
    if problems:
        raise AssertionError(
            f"refusing to start nginx: test servers listen on {LOOPBACK}:PORT only; "
            f"offending: {'; '.join(problems)}"
        )
    return list(dict.fromkeys(ports))


def _nginx_quote(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _nginx_globals(directives: dict[str, str]) -> list[str]:
    return ["-g", " ".join(directives.values())] if directives else []


_DUPLICATE = re.compile(r'"(\w+)" directive is duplicate')


def nginx_test(conf: Path, prefix: Path | None = None) -> JudgeResult:
    """``nginx -t -q`` on ``conf``: syntax, and loading every certificate and key
    (missing files, "key values mismatch", unreadable keys fail here).

    ``prefix`` (default: the conf's directory) resolves relative paths. The pid
    file and error log go to a temporary directory unless the conf sets them;
    the conf's own ``pid`` wins (nginx refuses a duplicate), while
    ``error_log`` may be given more than once, so ours is always added.
    Beware: ``-t`` creates (truncates) the pid file a conf names, so a
    real-world conf with ``pid /run/nginx.pid;`` touches the system's file.
    """
    nginx = _binary("nginx")
    conf = Path(conf).resolve()
    prefix = Path(prefix).resolve() if prefix is not None else conf.parent
    main, _listens, _no_listen = _nginx_scan(conf.read_text(errors="replace"))
    with tempfile.TemporaryDirectory(prefix="sslint-nginx-t-") as tmp:
        error_log = Path(tmp) / "error.log"
        injected = {"error_log": f"error_log {_nginx_quote(error_log)};"}
        if "pid" not in main:
            injected["pid"] = f"pid {_nginx_quote(Path(tmp) / 'nginx.pid')};"
        for _attempt in range(2):  # once more without what an include duplicated
            argv = [nginx, "-t", "-q", "-p", f"{prefix}/", "-c", str(conf), "-e", str(error_log)]
            result = _run(argv + _nginx_globals(injected))
            duplicate = _DUPLICATE.search(result.stderr)
            if result.returncode == 0 or not duplicate or duplicate[1] not in injected:
                break
            del injected[duplicate[1]]
        output = "\n".join(
            part for part in (result.stderr.strip(), _read_logs(("error log", error_log))) if part
        )
    return JudgeResult(ok=result.returncode == 0, output=output)


@contextlib.contextmanager
def running_nginx(conf: str | Path, prefix: Path, port: int | None = None) -> Iterator[RunningServer]:
    """nginx serving ``conf`` (text, written to ``prefix/nginx.conf``, or a path)
    until the block ends.

    The conf listens with ``listen 127.0.0.1:PORT ...`` itself; ``port`` (default:
    the first such listen) is the one the yielded server reports as ``.port``.
    Runs in the foreground (``daemon off``) in its own process group; stopped
    with SIGQUIT (graceful), then SIGKILL for the whole group.
    """
    nginx = _binary("nginx")
    prefix = Path(prefix).resolve()
    if isinstance(conf, Path):
        conf_path = conf.resolve()
        text = conf_path.read_text(errors="replace")
    else:
        conf_path = prefix / "nginx.conf"
        conf_path.write_text(conf)
        text = conf
    ports = _nginx_ports(text)
    if port is not None:  # first; it may also come from an include the scan cannot see
        ports = [port] + [other for other in ports if other != port]
    if not ports:
        raise AssertionError(f"{conf_path} has no 'listen {LOOPBACK}:PORT'; pass port=")
    main, _listens, _no_listen = _nginx_scan(text)
    if "daemon" in main:
        raise AssertionError(f"{conf_path} sets 'daemon': the harness must run nginx in the foreground")
    with tempfile.TemporaryDirectory(prefix="sslint-nginx-") as tmp:
        run_dir = Path(tmp)
        error_log = run_dir / "error.log"
        injected = {"daemon": "daemon off;", "error_log": f"error_log {_nginx_quote(error_log)};"}
        if "pid" not in main:
            injected["pid"] = f"pid {_nginx_quote(run_dir / 'nginx.pid')};"
        argv = [nginx, "-p", f"{prefix}/", "-c", str(conf_path), "-e", str(error_log)]
        with _serving(
            "nginx",
            argv + _nginx_globals(injected),
            ports=ports,
            run_dir=run_dir,
            error_log=error_log,
            polite=signal.SIGQUIT,
        ) as server:
            yield server


# --------------------------------------------------------------------------
# Apache


_APACHE_LISTEN = re.compile(r"^\s*Listen\s+(\S+)", re.IGNORECASE | re.MULTILINE)
_APACHE_VHOST = re.compile(r"^\s*<VirtualHost\s+([^>]+)>", re.IGNORECASE | re.MULTILINE)


def apache_module_dir() -> Path:
    """The directory holding ``mod_ssl.so``; $SSLINT_APACHE_MODULES overrides."""
    candidates = [os.environ.get("SSLINT_APACHE_MODULES", ""), *APACHE_MODULE_DIRS]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "mod_ssl.so").is_file():
            return Path(candidate)
    raise RuntimeError(f"no Apache module directory with mod_ssl.so among {candidates}")


def _apache_ports(text: str, port: int | None) -> tuple[list[int], bool]:
    """(ports to wait for, whether the site has its own Listen lines)."""
    listens = _APACHE_LISTEN.findall(text)
    offending = [address for address in listens if not _LOOPBACK_PORT.fullmatch(address)]
    if offending:
        raise AssertionError(
            f"refusing to start apache2: test servers listen on {LOOPBACK}:PORT only; "
            f"offending: {', '.join('Listen ' + address for address in offending)}"
        )
    ports = [int(_LOOPBACK_PORT.fullmatch(address)[1]) for address in listens]
    if not ports:
        for addresses in _APACHE_VHOST.findall(text):
            for address in addresses.split():
                match = re.fullmatch(r"(?:127\.0\.0\.1|\*|_default_):(\d+)", address)
                if match:
                    ports.append(int(match[1]))
    if port is not None:
        ports = [port] + [other for other in ports if other != port]
    if not ports:
        raise AssertionError("the Apache site names no 127.0.0.1:PORT; pass port=")
    return list(dict.fromkeys(ports)), bool(listens)


def _apache_run_as() -> list[str]:
    if os.geteuid() != 0:
        return []  # unprivileged Apache ignores User/Group
    for user in ("www-data", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(user)
            group = grp.getgrgid(entry.pw_gid).gr_name
            return [f"User {user}", f"Group {group}"]
    raise RuntimeError("running as root, but neither www-data nor nobody exists for Apache's User")


def _apache_quote(value: object) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def apache_base_config(
    server_root: Path,
    run_dir: Path,
    site: Path,
    listen_ports: Sequence[int],
    extra_modules: Sequence[str] = (),
) -> str:
    """The minimal httpd.conf the harness wraps around a site: modules, run
    files in ``run_dir``, ``Listen 127.0.0.1:PORT`` lines, then ``Include site``."""
    modules = apache_module_dir()
    lines = [
        "# Written by tests/judges.py: a minimal server around the site under test.",
        f"ServerRoot {_apache_quote(server_root)}",
        "ServerName localhost",
    ]
    for module in dict.fromkeys([*APACHE_BASE_MODULES, *extra_modules]):
        lines.append(f"LoadModule {module}_module {_apache_quote(modules / f'mod_{module}.so')}")
    lines += _apache_run_as()
    lines += [
        f"PidFile {_apache_quote(run_dir / 'httpd.pid')}",
        f"ErrorLog {_apache_quote(run_dir / 'error.log')}",
        "LogLevel warn",
        f"Mutex file:{run_dir} default",
        f"DefaultRuntimeDir {_apache_quote(run_dir)}",
        "TypesConfig /dev/null",
        f"DocumentRoot {_apache_quote(run_dir / 'htdocs')}",
    ]
    lines += [f"Listen {LOOPBACK}:{port}" for port in listen_ports]
    lines.append(f"Include {_apache_quote(site)}")
    return "\n".join(lines) + "\n"


def _apache_run_dir(tmp: str) -> Path:
    run_dir = Path(tmp)
    # Children run as User and reopen lock files here; they also serve htdocs.
    run_dir.chmod(0o755)
    (run_dir / "htdocs").mkdir(mode=0o755)
    (run_dir / "htdocs" / "index.html").write_text("ok\n")
    (run_dir / "htdocs" / "index.html").chmod(0o644)
    return run_dir


def _apache_site(conf: str | Path, run_dir: Path) -> tuple[Path, str]:
    if isinstance(conf, Path):
        return conf.resolve(), conf.read_text(errors="replace")
    site = run_dir / "site.conf"
    site.write_text(conf)
    return site, conf


def apache_test(
    conf: str | Path, server_root: Path, *, standalone: bool = False, extra_modules: Sequence[str] = ()
) -> JudgeResult:
    """``apache2 -t`` on a site (text or path) wrapped in the harness's base
    config, or on a complete config with ``standalone=True``.

    Catches syntax errors and missing certificate files; NOT key/certificate
    mismatch (mod_ssl checks that only at start-up: use ``running_apache``).
    """
    apache = _binary("apache2")
    server_root = Path(server_root).resolve()
    if standalone:
        result = _run([apache, "-t", "-d", str(server_root), "-f", str(Path(conf).resolve())])
        return JudgeResult(ok=result.returncode == 0, output=(result.stdout + result.stderr).strip())
    with tempfile.TemporaryDirectory(prefix="sslint-apache-t-") as tmp:
        run_dir = _apache_run_dir(tmp)
        site, text = _apache_site(conf, run_dir)
        try:
            ports, own_listen = _apache_ports(text, None)
        except AssertionError:
            ports, own_listen = [free_port()], False  # -t binds nothing
        httpd_conf = run_dir / "httpd.conf"
        httpd_conf.write_text(
            apache_base_config(server_root, run_dir, site, [] if own_listen else ports[:1], extra_modules)
        )
        result = _run([apache, "-t", "-d", str(server_root), "-f", str(httpd_conf)])
        output = "\n".join(
            part
            for part in ((result.stdout + result.stderr).strip(), _read_logs(("error log", run_dir / "error.log")))
            if part
        )
    return JudgeResult(ok=result.returncode == 0, output=output)


@contextlib.contextmanager
def running_apache(
    conf: str | Path,
    server_root: Path,
    port: int | None = None,
    extra_modules: Sequence[str] = (),
) -> Iterator[RunningServer]:
    """apache2 serving a site (text or path: the ``<VirtualHost 127.0.0.1:PORT>``
    blocks) until the block ends.

    The harness adds the base config (``apache_base_config``) and, unless the
    site has its own ``Listen`` lines, ``Listen 127.0.0.1:PORT`` for ``port``
    (default: the first VirtualHost's). ``server_root`` is the ServerRoot
    (relative paths in the site resolve against it); run files and a
    world-readable ``docroot`` (with index.html "ok"; mod_dir is not loaded,
    so GET /index.html, not /) live in a temporary
    directory. Runs ``apache2 -DFOREGROUND -d ROOT -f CONF`` in its own process
    group; stopped with SIGTERM, then SIGKILL for the whole group.
    """
    apache = _binary("apache2")
    server_root = Path(server_root).resolve()
    with tempfile.TemporaryDirectory(prefix="sslint-apache-") as tmp:
        run_dir = _apache_run_dir(tmp)
        site, text = _apache_site(conf, run_dir)
        ports, own_listen = _apache_ports(text, port)
        httpd_conf = run_dir / "httpd.conf"
        httpd_conf.write_text(
            apache_base_config(server_root, run_dir, site, [] if own_listen else ports[:1], extra_modules)
        )
        argv = [apache, "-DFOREGROUND", "-d", str(server_root), "-f", str(httpd_conf)]
        with _serving(
            "apache2",
            argv,
            ports=ports if own_listen else ports[:1],
            run_dir=run_dir,
            error_log=run_dir / "error.log",
            polite=signal.SIGTERM,
            docroot=run_dir / "htdocs",
            ready_line="AH00489",  # "configured -- resuming normal operations"
        ) as server:
            yield server


# --------------------------------------------------------------------------
# openssl


_VERIFY_DEPTH = re.compile(r"^depth=(\d+) ")
_VERIFY_ERROR = re.compile(r"^verify error:num=(\d+):(.*)")
_VERIFY_RETURN = re.compile(r"Verify return code: (\d+) \((.*)\)")
_VERIFY_FILE_ERROR = re.compile(r"error (\d+) at (\d+) depth lookup: ?(.*)")


def _subjects(pems: list[bytes]) -> list[str]:
    return [x509.load_pem_x509_certificate(pem).subject.rfc4514_string() for pem in pems]


def _s_client(port: int, servername: str, options: Sequence[str]) -> subprocess.CompletedProcess[str]:
    argv = [
        _binary("openssl"), "s_client",
        "-connect", f"{LOOPBACK}:{port}",
        "-servername", servername,
        "-showcerts",
        *options,
    ]  # fmt: skip
    result = _run(argv)
    if "CONNECTED(" not in result.stdout:
        raise RuntimeError(
            f"openssl s_client could not connect to {LOOPBACK}:{port}\n"
            f"command: {_show(argv)}\n{result.stderr.strip()}"
        )
    return result


def _verify_errors(stderr: str) -> list[tuple[int, int, str]]:
    """(depth, code, text) of every "verify error" s_client printed, in order."""
    errors, depth = [], -1
    for line in stderr.splitlines():
        if match := _VERIFY_DEPTH.match(line):
            depth = int(match[1])
        elif match := _VERIFY_ERROR.match(line):
            errors.append((depth, int(match[1]), match[2].strip()))
    return errors


def served_chain_pem(port: int, servername: str) -> list[bytes]:
    """The PEM certificates the server on 127.0.0.1:``port`` sends for SNI
    ``servername``, in the order sent (no verification)."""
    result = _s_client(port, servername, ["-no-CApath", "-no-CAstore"])
    return _PEM_CERTIFICATE.findall(result.stdout.encode())


def s_client_verify(port: int, servername: str, cafile: Path, attime: int | None = None) -> VerifyResult:
    """``openssl s_client -verify_return_error -verify_hostname NAME`` trusting
    only ``cafile`` (the system stores are switched off), at ``attime`` (epoch
    seconds) if given. ``ok`` is that command's verdict.

    When it fails, the same command runs once more without
    ``-verify_return_error``, so the handshake goes on and ``errors`` lists
    every (depth, code, text) s_client found; ``code``/``text`` are its final
    "Verify return code". This tells a missing intermediate (20 at depth 0,
    then final 21 "unable to verify the first certificate") from an untrusted
    root (final 20 at depth 1), which the aborting run cannot: it stops at the
    first error, 20, in both cases. (It also prints "Verify return code: 0
    (ok)" after aborting; the stderr "verify error" lines are the truth.)
    """
    trust = ["-verify_hostname", servername, "-CAfile", str(cafile), "-no-CApath", "-no-CAstore"]
    if attime is not None:
        trust += ["-attime", str(int(attime))]
    judged = _s_client(port, servername, ["-verify_return_error", *trust])
    pems = _PEM_CERTIFICATE.findall(judged.stdout.encode())
    output = f"{judged.stdout}\n--- stderr ---\n{judged.stderr}"
    ok = judged.returncode == 0 and bool(pems) and not _verify_errors(judged.stderr)
    if ok:
        return VerifyResult(
            ok=True, code=0, text="ok", chain_subjects=_subjects(pems), chain_pem=pems, output=output
        )
    explained = _s_client(port, servername, trust)
    errors = _verify_errors(explained.stderr)
    summary = _VERIFY_RETURN.search(explained.stdout)
    if summary and (int(summary[1]) != 0 or not errors):
        code, text = int(summary[1]), summary[2].strip()
    elif errors:
        _depth, code, text = errors[-1]
    else:
        code, text = None, f"handshake failed before verification: {judged.stderr.strip()}"
    output += f"\n--- without -verify_return_error ---\n{explained.stdout}\n--- stderr ---\n{explained.stderr}"
    return VerifyResult(
        ok=False,
        code=code,
        text=text,
        chain_subjects=_subjects(pems),
        chain_pem=pems,
        errors=errors,
        output=output,
    )


def openssl_verify(
    leaf: Path,
    cafile: Path,
    untrusted: Path | None = None,
    hostname: str | None = None,
    attime: int | None = None,
    purpose: str | None = "sslserver",
) -> JudgeResult:
    """``openssl verify`` of ``leaf`` against ``cafile`` only (system stores off),
    with ``untrusted`` intermediates, ``hostname`` and ``attime`` if given.

    ``purpose`` defaults to ``sslserver`` as browsers require (serverAuth EKU);
    None drops the check. ``code`` is the first "error N at D depth" number.
    """
    argv = [_binary("openssl"), "verify", "-CAfile", str(cafile), "-no-CApath", "-no-CAstore"]
    if untrusted is not None:
        argv += ["-untrusted", str(untrusted)]
    if hostname is not None:
        argv += ["-verify_hostname", hostname]
    if attime is not None:
        argv += ["-attime", str(int(attime))]
    if purpose is not None:
        argv += ["-purpose", purpose]
    argv.append(str(leaf))
    result = _run(argv)
    output = (result.stdout + result.stderr).strip()
    error = _VERIFY_FILE_ERROR.search(output)
    ok = result.returncode == 0 and result.stdout.strip().endswith(": OK")
    return JudgeResult(ok=ok, output=output, code=0 if ok else (int(error[1]) if error else None))


# --------------------------------------------------------------------------
# HTTP


def http_get(
    port: int,
    path: str = "/",
    host: str = "localhost",
    tls: bool = True,
    cafile: Path | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> tuple[int, dict[str, str]]:
    """GET ``path`` from 127.0.0.1:``port`` with SNI and Host set to ``host``.

    Returns (status, headers): keys lower-case; a header sent several times is
    joined with ", " in the order sent (so a duplicated HSTS shows as two
    values). With ``cafile`` the certificate is verified against it and
    ``host``; without, TLS is not verified (headers are the point).
    """
    description = f"GET {'https' if tls else 'http'}://{host}:{port}{path} via {LOOPBACK}"
    try:
        sock: socket.socket = socket.create_connection((LOOPBACK, port), timeout=timeout)
        if tls:
            if cafile is not None:
                context = ssl.create_default_context(cafile=str(cafile))
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.sock = sock  # already connected to loopback, whatever host says
        try:
            connection.request("GET", path, headers={"Host": host, "Connection": "close"})
            response = connection.getresponse()
            response.read(MAX_BODY)
            headers: dict[str, str] = {}
            for name, value in response.getheaders():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            return response.status, headers
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:
        raise RuntimeError(f"{description} failed: {exc!r}") from exc
