"""Typed dependencies: what a route handler is handed.

``CallDep`` gives a handler its :class:`Call`: the request's parameters (typed, for the
parameters its endpoint declares), the answer format, the deployment's services and settings,
and the caller. The services come from the application, typed; nothing reaches past them to
the store.

A token in a header or the query string is verified before the body is read, so a request
with a bad token costs the server no body; a token in the body is verified once it is read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Depends
from starlette.requests import Request

from gistasks.api.forms import BodyBudget, StagedFile, read_upload, read_values, require_token
from gistasks.api.headers import when_done
from gistasks.api.pages import COOKIE, CSRF_FIELD, SESSION_USER
from gistasks.api.params import F_JSON, TOKEN, F, Form, Text
from gistasks.api.render import ApiError, output_format
from gistasks.api.spec import Auth, Endpoint, endpoint_of
from gistasks.config import Settings
from gistasks.services import Services
from gistasks.services.auth import Identity
from gistasks.services.backups import RESTORE_UNAVAILABLE
from gistasks.services.errors import InvalidTokenError
from gistasks.store.records import UserRecord

T = TypeVar("T")
CSRF = Text(CSRF_FIELD, "A browser form's CSRF token (the session's; see `home/signin`).")


def settings_of(request: Request) -> Settings:
    """The server's settings."""
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def services_of(request: Request) -> Services:
    """The deployment's services (an application built without them answers 503)."""
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise ApiError(503, "This server was started without its services.")
    return services


def budget_of(request: Request) -> BodyBudget:
    budget = request.app.state.body_budget
    assert isinstance(budget, BodyBudget)
    return budget


def header_token(request: Request) -> str | None:
    """A token in ``X-Esri-Authorization: Bearer`` or ``Authorization: Bearer``."""
    for header in ("x-esri-authorization", "authorization"):
        value = request.headers.get(header, "")
        if value.lower().startswith("bearer "):
            return value[7:].strip() or None
    return None


def token_from(request: Request, values: dict[str, str]) -> str | None:
    """The token of the four ArcGIS transports: ``X-Esri-Authorization: Bearer``,
    ``Authorization: Bearer`` (a header wins), ``token=`` in the query or the body."""
    return header_token(request) or values.get("token") or None


@dataclass
class Call:
    """One request as a handler sees it."""

    request: Request
    form: Form
    f: str
    services: Services
    settings: Settings
    identity: Identity | None = None
    """The verified token, once verified."""
    session_user: UserRecord | None = None
    """The browser session's user, once identified by its cookie."""
    uploads: dict[str, StagedFile] | None = None
    """The files of an upload endpoint's request, by parameter name (removed when the
    request is over unless a handler moved them)."""

    def caller(self) -> UserRecord:
        """The signed-in caller (499 without a token, 498 with a bad one)."""
        user = self.caller_if_any(required=True)
        assert user is not None
        return user

    def caller_if_any(self, required: bool = False) -> UserRecord | None:
        """The signed-in caller, or None for an anonymous call. Without a token, a browser
        session's cookie stands for its user; a POST it stands for must carry the session's
        CSRF token (403 otherwise)."""
        auth = self.services.auth
        referer = self.request.headers.get("referer") or self.form.values.get("referer")
        if self.identity is None:
            token = token_from(self.request, self.form.values)
            if token is None:
                secret = self.request.cookies.get(COOKIE)
                if secret:
                    return self._session_user(secret, required)
                return auth.identify(None, referer=referer, client_ip=self.client_ip,
                                     required=required)
            self.identity = auth.verify(token)
        auth.check_binding(self.identity, referer=referer, client_ip=self.client_ip)
        return self.identity.user

    def _session_user(self, secret: str, required: bool) -> UserRecord | None:
        if self.session_user is None:
            try:
                user = self.services.browser.user(secret)
            except InvalidTokenError:
                if required:
                    raise
                return None  # a stale cookie on a page anyone may see: anonymous
            if self.request.method == "POST":
                check_csrf(self.services, secret, self.form.values)
            self.session_user = user
            setattr(self.request.state, SESSION_USER, user)  # the page needs it too
        return self.session_user

    def acting_for(self, username: str) -> UserRecord:
        """The user named in the path, when the caller is that user or an org admin."""
        return self.services.auth.acting_for(self.caller(), username)

    def org_admin(self) -> UserRecord:
        """The caller, who must be an org admin (403 for anybody else)."""
        return self.services.auth.require_org_admin(self.caller())

    @property
    def client_ip(self) -> str | None:
        return self.request.client.host if self.request.client else None

    async def off_loop(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``work(*args, **kwargs)`` in a worker thread, for what may take long (a cancel that
        stops a process, a purge). A submitJob stays on the loop: measured, the thread hop
        costs more than its short write (benchmarks/gp_bench.py)."""
        return await self._in_thread("off_loop", 32, work, *args, **kwargs)

    async def waiting_for_a_job(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``work(*args, **kwargs)``, which waits for a synchronous job to end (up to its
        service's time limit), in a worker thread of a pool of its own: however many
        clients wait, the threads of the other off-loop work stay free."""
        return await self._in_thread("job_waits", 64, work, *args, **kwargs)

    async def checking_passwords(self, work: Callable[..., T], *args: Any,
                                 **kwargs: Any) -> T:
        """``work(*args, **kwargs)``, which checks a password, off the event loop: an argon2id
        check takes ~0.2 s of CPU and 64 MiB, so it runs in a worker thread (other requests
        go on meanwhile), at most one per core at a time (a burst of sign-ins queues instead
        of exhausting memory)."""
        return await self._in_thread("password_checks", os.cpu_count() or 1, work, *args,
                                     **kwargs)

    async def _in_thread(self, pool: str, size: int, work: Callable[..., T], *args: Any,
                         **kwargs: Any) -> T:
        state = self.request.app.state
        limiter: CapacityLimiter | None = getattr(state, pool, None)
        if limiter is None:  # made on first use: a limiter belongs to the running event loop
            limiter = CapacityLimiter(size)
            setattr(state, pool, limiter)
        result: T = await anyio.to_thread.run_sync(partial(work, *args, **kwargs),
                                                   limiter=limiter)
        return result


def check_csrf(services: Services, secret: str, values: Mapping[str, str]) -> None:
    """403 unless ``values`` carry the CSRF token of the browser session ``secret``."""
    if not services.browser.check_csrf(secret, values.get(CSRF_FIELD)):
        raise ApiError(403, "Invalid or missing CSRF token",
                       [f"A form of a browser session must carry its '{CSRF_FIELD}'."])


def _upload_check(services: Services, request: Request) -> Callable[[Mapping[str, str]], None]:
    """Who may write an upload to the disk: a good token, or a live browser session whose
    form carries its CSRF token before its file."""
    secret = request.cookies.get(COOKIE)
    if secret and header_token(request) is None and not request.query_params.get("token"):
        def session(values: Mapping[str, str]) -> None:
            if values.get("token"):
                services.auth.verify(values["token"])
                return
            services.browser.user(secret)
            check_csrf(services, secret, values)

        return session
    return require_token(services.auth.verify)


def _open_while_restoring(path: str) -> bool:
    """What answers during a restore: how it goes (the recovery status, the admin jobs) and
    the sign-in the client needs to ask."""
    return (path.endswith("/disasterrecovery/status") or path.endswith("/backuprestore/status")
            or "/admin/jobs" in path or path.endswith("/generateToken"))


async def call(request: Request) -> Call:
    """The :class:`Call` of a request to a declared endpoint; the body's share of the budget
    is given back when the request is over (a plain dependency, not a generator: FastAPI's
    exit stacks for one cost a tenth of a job poll)."""
    services, settings = services_of(request), settings_of(request)
    if services.backups.restoring and not _open_while_restoring(request.url.path):
        raise ApiError(503, RESTORE_UNAVAILABLE)
    endpoint = endpoint_of(request.scope.get("endpoint"))
    identity = None
    early = header_token(request) or request.query_params.get("token") or None
    if endpoint is not None and endpoint.auth == Auth.REQUIRED and early is not None:
        identity = services.auth.verify(early)
    budget = budget_of(request)
    uploads: dict[str, StagedFile] = {}
    if endpoint is not None and endpoint.uploads:
        values, held, uploads = await read_upload(
            request, settings.http, budget, services.content.staging,
            settings.content.max_upload_bytes,
            None if identity is not None else _upload_check(services, request))
        if uploads:
            when_done(request.scope, partial(_remove, list(uploads.values())))
    else:
        values, held = await read_values(request, settings.http, budget)
    if held:
        when_done(request.scope, partial(budget.give, held))
    found = _call(request, values, endpoint, services, settings, identity, early)
    found.uploads = uploads
    return found


def _remove(files: list[StagedFile]) -> None:
    """Remove the staged files nobody took (a refused upload leaves nothing behind)."""
    for staged in files:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged.path)


def _call(request: Request, values: dict[str, str], endpoint: Endpoint | None,
          services: Services, settings: Settings, identity: Identity | None,
          early: str | None) -> Call:
    for key, value in values.items():
        if "\x00" in value or "\x00" in key:
            # PostgreSQL cannot store NUL in text; no ArcGIS parameter needs it.
            raise ApiError(400, f"Invalid '{key.replace(chr(0), '')}'",
                           ["Parameters may not contain NUL characters."])
    declared = None if endpoint is None else (*endpoint.params, F, F_JSON, TOKEN, CSRF)
    f = output_format(values, endpoint.default_format if endpoint else "html")
    if identity is not None and header_token(request) is None and values.get("token") != early:
        identity = None  # a token in the body wins over the query's: verify that one
    repeated = getattr(request.state, "repeated", None)
    return Call(request, Form(values, declared, repeated), f, services, settings, identity)


CallDep = Annotated[Call, Depends(call)]
