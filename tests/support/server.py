"""A real ``gistasks serve`` for the API tests: started as a subprocess on a free port, with
users already added, and stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx


@dataclass
class Server:
    url: str
    data_dir: Path
    banner: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    """What the server printed after its banner (logs, tracebacks), as it comes."""

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])

    def output(self) -> str:
        return "".join(self.lines)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gistasks", "serve", "--data-dir", str(data_dir), "--port",
         str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # No kernel started ahead unless a test asks for one: most servers of the suite never
        # run a notebook, and each kernel costs half a second of CPU and 50 MB.
        env={"GISTASKS_NOTEBOOK_WARM_KERNELS": "0", **os.environ, **(env or {})},
    )
    url = f"https://127.0.0.1:{port}/{'arcgis' if '--context' not in extra else extra[-1]}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            httpx.get(f"{url}/sharing/rest?f=json", verify=False, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("server did not answer within 30 s")
    assert proc.stdout is not None
    banner = "".join(proc.stdout.readline() for _ in range(5))
    server = Server(url, data_dir, banner, proc)
    # Keep reading what the server prints: unread, its output (tracebacks of a bug under
    # test) would fill the 64 KiB pipe and block the server on its next write.
    threading.Thread(target=_drain, args=(proc.stdout, server.lines), daemon=True).start()
    return server


def _drain(stream: IO[str], lines: list[str]) -> None:
    for line in stream:
        if len(lines) < 100_000:
            lines.append(line)


ERIN = ("erin", "erins pass 1", "org_publisher")
FRANK = ("frank", "franks pass 1", "org_user")


def start_with_users(data_dir: Path, *users: tuple[str, str, str],
                     env: dict[str, str] | None = None) -> Server:
    """A server on a new database that already has ``users`` ((name, password, role)…), with
    ``admin`` signing in with "admin pass 1"."""
    from gistasks.services.users import UserService
    from gistasks.store import Store

    store = Store(f"sqlite:///{data_dir / 'gistasks.db'}")
    store.migrate()
    service = UserService(store)
    for name, password, role in users:
        service.add(name, password, role=role)
    store.close()
    return start_server(data_dir, env={"GISTASKS_ADMIN_PASSWORD": "admin pass 1", **(env or {})})


def token(server: Server, user: str, password: str) -> str:
    """A token of ``user`` from ``generateToken``."""
    return str(httpx.post(f"{server.url}/sharing/rest/generateToken", verify=False, data={
        "username": user, "password": password, "f": "json"}).json()["token"])


def stop(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


EVERY_MINUTE = {"minute": "*/1", "hour": "*", "dayOfMonth": "*", "month": "*",
                "dayOfWeek": "?"}
"""The cron fields of a task that fires every minute."""


def from_tomorrow() -> dict[str, str]:
    """A ``startDate`` a day ahead: the task has no scheduled fire during a test, so a
    test that counts runs sees only the ones it asked for with runNow."""
    return {"startDate": str(int(time.time() * 1000) + 86_400_000)}
