"""What protects the users of a running server: the headers of every answer, a private data
directory, tokens bound exactly, forwarded headers believed only from trusted proxies, and
malformed tokens refused like forged ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gistasks.security.keys import load_key
from tests.support.raw import connect, read_all
from tests.support.server import FRANK, Server, free_port, start_server, start_with_users, stop

PASSWORD = "admin pass 1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_with_users(tmp_path_factory.mktemp("security"), FRANK)
    yield srv
    stop(srv)


def rest(server: Server) -> str:
    return f"{server.url}/sharing/rest"


def token(server: Server, user: str = "admin", password: str = PASSWORD,
          **extra: str) -> str:
    body = httpx.post(f"{rest(server)}/generateToken", verify=False, data={
        "username": user, "password": password, "f": "json", **extra}).json()
    return str(body["token"])


@pytest.mark.parametrize("path", ["/sharing/rest?f=json", "/sharing/rest", "/nothing/here",
                                  "/sharing/rest/oauth2/authorize?client_id=pythonapi"
                                  "&redirect_uri=urn:ietf:wg:oauth:2.0:oob",
                                  "/admin?f=json", "/openapi.json"])
def test_every_answer_carries_the_security_headers(server: Server, path: str) -> None:
    r = httpx.get(f"{server.url}{path}", verify=False)
    h = r.headers
    policy = h["content-security-policy"]
    assert "script-src 'self'" in policy or "script-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
    assert h["strict-transport-security"].startswith("max-age=")
    assert h["referrer-policy"] == "no-referrer" and h["cache-control"] == "no-store"


def test_an_answer_with_a_token_is_not_cached(server: Server) -> None:
    r = httpx.post(f"{rest(server)}/generateToken", verify=False, data={
        "username": "admin", "password": PASSWORD, "f": "json"})
    assert "token" in r.json() and r.headers["cache-control"] == "no-store"


def test_the_data_directory_is_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "left-by-hand.txt").write_text("x")
    (data / "left-by-hand.txt").chmod(0o644)
    data.chmod(0o755)
    port = free_port()
    env = {**os.environ, "GISTASKS_ADMIN_PASSWORD": ""}
    proc = subprocess.Popen(
        ["sh", "-c", f"umask 022 && exec {sys.executable} -m gistasks serve --data-dir {data}"
                     f" --port {port}"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        srv_url = f"https://127.0.0.1:{port}/arcgis"
        for _ in range(300):
            try:
                httpx.get(f"{srv_url}/sharing/rest/info?f=json", verify=False, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        files = sorted(p for p in data.rglob("*"))
        names = {p.name for p in files}
        assert {"gistasks.db", "gistasks.db-wal", "gistasks.db-shm", "token-key", "secret-key",
                "server-key.pem", "server-cert.pem", "admin-password.txt"} <= names
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        loose = [(p.name, oct(stat.S_IMODE(p.stat().st_mode))) for p in files
                 if stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)]
        assert not loose, loose
    finally:
        proc.terminate()
        proc.wait(15)


def test_a_referer_bound_token_needs_that_very_origin(server: Server) -> None:
    bound = token(server, client="referer", referer="https://good.example")
    url = f"{rest(server)}/community/self"

    def who(referer: str) -> object:
        return httpx.get(url, verify=False, params={"f": "json", "token": bound},
                         headers={"Referer": referer}).json()

    assert who("https://good.example/app/page")["username"] == "admin"  # type: ignore[index]
    assert who("https://good.example:443/")["username"] == "admin"  # type: ignore[index]
    for other in ("https://good.example.evil.com", "http://good.example",
                  "https://good.example:8443", "https://evil.com/https://good.example"):
        assert who(other)["error"]["code"] == 498, other  # type: ignore[index]


def test_the_official_clients_referer_word_binds_exactly(server: Server) -> None:
    bound = token(server, client="referer", referer="http")
    ok = httpx.get(f"{rest(server)}/community/self", verify=False,
                   params={"f": "json", "token": bound}, headers={"Referer": "http"}).json()
    assert ok["username"] == "admin"


def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted(
        server: Server, tmp_path: Path) -> None:
    pinned = token(server, client="ip", ip="10.9.9.9")
    spoofed = httpx.get(f"{rest(server)}/community/self", verify=False,
                        params={"f": "json", "token": pinned},
                        headers={"X-Forwarded-For": "10.9.9.9"}).json()
    assert spoofed["error"]["code"] == 498
    info = httpx.get(f"{rest(server)}/info?f=json", verify=False, headers={
        "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"}).json()
    assert info["authInfo"]["tokenServicesUrl"] == f"{rest(server)}/generateToken"
    trusted = start_with_users(tmp_path, env={"GISTASKS_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        pinned = token(trusted, client="ip", ip="10.9.9.9")
        through = httpx.get(f"{rest(trusted)}/community/self", verify=False,
                            params={"f": "json", "token": pinned},
                            headers={"X-Forwarded-For": "10.9.9.9"}).json()
        assert through["username"] == "admin"
    finally:
        stop(trusted)


def test_a_public_url_is_what_the_server_hands_out(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"GISTASKS_ADMIN_PASSWORD": PASSWORD,
                                      "GISTASKS_PUBLIC_URL": "https://gis.example.com/arcgis"})
    try:
        info = httpx.get(f"{rest(srv)}/info?f=json", verify=False,
                         headers={"Host": "evil.example"}).json()
        assert info["authInfo"]["tokenServicesUrl"] == \
            "https://gis.example.com/arcgis/sharing/rest/generateToken"
        assert info["owningSystemUrl"] == "https://gis.example.com/arcgis"
        portal = httpx.get(f"{rest(srv)}/portals/self?f=json", verify=False).json()
        assert portal["portalHostname"] == "gis.example.com/arcgis"
    finally:
        stop(srv)


def test_a_bad_public_url_stops_the_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gistasks", "serve", "--data-dir", str(tmp_path / "d"),
         "--port", str(free_port())], capture_output=True, text=True, timeout=60,
        env={**os.environ, "GISTASKS_PUBLIC_URL": "http://gis.example.com/arcgis"})
    assert proc.returncode == 2 and "must be an https:// URL" in proc.stderr
    assert not (tmp_path / "d").exists()


def signed(server: Server, claims: dict[str, object]) -> str:
    """A token signed with the server's own key, whatever its claims."""
    key = load_key(server.data_dir, "token-key")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    mac = base64.urlsafe_b64encode(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{mac.rstrip(b'=').decode()}"


@pytest.mark.parametrize("claims", [
    {"u": "admin", "v": 0, "e": 1e400},
    {"u": "admin", "v": 0, "e": "tomorrow"},
    {"u": "admin", "v": True, "e": 99999999999999},
    {"u": ["admin"], "v": 0, "e": 99999999999999},
    {"u": "admin", "v": 0, "e": 99999999999999, "r": {"x": 1}},
])
def test_a_well_signed_token_of_another_shape_is_498(server: Server,
                                                      claims: dict[str, object]) -> None:
    body = httpx.get(f"{rest(server)}/community/self", verify=False,
                     params={"f": "json", "token": signed(server, claims)}).json()
    assert body["error"]["code"] == 498
    assert "Traceback" not in server.output()


def test_a_bad_token_in_a_header_is_refused_before_the_body_is_read(server: Server) -> None:
    conn = connect(server.port)
    conn.sendall(b"POST /arcgis/sharing/rest/community/users/admin/tasks/createTask?f=json "
                 b"HTTP/1.1\r\nHost: x\r\nX-Esri-Authorization: Bearer not.a-token\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 900000000\r\n\r\ntitle=x")
    answer = read_all(conn)
    conn.close()
    # 498, not 413: the token was checked first, the body never read
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == 498
