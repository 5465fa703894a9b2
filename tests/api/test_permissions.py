"""Who may do what: every endpoint against every kind of caller.

Callers: anonymous, an org user (frank), a publisher who owns the task (erin), an org admin,
erin's token once expired, and erin's token tampered with. Every case acts on a fresh task (and
run), so the destructive operations of one case cannot hide a wrong answer in another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gistasks.security.keys import load_key
from gistasks.security.tokens import TokenClaims, issue
from tests.support.server import ERIN, EVERY_MINUTE, FRANK, Server, start_with_users, stop, token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_with_users(tmp_path_factory.mktemp("permissions"), ERIN, FRANK)
    yield srv
    stop(srv)


@pytest.fixture(scope="module")
def tokens(server: Server) -> dict[str, str | None]:
    erin = token(server, "erin", "erins pass 1")
    payload, signature = erin.rsplit(".", 1)
    tampered = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    expired = issue(load_key(server.data_dir, "token-key"), TokenClaims(
        "erin", 0, time.time_ns() // 1_000_000 - 1000, None, None))
    return {"anonymous": None, "user": token(server, "frank", "franks pass 1"),
            "owner": erin, "admin": token(server, "admin", "admin pass 1"),
            "expired": expired, "tampered": tampered}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {t} a fresh task of erin's (or a system task), {r} a run of it
    form: tuple[tuple[str, str], ...] = ()


SHARING = "sharing/rest/community/users/erin"
OWNER_ENDPOINTS = [
    Endpoint("GET", SHARING),
    Endpoint("GET", f"{SHARING}/tasks"),
    Endpoint("POST", f"{SHARING}/tasks/createTask",
             (("type", "Ping"), *EVERY_MINUTE.items())),
    Endpoint("GET", f"{SHARING}/tasks/{{t}}"),
    Endpoint("POST", f"{SHARING}/tasks/{{t}}/update", (("title", "changed"),)),
    Endpoint("POST", f"{SHARING}/tasks/{{t}}/disable"),
    Endpoint("POST", f"{SHARING}/tasks/{{t}}/enable"),
    Endpoint("POST", f"{SHARING}/tasks/{{t}}/runNow"),
    Endpoint("POST", f"{SHARING}/tasks/{{t}}/delete"),
    Endpoint("GET", f"{SHARING}/tasks/{{t}}/runs"),
    Endpoint("GET", f"{SHARING}/tasks/{{t}}/runs/{{r}}"),
    Endpoint("POST", f"{SHARING}/tasks/{{t}}/runs/{{r}}/update", (("status", "failed"),)),
    Endpoint("POST", f"{SHARING}/tasks/{{t}}/runs/{{r}}/delete"),
]
SYSTEM = "admin/system/tasks"
ADMIN_ENDPOINTS = [
    Endpoint("GET", "sharing/rest/portals/self/allScheduledTasks"),
    Endpoint("GET", "admin"),
    Endpoint("GET", "portaladmin"),
    Endpoint("GET", "admin/system"),
    Endpoint("GET", SYSTEM),
    Endpoint("POST", f"{SYSTEM}/createTask", (("type", "Ping"), *EVERY_MINUTE.items())),
    Endpoint("GET", f"{SYSTEM}/{{t}}"),
    Endpoint("POST", f"{SYSTEM}/{{t}}/update", (("title", "changed"),)),
    Endpoint("POST", f"{SYSTEM}/{{t}}/disable"),
    Endpoint("POST", f"{SYSTEM}/{{t}}/enable"),
    Endpoint("POST", f"{SYSTEM}/{{t}}/runNow"),
    Endpoint("POST", f"{SYSTEM}/{{t}}/delete"),
    Endpoint("GET", f"{SYSTEM}/{{t}}/runs"),
    Endpoint("GET", f"{SYSTEM}/{{t}}/runs/{{r}}"),
    Endpoint("POST", f"{SYSTEM}/{{t}}/runs/{{r}}/update", (("status", "failed"),)),
    Endpoint("POST", f"{SYSTEM}/{{t}}/runs/{{r}}/delete"),
    Endpoint("GET", "admin/system/limits"),
    Endpoint("GET", "portaladmin/system/limits"),
    Endpoint("POST", "admin/system/limits/update", (("properties", "[]"),)),
]
SIGNED_IN_ENDPOINTS = [Endpoint("GET", "sharing/rest/community/self")]

# The answer each caller gets: "ok" or the ArcGIS error code.
OWNER_RULE = {"anonymous": 499, "expired": 498, "tampered": 498, "user": 403,
              "owner": "ok", "admin": "ok"}
ADMIN_RULE = {**OWNER_RULE, "owner": 403}
SIGNED_IN_RULE = {**OWNER_RULE, "user": "ok"}

CASES = ([(e, c, OWNER_RULE[c]) for e in OWNER_ENDPOINTS for c in OWNER_RULE]
         + [(e, c, ADMIN_RULE[c]) for e in ADMIN_ENDPOINTS for c in ADMIN_RULE]
         + [(e, c, SIGNED_IN_RULE[c]) for e in SIGNED_IN_ENDPOINTS for c in SIGNED_IN_RULE])


def fresh_task_and_run(server: Server, tokens: dict[str, str | None],
                       system: bool) -> tuple[str, str]:
    """A new task (erin's, or a system task) with one queued run."""
    base = (f"{server.url}/{SYSTEM}" if system
            else f"{server.url}/{SHARING}/tasks")
    headers = {"X-Esri-Authorization": f"Bearer {tokens['admin' if system else 'owner']}"}
    created = httpx.post(f"{base}/createTask", verify=False, headers=headers,
                         data={"f": "json", "type": "Ping", **EVERY_MINUTE}).json()
    task_id = created["taskId"]
    run = httpx.post(f"{base}/{task_id}/runNow", verify=False, headers=headers,
                     data={"f": "json"}).json()
    return task_id, run["runId"]


@pytest.mark.parametrize(("endpoint", "caller", "expected"), CASES,
                         ids=[f"{c}-{e.method}-{e.path}" for e, c, _ in CASES])
def test_every_endpoint_answers_every_caller_as_arcgis_does(
        server: Server, tokens: dict[str, str | None], endpoint: Endpoint, caller: str,
        expected: str | int) -> None:
    path = endpoint.path
    if "{t}" in path:
        task_id, run_id = fresh_task_and_run(server, tokens, path.startswith(SYSTEM))
        path = path.replace("{t}", task_id).replace("{r}", run_id)
    tok = tokens[caller]
    headers = {} if tok is None else {"X-Esri-Authorization": f"Bearer {tok}"}
    data = {"f": "json", **dict(endpoint.form)}
    url = f"{server.url}/{path}"
    if endpoint.method == "GET":
        response = httpx.get(url, params=data, headers=headers, verify=False)
    else:
        response = httpx.post(url, data=data, headers=headers, verify=False)
    assert response.status_code == 200
    body = response.json()
    admin_family = path.startswith(("admin", "portaladmin"))
    if expected == "ok":
        assert "error" not in body and body.get("status") != "error", body
        return
    if admin_family:
        assert body["status"] == "error" and body["code"] == expected, body
    else:
        assert body["error"]["code"] == expected, body


def test_a_task_of_another_user_is_not_found_under_ones_own_name(
        server: Server, tokens: dict[str, str | None]) -> None:
    frank = tokens["user"]
    headers = {"X-Esri-Authorization": f"Bearer {frank}"}
    created = httpx.post(
        f"{server.url}/sharing/rest/community/users/frank/tasks/createTask", verify=False,
        headers=headers, data={"f": "json", "type": "Ping", **EVERY_MINUTE}).json()
    erin = {"X-Esri-Authorization": f"Bearer {tokens['owner']}"}
    for suffix in ("", "/runs"):
        body = httpx.get(f"{server.url}/{SHARING}/tasks/{created['taskId']}{suffix}",
                         params={"f": "json"}, headers=erin, verify=False).json()
        assert body["error"]["code"] == 404
    changed = httpx.post(f"{server.url}/{SHARING}/tasks/{created['taskId']}/delete",
                         data={"f": "json"}, headers=erin, verify=False).json()
    assert changed["error"]["code"] == 404
    still = httpx.get(
        f"{server.url}/sharing/rest/community/users/frank/tasks/{created['taskId']}",
        params={"f": "json"}, headers=headers, verify=False).json()
    assert still["id"] == created["taskId"]
