"""Server settings: where data lives and where the server listens.

Precedence: command-line flag, then environment (``GISTASKS_HOME`` for the data directory), then
the embedded defaults (``./gistasks-data``, SQLite inside it, HTTPS on 127.0.0.1:7443 under
``/arcgis``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7443
DEFAULT_CONTEXT = "arcgis"
DEFAULT_DATA_DIR = "gistasks-data"
MAX_TOKEN_MINUTES = 20160
"""Two weeks: the longest token lifetime by default, as ArcGIS caps it."""


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it and says what is accepted."""


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

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the database; SQLite in the data directory by default."""
        return self.database or f"sqlite:///{self.data_dir / 'gistasks.db'}"

    @property
    def base_url(self) -> str:
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
    environ: dict[str, str] | None = None,
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
    return Settings(
        data_dir=directory.resolve(),
        host=host or DEFAULT_HOST,
        port=chosen_port,
        database=db,
        context=ctx,
        token_max_minutes=cap,
    )
