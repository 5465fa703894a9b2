"""The HTTP protocol under the application, with the bounds a hostile client meets first.

uvicorn's httptools protocol, plus:

* **headers**: the request line and headers may take ``max_header_bytes``; a client that sends
  more before the headers end gets 431 and is disconnected (httptools would buffer them all);
* **time**: the TLS handshake must be done ``header_timeout_s`` after the connection; the
  headers must be complete ``header_timeout_s`` after the handshake (or after a request's first
  byte), the body ``body_timeout_s`` after the headers; a client that sends nothing, or
  trickles, gets 408 and is disconnected (uvicorn's keep-alive timeout closes a connection idle
  between requests);
* **connections**: at most ``max_connections`` open at once, at most
  ``max_connections_per_client`` from one client (an IPv4 address, an IPv6 /64); more are
  closed at once.

The body's size and the number of fields are bounded where the body is read (``api/forms.py``),
which answers in the API's envelopes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gistasks.config import HttpLimits
from gistasks.security.clients import client_key

log = logging.getLogger("gistasks.http")

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def guarded_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """A protocol class bound to ``limits`` (one per server: it counts its connections)."""
    per_client: Counter[str] = Counter()

    class GuardedProtocol(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None
        _awaiting_headers = True
        _header_bytes = 0
        _counted: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = client_key(self.client[0] if self.client else "")
            if (len(self.connections) > limits.max_connections
                    or per_client[host] >= limits.max_connections_per_client):
                log.warning("refused a connection from %s: too many open connections", host)
                transport.abort()
                return
            per_client[host] += 1
            self._counted = host
            self._arm(limits.header_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._counted is not None:
                per_client[self._counted] -= 1
                if per_client[self._counted] <= 0:
                    del per_client[self._counted]
                self._counted = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._awaiting_headers:
                self._header_bytes += len(data)
            super().data_received(data)
            if self._awaiting_headers and self._header_bytes > limits.max_header_bytes:
                self._refuse(431, "The request line and headers are larger than this server "
                                  f"takes ({limits.max_header_bytes} bytes).")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._awaiting_headers = True
            if self._timer is None:
                self._arm(limits.header_timeout_s)

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            self._header_bytes = 0
            self._arm(limits.body_timeout_s)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            # The request is read to its end: what comes next is the next request's headers
            # (timed from its first byte, see on_message_begin).
            self._disarm()
            self._awaiting_headers = True
            self._header_bytes = 0
            super().on_message_complete()

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._timed_out)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _timed_out(self) -> None:
            self._timer = None
            what = "headers" if self._awaiting_headers else "body"
            self._refuse(408, f"The request's {what} did not arrive in time.")

        def _refuse(self, status: int, message: str) -> None:
            """Answer ``status`` (if no answer began) and disconnect."""
            if self.transport.is_closing():
                return
            host = self.client[0] if self.client else "?"
            log.warning("closed a connection from %s: %s", host, message)
            cycle: Any = self.cycle
            if cycle is None or cycle.response_complete or not cycle.response_started:
                body = json.dumps({"error": {"code": status, "message": message,
                                             "details": []}}).encode()
                self.transport.write(
                    b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                    % (status, REASONS[status], len(body), body))
            if cycle is not None:
                cycle.disconnected = True
                cycle.message_event.set()
            self.transport.close()

    return GuardedProtocol


SSL_SHUTDOWN_TIMEOUT_S = 2.0


class GuardedServer(uvicorn.Server):
    """uvicorn's server with bounds on TLS handshakes and shutdowns: asyncio and uvloop would
    wait 60 s for a client that connects and never finishes a handshake (such a connection is
    not the protocol's yet, so its timers and caps do not see it), and 30 s at a stop for each
    keep-alive client that does not answer the server's close."""

    def __init__(self, config: uvicorn.Config, handshake_timeout_s: float) -> None:
        super().__init__(config)
        self.handshake_timeout_s = handshake_timeout_s

    async def startup(self, sockets: Any = None) -> None:
        loop: Any = asyncio.get_running_loop()
        create_server = loop.create_server

        async def bounded(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("ssl") is not None:
                kwargs.setdefault("ssl_handshake_timeout", self.handshake_timeout_s)
                # Closing waits for the client's close_notify; an idle keep-alive client
                # sends none, and a stop would wait 30 s for each.
                kwargs.setdefault("ssl_shutdown_timeout", SSL_SHUTDOWN_TIMEOUT_S)
            return await create_server(*args, **kwargs)

        loop.create_server = bounded
        try:
            await super().startup(sockets)
        finally:
            del loop.create_server
