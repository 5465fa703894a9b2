"""The composition root: from settings to a running HTTPS server.

``serve`` prepares the data directory (certificate, admin password, keys), migrates the
database, builds the store, the task registry, the engine and the services, and runs uvicorn
until SIGINT or SIGTERM.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

import uvicorn

from gistasks.api.app import create_app
from gistasks.config import Settings, configure_logging
from gistasks.engine import Engine, EngineSettings
from gistasks.engine.jobhost import JobHost
from gistasks.engine.jobs import JobRunner, JobRunning, JobSettings
from gistasks.gp import Catalog
from gistasks.notebooks import EngineConfig, NotebookEngine
from gistasks.security.keys import load_key, make_private, private_dir
from gistasks.security.secretbox import SecretBox
from gistasks.server.bootstrap import ensure_admin_password, read_admin_password
from gistasks.server.http import GuardedServer, guarded_protocol
from gistasks.server.tls import CERT_NAME, ensure_certificate
from gistasks.services import Services
from gistasks.services.backups import SERVE_LOCK, apply_pending_restore
from gistasks.services.content import TaskItems
from gistasks.store import Store
from gistasks.tasktypes import Deployment, Registry

M_MMAP_THRESHOLD = -3
ADMIN = "admin"
"""The initial administrator, owner of the built-in system tasks."""
TOKEN_KEY = "token-key"
SECRET_KEY = "secret-key"


def build(settings: Settings, store: Store, engine_settings: EngineSettings | None = None,
          types: Registry | None = None, catalog: Catalog | None = None,
          job_settings: JobSettings | None = None, job_host: bool = False) -> Services:
    """The services of a deployment over ``store``, with the deployment's keys from the data
    directory (created on first use) and its GP services (the built-in ones, the entry
    points and ``gp-services.toml`` of the data directory, unless ``catalog`` is given).

    With ``job_host``, the jobs run in a job host process beside this one (as ``serve`` runs
    them: HTTP keeps its interpreter to itself), which loads the services of the data
    directory itself; otherwise in this process's threads."""
    engine = Engine(store, types=types or Registry.default(),
                    secrets=SecretBox(load_key(settings.data_dir, SECRET_KEY)),
                    settings=engine_settings)
    known = catalog or Catalog.default(settings.data_dir)
    jobs = job_settings or JobSettings.from_environment()
    runner: JobRunning = (
        JobHost(store, settings.database_url, known, settings.data_dir, engine.node, jobs)
        if job_host else JobRunner(store, known, settings.data_dir, engine.node, jobs))
    services = Services.build(store, engine, load_key(settings.data_dir, TOKEN_KEY), settings,
                              runner)
    cert = settings.data_dir / CERT_NAME
    engine.types.bind(Deployment(
        clean_gp_jobs=services.geoprocessing.clean,
        create_backup=services.backups.run_scheduled,
        clean_backups=services.backups.clean_expired,
        backup_stores=lambda: [s.name for s in services.backups.stores()],
        token_for=lambda username: services.auth.token_for(username, TASK_TOKEN_MINUTES),
        token_for_minutes=services.auth.token_for,
        own_origins=tuple(own_origins(settings)),
        ca_file=str(cert) if cert.exists() else None,
        items=TaskItems(services.content),
        make_report=services.reports.make,
        notebooks=NotebookEngine(EngineConfig(
            pool_size=settings.content.notebook_warm_kernels,
            max_concurrent=settings.content.notebook_kernels,
            python=settings.content.notebook_python or None)),
        notebook_time_limit_s=settings.content.notebook_time_limit_s,
        data_dir=settings.data_dir,
        public_url=settings.base_url))
    return services


TASK_TOKEN_MINUTES = 60
"""The lifetime of the token a GPService run sends to this server's own services."""


def own_origins(settings: Settings) -> list[str]:
    """The URLs this server answers at (compared by origin): its public URL and its
    listener's."""
    port = settings.port
    return [settings.base_url, f"https://127.0.0.1:{port}", f"https://localhost:{port}"]


def hold_data_dir(data_dir: Path) -> tuple[int, bool]:
    """A lock on ``<data dir>/serve.lock`` for as long as the server runs: exclusive when no
    other node holds it (then a restore may be swapped in; the caller shares it after),
    shared otherwise (the nodes of a cluster share it). ``gistasks restore`` takes it
    exclusively, so it never swaps a restore in under a running server. Returns the
    descriptor that holds it and whether it was had alone."""
    fd = os.open(data_dir / SERVE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, True
    except BlockingIOError:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return fd, False


def only_node(lock: int) -> bool:
    """Whether this server is the only one holding the data directory's lock (its shared
    lock can be made exclusive); the lock is shared again after."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        fcntl.flock(lock, fcntl.LOCK_SH)
    return True


def _return_big_buffers_at_once() -> None:
    """Keep glibc from moving its mmap threshold up: a request body (up to megabytes) is then
    always its own mapping, returned to the system when freed, instead of staying in the
    heap after a burst of large requests (measured in tests/api/test_hostile_clients.py)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator has its own ways


def serve(settings: Settings, out: TextIO = sys.stdout) -> None:
    """Prepare the data directory, print the banner, and serve HTTPS until stopped (SIGINT/TERM).

    Raises ConfigError, before anything is written, for a bad engine setting."""
    engine_settings = EngineSettings.from_environment()
    configure_logging()
    _return_big_buffers_at_once()
    # Everything the server writes is its own: the database holds password hashes, the data
    # directory the keys. Files made later (SQLite's -wal and -shm, job folders) inherit this.
    os.umask(0o077)
    private_dir(settings.data_dir)
    make_private(settings.data_dir)
    cert, key = ensure_certificate(settings.data_dir, settings.host)
    admin = ensure_admin_password(settings)
    lock, alone = hold_data_dir(settings.data_dir)
    store = Store(settings.database_url)
    # A restore is swapped in only by a node that has the data directory to itself: the
    # others would have their state replaced under them.
    restored = apply_pending_restore(settings.data_dir, store, settings.sqlite_file) if alone \
        else None
    fcntl.flock(lock, fcntl.LOCK_SH)
    store.migrate()
    services = build(settings, store, engine_settings, job_host=True)
    services.backups.start(restored)
    services.tasks.upgrade_secrets()
    services.runs.forget_outputs()
    services.notebook_jobs.recover()
    services.content.clean_staging()
    services.content.forget_activity()
    created = services.users.ensure_admin(read_admin_password(settings))
    services.tasks.ensure_builtins(ADMIN)
    app = create_app(settings, services)
    restart = threading.Event()
    print(f"gistasks serving {settings.base_url}/sharing/rest", file=out)
    print(f"  data directory: {settings.data_dir}", file=out)
    print(f"  certificate:    {cert} (self-signed)", file=out)
    print(f"  admin password: {admin.where}"
          + (" (account created)" if created else ""), file=out)
    print(f"  database:       {store.db.describe()} ({store.tasks.count()} tasks), node "
          f"{services.engine.node}", file=out)
    out.flush()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        http=guarded_protocol(settings.http),
        # X-Forwarded-For/-Proto only from the proxies named in the settings (uvicorn would
        # believe 127.0.0.1 by default).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=int(engine_settings.shutdown_grace_s) + 5,
    )
    server = GuardedServer(config, settings.http.header_timeout_s)

    def stop_to_restore() -> None:
        restart.set()
        server.should_exit = True

    services.backups.restart = stop_to_restore
    services.backups.alone = lambda: only_node(lock)
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn has shut down gracefully by now, then raised the Ctrl-C it caught again:
        # the stop the user asked for, not an error to show a traceback for.
        pass
    finally:
        store.close()
        os.close(lock)
    if restart.is_set():
        # A restore through the API is prepared: the next start swaps it in (before anything
        # opens the database) and serves the restored deployment with the same arguments.
        print("gistasks restarting to finish a restore", file=out, flush=True)
        os.execv(sys.executable, [sys.executable, "-m", "gistasks", *sys.argv[1:]])
