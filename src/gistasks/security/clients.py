"""Who a client is, for the bounds kept per client: an IPv4 address, or an IPv6 /64 (one
subscriber's network, which hands its host any address in it)."""

from __future__ import annotations

import ipaddress


def client_key(address: str | None) -> str:
    """The key of a client address: itself for IPv4 (and anything unreadable), its /64
    network for IPv6 (an IPv4-mapped IPv6 address counts as the IPv4 address)."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
