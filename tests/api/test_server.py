"""``gistasks serve`` as a real subprocess: HTTPS, a self-signed certificate, the Sharing root."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import Server, free_port, start_server, stop


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("data"), env={"GISTASKS_ADMIN_PASSWORD": ""})
    yield srv
    stop(srv)


def test_root_answers_current_version_over_https(server: Server) -> None:
    r = httpx.get(f"{server.url}/sharing/rest", params={"f": "json"}, verify=False)
    assert r.status_code == 200
    assert r.json() == {"currentVersion": "2024.1"}


def test_info_advertises_the_token_service(server: Server) -> None:
    body = httpx.get(f"{server.url}/sharing/rest/info?f=json", verify=False).json()
    assert body["authInfo"]["isTokenBasedSecurity"] is True
    assert body["authInfo"]["tokenServicesUrl"] == f"{server.url}/sharing/rest/generateToken"


def test_reads_accept_post_with_a_form_body(server: Server) -> None:
    r = httpx.post(f"{server.url}/sharing/rest/info", data={"f": "json"}, verify=False)
    assert r.json()["currentVersion"] == "2024.1"


def test_pjson_is_indented_and_html_is_the_default(server: Server) -> None:
    pretty = httpx.get(f"{server.url}/sharing/rest?f=pjson", verify=False)
    assert pretty.text.startswith("{\n  ")
    page = httpx.get(f"{server.url}/sharing/rest", verify=False)
    assert page.headers["content-type"].startswith("text/html")
    assert "currentVersion" in page.text and "2024.1" in page.text


def test_unknown_resource_is_an_arcgis_error_with_http_200(server: Server) -> None:
    r = httpx.get(f"{server.url}/sharing/rest/nothing/here?f=json", verify=False)
    assert r.status_code == 200
    assert r.json() == {"error": {"code": 404, "message": "Not Found", "details": []}}


def test_bad_f_is_an_error_naming_the_parameter(server: Server) -> None:
    body = httpx.get(f"{server.url}/sharing/rest?f=xml", verify=False).json()
    assert body["error"]["code"] == 400 and "'f'" in body["error"]["message"]


def test_first_start_makes_a_self_signed_certificate_and_a_private_admin_password(
    server: Server,
) -> None:
    cert = server.data_dir / "server-cert.pem"
    key = server.data_dir / "server-key.pem"
    password = server.data_dir / "admin-password.txt"
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert len(password.read_text().strip()) >= 16
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/sharing/rest?f=json")  # verification fails: self-signed


def test_banner_prints_the_url_and_where_the_admin_password_is(server: Server) -> None:
    assert f"gistasks serving {server.url}/sharing/rest" in server.banner
    assert f"admin password: {server.data_dir / 'admin-password.txt'}" in server.banner


def test_restart_keeps_the_certificate_and_password(tmp_path: Path) -> None:
    first = start_server(tmp_path, env={"GISTASKS_ADMIN_PASSWORD": ""})
    cert = (tmp_path / "server-cert.pem").read_bytes()
    password = (tmp_path / "admin-password.txt").read_text()
    stop(first)
    # A graceful stop: uvicorn finishes, then exits with the signal it was sent.
    assert first.process.returncode in (0, -signal.SIGTERM)
    second = start_server(tmp_path, "--context", "portal", env={"GISTASKS_ADMIN_PASSWORD": ""})
    try:
        assert (tmp_path / "server-cert.pem").read_bytes() == cert
        assert (tmp_path / "admin-password.txt").read_text() == password
        assert httpx.get(f"{second.url}/sharing/rest?f=json", verify=False).json() == {
            "currentVersion": "2024.1"
        }
    finally:
        stop(second)


def test_admin_password_from_the_environment_writes_no_file(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"GISTASKS_ADMIN_PASSWORD": "s3cret-from-env"})
    try:
        assert not (tmp_path / "admin-password.txt").exists()
        assert "GISTASKS_ADMIN_PASSWORD environment variable" in srv.banner
    finally:
        stop(srv)


def test_first_start_creates_the_admin_account_with_that_password(server: Server) -> None:
    from gistasks.services.users import UserService
    from gistasks.store import Store

    password = (server.data_dir / "admin-password.txt").read_text().strip()
    store = Store(f"sqlite:///{server.data_dir / 'gistasks.db'}")
    try:
        admin = UserService(store).authenticate("admin", password)
        assert admin is not None and admin.role == "org_admin"
    finally:
        store.close()


def test_a_weak_admin_password_from_the_environment_stops_the_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gistasks", "serve", "--data-dir", str(tmp_path), "--port",
         str(free_port())],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "GISTASKS_ADMIN_PASSWORD": "weak"},
    )
    assert proc.returncode == 2
    assert "the initial admin password: the password must have at least 8" in proc.stderr


# --- tokens ---------------------------------------------------------------------------------


def admin_password(server: Server) -> str:
    return (server.data_dir / "admin-password.txt").read_text().strip()


def token_for(server: Server, **extra: str) -> dict[str, object]:
    body = {"username": "admin", "password": admin_password(server), "f": "json", **extra}
    result: dict[str, object] = httpx.post(f"{server.url}/sharing/rest/generateToken",
                                           data=body, verify=False).json()
    return result


def test_generate_token_gives_an_expiring_token_for_the_right_password(server: Server) -> None:
    before = int(time.time() * 1000)
    body = token_for(server, expiration="5")
    assert body["ssl"] is True and isinstance(body["token"], str)
    assert before + 5 * 60_000 <= int(body["expires"]) <= before + 5 * 60_000 + 60_000  # type: ignore[call-overload]


def test_generate_token_caps_the_expiration_at_two_weeks(server: Server) -> None:
    body = token_for(server, expiration="1000000")
    two_weeks = 20160 * 60_000
    assert int(body["expires"]) <= int(time.time() * 1000) + two_weeks + 60_000  # type: ignore[call-overload]


@pytest.mark.parametrize(("form", "detail"), [
    ({"username": "admin", "password": "wrong-password-1"}, "Invalid username or password."),
    ({"username": "admin"}, "'username' and 'password' must be specified."),
    ({"username": "admin", "password": "x", "expiration": "soon"}, "number of minutes"),
    ({"username": "admin", "password": "x", "client": "referer"}, "'referer' must be"),
])
def test_generate_token_errors_say_what_is_wrong(server: Server, form: dict[str, str],
                                                 detail: str) -> None:
    body = httpx.post(f"{server.url}/sharing/rest/generateToken", data={**form, "f": "json"},
                      verify=False).json()
    assert body["error"]["code"] == 400
    assert body["error"]["message"] == "Unable to generate token."
    assert any(detail in d for d in body["error"]["details"])


def test_generate_token_refuses_get(server: Server) -> None:
    r = httpx.get(f"{server.url}/sharing/rest/generateToken",
                  params={"username": "admin", "password": admin_password(server), "f": "json"},
                  verify=False)
    assert r.json()["error"]["code"] == 405


@pytest.mark.parametrize("transport", ["x-esri", "bearer", "query", "form"])
def test_every_token_transport_identifies_the_user(server: Server, transport: str) -> None:
    token = str(token_for(server)["token"])
    url = f"{server.url}/sharing/rest/community/self"
    if transport == "x-esri":
        r = httpx.get(url, params={"f": "json"},
                      headers={"X-Esri-Authorization": f"Bearer {token}"}, verify=False)
    elif transport == "bearer":
        r = httpx.get(url, params={"f": "json"}, headers={"Authorization": f"Bearer {token}"},
                      verify=False)
    elif transport == "query":
        r = httpx.get(url, params={"f": "json", "token": token}, verify=False)
    else:
        r = httpx.post(url, data={"f": "json", "token": token}, verify=False)
    body = r.json()
    assert body["username"] == "admin" and body["role"] == "org_admin"
    assert "premium:publisher:scheduleNotebooks" in body["privileges"]


def test_missing_and_tampered_tokens_get_499_and_498(server: Server) -> None:
    url = f"{server.url}/sharing/rest/community/self"
    assert httpx.get(url, params={"f": "json"}, verify=False).json()["error"]["code"] == 499
    token = str(token_for(server)["token"])
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    body = httpx.get(url, params={"f": "json", "token": tampered}, verify=False).json()
    assert body["error"] == {"code": 498, "message": "Invalid token.", "details": []}


def test_a_referer_bound_token_needs_that_referer(server: Server) -> None:
    token = str(token_for(server, client="referer", referer="https://maps.example.org")["token"])
    url = f"{server.url}/sharing/rest/community/self"
    ok = httpx.get(url, params={"f": "json", "token": token},
                   headers={"Referer": "https://maps.example.org/app"}, verify=False).json()
    assert ok["username"] == "admin"
    bad = httpx.get(url, params={"f": "json", "token": token},
                    headers={"Referer": "https://evil.example.com"}, verify=False).json()
    assert bad["error"]["code"] == 498


def test_disabling_a_user_or_changing_the_password_revokes_the_tokens(server: Server) -> None:
    from gistasks.services.users import UserService
    from gistasks.store import Store

    store = Store(f"sqlite:///{server.data_dir / 'gistasks.db'}")
    users = UserService(store)
    try:
        users.add("carol", "carols pass 1")
        url = f"{server.url}/sharing/rest/community/self"

        def token() -> str:
            return str(httpx.post(f"{server.url}/sharing/rest/generateToken", verify=False,
                                  data={"username": "carol", "password": "carols pass 1",
                                        "f": "json"}).json()["token"])

        first = token()
        assert httpx.get(url, params={"f": "json", "token": first},
                         verify=False).json()["username"] == "carol"
        users.set_password("carol", "carols pass 1")
        assert httpx.get(url, params={"f": "json", "token": first},
                         verify=False).json()["error"]["code"] == 498
        second = token()
        users.set_disabled("carol", True)
        assert httpx.get(url, params={"f": "json", "token": second},
                         verify=False).json()["error"]["code"] == 498
    finally:
        store.close()


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/sharing/rest/nothing/here"), ("POST", "/admin/nothing"),
    ("PUT", "/sharing/rest/info"), ("POST", "/sharing/rest/community/users/a/tasks/x/pause")])
def test_an_error_answers_in_the_format_the_post_body_asks_for(server: Server, method: str,
                                                               path: str) -> None:
    r = httpx.request(method, f"{server.url}{path}", data={"f": "json", "x": "1"},
                      verify=False)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body.get("code", body.get("error", {}).get("code")) in (404, 405)
