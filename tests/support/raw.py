"""Raw TLS connections to a test server, for what an HTTP library will not send: unfinished
headers, trickled bodies, idle connections."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def connect(port: int, timeout: float = 10.0) -> ssl.SSLSocket:
    """A TLS connection to 127.0.0.1:``port``, handshake done."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return tls_context().wrap_socket(raw, server_hostname="127.0.0.1")


def read_all(conn: ssl.SSLSocket, limit: int = 1 << 20) -> bytes:
    """What the server sends until it closes the connection (or ``limit`` bytes)."""
    data = b""
    try:
        while len(data) < limit:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ssl.SSLError, OSError):
        pass
    return data


def closed_by_server(conn: ssl.SSLSocket) -> bool:
    """Whether the server has closed the connection (a read gets end of file)."""
    try:
        return conn.recv(1) == b""
    except (ssl.SSLError, ConnectionError):
        return True
    except TimeoutError:
        return False


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")
