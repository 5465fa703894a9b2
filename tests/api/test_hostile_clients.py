"""What a hostile or careless client can make the server hold: bodies, fields, headers,
connections and time are bounded, answered in the ArcGIS envelope, and the server's memory
stays within its bound while a normal request still answers."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.raw import closed_by_server, connect, read_all, rss_mb
from tests.support.server import Server, start_with_users, stop

LIMITS = {
    "GISTASKS_MAX_BODY_MB": "2", "GISTASKS_BODY_BUDGET_MB": "4", "GISTASKS_MAX_FIELDS": "40",
    "GISTASKS_HEADER_TIMEOUT_SECONDS": "1.5", "GISTASKS_BODY_TIMEOUT_SECONDS": "1.5",
    "GISTASKS_MAX_CONNECTIONS_PER_CLIENT": "300",
}
MEMORY_BOUND_MB = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_with_users(tmp_path_factory.mktemp("hostile"), env=LIMITS)
    yield srv
    stop(srv)


def rest(server: Server) -> str:
    return f"{server.url}/sharing/rest"


def post_raw(server: Server, path: str, body: bytes, content_type: str,
             query: str = "") -> httpx.Response:
    return httpx.post(f"{server.url}{path}{query}", content=body, verify=False,
                      headers={"content-type": content_type}, timeout=30)


def still_answers(server: Server) -> bool:
    r = httpx.get(f"{rest(server)}?f=json", verify=False, timeout=10)
    return bool(r.json() == {"currentVersion": "2024.1"})


def test_a_body_over_the_bound_is_413_in_the_envelope_before_it_is_read(server: Server) -> None:
    conn = connect(server.port)
    conn.sendall(b"POST /arcgis/sharing/rest/generateToken HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 1073741824\r\n\r\nf=json&username=a")
    answer = read_all(conn)
    conn.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == 413 and "at most 2097152 bytes" in error["details"][0]


def test_a_chunked_body_over_the_bound_is_cut_off_with_413(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"f=json&username=admin&password="
        for _ in range(40):
            yield b"x" * 100_000

    r = httpx.post(f"{rest(server)}/generateToken", content=chunks(), verify=False,
                   headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30)
    assert r.json()["error"]["code"] == 413


def test_too_many_fields_are_refused_in_the_format_the_body_asks_for(server: Server) -> None:
    body = "&".join(f"p{i}=v" for i in range(60)) + "&f=json"
    r = post_raw(server, "/sharing/rest/info", body.encode(),
                 "application/x-www-form-urlencoded")
    assert r.json()["error"]["message"] == "Too many parameters"


def test_a_parameter_that_is_not_utf8_is_refused_naming_it(server: Server) -> None:
    r = post_raw(server, "/sharing/rest/info", b"f=json&title=caf%E9",
                 "application/x-www-form-urlencoded")
    error = r.json()["error"]
    assert error["message"] == "Invalid 'title'" and "not UTF-8" in error["details"][0]
    q = httpx.get(f"{rest(server)}/info?f=json&x=%FF", verify=False).json()
    assert q["error"]["message"] == "Invalid 'x'"


def test_a_broken_multipart_body_is_refused_in_json(server: Server) -> None:
    body = (b'--B\r\nContent-Disposition: form-data; name="f"\r\n\r\njson\r\n'
            b'--B\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n--B--\r\n')
    r = post_raw(server, "/sharing/rest/info", body, "multipart/form-data; boundary=B")
    assert r.json()["error"]["message"] == "Invalid request body"
    no_boundary = post_raw(server, "/sharing/rest/info", b"f=json", "multipart/form-data")
    assert no_boundary.json()["error"]["details"] == ["The multipart body has no boundary."]


def test_a_multipart_part_sent_as_a_file_is_read_like_a_field(server: Server) -> None:
    r = httpx.post(f"{rest(server)}/info", verify=False, data={"f": "json"},
                   files={"locale": ("locale.txt", b"en", "text/plain")})
    assert r.json()["currentVersion"] == "2024.1"
    binary = httpx.post(f"{rest(server)}/info", verify=False, data={"f": "json"},
                        files={"blob": ("x.bin", b"\xff\xfe\x00", "application/octet-stream")})
    assert binary.json()["error"]["message"] == "Invalid 'blob'"


def test_headers_over_the_bound_are_431_and_the_connection_closed(server: Server) -> None:
    conn = connect(server.port)
    conn.sendall(b"GET /arcgis/sharing/rest?f=json HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(200):
            conn.sendall(b"a" * 4096)
    except (ssl.SSLError, OSError):
        pass  # the server closed the connection while we were still sending
    answer = read_all(conn)
    conn.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431")
    assert still_answers(server)


def test_a_connection_that_sends_nothing_or_trickles_is_closed(server: Server) -> None:
    silent = connect(server.port)
    trickling = connect(server.port)
    trickling.sendall(b"GET /arcgis/sharing/rest?f=json HTTP/1.1\r\n")
    start = time.monotonic()
    for _ in range(4):
        time.sleep(0.4)
        try:
            trickling.sendall(b"X-Slow: 1\r\n")
        except (ssl.SSLError, OSError):
            break  # closed already: the point of the test
    assert read_all(silent).startswith(b"HTTP/1.1 408")
    assert read_all(trickling).startswith(b"HTTP/1.1 408")
    assert time.monotonic() - start < 5
    silent.close()
    trickling.close()


def test_a_trickled_body_is_cut_off(server: Server) -> None:
    conn = connect(server.port)
    conn.sendall(b"POST /arcgis/sharing/rest/info HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 1000\r\n\r\nf=json")
    start = time.monotonic()
    assert closed_by_server_within(conn, 5)
    assert time.monotonic() - start < 5


def closed_by_server_within(conn: ssl.SSLSocket, seconds: float) -> bool:
    conn.settimeout(seconds)
    read_all(conn)
    return True


def test_an_aborted_post_is_one_log_line_not_a_traceback(server: Server) -> None:
    for _ in range(3):
        conn = connect(server.port)
        conn.sendall(b"POST /arcgis/sharing/rest/generateToken HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 5000\r\n\r\nf=json&username=")
        time.sleep(0.2)
        conn.close()
    time.sleep(0.5)
    assert "Traceback" not in server.output()
    assert still_answers(server)


def test_bodies_received_at_once_share_the_budget(tmp_path: Path) -> None:
    """Two bodies of about 2 MB within a 4 MiB budget (a body counts twice while parsed):
    the second one is turned away (503) while the first is still arriving, and the first
    completes."""
    server = start_with_users(tmp_path, env={"GISTASKS_MAX_BODY_MB": "2",
                                             "GISTASKS_BODY_BUDGET_MB": "4"})
    try:
        bodies_share_the_budget(server)
    finally:
        stop(server)


def bodies_share_the_budget(server: Server) -> None:
    first = connect(server.port)
    first.sendall(b"POST /arcgis/sharing/rest/info HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: 2000000\r\n\r\nf=json&pad=" + b"a" * 1_800_000)
    time.sleep(1.5)  # the server reads what has arrived: 1.8 MB of the budget is taken
    second = httpx.post(f"{rest(server)}/info", verify=False, content=b"f=json&pad=" +
                        b"b" * 1_900_000,
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert second.json()["error"]["code"] == 503
    first.sendall(b"a" * (2_000_000 - 1_800_000 - len(b"f=json&pad=")))
    answer = read_all(first)
    first.close()
    assert b'"currentVersion":"2024.1"' in answer


def test_a_hostile_anonymous_client_cannot_raise_the_servers_memory_past_its_bound(
        tmp_path: Path) -> None:
    """Many idle connections, huge bodies at once (each over the bound, in parallel), slow
    headers: the server's resident memory grows by less than 50 MB, and a normal request
    still answers meanwhile."""
    srv = start_with_users(tmp_path, env={"GISTASKS_HEADER_TIMEOUT_SECONDS": "30",
                                          "GISTASKS_MAX_CONNECTIONS_PER_CLIENT": "400"})
    try:
        for _ in range(3):
            still_answers(srv)  # warm: the first requests load code
        before = rss_mb(srv.process.pid)
        idle = [connect(srv.port) for _ in range(150)]
        trickling = []
        for _ in range(50):
            conn = connect(srv.port)
            conn.sendall(b"GET /arcgis/sharing/rest HTTP/1.1\r\nX-A: " + b"a" * 30_000)
            trickling.append(conn)

        def flood() -> None:
            body = b"f=json&x=" + b"z" * 8_000_000  # under 8 MiB each: read and parsed
            for _ in range(4):
                with contextlib.suppress(httpx.HTTPError):
                    httpx.post(f"{srv.url}/sharing/rest/info", content=body, verify=False,
                               headers={"content-type": "application/x-www-form-urlencoded"},
                               timeout=60)

        floods = [threading.Thread(target=flood) for _ in range(8)]
        for t in floods:
            t.start()
        peak = before
        while any(t.is_alive() for t in floods):
            peak = max(peak, rss_mb(srv.process.pid))
            time.sleep(0.05)
        for t in floods:
            t.join()
        peak = max(peak, rss_mb(srv.process.pid))
        assert still_answers(srv)
        for conn in idle + trickling:
            conn.close()
        assert peak - before < MEMORY_BOUND_MB, (before, peak)
    finally:
        stop(srv)


def test_connections_beyond_the_per_client_bound_are_closed_at_once(tmp_path: Path) -> None:
    srv = start_with_users(tmp_path, env={"GISTASKS_MAX_CONNECTIONS_PER_CLIENT": "5"})
    try:
        held = [connect(srv.port) for _ in range(5)]
        extra = connect(srv.port)
        extra.settimeout(5)
        assert closed_by_server(extra)
        for conn in held:
            conn.close()
        time.sleep(0.3)
        assert still_answers(srv)
    finally:
        stop(srv)


def test_a_plain_tcp_connection_never_finishing_tls_does_not_block_others(
        server: Server) -> None:
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and then nothing
    assert still_answers(server)
    raw.close()


def test_a_multipart_body_of_many_tiny_parts_stops_at_the_field_bound(server: Server) -> None:
    parts = b"".join(b'--B\r\nContent-Disposition: form-data; name="p%d"\r\n\r\nv\r\n' % i
                     for i in range(5000))
    body = b'--B\r\nContent-Disposition: form-data; name="f"\r\n\r\njson\r\n' + parts + b"--B--"
    r = post_raw(server, "/sharing/rest/info", body, "multipart/form-data; boundary=B")
    assert r.json()["error"]["message"] == "Too many parameters"


def test_a_connection_that_never_finishes_tls_is_closed(server: Server) -> None:
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and then nothing
    start = time.monotonic()
    try:
        closed = raw.recv(1024) == b""
    except ConnectionResetError:
        closed = True
    raw.close()
    assert closed and time.monotonic() - start < 8  # the handshake bound here is 1.5 s
