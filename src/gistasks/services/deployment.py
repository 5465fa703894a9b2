"""``Services``: every service of one deployment, built over its store and engine."""

from __future__ import annotations

from dataclasses import dataclass

from gistasks.config import Settings
from gistasks.engine import Engine
from gistasks.engine.jobs import JobRunning
from gistasks.services.auth import AuthService, SignInGuard
from gistasks.services.backups import BackupService
from gistasks.services.browser import BrowserSessions
from gistasks.services.content import ContentService
from gistasks.services.dashboard import DashboardService
from gistasks.services.geoprocessing import GeoprocessingService
from gistasks.services.limits import LimitService
from gistasks.services.notebook_jobs import NotebookJobService
from gistasks.services.oauth import AppService, OAuthService
from gistasks.services.reports import ReportService
from gistasks.services.runs import RunService
from gistasks.services.tasks import TaskService
from gistasks.services.users import UserService
from gistasks.store import Store
from gistasks.tasktypes import Registry


@dataclass(frozen=True, slots=True)
class Services:
    """Every service of one deployment, over one store and one engine."""

    types: Registry
    users: UserService
    auth: AuthService
    apps: AppService
    oauth: OAuthService
    limits: LimitService
    tasks: TaskService
    runs: RunService
    geoprocessing: GeoprocessingService
    content: ContentService
    reports: ReportService
    notebook_jobs: NotebookJobService
    backups: BackupService
    browser: BrowserSessions
    dashboard: DashboardService
    engine: Engine
    jobs: JobRunning

    @classmethod
    def build(cls, store: Store, engine: Engine, token_key: bytes, settings: Settings,
              jobs: JobRunning) -> Services:
        """The services over ``store``, ``engine`` (whose registry and secret box they
        share) and the job runner ``jobs`` (whose catalog they share), signing tokens with
        ``token_key``, within the bounds of ``settings``."""
        users = UserService(store)
        auth = AuthService(users, SignInGuard(store, settings.sign_in), token_key,
                           settings.token_max_minutes)
        limits = LimitService(store, engine)
        apps = AppService(store)
        tasks = TaskService(store, engine, engine.types, limits)
        content = ContentService(store, settings.data_dir, settings.content, engine.now_ms,
                                 lambda item: tasks.item_deleted(item.id, item.title))
        return cls(types=engine.types, users=users, auth=auth, apps=apps,
                   oauth=OAuthService(store, auth, apps),
                   limits=limits, tasks=tasks, content=content,
                   reports=ReportService(store, content, engine.now_ms),
                   notebook_jobs=NotebookJobService(store, engine.types, settings.data_dir,
                                                    engine.node, engine.now_ms,
                                                    lambda: settings.base_url,
                                                    engine.secrets),
                   runs=RunService(store, engine, settings.data_dir),
                   geoprocessing=GeoprocessingService(
                       store, jobs.catalog, jobs, lambda: [settings.base_url]),
                   backups=BackupService(store, settings.data_dir, engine.now_ms, engine.node,
                                         lambda: f"{settings.base_url}/admin",
                                         settings.sqlite_file,
                                         store_roots=settings.backup_store_roots),
                   browser=BrowserSessions(store, auth, token_key, engine.now_ms),
                   dashboard=DashboardService(store, engine.now_ms),
                   engine=engine, jobs=jobs)

    def start(self) -> None:
        """Start the engine (firing and executing, in threads) and the job runner (its
        worker processes)."""
        self.jobs.start()
        self.types.start()
        self.engine.start()

    def stop(self) -> None:
        """Stop the engine and the job runner, letting running work finish within the grace
        period."""
        self.engine.stop()
        self.types.close()
        self.jobs.stop()
