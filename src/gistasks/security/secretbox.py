"""Secrets in task parameters: encrypted at rest, never shown.

A parameter whose key names a secret (``passcode``, ``password``, ``secret``, ``token``,
``apiKey``, ``credentials``…, at any depth) is stored as ``"{crypt}<AES-256-GCM ciphertext>"``
under the deployment's key (``<data dir>/secret-key``, shared by a cluster's nodes), shown as
``"********"`` in every answer, and decrypted only to hand it to the executor of a run.

A client that reads a task and sends its parameters back (the official client does so on every
``Task.update``) sends the mask: a masked value means "unchanged" and keeps the stored secret.
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
PREFIX = "{crypt}"
_SECRET_KEY = re.compile(
    r"passcode|password|passwd|secret|token|api_?key|credentials?|private_?key", re.I)


class SecretError(ValueError):
    """A secret that cannot be stored or opened; the message says which and why."""


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


class SecretBox:
    """Encrypts and decrypts the secret values of task parameters."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key[:32])

    @classmethod
    def for_directory(cls, directory: Path) -> SecretBox:
        return cls(load_key(directory, "secret-key"))

    def _encrypt(self, value: Any) -> str:
        nonce = os.urandom(12)
        data = self._aead.encrypt(nonce, json.dumps(value).encode(), PREFIX.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + data).decode()

    def _decrypt(self, sealed: str) -> Any:
        try:
            raw = base64.urlsafe_b64decode(sealed[len(PREFIX):].encode())
            return json.loads(self._aead.decrypt(raw[:12], raw[12:], PREFIX.encode()))
        except (InvalidTag, ValueError) as exc:
            raise SecretError("a stored secret cannot be decrypted with this deployment's "
                              "secret-key") from exc

    def seal(self, parameters: Any, previous: Any = None) -> Any:
        """``parameters`` with every secret value encrypted. A masked value takes the
        ``previous`` (stored, sealed) value at the same place; a mask with nothing stored there
        is an error."""
        return self._walk_seal(parameters, previous, "parameters")

    def _walk_seal(self, value: Any, previous: Any, path: str) -> Any:
        if isinstance(value, dict):
            prev = previous if isinstance(previous, dict) else {}
            out: dict[str, Any] = {}
            for k, v in value.items():
                here = f"{path}.{k}"
                if is_secret_key(str(k)) and not isinstance(v, (dict, list)):
                    out[k] = self._seal_value(v, prev.get(k), here)
                else:
                    out[k] = self._walk_seal(v, prev.get(k), here)
            return out
        if isinstance(value, list):
            prev_list = previous if isinstance(previous, list) else []
            return [self._walk_seal(v, prev_list[i] if i < len(prev_list) else None,
                                    f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    def _seal_value(self, value: Any, previous: Any, path: str) -> Any:
        if value is None or value == "":
            return value
        if isinstance(value, str) and value in (MASK, PREFIX + MASK):
            if isinstance(previous, str) and previous.startswith(PREFIX):
                return previous
            raise SecretError(f"'{path}' is the mask {MASK!r} but no secret is stored there; "
                              "send the secret itself")
        if isinstance(value, str) and value.startswith(PREFIX):
            self._decrypt(value)  # only a ciphertext of ours is kept as it is
            return value
        return self._encrypt(value)

    def open(self, parameters: Any) -> Any:
        """``parameters`` with every encrypted value decrypted (for the executor of a run)."""
        if isinstance(parameters, dict):
            return {k: self.open(v) for k, v in parameters.items()}
        if isinstance(parameters, list):
            return [self.open(v) for v in parameters]
        if isinstance(parameters, str) and parameters.startswith(PREFIX):
            return self._decrypt(parameters)
        return parameters


def mask(parameters: Any) -> Any:
    """``parameters`` as shown to anyone: every secret value (sealed or not) is ``********``."""
    if isinstance(parameters, dict):
        return {k: (MASK if is_secret_key(str(k)) and v not in (None, "")
                    and not isinstance(v, (dict, list)) else mask(v))
                for k, v in parameters.items()}
    if isinstance(parameters, list):
        return [mask(v) for v in parameters]
    if isinstance(parameters, str) and parameters.startswith(PREFIX):
        return MASK
    return parameters

