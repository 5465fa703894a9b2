"""First-start provisioning of the data directory: the ``admin`` account's initial password."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from gistasks.config import Settings
from gistasks.security.keys import private_dir, write_private

ADMIN_PASSWORD_ENV = "GISTASKS_ADMIN_PASSWORD"


@dataclass(frozen=True)
class AdminPassword:
    """Where the initial ``admin`` password comes from, for the start-up banner."""

    source: str  # "environment" or "file"
    where: str


def ensure_admin_password(
    settings: Settings, environ: dict[str, str] | None = None
) -> AdminPassword:
    """Make sure the initial ``admin`` password exists and say where it is.

    ``GISTASKS_ADMIN_PASSWORD`` wins when set. Otherwise a random password is generated on the
    first start and written once, 0600, to ``<data dir>/admin-password.txt``; later starts keep it.
    """
    env = os.environ if environ is None else environ
    if env.get(ADMIN_PASSWORD_ENV):
        return AdminPassword("environment", f"the {ADMIN_PASSWORD_ENV} environment variable")
    path = settings.admin_password_file
    private_dir(settings.data_dir)
    if not path.exists():
        password = secrets.token_urlsafe(18)
        while not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
            password = secrets.token_urlsafe(18)  # the password policy wants both
        write_private(path, (password + "\n").encode(), exclusive=True)
    return AdminPassword("file", str(path))


def read_admin_password(settings: Settings, environ: dict[str, str] | None = None) -> str:
    """The initial ``admin`` password (from the environment or the file)."""
    env = os.environ if environ is None else environ
    if env.get(ADMIN_PASSWORD_ENV):
        return env[ADMIN_PASSWORD_ENV]
    return settings.admin_password_file.read_text(encoding="utf-8").strip()
