"""Running the HTTPS server."""

from __future__ import annotations

import sys
from typing import TextIO

import uvicorn

from gistasks.api.app import create_app
from gistasks.bootstrap import ensure_admin_password, read_admin_password
from gistasks.config import Settings
from gistasks.engine import Engine, EngineSettings
from gistasks.secretbox import SecretBox
from gistasks.store import Store
from gistasks.tls import ensure_certificate
from gistasks.users import UserService


def serve(settings: Settings, out: TextIO = sys.stdout) -> None:
    """Prepare the data directory, print the banner, and serve HTTPS until stopped (SIGINT/TERM).

    Raises ConfigError, before anything is written, for a bad engine setting."""
    engine_settings = EngineSettings.from_environment()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cert, key = ensure_certificate(settings.data_dir, settings.host)
    admin = ensure_admin_password(settings)
    store = Store(settings.database_url)
    store.migrate()
    created = UserService(store).ensure_admin(read_admin_password(settings))
    engine = Engine(store, engine_settings,
                    secrets=SecretBox.for_directory(settings.data_dir))
    app = create_app(settings, engine, store)
    print(f"gistasks serving {settings.base_url}/sharing/rest", file=out)
    print(f"  data directory: {settings.data_dir}", file=out)
    print(f"  certificate:    {cert} (self-signed)", file=out)
    print(f"  admin password: {admin.where}"
          + (" (account created)" if created else ""), file=out)
    print(f"  database:       {store.engine.url.render_as_string(hide_password=True)} "
          f"({store.count_tasks()} tasks), node {engine.node}", file=out)
    out.flush()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=int(engine.settings.shutdown_grace_s) + 5,
    )
    store.close()
