"""Signed tokens and sealed blobs: what verifies, and everything that does not."""

from __future__ import annotations

import os

import pytest

from gistasks.security.tokens import (
    TokenClaims,
    TokenError,
    issue,
    read,
    referer_matches,
    seal,
    unseal,
)

KEY = os.urandom(32)
NOW = 1_800_000_000_000


def claims(**changes: object) -> TokenClaims:
    values: dict[str, object] = {"username": "alice", "version": 3, "expires": NOW + 60_000,
                                 "referer": None, "ip": None, **changes}
    return TokenClaims(**values)  # type: ignore[arg-type]


def test_a_token_reads_back_as_the_claims_it_was_issued_with() -> None:
    original = claims(referer="https://maps.example.org", ip="10.0.0.1")
    assert read(KEY, issue(KEY, original), NOW) == original


def test_two_tokens_for_the_same_claims_differ() -> None:
    assert issue(KEY, claims()) != issue(KEY, claims())


def test_an_expired_token_is_invalid() -> None:
    token = issue(KEY, claims(expires=NOW))
    with pytest.raises(TokenError) as caught:
        read(KEY, token, NOW)
    assert caught.value.code == 498


@pytest.mark.parametrize("forge", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
    lambda t: "x" + t,  # another payload
    lambda t: t.replace(".", ""),  # no signature
    lambda t: t + "é",  # not ASCII
    lambda t: t * 40,  # far too long
    lambda t: "",
])
def test_a_tampered_token_is_invalid(forge: object) -> None:
    with pytest.raises(TokenError):
        read(KEY, forge(issue(KEY, claims())), NOW)  # type: ignore[operator]


def test_a_token_of_another_deployment_is_invalid() -> None:
    with pytest.raises(TokenError):
        read(os.urandom(32), issue(KEY, claims()), NOW)


def test_a_sealed_blob_opens_only_for_its_purpose() -> None:
    blob = seal(KEY, "oauth-code", {"u": "alice"})
    assert unseal(KEY, "oauth-code", blob) == {"u": "alice"}
    with pytest.raises(TokenError):
        unseal(KEY, "oauth-refresh", blob)
    with pytest.raises(TokenError):
        read(KEY, blob, NOW)  # nor as an access token


def test_the_official_clients_referer_word_must_come_back_exactly() -> None:
    assert referer_matches("http", "http")
    assert not referer_matches("http", None)
    assert not referer_matches("http", "")


def test_same_origin_compares_scheme_host_and_port_with_default_ports_filled_in() -> None:
    from gistasks.security.tokens import same_origin

    assert same_origin("https://GIS.example/arcgis/x", ["https://gis.example:443/arcgis"])
    assert not same_origin("https://gis.example.evil.com/x", ["https://gis.example"])
    assert not same_origin("http://gis.example/x", ["https://gis.example"])
    assert not same_origin("https://gis.example:8443/x", ["https://gis.example"])
    assert not same_origin("not a url", ["https://gis.example"])
