"""The key a client is counted under: its IPv4 address, or its IPv6 /64."""

from __future__ import annotations

from gistasks.security.clients import client_key


def test_an_ipv4_address_is_its_own_key() -> None:
    assert client_key("10.0.0.7") == "10.0.0.7"


def test_every_address_of_an_ipv6_64_counts_as_one_client() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") \
        == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")


def test_an_ipv4_mapped_address_counts_as_the_ipv4_address() -> None:
    assert client_key("::ffff:10.0.0.7") == "10.0.0.7"


def test_what_is_not_an_address_keys_itself() -> None:
    assert client_key(None) == "?" and client_key("testclient") == "testclient"
