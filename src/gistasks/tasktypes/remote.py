"""What the task types that call services of an ArcGIS deployment share: bounded answers, the
GP job follower, sign-in, TLS, and the checks of the parameters they take.

Used by GPService (answers and the follower) and by ExecuteSceneCook, ExecuteWorkflowManager
and UpdateInsightsWorkbook (all of it). The contract:

* **Answers.** ``call`` reads at most ``MAX_ANSWER_BYTES`` of an answer and parses it as strict
  JSON (``gistasks.jsonsafe``); a larger or malformed answer is a ``JsonError``.
* **GP jobs.** ``follow_job`` polls ``<job>?f=json`` (``POLL_S`` apart, slower after ten
  seconds, up to ``MAX_POLL_S``) until the job ends, gives it up as lost after ``LOST_AFTER``
  unreadable answers in a row, and cancels it (``<job>/cancel``) when the run is stopped. The
  run's ``url`` is the job's URL.
* **Sign-in.** The parameters ``token`` (an ArcGIS token of the remote portal), or
  ``portalUrl`` with ``username`` and ``password`` (a token generated anew at every run by
  ``<portalUrl>/sharing/rest/generateToken``, ``client=referer``, valid for
  ``TOKEN_MINUTES``). ``token`` and ``password`` are sealed at rest like every secret of task
  parameters (``gistasks.security.secretbox``). The token travels only in the
  ``X-Esri-Authorization: Bearer`` header (the way ArcGIS recommends: never in a URL, a form
  field or a JSON body); a generated one with ``Referer: gistasks``, as ``client=referer``
  requires. No redirect is followed, so the header goes only to the URLs the task names. Every
  secret (of four characters or more) is masked in the result and URL a run records. No token
  of this deployment's users is ever minted for these calls: they go to other deployments.
* **TLS.** Certificates are verified against the system's authorities (OpenSSL's default
  paths, which honour ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``), plus the PEM certificates of
  the file that the environment variable ``GISTASKS_REMOTE_CA_FILE`` names, if set (a private
  CA of the deployments called; the tests' stand-in). It is read at every run.
* **Parameters.** URLs are ``https`` without credentials, query or fragment (``https_url``);
  integers may come as numbers or strings (``integer``); choices are matched without regard to
  case and normalised (``choice``); JSON values may come as objects or as JSON text
  (``json_value``); a key a type does not take is refused (``only``). Every error is a
  ``ValueError`` whose message names the parameter.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import ssl
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from gistasks import jsonsafe
from gistasks.jsonsafe import JsonError
from gistasks.security.secretbox import MASK
from gistasks.store.records import RunStatus
from gistasks.tasktypes.base import Outcome, RunContext, TaskType

if TYPE_CHECKING:
    import httpx

POLL_S = 1.0
"""The first polls are a second apart, then slower (up to ``MAX_POLL_S``)."""
MAX_POLL_S = 10.0
LOST_AFTER = 10
"""Consecutive failed polls after which the job is given up as lost."""
TIMEOUT_S = 30.0
MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""The largest answer read from a service (a job's JSON is a few kilobytes; a server that
sends more is not one)."""
FINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobTimedOut", "esriJobCancelled"}

JOB_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
"""A job id fit to be put in a URL (ArcGIS's are "j" and 32 hex digits)."""
INTEGER = re.compile(r"\s*[+-]?[0-9]{1,18}\s*")
"""An integer given as text."""
SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
"""An id put in a URL path (item ids, job template ids): no slash, no dot-segment."""

CA_FILE_ENV = "GISTASKS_REMOTE_CA_FILE"
PRIVATE_HOSTS_ENV = "GISTASKS_REMOTE_PRIVATE_HOSTS"
"""Hosts (names, addresses or networks, comma-separated; ``*``: any) on the loopback,
private, link-local or otherwise internal addresses that the remote types may call. None by
default: a task cannot make the server reach its own network (server-side request forgery)."""
AUTH_HEADER = "X-Esri-Authorization"
REFERER = "gistasks"
"""The referer a generated token is bound to, sent with every request that carries it."""
TOKEN_MINUTES = 24 * 60
"""The lifetime asked of a generated token: the longest run (a portal may grant less)."""
AUTH_KEYS = ("token", "portalUrl", "username", "password")
MAX_URL = 2048
GPLONG_MAX = 2**31 - 1


class RemoteError(Exception):
    """A remote service cannot be used for this run (unreachable, refused a sign-in, no
    trust); the message says which and why."""


# -- answers and GP jobs -----------------------------------------------------------------------


def form_text(value: Any) -> str:
    """A value as a form field: text as it is, booleans ``true``/``false``, None empty,
    anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


def read(client: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
    """The HTTP status and body of a request, reading at most ``MAX_ANSWER_BYTES``;
    JsonError for a larger answer."""
    with client.stream(method, url, **kwargs) as answer:
        data = bytearray()
        for chunk in answer.iter_bytes():
            data += chunk
            if len(data) > MAX_ANSWER_BYTES:
                raise JsonError(f"the answer is larger than {MAX_ANSWER_BYTES >> 20} MB")
        return answer.status_code, bytes(data)


def parse(data: bytes) -> Any:
    """An answer's body as strict JSON (JsonError if it is not)."""
    return jsonsafe.loads(data.decode("utf-8", "replace"), MAX_ANSWER_BYTES)


def call(client: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """The HTTP status and JSON answer of a request, reading at most ``MAX_ANSWER_BYTES``;
    JsonError for an answer that is larger or not strict JSON."""
    status, data = read(client, method, url, **kwargs)
    return status, parse(data)


def error_text(body: Any, limit: int = 2000) -> str:
    """What an ArcGIS error answer says (``{"error": {"message", "details"}}``), else the
    answer itself as JSON, cut at ``limit`` characters."""
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        details = [d for d in error.get("details") or [] if isinstance(d, str) and d]
        said = str(error["message"]) + (f" ({'; '.join(details)})" if details else "")
    else:
        said = json.dumps(error)
    return said[:limit]


def follow_job(client: httpx.Client, job_url: str, ctx: RunContext) -> Outcome:
    """Poll a GP job until it ends: ``succeeded`` with its result URLs, ``failed`` with its
    last error message, ``failed`` when it is lost or the run is stopped (the job is then
    cancelled). The outcome's URL is the job's."""
    import httpx

    wait, failures, status = POLL_S, 0, ""
    job: dict[str, Any] = {}
    started = time.monotonic()
    while status not in FINAL:
        if ctx.cancelled.wait(wait):
            with contextlib.suppress(httpx.HTTPError):
                client.get(f"{job_url}/cancel", params={"f": "json"})
            return Outcome(RunStatus.FAILED, "the run was stopped; its job was cancelled",
                           job_url)
        if time.monotonic() - started > 10:
            wait = min(MAX_POLL_S, wait * 1.5)
        try:
            _, found = call(client, "GET", job_url, params={"f": "json"})
        except (httpx.HTTPError, JsonError) as exc:
            failures += 1
            if failures >= LOST_AFTER:
                return Outcome(RunStatus.FAILED, f"the job was lost: {exc}", job_url)
            continue
        if not isinstance(found, dict) or "jobStatus" not in found:
            failures += 1
            if failures >= LOST_AFTER:
                return Outcome(RunStatus.FAILED, "the job was lost: "
                               f"{json.dumps(found)[:500]}", job_url)
            continue
        failures, job, status = 0, found, str(found["jobStatus"])
    if status == "esriJobSucceeded":
        results = job.get("results") or {}
        shown = ", ".join(f"{name}: {job_url}/{r.get('paramUrl', '')}"
                          for name, r in results.items() if isinstance(r, dict))
        return Outcome(RunStatus.SUCCEEDED, f"{status}" + (f"; results {shown}"
                                                          if shown else ""), job_url)
    errors = [m.get("description", "") for m in job.get("messages", [])
              if isinstance(m, dict) and m.get("type") == "esriJobMessageTypeError"]
    return Outcome(RunStatus.FAILED, f"{status}" + (f": {errors[-1]}" if errors else ""),
                   job_url)


# -- sign-in, TLS, one run's client ------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """How a run signs in to the remote deployment: a token, a user of a portal, or nothing
    (public services)."""

    token: str = ""
    portal_url: str = ""
    username: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def of(cls, parameters: dict[str, Any]) -> Credentials:
        """The credentials in parameters that ``auth_parameters`` accepted."""
        return cls(token=str(parameters.get("token") or ""),
                   portal_url=str(parameters.get("portalUrl") or ""),
                   username=str(parameters.get("username") or ""),
                   password=str(parameters.get("password") or ""))


def tls_context() -> ssl.SSLContext:
    """The system's authorities, plus those of ``GISTASKS_REMOTE_CA_FILE`` if it is set."""
    context = ssl.create_default_context()
    extra = os.environ.get(CA_FILE_ENV, "").strip()
    if extra:
        try:
            context.load_verify_locations(cafile=extra)
        except (OSError, ssl.SSLError) as exc:
            raise RemoteError(f"{CA_FILE_ENV}={extra!r} cannot be read as PEM certificates: "
                              f"{exc}") from None
    return context


class Remote:
    """One run's connection to the services it calls: an httpx client that verifies TLS,
    follows no redirect and carries the run's token, and the secrets to keep out of what the
    run records."""

    def __init__(self, credentials: Credentials) -> None:
        import httpx

        self.credentials = credentials
        self._secrets = [s for s in (credentials.token, credentials.password) if s]
        self.client = httpx.Client(verify=tls_context(), timeout=TIMEOUT_S,
                                   follow_redirects=False,
                                   event_hooks={"request": [refuse_internal]})

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()

    def sign_in(self) -> None:
        """Put the token on the client, generating it first if the run signs in as a user;
        RemoteError if the portal cannot be reached or refuses."""
        import httpx

        c = self.credentials
        if c.token:
            self.client.headers[AUTH_HEADER] = f"Bearer {c.token}"
            return
        if not c.username:
            return
        url = f"{c.portal_url}/sharing/rest/generateToken"
        form = {"username": c.username, "password": c.password, "client": "referer",
                "referer": REFERER, "expiration": str(TOKEN_MINUTES), "f": "json"}
        try:
            status, body = call(self.client, "POST", url, data=form)
        except (httpx.HTTPError, JsonError) as exc:
            raise RemoteError(f"generateToken at {url} failed: {exc}") from None
        token = body.get("token") if isinstance(body, dict) else None
        if status >= 400 or not isinstance(token, str) or not token or "error" in body:
            raise RemoteError(f"generateToken at {url} was refused (HTTP {status}): "
                              f"{error_text(body)}")
        self._secrets.append(token)
        self.client.headers["Referer"] = REFERER
        self.client.headers[AUTH_HEADER] = f"Bearer {token}"

    def scrub(self, outcome: Outcome) -> Outcome:
        """``outcome`` with every secret of the run masked in its result and URL."""
        result, url = outcome.result, outcome.url
        for secret in self._secrets:
            if len(secret) >= 4:
                result, url = result.replace(secret, MASK), url.replace(secret, MASK)
        return Outcome(outcome.status, result, url)


def _allowed_internal() -> list[str]:
    return [h.strip().lower() for h in os.environ.get(PRIVATE_HOSTS_ENV, "").split(",")
            if h.strip()]


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def refuse_internal(request: Any) -> None:
    """Before a request leaves: refuse a host that resolves to an internal address (loopback,
    private, link-local, reserved …) unless ``GISTASKS_REMOTE_PRIVATE_HOSTS`` names it, as an
    error that nothing was sent (the run is ``submitfailed``)."""
    import socket

    import httpx

    host = str(request.url.host).strip("[]").lower()
    allowed = _allowed_internal()
    if "*" in allowed or host in allowed:
        return
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(
            host, request.url.port or 443, type=socket.SOCK_STREAM)}
    except OSError as exc:
        raise httpx.ConnectError(f"{host} cannot be resolved: {exc}", request=request) from None
    for address in addresses:
        if not _internal(address):
            continue
        ip = ipaddress.ip_address(address.split("%")[0])
        if any(("/" in a and _in_network(ip, a)) or a == address for a in allowed):
            continue
        raise httpx.ConnectError(
            f"{host} is an internal address ({address}); this server calls internal hosts "
            f"only when {PRIVATE_HOSTS_ENV} names them", request=request)


def _in_network(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, network: str) -> bool:
    try:
        return ip in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


class RemoteTaskType(TaskType):
    """A type that calls another ArcGIS deployment. Each run checks its stored parameters
    again (a rule may have tightened since the task was made): a bad one is ``submitfailed``
    before anything is sent; the run itself is ``run``."""

    def execute(self, ctx: RunContext) -> Outcome:
        try:
            parameters = self.validate(dict(ctx.parameters))
        except ValueError as exc:
            return Outcome(RunStatus.SUBMITFAILED, f"the task's parameters are not valid: {exc}")
        return self.run(ctx, parameters)

    @abstractmethod
    def run(self, ctx: RunContext, parameters: dict[str, Any]) -> Outcome:
        """One run with its checked ``parameters``."""


def run_remote(credentials: Credentials, work: Callable[[Remote], Outcome]) -> Outcome:
    """Open a ``Remote``, sign in and do ``work`` with it; ``submitfailed`` when TLS cannot be
    set up or the sign-in fails. The outcome never shows a secret."""
    try:
        remote = Remote(credentials)
    except RemoteError as exc:
        return Outcome(RunStatus.SUBMITFAILED, str(exc))
    with remote:
        try:
            remote.sign_in()
        except RemoteError as exc:
            return remote.scrub(Outcome(RunStatus.SUBMITFAILED, str(exc)))
        return remote.scrub(work(remote))


def is_unreachable(exc: Exception) -> bool:
    """Whether a transport error happened before the request reached the service (nothing
    was sent: connecting, resolving, the TLS handshake)."""
    import httpx

    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.UnsupportedProtocol)


# -- parameter checks --------------------------------------------------------------------------


def shown(value: Any, limit: int = 100) -> str:
    """A value as an error message quotes it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def https_url(value: Any, name: str) -> str:
    """``value`` as an https URL, without trailing slashes; ValueError naming ``name``."""
    message = f"'{name}' must be an https URL (https://host/…), not {shown(value)}"
    if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_URL:
        raise ValueError(message)
    text = value.strip()
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(message)
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(message)
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"'{name}' must not hold a user name or password")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError(f"'{name}' must not have a query or a fragment")
    try:
        parts.port  # noqa: B018 - its property checks the port
    except ValueError:
        raise ValueError(f"'{name}' has an invalid port") from None
    return urlunsplit(parts).rstrip("/")


def segment(value: Any, name: str) -> str:
    """An id that goes into a URL path; ValueError naming ``name``."""
    if not isinstance(value, str) or not SEGMENT.fullmatch(value.strip()):
        raise ValueError(f"'{name}' must be an id of letters, digits, '_', '-' or '.' (at "
                         f"most 128), not {shown(value)}")
    return value.strip()


def integer(value: Any, name: str, low: int, high: int, what: str = "") -> int:
    """An integer from ``low`` to ``high``, given as a number or as text; ValueError naming
    ``name`` (and saying ``what`` it must be)."""
    message = f"'{name}' must be {what or 'an integer'} (from {low} to {high}), not " \
              f"{shown(value)}"
    integral = ((isinstance(value, int) and not isinstance(value, bool))
                or (isinstance(value, float) and value.is_integer())
                or (isinstance(value, str) and INTEGER.fullmatch(value) is not None))
    if not integral or not low <= int(value) <= high:
        raise ValueError(message)
    return int(value)


def choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """One of ``choices``, matched without regard to case; ValueError naming ``name``."""
    by_key = {c.upper(): c for c in choices}
    if isinstance(value, str) and value.strip().upper() in by_key:
        return by_key[value.strip().upper()]
    raise ValueError(f"'{name}' must be one of {', '.join(by_key.values())}, not "
                     f"{shown(value)}")


def text(value: Any, name: str, limit: int = 10_000) -> str:
    """A string of at most ``limit`` characters; ValueError naming ``name``."""
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"'{name}' must be text of at most {limit} characters, not "
                         f"{shown(value)}")
    return value


def json_value(value: Any, name: str) -> Any:
    """A JSON value given as itself or as JSON text; ValueError naming ``name``."""
    if isinstance(value, str):
        try:
            return jsonsafe.loads(value, MAX_ANSWER_BYTES)
        except JsonError as exc:
            raise ValueError(f"'{name}' must be JSON (an object, or its text): {exc}") from None
    return value


def only(parameters: dict[str, Any], allowed: Iterable[str], owner: str) -> None:
    """ValueError naming the first key of ``parameters`` that is not ``allowed``."""
    known = list(allowed)
    for key in parameters:
        if key not in known:
            raise ValueError(f"'{key}' is not a parameter of {owner} (it takes "
                             f"{', '.join(known)})")


def auth_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """The sign-in parameters, checked: ``token``, or ``portalUrl`` with ``username`` and
    ``password``, or none of them. A masked secret (``********``, sent back by a client that
    read the task) is kept as it is: the stored secret replaces it."""
    out: dict[str, Any] = {}
    given = {k: parameters[k] for k in AUTH_KEYS if parameters.get(k) not in (None, "")}
    if "token" in given:
        out["token"] = text(given["token"], "token", 8192)
        if given.keys() & {"portalUrl", "username", "password"}:
            raise ValueError("'token' cannot be given with 'username' and 'password': give "
                             "one way of signing in")
        return out
    user_keys = ("portalUrl", "username", "password")
    if given:
        missing = [k for k in user_keys if k not in given]
        if missing:
            raise ValueError(f"'{missing[0]}' is required with "
                             f"{' and '.join(repr(k) for k in given)}")
        out["portalUrl"] = https_url(given["portalUrl"], "portalUrl")
        for suffix in ("/sharing/rest", "/sharing"):
            out["portalUrl"] = out["portalUrl"].removesuffix(suffix)
        out["username"] = text(given["username"], "username", 256)
        out["password"] = text(given["password"], "password", 1024)
    return out
