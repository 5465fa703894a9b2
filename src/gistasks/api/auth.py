"""Who is calling: the four ArcGIS token transports, verified against the user store.

``X-Esri-Authorization: Bearer <t>``, ``Authorization: Bearer <t>``, ``token=`` in the query
string or in the form body. A missing token is 499, an unknown, expired, revoked or wrongly
bound one 498, as ArcGIS answers.
"""

from __future__ import annotations

import os
import time

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.requests import Request

from gistasks.api.render import ApiError
from gistasks.store import UserRecord
from gistasks.tokens import TokenError, read, referer_matches


def token_from(request: Request, values: dict[str, str]) -> str | None:
    for header in ("x-esri-authorization", "authorization"):
        value = request.headers.get(header, "")
        if value.lower().startswith("bearer "):
            return value[7:].strip() or None
    return values.get("token") or None


def current_user(request: Request, values: dict[str, str],
                 required: bool = True) -> UserRecord | None:
    """The caller's user, None for an anonymous call that ``required`` allows."""
    token = token_from(request, values)
    if token is None:
        if required:
            raise ApiError(499, "Token Required")
        return None
    state = request.app.state
    try:
        claims = read(state.token_key, token, time.time_ns() // 1_000_000)
    except TokenError as exc:
        raise ApiError(exc.code, str(exc)) from None
    user: UserRecord | None = state.store.get_user(claims.username)
    if user is None or user.disabled or user.credentials_version != claims.version:
        raise ApiError(498, "Invalid token.")
    if claims.referer is not None and not referer_matches(
            claims.referer, request.headers.get("referer") or values.get("referer")):
        raise ApiError(498, "Invalid token.", ["The token is bound to another referer."])
    if claims.ip is not None and (request.client is None or request.client.host != claims.ip):
        raise ApiError(498, "Invalid token.", ["The token is bound to another IP address."])
    return user


async def authenticate(request: Request, username: str, password: str) -> UserRecord | None:
    """``UserService.authenticate`` off the event loop: an argon2id check takes ~0.2 s of CPU
    and 64 MiB, so it runs in a worker thread (other requests go on meanwhile), at most one
    per core at a time (a burst of sign-ins queues instead of exhausting memory)."""
    state = request.app.state
    limiter: CapacityLimiter | None = getattr(state, "password_checks", None)
    if limiter is None:  # made on first use: a limiter belongs to the running event loop
        limiter = state.password_checks = CapacityLimiter(os.cpu_count() or 1)
    user: UserRecord | None = await anyio.to_thread.run_sync(
        state.users.authenticate, username, password, limiter=limiter)
    return user


FORBIDDEN = "You do not have permissions to access this resource or perform this operation."


def acting_for(request: Request, values: dict[str, str], username: str) -> UserRecord:
    """The user named in the path, after checking the caller is that user or an org admin.

    An unknown user is 400 "does not exist or is inaccessible", as ArcGIS says it; someone
    else's is 403.
    """
    caller = current_user(request, values)
    assert caller is not None
    target: UserRecord | None = (caller if caller.username.lower() == username.lower()
                                 else request.app.state.store.get_user(username))
    if target is None:
        raise ApiError(400, f"User '{username}' does not exist or is inaccessible.")
    if caller.username.lower() != target.username.lower() and caller.role != "org_admin":
        raise ApiError(403, FORBIDDEN)
    return target


def org_admin(request: Request, values: dict[str, str]) -> UserRecord:
    """The caller, who must be an org admin (the default administrator role): 499 without a
    token, 498 with a bad one, 403 for anybody else."""
    caller = current_user(request, values)
    assert caller is not None
    if caller.role != "org_admin":
        raise ApiError(403, FORBIDDEN)
    return caller
