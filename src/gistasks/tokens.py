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
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MINUTES = 60
MAX_MINUTES = 20160  # two weeks


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


def load_key(directory: Path, name: str = "token-key") -> bytes:
    """A 32-byte deployment key (the token signing key by default), created 0600 on first use."""
    path = directory / name
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


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
    payload, _, mac = blob.strip().partition(".")
    if not payload or not mac or len(blob) > 4096:
        raise TokenError("Invalid token.")
    if not hmac.compare_digest(_mac(key, prefix + payload), mac):
        raise TokenError("Invalid token.")
    try:
        data = json.loads(_unb64(payload))
    except ValueError:
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
    try:
        claims = TokenClaims(str(data["u"]), int(data["v"]), int(data["e"]), data.get("r"),
                             data.get("i"))
    except (ValueError, KeyError, TypeError):
        raise TokenError("Invalid token.") from None
    if claims.expires <= now_ms:
        raise TokenError("Invalid token.")  # ArcGIS answers 498 for expired tokens too
    return claims


def referer_matches(bound: str, given: str | None) -> bool:
    """Lenient referer matching: the official client sends "" or "http" with every request."""
    if not given:
        return False
    return given == bound or given.rstrip("/").startswith(bound.rstrip("/"))


def seal(key: bytes, purpose: str, data: dict[str, object]) -> str:
    """Sign ``data`` for one ``purpose`` (OAuth states, codes, refresh tokens)."""
    return _signed(key, data, f"{purpose}:")


def unseal(key: bytes, purpose: str, blob: str) -> dict[str, object]:
    """The data of a blob sealed for ``purpose``; raises TokenError if it was not."""
    return _opened(key, blob, f"{purpose}:")
