"""Secrets in task parameters: sealed at rest, masked when shown, opened for executors."""

from __future__ import annotations

import json
import os

import pytest

from gistasks.security.secretbox import MASK, SecretBox, SecretError, mask


def test_secrets_at_any_depth_are_sealed_and_open_to_the_original_values() -> None:
    box = SecretBox(os.urandom(32))
    given = {"passcode": "s3cret", "storeName": "default",
             "auth": {"password": "pw", "user": "u"}, "keys": [{"apiKey": 42}]}
    sealed = box.seal(given)
    text = json.dumps(sealed)
    assert "s3cret" not in text and '"pw"' not in text and sealed["storeName"] == "default"
    assert sealed["auth"]["user"] == "u" and sealed["passcode"].startswith("{crypt}")
    assert box.open(sealed) == given


def test_shown_parameters_mask_every_secret() -> None:
    box = SecretBox(os.urandom(32))
    shown = mask(box.seal({"passcode": "s3cret", "name": "n", "token": ""}))
    assert shown == {"passcode": MASK, "name": "n", "token": ""}


def test_the_mask_sent_back_keeps_the_stored_secret_and_a_new_value_replaces_it() -> None:
    box = SecretBox(os.urandom(32))
    stored = box.seal({"passcode": "first"})
    kept = box.seal({"passcode": MASK}, stored)
    assert kept == stored
    assert box.seal({"passcode": "{crypt}********"}, stored) == stored
    assert box.open(box.seal({"passcode": "second"}, stored)) == {"passcode": "second"}


def test_a_mask_where_nothing_is_stored_is_an_error() -> None:
    with pytest.raises(SecretError, match="no secret is stored"):
        SecretBox(os.urandom(32)).seal({"passcode": MASK})


def test_ciphertext_from_another_key_or_tampered_is_refused() -> None:
    sealed = SecretBox(os.urandom(32)).seal({"passcode": "x"})
    with pytest.raises(SecretError):
        SecretBox(os.urandom(32)).open(sealed)
    with pytest.raises(SecretError):
        SecretBox(os.urandom(32)).seal(sealed)  # a foreign {crypt} value is not kept blindly
