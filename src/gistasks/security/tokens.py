"""Access tokens: signed, expiring, revocable, optionally bound to a referer or an IP address.

A token is ``<payload>.<signature>``: the payload (user, credentials version, expiry, binding,
a nonce) in URL-safe base64 JSON, the signature an HMAC-SHA256 under the deployment's key
(``<data dir>/token-key``, shared by the nodes of a cluster). Nothing is stored per token, so
any node verifies any token; a password change or disabling the user bumps the user's
credentials version, which revokes every token issued before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gistasks.config import MAX_TOKEN_MINUTES

DEFAULT_MINUTES = 60
MAX_MINUTES = MAX_TOKEN_MINUTES
MAX_TOKEN_LENGTH = 4096


class TokenError(Exception):
    """A token that cannot be used; ``code`` is the ArcGIS code (498 invalid or expired)."""

    def __init__(self, message: str, code: int = 498) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class TokenClaims:
    username: str
    version: int
    expires: int  # epoch ms
    referer: str | None
    ip: str | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, text: str) -> str:
    return _b64(hmac.new(key, text.encode(), hashlib.sha256).digest())


def _signed(key: bytes, data: dict[str, object], prefix: str = "") -> str:
    """``payload.mac``: the JSON of ``data``, signed with ``prefix`` before it."""
    payload = _b64(json.dumps(data, separators=(",", ":")).encode())
    return f"{payload}.{_mac(key, prefix + payload)}"


def _opened(key: bytes, blob: str, prefix: str = "") -> dict[str, Any]:
    """The data of a blob made by ``_signed`` with the same key and prefix; raises
    TokenError (498) for anything else."""
    if len(blob) > MAX_TOKEN_LENGTH:
        raise TokenError("Invalid token.")
    payload, _, mac = blob.strip().partition(".")
    if not payload or not mac:
        raise TokenError("Invalid token.")
    if not hmac.compare_digest(_mac(key, prefix + payload).encode(), mac.encode()):
        raise TokenError("Invalid token.")
    try:
        data = json.loads(_unb64(payload))
    except (ValueError, RecursionError):
        raise TokenError("Invalid token.") from None
    if not isinstance(data, dict):
        raise TokenError("Invalid token.")
    return data


def issue(key: bytes, claims: TokenClaims) -> str:
    return _signed(key, {"u": claims.username, "v": claims.version, "e": claims.expires,
                         "r": claims.referer, "i": claims.ip, "n": secrets.token_hex(8)})


def read(key: bytes, token: str, now_ms: int) -> TokenClaims:
    """The claims of a well-signed, unexpired token; raises TokenError (498) otherwise."""
    data = _opened(key, token)
    user, version, expires = data.get("u"), data.get("v"), data.get("e")
    referer, ip = data.get("r"), data.get("i")
    # Only what issue() writes is a token: a well-signed blob of any other shape (a key
    # leaked to someone who signs an expiry of 1e400, say) is as invalid as a forged one.
    if not (isinstance(user, str) and isinstance(version, int) and isinstance(expires, int)
            and not isinstance(version, bool) and not isinstance(expires, bool)
            and isinstance(referer, str | None) and isinstance(ip, str | None)):
        raise TokenError("Invalid token.")
    claims = TokenClaims(user, version, expires, referer, ip)
    if claims.expires <= now_ms:
        raise TokenError("Invalid token.")  # ArcGIS answers 498 for expired tokens too
    return claims


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, the port filled in; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def same_origin(url: str, origins: Iterable[str]) -> bool:
    """Whether ``url`` is at one of ``origins`` (URLs, any path), compared as :func:`origin`
    does: scheme, host and port, default ports filled in, case aside."""
    found = origin(url)
    return found is not None and any(origin(o) == found for o in origins)


def referer_matches(bound: str, given: str | None) -> bool:
    """Whether a request's referer satisfies a token bound to ``bound``.

    A URL binds its origin exactly: scheme, host and port (``https://good.example`` is not
    ``https://good.example.evil.com``, nor ``http://good.example``); any path is allowed
    under it. Anything else (the official client binds its tokens to the bare word ``http``
    and sends ``Referer: http``) must be sent back exactly."""
    if not given:
        return False
    want = origin(bound)
    if want is None:
        return given.strip() == bound.strip()
    return origin(given) == want


def seal(key: bytes, purpose: str, data: dict[str, object]) -> str:
    """Sign ``data`` for one ``purpose`` (OAuth states, codes, refresh tokens)."""
    return _signed(key, data, f"{purpose}:")


def unseal(key: bytes, purpose: str, blob: str) -> dict[str, object]:
    """The data of a blob sealed for ``purpose``; raises TokenError if it was not."""
    return _opened(key, blob, f"{purpose}:")
