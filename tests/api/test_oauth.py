"""OAuth sign-in against a real server, step by step as the official ArcGIS client drives it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.support.server import Server, start_server, stop


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("oauth"),
                       env={"GISTASKS_ADMIN_PASSWORD": "admin pass 1"})
    yield srv
    stop(srv)


def rest(server: Server) -> str:
    return f"{server.url}/sharing/rest"


def admin_token(server: Server) -> str:
    return str(httpx.post(f"{rest(server)}/generateToken", verify=False, data={
        "username": "admin", "password": "admin pass 1", "f": "json"}).json()["token"])


def register(server: Server, client_id: str, redirects: list[str]) -> dict[str, Any]:
    """Register an app with the CLI, as an administrator would."""
    from gistasks.cli import main

    args = ["app", "register", "--data-dir", str(server.data_dir), "--client-id", client_id]
    for uri in redirects:
        args += ["--redirect", uri]
    assert main(args) == 0
    found: dict[str, Any] = httpx.get(f"{rest(server)}/oauth2/apps/{client_id}", verify=False,
                                      params={"f": "json", "token": admin_token(server)}).json()
    return found


def first_json_line(text: str) -> dict[str, object]:
    """What the client does: the first {...} on one line (regex without DOTALL)."""
    match = re.search(r"\{.*\}", text)
    assert match is not None, text[:300]
    data: dict[str, object] = json.loads(match.group(0))
    return data


def authorize(server: Server, **extra: str) -> httpx.Response:
    query = {"response_type": "token", "client_id": "pythonapi",
             "redirect_uri": server.url.rsplit("/", 1)[0], "state": "S2", "expiration": "600",
             "allow_verification": "false", "style": "dark", "locale": "en-US", **extra}
    return httpx.get(f"{rest(server)}/oauth2/authorize", params=query, verify=False)


def test_implicit_flow_redirects_with_an_access_token_for_the_same_state(server: Server) -> None:
    state = first_json_line(authorize(server).text)["oauth_state"]
    r = httpx.post(f"{server.url}/sharing/oauth2/signin", verify=False, data={
        "expiration": "600", "oauth_state": state, "username": "admin",
        "password": "admin pass 1"})
    assert r.status_code == 302
    location = urlparse(r.headers["location"])
    assert location.scheme == "https"
    fragment = parse_qs(location.fragment)
    assert fragment["state"] == ["S2"] and fragment["expires_in"] == ["36000"]
    token = fragment["access_token"][0]
    me = httpx.get(f"{rest(server)}/portals/self", params={"f": "json"}, verify=False,
                   headers={"X-Esri-Authorization": f"Bearer {token}"}).json()
    assert me["user"]["username"] == "admin" and me["portalName"]
    assert me["portalDeploymentType"] == "ArcGISEnterpriseOnKubernetes"
    user = httpx.get(f"{rest(server)}/community/users/admin", params={"f": "json"},
                     verify=False, headers={"X-Esri-Authorization": f"Bearer {token}"}).json()
    assert user["role"] == "org_admin" and user["id"] and "roleId" not in user
    assert any(":admin:" in p for p in user["privileges"])


def test_a_bad_password_shows_the_message_the_client_raises(server: Server) -> None:
    state = first_json_line(authorize(server).text)["oauth_state"]
    r = httpx.post(f"{server.url}/sharing/oauth2/signin", verify=False, data={
        "oauth_state": state, "username": "admin", "password": "wrong pass 1"})
    assert r.status_code == 200
    assert first_json_line(r.text)["messages"] == ["Invalid username or password."]


def test_an_unusable_redirect_uri_is_reported_so_the_client_tries_the_next(
    server: Server,
) -> None:
    assert "Invalid redirect_uri" in authorize(server, redirect_uri="ftp://x").text


def test_code_flow_gives_a_code_then_tokens(server: Server) -> None:
    page = authorize(server, response_type="code", redirect_uri="urn:ietf:wg:oauth:2.0:oob",
                     expiration="20160").text
    assert re.search(r"<script[^>]*>\s*var \w+ = \{.*\};\s*</script>", page)
    state = first_json_line(page)["oauth_state"]
    done = httpx.post(f"{server.url}/sharing/oauth2/signin", verify=False, data={
        "oauth_state": state, "authorize": "True", "username": "admin",
        "password": "admin pass 1"}, follow_redirects=True)
    code_match = re.search(r"<title>SUCCESS code=([^<]+)</title>", done.text)
    assert code_match is not None and "messages" not in first_json_line(done.text)
    tokens = httpx.post(f"{rest(server)}/oauth2/token", verify=False, data={
        "grant_type": "authorization_code", "client_id": "pythonapi",
        "code": code_match.group(1), "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
        "expiration": "20160"}).json()
    assert tokens["username"] == "admin" and tokens["expires_in"] == 20160 * 60
    refreshed = httpx.post(f"{rest(server)}/oauth2/token", verify=False, data={
        "grant_type": "refresh_token", "client_id": "pythonapi",
        "refresh_token": tokens["refresh_token"]}).json()
    me = httpx.get(f"{rest(server)}/community/self", verify=False,
                   params={"f": "json", "token": refreshed["access_token"]}).json()
    assert me["username"] == "admin"


def oob_code(server: Server) -> str:
    """A code of admin for pythonapi, from the code flow with the out-of-band redirect."""
    state = first_json_line(authorize(server, response_type="code",
                                      redirect_uri="urn:ietf:wg:oauth:2.0:oob").text)
    done = httpx.post(f"{server.url}/sharing/oauth2/signin", verify=False, data={
        "oauth_state": state["oauth_state"], "username": "admin", "password": "admin pass 1"})
    code = re.search(r"SUCCESS code=([^<]+)<", done.text)
    assert code is not None
    return code.group(1)


def exchange(server: Server, code: str, **extra: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(f"{rest(server)}/oauth2/token", verify=False, data={
        "grant_type": "authorization_code", "client_id": "pythonapi", "code": code,
        "redirect_uri": "urn:ietf:wg:oauth:2.0:oob", **extra}).json()
    return answer


def test_a_code_for_another_client_is_refused(server: Server) -> None:
    register(server, "someone-else", ["urn:ietf:wg:oauth:2.0:oob"])
    answer = exchange(server, oob_code(server), client_id="someone-else")
    assert answer["error"]["error"] == "invalid_grant"
    assert exchange(server, oob_code(server), client_id="nobody")["error"]["error"] == \
        "invalid_client"


def test_a_forged_state_is_refused(server: Server, tmp_path: Path) -> None:
    r = httpx.post(f"{server.url}/sharing/oauth2/signin", verify=False, data={
        "oauth_state": "forged.state", "username": "admin", "password": "admin pass 1"})
    assert r.status_code == 200 and "expired" in first_json_line(r.text)["messages"][0]  # type: ignore[index]


def test_users_see_only_themselves_unless_admin(server: Server) -> None:
    from gistasks.services.users import UserService
    from gistasks.store import Store

    store = Store(f"sqlite:///{server.data_dir / 'gistasks.db'}")
    UserService(store).add("dave", "daves pass 1")
    store.close()
    token = httpx.post(f"{rest(server)}/generateToken", verify=False, data={
        "username": "dave", "password": "daves pass 1", "f": "json"}).json()["token"]
    other = httpx.get(f"{rest(server)}/community/users/admin", verify=False,
                      params={"f": "json", "token": token}).json()
    assert other["error"]["code"] == 403
    me = httpx.get(f"{rest(server)}/community/users/dave", verify=False,
                   params={"f": "json", "token": token}).json()
    assert me["username"] == "dave" and me["role"] == "org_user"


def test_the_configured_token_cap_binds_generate_token_and_oauth_alike(
        tmp_path: Path) -> None:
    capped = start_server(tmp_path, env={"GISTASKS_ADMIN_PASSWORD": "admin pass 1",
                                         "GISTASKS_TOKEN_MAX_MINUTES": "30"})
    try:
        state = first_json_line(authorize(capped).text)["oauth_state"]
        r = httpx.post(f"{capped.url}/sharing/oauth2/signin", verify=False, data={
            "expiration": "600", "oauth_state": state, "username": "admin",
            "password": "admin pass 1"})
        assert parse_qs(urlparse(r.headers["location"]).fragment)["expires_in"] == ["1800"]
        before = int(time.time() * 1000)
        body = httpx.post(f"{rest(capped)}/generateToken", verify=False, data={
            "username": "admin", "password": "admin pass 1", "expiration": "600",
            "f": "json"}).json()
        assert before + 30 * 60_000 <= body["expires"] <= before + 31 * 60_000
    finally:
        stop(capped)


# -- hardening: escaped pages, registered apps, single-use codes -------------------------------


class _Scripts(HTMLParser):
    """The script elements of a page: (attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>'\"&"


def test_values_reflected_in_the_sign_in_page_cannot_run(server: Server) -> None:
    for extra in ({"locale": HOSTILE}, {"client_id": HOSTILE}, {"state": HOSTILE},
                  {"redirect_uri": HOSTILE}):
        page = authorize(server, **extra)
        parser = _Scripts()
        parser.feed(page.text)
        assert len(parser.scripts) == 1, page.text
        attrs, text = parser.scripts[0]
        assert attrs.get("type") == "text/plain"  # a data block: never run
        assert "<" not in text and "<img" not in page.text
        assert "script-src 'none'" in page.headers["content-security-policy"]


def test_an_unregistered_client_or_redirect_gets_no_sign_in(server: Server) -> None:
    assert "Invalid client_id" in authorize(server, client_id="someone").text
    for uri in ("https://elsewhere.example/cb", "http://elsewhere.example/",
                "https://127.0.0.1.evil.example/", "javascript:alert(1)",
                server.url.rsplit("/", 1)[0] + "#frag"):
        assert "Invalid redirect_uri" in authorize(server, redirect_uri=uri).text, uri


def test_the_official_client_signs_in_at_its_loopback_and_portal_redirects(
        server: Server) -> None:
    for uri in ("http://127.0.0.1:54321/callback", "http://localhost:8080/",
                server.url.rsplit("/", 1)[0], server.url + "/home"):
        state = first_json_line(authorize(server, redirect_uri=uri).text)["oauth_state"]
        r = httpx.post(f"{server.url}/sharing/oauth2/signin", verify=False, data={
            "oauth_state": state, "username": "admin", "password": "admin pass 1"})
        assert r.status_code == 302 and r.headers["location"].startswith(uri + "#"), uri


def test_a_registered_app_receives_tokens_only_at_its_redirects(server: Server) -> None:
    app = register(server, "mapper", ["https://app.example.com/cb"])
    assert app["redirect_uris"] == ["https://app.example.com/cb"]
    page = authorize(server, client_id="mapper", redirect_uri="https://app.example.com/cb/x")
    assert "form-action 'self' https://app.example.com:443" in \
        page.headers["content-security-policy"]
    state = first_json_line(page.text)["oauth_state"]
    r = httpx.post(f"{server.url}/sharing/oauth2/signin", verify=False, data={
        "oauth_state": state, "username": "admin", "password": "admin pass 1"})
    assert r.headers["location"].startswith("https://app.example.com/cb/x#access_token=")
    for uri in ("https://app.example.com.evil.com/cb", "https://app.example.com/cbx",
                "http://app.example.com/cb", "urn:ietf:wg:oauth:2.0:oob"):
        assert "Invalid redirect_uri" in authorize(server, client_id="mapper",
                                                   redirect_uri=uri).text, uri


def test_apps_are_registered_read_changed_and_unregistered_by_org_admins(
        server: Server) -> None:
    tok = admin_token(server)
    made = httpx.post(f"{rest(server)}/oauth2/registerApp", verify=False, data={
        "f": "json", "token": tok, "redirect_uris": '["https://a.example/cb"]',
        "appType": "browser"}).json()
    client_id = made["client_id"]
    assert len(client_id) == 16 and made["redirect_uris"] == ["https://a.example/cb"]
    changed = httpx.post(f"{rest(server)}/oauth2/apps/{client_id}/update", verify=False,
                         data={"f": "json", "token": tok,
                               "redirect_uris": '["https://b.example/cb"]'}).json()
    assert changed["redirect_uris"] == ["https://b.example/cb"]
    bad = httpx.post(f"{rest(server)}/oauth2/registerApp", verify=False, data={
        "f": "json", "token": tok, "redirect_uris": '["http://plain.example/cb"]'}).json()
    assert bad["error"]["message"] == "Invalid 'redirect_uris'"
    gone = httpx.post(f"{rest(server)}/oauth2/apps/{client_id}/unregister", verify=False,
                      data={"f": "json", "token": tok}).json()
    assert gone["success"] is True
    assert "Invalid client_id" in authorize(server, client_id=client_id,
                                            redirect_uri="https://b.example/cb").text


def test_only_org_admins_register_apps(server: Server, tmp_path: Path) -> None:
    from gistasks.services.users import UserService
    from gistasks.store import Store

    store = Store(f"sqlite:///{server.data_dir / 'gistasks.db'}")
    UserService(store).add("gina", "ginas pass 1")
    store.close()
    tok = httpx.post(f"{rest(server)}/generateToken", verify=False, data={
        "username": "gina", "password": "ginas pass 1", "f": "json"}).json()["token"]
    r = httpx.post(f"{rest(server)}/oauth2/registerApp", verify=False, data={
        "f": "json", "token": tok, "redirect_uris": '["https://x.example/cb"]'}).json()
    assert r["error"]["code"] == 403


def test_a_code_is_good_once_and_only_with_its_redirect(server: Server) -> None:
    code = oob_code(server)
    assert exchange(server, code, redirect_uri="https://other.example/")["error"]["error"] \
        == "invalid_grant"
    assert exchange(server, code, redirect_uri="")["error"]["error"] == "invalid_grant"
    assert "access_token" in exchange(server, code)
    assert exchange(server, code)["error"]["error"] == "invalid_grant"  # used up


def test_a_redirect_with_dot_segments_cannot_leave_the_registered_path(server: Server) -> None:
    register(server, "dotted", ["https://dots.example.com/cb"])
    for uri in ("https://dots.example.com/cb/../logout", "https://dots.example.com/cb/%2e%2e/x",
                "https://dots.example.com/cb\\..\\x", "https://dots.example.com/cb/./x"):
        assert "Invalid redirect_uri" in authorize(server, client_id="dotted",
                                                   redirect_uri=uri).text, uri


def test_the_form_shown_again_after_a_wrong_password_still_leads_to_the_app(
        server: Server) -> None:
    register(server, "retry", ["https://retry.example.com/cb"])
    state = first_json_line(authorize(server, client_id="retry",
                                      redirect_uri="https://retry.example.com/cb").text)
    again = httpx.post(f"{server.url}/sharing/oauth2/signin", verify=False, data={
        "oauth_state": state["oauth_state"], "username": "admin", "password": "wrong pass 1"})
    assert "https://retry.example.com:443" in again.headers["content-security-policy"]


def test_a_state_over_its_bound_is_refused(server: Server) -> None:
    page = authorize(server, state="s" * 2049, f="json")
    assert "Invalid 'state'" in page.text
