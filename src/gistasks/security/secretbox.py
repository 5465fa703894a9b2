"""Secrets in task parameters: encrypted at rest, bound to their place, never shown.

The whole value under a key that names a secret (``passcode``, ``password``, ``secret``,
``token``, ``apiKey``, ``credentials``…, at any depth, whatever the value: text, a number, an
object, a list) is stored as ``"{crypt2}<AES-256-GCM ciphertext>"`` under the deployment's key
(``<data dir>/secret-key``, shared by a cluster's nodes). The ciphertext is bound to its task
and to its place in the parameters (the associated data), so a sealed value copied into
another task, or to another place, does not open. It is shown as ``"********"`` in every
answer and opened only to hand it to the executor of a run.

A client that reads a task and sends its parameters back (the official client does so on every
``Task.update``) sends the mask: a masked value means "unchanged" and keeps the stored secret.

Values sealed before the binding existed (``"{crypt}…"``) still open, and are sealed anew,
bound, the next time their task's parameters are written.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gistasks.security.keys import load_key

MASK = "********"
PREFIX = "{crypt2}"
LEGACY_PREFIX = "{crypt}"
"""Values sealed before binding: associated data is the prefix itself."""
SECRET_WORDS = ("passcode", "password", "passwd", "secret", "token", "apikey", "api_key",
                "credential", "privatekey", "private_key")
"""What a key that names a secret contains (without regard to case)."""
_SECRET_KEY = re.compile("|".join(SECRET_WORDS), re.I)

Path_ = tuple[str | int, ...]


class SecretError(ValueError):
    """A secret that cannot be stored or opened; the message says which and why."""


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def _where(path: Path_) -> str:
    text = "parameters"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith((PREFIX, LEGACY_PREFIX))


class SecretBox:
    """Encrypts and decrypts the secret values of task parameters."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key[:32])

    @classmethod
    def for_directory(cls, directory: Path) -> SecretBox:
        return cls(load_key(directory, "secret-key"))

    @staticmethod
    def _bound_to(binding: str, path: Path_) -> bytes:
        return json.dumps(["gistasks-secret", binding, *path]).encode()

    def _encrypt(self, value: Any, binding: str, path: Path_) -> str:
        nonce = os.urandom(12)
        data = self._aead.encrypt(nonce, json.dumps(value).encode(),
                                  self._bound_to(binding, path))
        return PREFIX + base64.urlsafe_b64encode(nonce + data).decode()

    def _decrypt(self, sealed: str, binding: str, path: Path_) -> Any:
        legacy = not sealed.startswith(PREFIX)
        prefix = LEGACY_PREFIX if legacy else PREFIX
        aad = LEGACY_PREFIX.encode() if legacy else self._bound_to(binding, path)
        try:
            raw = base64.urlsafe_b64decode(sealed[len(prefix):].encode())
            return json.loads(self._aead.decrypt(raw[:12], raw[12:], aad))
        except (InvalidTag, ValueError) as exc:
            raise SecretError(f"the secret at '{_where(path)}' cannot be opened: it was "
                              "sealed for another task or place, or under another "
                              "deployment's secret-key") from exc

    def seal(self, parameters: Any, previous: Any = None, binding: str = "") -> Any:
        """``parameters`` with every secret value encrypted, bound to ``binding`` (the task's
        id) and its place. A masked value takes the ``previous`` (stored, sealed) value at
        the same place; a mask with nothing stored there is an error."""
        return self._walk_seal(parameters, previous, binding, ())

    def _walk_seal(self, value: Any, previous: Any, binding: str, path: Path_) -> Any:
        if isinstance(value, dict):
            prev = previous if isinstance(previous, dict) else {}
            return {k: (self._seal_value(v, prev.get(k), binding, (*path, k))
                        if is_secret_key(str(k))
                        else self._walk_seal(v, prev.get(k), binding, (*path, k)))
                    for k, v in value.items()}
        if isinstance(value, list):
            prev_list = previous if isinstance(previous, list) else []
            return [self._walk_seal(v, prev_list[i] if i < len(prev_list) else None, binding,
                                    (*path, i)) for i, v in enumerate(value)]
        return value

    def _seal_value(self, value: Any, previous: Any, binding: str, path: Path_) -> Any:
        if value is None or value == "":
            return value
        if value in (MASK, LEGACY_PREFIX + MASK):
            if is_sealed(previous):
                if previous.startswith(LEGACY_PREFIX):  # sealed before binding: bind it now
                    return self._encrypt(self._decrypt(previous, binding, path), binding, path)
                return previous
            raise SecretError(f"'{_where(path)}' is the mask {MASK!r} but no secret is stored "
                              "there; send the secret itself")
        if is_sealed(value):
            # Only a ciphertext of ours, for this very place, is kept as it is.
            return self._encrypt(self._decrypt(value, binding, path), binding, path)
        return self._encrypt(value, binding, path)

    def open(self, parameters: Any, binding: str = "") -> Any:
        """``parameters`` with every sealed value decrypted (for the executor of a run)."""
        return self._walk_open(parameters, binding, ())

    def _walk_open(self, value: Any, binding: str, path: Path_) -> Any:
        if isinstance(value, dict):
            return {k: self._walk_open(v, binding, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk_open(v, binding, (*path, i)) for i, v in enumerate(value)]
        if is_sealed(value):
            return self._decrypt(value, binding, path)
        return value

    def reseal(self, parameters: Any, binding: str) -> Any:
        """``parameters`` as this version stores them: every value under a secret key sealed
        whole and bound. A bound value is kept as it is; anything else there (a legacy,
        unbound ciphertext, a value in clear, an object holding legacy ciphertexts) is opened
        and sealed anew."""
        return self._walk_reseal(parameters, binding, ())

    def _walk_reseal(self, value: Any, binding: str, path: Path_) -> Any:
        if isinstance(value, dict):
            return {k: (self._reseal_value(v, binding, (*path, k)) if is_secret_key(str(k))
                        else self._walk_reseal(v, binding, (*path, k)))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk_reseal(v, binding, (*path, i)) for i, v in enumerate(value)]
        return value

    def _reseal_value(self, value: Any, binding: str, path: Path_) -> Any:
        if value is None or value == "" or (isinstance(value, str)
                                            and value.startswith(PREFIX)):
            return value
        return self._encrypt(self._walk_open(value, binding, path), binding, path)


def mask(parameters: Any) -> Any:
    """``parameters`` as shown to anyone: every secret value (sealed or not, whatever its
    type) is ``********``."""
    if isinstance(parameters, dict):
        return {k: (MASK if is_secret_key(str(k)) and v not in (None, "") else mask(v))
                for k, v in parameters.items()}
    if isinstance(parameters, list):
        return [mask(v) for v in parameters]
    if is_sealed(parameters):
        return MASK
    return parameters
