"""Server settings: where data lives, where the server listens, and the bounds it keeps.

Precedence: command-line flag, then environment (``GISTASKS_*``), then the embedded defaults
(``./gistasks-data``, SQLite inside it, HTTPS on 127.0.0.1:7443 under ``/arcgis``). Every
value is read and checked once, at start: a bad one is a ConfigError naming it, before
anything is written.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7443
DEFAULT_CONTEXT = "arcgis"
DEFAULT_DATA_DIR = "gistasks-data"
MAX_TOKEN_MINUTES = 20160
"""Two weeks: the longest token lifetime by default, as ArcGIS caps it."""
MIB = 1024 * 1024


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it and says what is accepted."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one client may make the server hold: bytes, fields, connections and time."""

    max_body_bytes: int = 8 * MIB
    """The largest request body (``GISTASKS_MAX_BODY_MB``); beyond it, error 413."""
    body_budget_bytes: int = 16 * MIB
    """Memory for request bodies being received and parsed at once, all clients together
    (``GISTASKS_BODY_BUDGET_MB``): a body counts twice while it is parsed. Beyond it, error
    503: retry in a moment."""
    max_fields: int = 256
    """Parameters in one request, query and body together (``GISTASKS_MAX_FIELDS``)."""
    max_header_bytes: int = 64 * 1024
    """The request line and headers of one request (``GISTASKS_MAX_HEADER_KB``)."""
    header_timeout_s: float = 10.0
    """For the TLS handshake, and from its end (or a request's first byte) to the end of the
    headers (``GISTASKS_HEADER_TIMEOUT_SECONDS``)."""
    body_timeout_s: float = 60.0
    """From the end of the headers to the end of the body (``GISTASKS_BODY_TIMEOUT_SECONDS``)."""
    max_connections: int = 1000
    """Open connections, all clients together (``GISTASKS_MAX_CONNECTIONS``)."""
    max_connections_per_client: int = 200
    """Open connections from one client, an IPv4 address or an IPv6 /64
    (``GISTASKS_MAX_CONNECTIONS_PER_CLIENT``)."""


@dataclass(frozen=True, slots=True)
class SignInPolicy:
    """How failed sign-ins are throttled (ArcGIS locks an account after repeated failures)."""

    account_failures: int = 10
    """Failed sign-ins to one account within the window that lock it
    (``GISTASKS_SIGNIN_ACCOUNT_FAILURES``)."""
    address_failures: int = 50
    """Failed sign-ins from one address within the window that block it
    (``GISTASKS_SIGNIN_ADDRESS_FAILURES``)."""
    window_s: int = 900
    """The window failures are counted in (``GISTASKS_SIGNIN_WINDOW_MINUTES``)."""
    lockout_s: int = 900
    """How long a lock lasts (``GISTASKS_SIGNIN_LOCKOUT_MINUTES``); ``gistasks user unlock``
    ends it sooner."""


@dataclass(frozen=True, slots=True)
class ContentPolicy:
    """Portal items and the notebooks that run on them."""

    max_upload_bytes: int = 1024 * MIB
    """The largest item file, uploaded whole or in parts (``GISTASKS_MAX_UPLOAD_MB``); an
    upload request's body may be that large (the other requests keep their bound)."""
    max_user_storage_bytes: int = 10 * 1024 * MIB
    """What one user's items may hold in all (``GISTASKS_USER_STORAGE_MB``; 0: no bound)."""
    notebook_kernels: int = 2
    """Notebook kernels executing at once on a node (``GISTASKS_NOTEBOOK_KERNELS``); a run
    beyond them waits for one (or is skipped by its task's overlap policy)."""
    notebook_warm_kernels: int = 1
    """Kernels started ahead of time, each used for one run and then discarded
    (``GISTASKS_NOTEBOOK_WARM_KERNELS``; 0: every run starts its kernel cold)."""
    notebook_time_limit_s: float = 50 * 60.0
    """How long a notebook run may take before its kernel is killed
    (``GISTASKS_NOTEBOOK_TIME_LIMIT_MINUTES``; 50, as the official client's default)."""
    notebook_python: str = ""
    """The interpreter whose ipykernel runs notebooks (``GISTASKS_NOTEBOOK_PYTHON``; "":
    the server's own)."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database: str = ""
    context: str = DEFAULT_CONTEXT
    token_max_minutes: int = MAX_TOKEN_MINUTES
    """The longest lifetime of a token, whatever ``expiration`` a client asks for
    (``GISTASKS_TOKEN_MAX_MINUTES``); generateToken and OAuth alike."""
    public_url: str = ""
    """The URL clients reach the server at, context included (``--public-url``,
    ``GISTASKS_PUBLIC_URL``), when it is behind a proxy; URLs the server hands out
    (``tokenServicesUrl``…) are built from it. Empty: from the request."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks whose ``X-Forwarded-For``/``-Proto`` are believed
    (``GISTASKS_TRUSTED_PROXIES``, comma-separated). Empty: nobody's."""
    http: HttpLimits = field(default_factory=HttpLimits)
    sign_in: SignInPolicy = field(default_factory=SignInPolicy)
    content: ContentPolicy = field(default_factory=ContentPolicy)
    backup_store_roots: tuple[Path, ...] = ()
    """Where backup stores may be registered besides ``<data dir>/backupstores/``
    (``GISTASKS_BACKUP_STORE_ROOTS``, absolute directories separated by ``:``): an admin
    registering a store cannot make the server write anywhere else."""

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the database; SQLite in the data directory by default."""
        return self.database or f"sqlite:///{self.data_dir / 'gistasks.db'}"

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database's file (None on PostgreSQL or in memory)."""
        found = re.match(r"sqlite(\+\w+)?:///(.*)", self.database_url)
        if found is None:
            return None
        path = found.group(2).split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None

    @property
    def base_url(self) -> str:
        """Where this server is reached: the public URL, or the listener's."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}/{self.context}"

    @property
    def admin_password_file(self) -> Path:
        return self.data_dir / "admin-password.txt"


def resolve(
    *,
    data_dir: str | None = None,
    host: str | None = None,
    port: int | None = None,
    database: str | None = None,
    context: str | None = None,
    public_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build validated settings from flags and the environment."""
    env = os.environ if environ is None else environ
    directory = Path(data_dir or env.get("GISTASKS_HOME") or DEFAULT_DATA_DIR).expanduser()
    chosen_port = DEFAULT_PORT if port is None else port
    if not 1 <= chosen_port <= 65535:
        raise ConfigError(f"--port: {chosen_port} is outside 1-65535")
    ctx = DEFAULT_CONTEXT if context is None else context.strip("/")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", ctx):
        raise ConfigError(
            f"--context: {context!r} must be one path segment of letters, digits, '.', '_' or '-'"
        )
    db = database or ""
    if db and not re.match(r"(sqlite|postgresql)(\+\w+)?://", db):
        raise ConfigError(
            f"--database: {db!r} is not a sqlite:/// or postgresql:// URL"
        )
    raw_cap = env.get("GISTASKS_TOKEN_MAX_MINUTES", "").strip()
    try:
        cap = int(raw_cap) if raw_cap else MAX_TOKEN_MINUTES
    except ValueError:
        cap = 0
    if cap < 1:
        raise ConfigError(f"GISTASKS_TOKEN_MAX_MINUTES: {raw_cap!r} must be a whole number of "
                          f"minutes, 1 or more")
    public = _public_url(public_url if public_url is not None
                         else env.get("GISTASKS_PUBLIC_URL", ""), ctx)
    return Settings(
        data_dir=directory.resolve(),
        host=host or DEFAULT_HOST,
        port=chosen_port,
        database=db,
        context=ctx,
        token_max_minutes=cap,
        public_url=public,
        trusted_proxies=_proxies(env.get("GISTASKS_TRUSTED_PROXIES", "")),
        http=_http_limits(env),
        sign_in=_sign_in(env),
        content=_content(env),
        backup_store_roots=_store_roots(env.get("GISTASKS_BACKUP_STORE_ROOTS", "")),
    )


def _store_roots(raw: str) -> tuple[Path, ...]:
    roots = []
    for item in filter(None, (p.strip() for p in raw.split(os.pathsep))):
        path = Path(item)
        if not path.is_absolute():
            raise ConfigError(f"GISTASKS_BACKUP_STORE_ROOTS: {item!r} is not an absolute path")
        roots.append(Path(os.path.normpath(path)))
    return tuple(roots)


def _public_url(raw: str, context: str) -> str:
    """``https://host[:port]/<context>``, without a trailing slash; "" when not set."""
    text = raw.strip().rstrip("/")
    if not text:
        return ""
    what = "--public-url / GISTASKS_PUBLIC_URL"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise ConfigError(f"{what}: {raw!r} is not a URL") from None
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{what}: {raw!r} must be an https:// URL without query or fragment, "
                          f"e.g. https://gis.example.com/{context}")
    if not parts.path.endswith(f"/{context}"):
        raise ConfigError(f"{what}: {raw!r} must end with the context path /{context}")
    return text


def _proxies(raw: str) -> tuple[str, ...]:
    out = []
    for item in filter(None, (p.strip() for p in raw.split(","))):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"GISTASKS_TRUSTED_PROXIES: {item!r} is not an IP address or "
                              f"network (10.0.0.5, 10.0.0.0/24)") from None
        out.append(item)
    return tuple(out)


def _number(env: Mapping[str, str], var: str, default: float, low: float, high: float,
            scale: float = 1) -> float:
    """``env[var] * scale``, ``default`` when unset; ConfigError unless low <= value <= high."""
    raw = env.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{var}: {raw!r} must be a number from {low:g} to {high:g}")
    return value * scale


def _http_limits(env: Mapping[str, str]) -> HttpLimits:
    d = HttpLimits()
    limits = HttpLimits(
        max_body_bytes=int(_number(env, "GISTASKS_MAX_BODY_MB", d.max_body_bytes, 0.001, 4096,
                                   MIB)),
        body_budget_bytes=int(_number(env, "GISTASKS_BODY_BUDGET_MB", d.body_budget_bytes,
                                      0.001, 65536, MIB)),
        max_fields=int(_number(env, "GISTASKS_MAX_FIELDS", d.max_fields, 16, 100_000)),
        max_header_bytes=int(_number(env, "GISTASKS_MAX_HEADER_KB", d.max_header_bytes, 4,
                                     1024, 1024)),
        header_timeout_s=_number(env, "GISTASKS_HEADER_TIMEOUT_SECONDS", d.header_timeout_s,
                                 0.1, 3600),
        body_timeout_s=_number(env, "GISTASKS_BODY_TIMEOUT_SECONDS", d.body_timeout_s, 0.1,
                               86_400),
        max_connections=int(_number(env, "GISTASKS_MAX_CONNECTIONS", d.max_connections, 1,
                                    1_000_000)),
        max_connections_per_client=int(_number(env, "GISTASKS_MAX_CONNECTIONS_PER_CLIENT",
                                               d.max_connections_per_client, 1, 1_000_000)),
    )
    if limits.body_budget_bytes < 2 * limits.max_body_bytes:
        raise ConfigError("GISTASKS_BODY_BUDGET_MB must be at least twice GISTASKS_MAX_BODY_MB: "
                          "the largest body must fit in the budget while it is parsed")
    return limits


def _sign_in(env: Mapping[str, str]) -> SignInPolicy:
    d = SignInPolicy()
    return SignInPolicy(
        account_failures=int(_number(env, "GISTASKS_SIGNIN_ACCOUNT_FAILURES",
                                     d.account_failures, 1, 1_000_000)),
        address_failures=int(_number(env, "GISTASKS_SIGNIN_ADDRESS_FAILURES",
                                     d.address_failures, 1, 1_000_000)),
        window_s=int(_number(env, "GISTASKS_SIGNIN_WINDOW_MINUTES", d.window_s, 1, 10_080, 60)),
        lockout_s=int(_number(env, "GISTASKS_SIGNIN_LOCKOUT_MINUTES", d.lockout_s, 1, 10_080,
                              60)),
    )


def _content(env: Mapping[str, str]) -> ContentPolicy:
    d = ContentPolicy()
    python = env.get("GISTASKS_NOTEBOOK_PYTHON", "").strip()
    if python and not os.access(python, os.X_OK):
        raise ConfigError(f"GISTASKS_NOTEBOOK_PYTHON: {python!r} is not an executable "
                          f"interpreter")
    return ContentPolicy(
        max_upload_bytes=int(_number(env, "GISTASKS_MAX_UPLOAD_MB", d.max_upload_bytes, 0.001,
                                     1024 * 1024, MIB)),
        max_user_storage_bytes=int(_number(env, "GISTASKS_USER_STORAGE_MB",
                                           d.max_user_storage_bytes, 0, 1024 ** 3, MIB)),
        notebook_kernels=int(_number(env, "GISTASKS_NOTEBOOK_KERNELS", d.notebook_kernels, 1,
                                     256)),
        notebook_warm_kernels=int(_number(env, "GISTASKS_NOTEBOOK_WARM_KERNELS",
                                          d.notebook_warm_kernels, 0, 64)),
        notebook_time_limit_s=_number(env, "GISTASKS_NOTEBOOK_TIME_LIMIT_MINUTES",
                                      d.notebook_time_limit_s, 0.01, 7 * 24 * 60, 60),
        notebook_python=python,
    )


def configure_logging() -> None:
    """gistasks' own log lines (failed sign-ins, refused connections, recovered runs and
    jobs) on standard error, one line each, with their time: the server's and its job
    host's alike."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("gistasks")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
