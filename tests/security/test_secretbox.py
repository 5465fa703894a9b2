"""Secrets in task parameters: sealed at rest, masked when shown, opened for executors."""

from __future__ import annotations

import json
import os

import pytest

from gistasks.security.secretbox import LEGACY_PREFIX, MASK, SecretBox, SecretError, mask


def test_secrets_at_any_depth_are_sealed_and_open_to_the_original_values() -> None:
    box = SecretBox(os.urandom(32))
    given = {"passcode": "s3cret", "storeName": "default",
             "auth": {"password": "pw", "user": "u"}, "keys": [{"apiKey": 42}]}
    sealed = box.seal(given)
    text = json.dumps(sealed)
    assert "s3cret" not in text and '"pw"' not in text and sealed["storeName"] == "default"
    assert sealed["auth"]["user"] == "u" and sealed["passcode"].startswith("{crypt2}")
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


@pytest.mark.parametrize("value", [{"pass": "x"}, ["x", "y"], 42, True, {"nested": [{"a": 1}]}])
def test_the_whole_value_under_a_secret_key_is_sealed_whatever_its_type(value: object) -> None:
    box = SecretBox(os.urandom(32))
    for key in ("credentials", "passcode", "passwords"):
        sealed = box.seal({key: value}, binding="task-1")
        assert isinstance(sealed[key], str) and sealed[key].startswith("{crypt2}")
        assert mask(sealed) == {key: MASK} == mask({key: value})
        assert box.open(sealed, "task-1") == {key: value}


def test_a_sealed_value_opens_only_in_its_own_task_and_place() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal({"passcode": "x", "other": {"passcode": "y"}}, binding="task-1")
    with pytest.raises(SecretError, match="sealed for another task or place"):
        box.open(sealed, "task-2")
    moved = {"passcode": sealed["other"]["passcode"]}
    with pytest.raises(SecretError, match=r"parameters\.passcode"):
        box.open(moved, "task-1")
    with pytest.raises(SecretError):  # sent back by a client into another task
        box.seal({"passcode": sealed["passcode"]}, binding="task-2")
    assert box.seal({"passcode": sealed["passcode"]}, binding="task-1") != sealed["passcode"]


def test_values_sealed_before_binding_still_open_and_are_sealed_anew_bound() -> None:
    key = os.urandom(32)
    box = SecretBox(key)
    legacy = legacy_seal(key, "old secret")
    stored = {"passcode": legacy, "credentials": {"pass": "in clear"}, "name": "n",
              "login": {"password": legacy_seal(key, "nested old")}}
    assert box.open(stored, "task-1")["passcode"] == "old secret"
    upgraded = box.reseal(stored, "task-1")
    assert upgraded["passcode"].startswith("{crypt2}") and upgraded["name"] == "n"
    assert upgraded["credentials"].startswith("{crypt2}")
    assert upgraded["login"]["password"].startswith("{crypt2}")
    assert box.open(upgraded, "task-1") == {"passcode": "old secret",
                                           "credentials": {"pass": "in clear"}, "name": "n",
                                           "login": {"password": "nested old"}}
    credentials = {"credentials": {"password": legacy_seal(key, "inside a secret")}}
    assert box.open(box.reseal(credentials, "task-1"), "task-1") == {
        "credentials": {"password": "inside a secret"}}
    assert box.reseal(upgraded, "task-1") == upgraded  # nothing left to do
    with pytest.raises(SecretError):
        box.open(upgraded, "task-2")


def legacy_seal(key: bytes, value: str) -> str:
    """A value as the server sealed it before binding: the prefix was the associated data."""
    import base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    data = AESGCM(key).encrypt(nonce, json.dumps(value).encode(), LEGACY_PREFIX.encode())
    return LEGACY_PREFIX + base64.urlsafe_b64encode(nonce + data).decode()
