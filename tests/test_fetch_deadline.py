"""--fetch against hostile AIA servers (issue 20, item 4): a deadline for each download, however
slowly the bytes come, a size cap, and a budget for the whole run.

The servers are real sockets on 127.0.0.1 in a thread: one that sends a byte at a time forever
(a per-read timeout never fires), one that sends far more than any issuer certificate, one that
answers at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from nginxssl.pki import sources
from nginxssl.pki.load import Loader
from nginxssl.pki.sources import FETCH_MAX_BYTES, Sources, http_fetch


@contextmanager
def serving(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that reads a request and hands the connection to `answer`."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(10)
                try:
                    connection.recv(65536)
                    answer(connection)
                except OSError:
                    pass  # the client gave up: that is the point

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/issuer.der"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def trickle(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(1000):  # a byte every 0.3 s: each read succeeds well within any per-read timeout
        connection.sendall(b"x")
        time.sleep(0.3)


def slow_headers(connection: socket.socket) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"y" * 1000:
        connection.sendall(bytes([byte]))
        time.sleep(0.3)


def flood(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    block = b"z" * 65536
    for _ in range(64):  # 4 MB, without a Content-Length
        connection.sendall(block)


def one_certificate(connection: socket.socket) -> None:
    body = b"0123456789" * 100
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


@pytest.mark.parametrize("answer", [trickle, slow_headers], ids=["slow body", "slow headers"])
def test_a_server_that_trickles_bytes_is_cut_at_the_deadline(answer: Callable[[socket.socket], None]) -> None:
    with serving(answer) as url:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="within 1.5 s"):
            http_fetch(url, deadline=1.5)
        took = time.monotonic() - started
    # Before the deadline existed the per-read timeout (5 s) never fired: the trickle went on for 300 s.
    assert 1.4 < took < 3.0


def test_a_flood_stops_at_the_size_cap() -> None:
    with serving(flood) as url, pytest.raises(ValueError, match=f"larger than {FETCH_MAX_BYTES} bytes"):
        http_fetch(url, deadline=10)


def test_a_prompt_server_is_read_whole() -> None:
    with serving(one_certificate) as url:
        assert http_fetch(url, deadline=5) == b"0123456789" * 100


def test_only_http_urls_are_fetched() -> None:
    with pytest.raises(ValueError, match="only http://"):
        http_fetch("file:///etc/shadow")


def test_the_runs_budget_stops_further_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every download has its own deadline; once the run's budget is spent no more are started."""
    monkeypatch.setattr(sources, "FETCH_RUN_DEADLINE", 1.0)
    asked: list[str] = []

    def fetcher(url: str) -> bytes:
        asked.append(url)
        time.sleep(1.1)  # a download that took its whole deadline
        return b""

    pool = Sources(Loader(), fetcher=fetcher)
    assert pool.download("http://a.invalid/1.der")[1].endswith("no certificate in the response")
    certs, note = pool.download("http://a.invalid/2.der")
    assert certs == [] and "this run's 1 s for AIA downloads are spent" in note
    assert asked == ["http://a.invalid/1.der"]
