"""Sign-in cannot be hammered: failures lock the account and the client address for a
while, the same way for known and unknown names, on generateToken and the OAuth form alike;
an administrator unlocks; failures are logged without the password."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gistasks.cli import main
from tests.support.server import ERIN, FRANK, Server, start_with_users, stop

POLICY = {"GISTASKS_SIGNIN_ACCOUNT_FAILURES": "4", "GISTASKS_SIGNIN_ADDRESS_FAILURES": "12",
          "GISTASKS_SIGNIN_LOCKOUT_MINUTES": "15"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_with_users(tmp_path, ERIN, FRANK, env=POLICY)
    yield srv
    stop(srv)


def sign_in(server: Server, user: str, password: str) -> dict[str, object]:
    body: dict[str, object] = httpx.post(f"{server.url}/sharing/rest/generateToken",
                                         verify=False, data={"username": user,
                                                             "password": password,
                                                             "f": "json"}).json()
    return body


def detail(answer: dict[str, object]) -> str:
    error = answer["error"]
    assert isinstance(error, dict)
    return str(error["details"][0])


def test_an_account_is_locked_after_its_failures_even_for_the_right_password(
        server: Server) -> None:
    for _ in range(4):
        assert detail(sign_in(server, "erin", "wrong pass 1")) == "Invalid username or password."
    locked = sign_in(server, "erin", ERIN[1])
    assert locked["error"]["code"] == 429  # type: ignore[index]
    assert re.fullmatch(r"Too many failed sign-ins; try again in 1[45] minutes\.",
                        detail(locked))
    assert "token" in sign_in(server, "frank", FRANK[1])  # another account is not locked


def test_an_unknown_name_is_locked_the_same_way(server: Server) -> None:
    answers = [detail(sign_in(server, name, "wrong pass 1")) for name in ("nobody", "erin")
               for _ in range(5)]
    assert answers[:4] == answers[5:9] == ["Invalid username or password."] * 4
    assert answers[4] == answers[9] and answers[4].startswith("Too many failed sign-ins")


def test_a_client_address_is_blocked_after_its_failures_across_accounts(
        server: Server) -> None:
    for n in range(12):
        sign_in(server, f"guess{n}", "wrong pass 1")
    assert detail(sign_in(server, "frank", FRANK[1])).startswith("Too many failed sign-ins")
    assert main(["user", "unlock", "--address", "127.0.0.1", "--data-dir",
                 str(server.data_dir)]) == 0
    assert "token" in sign_in(server, "frank", FRANK[1])


def test_an_administrator_unlocks_an_account(server: Server) -> None:
    for _ in range(4):
        sign_in(server, "erin", "wrong pass 1")
    assert detail(sign_in(server, "erin", ERIN[1])).startswith("Too many failed sign-ins")
    assert main(["user", "unlock", "erin", "--data-dir", str(server.data_dir)]) == 0
    assert "token" in sign_in(server, "erin", ERIN[1])


def test_the_oauth_form_is_locked_too_and_says_so_in_its_messages(server: Server) -> None:
    for _ in range(4):
        sign_in(server, "erin", "wrong pass 1")
    page = httpx.get(f"{server.url}/sharing/rest/oauth2/authorize", verify=False, params={
        "client_id": "pythonapi", "response_type": "token",
        "redirect_uri": "urn:ietf:wg:oauth:2.0:oob"}).text
    state = json.loads(re.search(r"\{.*\}", page).group(0))["oauth_state"]  # type: ignore[union-attr]
    r = httpx.post(f"{server.url}/sharing/oauth2/signin", verify=False, data={
        "oauth_state": state, "username": "erin", "password": ERIN[1]})
    info = json.loads(re.search(r"\{.*\}", r.text).group(0))  # type: ignore[union-attr]
    assert info["messages"][0].startswith("Too many failed sign-ins")


def test_failed_sign_ins_are_logged_with_the_name_never_the_password(server: Server) -> None:
    sign_in(server, "erin", "my secret guess 1")
    deadline = time.monotonic() + 10  # the server's output is read by a thread of its own
    while "failed sign-in" not in server.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.output()
    assert "failed sign-in for 'erin' from 127.0.0.1" in log
    assert "my secret guess 1" not in log
