"""The security headers of every answer, added in one place (a pure ASGI middleware).

* ``Content-Security-Policy``: scripts, styles and requests only from this server (the
  pages' one script and one stylesheet; no inline script or style anywhere), no framing,
  forms only to this server; a page may widen ``form-action`` to where it redirects (the
  OAuth sign-in page, to the app's registered redirect).
* ``Strict-Transport-Security``, ``X-Frame-Options: DENY``, ``X-Content-Type-Options:
  nosniff``, ``Referrer-Policy: no-referrer`` (URLs can carry tokens).
* ``Cache-Control: no-store``: answers carry tokens and users' data; nothing is cached.

Being the outermost of the application's own layers, it also runs what a request asked to be
done once it is over, whatever happened (:func:`when_done`: the body budget given back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"strict-transport-security", b"max-age=31536000"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


DONE = "gistasks.when_done"


def when_done(scope: Scope, work: Callable[[], None]) -> None:
    """Run ``work`` when the request of ``scope`` is over (answered, failed or abandoned)."""
    scope.setdefault(DONE, []).append(work)


NO_SCRIPT = POLICY.replace("script-src 'self'", "script-src 'none'").replace(
    " connect-src 'self';", "")
"""The policy of a page that needs no script (the OAuth sign-in page)."""


def page_policy(form_target: str | None) -> str:
    """The policy of a script-less page whose form may also lead to ``form_target`` (an
    origin)."""
    return NO_SCRIPT if not form_target else f"{NO_SCRIPT} {form_target}"


class SecurityHeaders:
    """Adds the headers to every HTTP answer; a header the answer set itself is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in ((b"content-security-policy", POLICY.encode()), *HEADERS):
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            for work in scope.pop(DONE, ()):
                work()
