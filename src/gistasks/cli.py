"""The ``gistasks`` command: ``serve``, ``db``, ``user``, ``app``, ``backup``, ``restore``
and ``cron``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from gistasks import __version__
from gistasks.config import ConfigError, Settings, resolve
from gistasks.cron import DST_GAP_POLICIES, DST_OVERLAP_POLICIES, CronExpression, CronSyntaxError

PASSCODE_ENV = "GISTASKS_BACKUP_PASSCODE"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gistasks",
        description="Scheduled tasks and geoprocessing jobs, ArcGIS Enterprise REST dialect.",
    )
    parser.add_argument("--version", action="version", version=f"gistasks {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the HTTPS server")
    serve.add_argument("--data-dir", help="data directory (default: $GISTASKS_HOME or "
                       "./gistasks-data)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 7443)")
    serve.add_argument("--database", help="database URL (default: SQLite in the data directory)")
    serve.add_argument("--context", help="context path (default: arcgis)")
    serve.add_argument("--public-url", help="the URL clients reach the server at behind a "
                       "proxy, context included (default: $GISTASKS_PUBLIC_URL, else the "
                       "request's)")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the schema migrations")
    upgrade.add_argument("--data-dir", help="data directory (for the default SQLite database)")
    upgrade.add_argument("--database", help="database URL")

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    u_add = user_sub.add_parser("add", help="add a user (the password is asked for)")
    u_add.add_argument("name")
    u_add.add_argument("--role", default="org_user",
                       help="org_user (default), org_publisher or org_admin")
    u_add.add_argument("--full-name", default="")
    u_add.add_argument("--email", default="")
    u_passwd = user_sub.add_parser("passwd", help="change a password (revokes its tokens)")
    u_passwd.add_argument("name")
    user_sub.add_parser("list", help="list the users")
    for verb in ("disable", "enable"):
        p = user_sub.add_parser(verb, help=f"{verb} a user" + (" (revokes its tokens)"
                                                               if verb == "disable" else ""))
        p.add_argument("name")
    u_role = user_sub.add_parser("role", help="change a user's role")
    u_role.add_argument("name")
    u_role.add_argument("role")
    u_unlock = user_sub.add_parser("unlock", help="end the lock after failed sign-ins of an "
                                   "account (or, with --address, of a client address)")
    u_unlock.add_argument("name", nargs="?", help="the user name")
    u_unlock.add_argument("--address", help="a client address instead of an account")
    for p in (u_add, u_passwd):
        p.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")
    for p in user_sub.choices.values():
        p.add_argument("--data-dir", help="data directory (for the default SQLite database)")
        p.add_argument("--database", help="database URL")

    app = sub.add_parser("app", help="registered OAuth apps")
    app_sub = app.add_subparsers(dest="app_command", required=True)
    a_reg = app_sub.add_parser("register", help="register an app; prints its client id")
    a_reg.add_argument("--redirect", action="append", required=True, metavar="URI",
                       help="a redirect URI the app may receive tokens at (repeatable)")
    a_reg.add_argument("--type", default="browser", dest="app_type",
                       help="browser (default), native, server or multiple")
    a_reg.add_argument("--title", default="")
    a_reg.add_argument("--client-id", help="the client id (default: made up)")
    app_sub.add_parser("list", help="list the registered apps")
    a_unreg = app_sub.add_parser("unregister", help="unregister an app")
    a_unreg.add_argument("client_id")
    for p in app_sub.choices.values():
        p.add_argument("--data-dir", help="data directory (for the default SQLite database)")
        p.add_argument("--database", help="database URL")

    backup = sub.add_parser("backup", help="back the deployment up, list and verify backups")
    b_sub = backup.add_subparsers(dest="backup_command", required=True)
    b_create = b_sub.add_parser("create", help="back the deployment up into a store (the "
                                "server may be running)")
    b_create.add_argument("name")
    b_create.add_argument("--store", help="the backup store (default: the default store)")
    b_create.add_argument("--description", default="")
    b_create.add_argument("--retention-date", type=int, default=-1,
                          help="epoch ms after which the retention cleaner deletes it "
                          "(default -1: kept for ever)")
    b_list = b_sub.add_parser("list", help="list the backups of every store")
    b_verify = b_sub.add_parser("verify", help="check a backup file completely without "
                                "restoring it")
    b_verify.add_argument("file")
    restore = sub.add_parser("restore", help="restore a backup file into a data directory "
                             "(the server stopped)")
    restore.add_argument("file")
    for p in (b_create, b_list, b_verify, restore):
        p.add_argument("--data-dir", help="data directory (default: $GISTASKS_HOME or "
                       "./gistasks-data)")
        p.add_argument("--database", help="database URL (default: SQLite in the data "
                       "directory)")
    for p in (b_create, b_verify, restore):
        p.add_argument("--passcode-stdin", action="store_true",
                       help="read the passcode from the first line of standard input "
                       f"(else ${PASSCODE_ENV}, else it is asked for)")

    cron = sub.add_parser("cron", help="show the next fire times of a Quartz cron expression")
    cron.add_argument("expression", help='a Quartz expression, e.g. "0 0 4 ? * 7"')
    cron.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    cron.add_argument("--count", type=int, default=5, help="how many fire times (default 5)")
    cron.add_argument("--after", help="start after this ISO 8601 time (default: now)")
    cron.add_argument("--dst-gap", default="shift", choices=DST_GAP_POLICIES)
    cron.add_argument("--dst-overlap", default="earlier", choices=DST_OVERLAP_POLICIES)
    return parser


def _cron(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not 0 <= args.count <= 10000:
        print("error: --count must be within 0-10000", file=err)
        return 2
    try:
        expr = CronExpression(args.expression, timezone=args.tz, dst_gap=args.dst_gap,
                              dst_overlap=args.dst_overlap)
    except CronSyntaxError as exc:
        print(f"error: {exc}", file=err)
        return 1
    if args.after:
        try:
            start = datetime.fromisoformat(args.after)
        except ValueError:
            print(f"error: --after {args.after!r} is not an ISO 8601 time", file=err)
            return 2
        if start.tzinfo is None:
            start = start.replace(tzinfo=expr.tzinfo)
    else:
        start = datetime.now(UTC)
    print(f"{expr.expression}  ({expr.timezone})", file=out)
    print(expr.describe(), file=out)
    fires = 0
    for fire in expr.iter_after(start):
        if fires >= args.count:
            break
        utc = fire.astimezone(UTC)
        print(f"  {fire.isoformat()}  ({utc.strftime('%Y-%m-%dT%H:%M:%SZ')})", file=out)
        fires += 1
    if fires == 0 and args.count:
        print("  (no fire time before the horizon)", file=out)
    return 0


def main(argv: list[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    if args.command == "cron":
        return _cron(args, out, err)
    try:
        if args.command in ("db", "user", "app", "backup", "restore"):
            settings = resolve(data_dir=args.data_dir, database=args.database)
        else:
            settings = resolve(data_dir=args.data_dir, host=args.host, port=args.port,
                               database=args.database, context=args.context,
                               public_url=args.public_url)
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return 2
    if args.command == "db":
        from gistasks.store import Store

        store = Store(settings.database_url)
        store.migrate()
        print(f"database {store.db.describe()} is up to date", file=out)
        store.close()
        return 0
    if args.command == "user":
        return _user(args, settings, out, err)
    if args.command == "app":
        return _app(args, settings, out, err)
    if args.command in ("backup", "restore"):
        return _backup(args, settings, out, err)
    from gistasks.server import serve
    from gistasks.services.users import UserError

    try:
        serve(settings, out)
    except UserError as exc:
        print(f"error: the initial admin password: {exc}", file=err)
        return 2
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return 2
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _user(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from gistasks.services.auth import SignInGuard
    from gistasks.services.users import UserError, UserService
    from gistasks.store import Store

    store = Store(settings.database_url)
    store.migrate()
    service = UserService(store)
    try:
        cmd = args.user_command
        if cmd == "unlock":
            guard = SignInGuard(store, settings.sign_in)
            if args.address:
                done = guard.unlock_address(args.address)
                what = f"address {args.address}"
            elif args.name:
                done = guard.unlock_account(args.name)
                what = args.name
            else:
                print("error: name a user, or --address", file=err)
                return 2
            print(f"{what} unlocked" if done else f"{what} had no failed sign-ins", file=out)
        elif cmd == "add":
            user = service.add(args.name, _read_password(args), role=args.role,
                               full_name=args.full_name, email=args.email)
            print(f"added {user.username} ({user.role})", file=out)
        elif cmd == "passwd":
            service.set_password(args.name, _read_password(args))
            print(f"password of {args.name} changed; its tokens are revoked", file=out)
        elif cmd == "list":
            for u in service.list():
                state = "disabled" if u.disabled else "enabled"
                print(f"{u.username}\t{u.role}\t{state}\t{u.full_name}", file=out)
        elif cmd in ("disable", "enable"):
            service.set_disabled(args.name, cmd == "disable")
            print(f"{args.name} {cmd}d", file=out)
        else:
            user = service.set_role(args.name, args.role)
            print(f"{user.username} is now {user.role}", file=out)
    except (UserError, ValueError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    finally:
        store.close()
    return 0


def _app(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from gistasks.services.errors import ServiceError
    from gistasks.services.oauth import AppService
    from gistasks.store import Store

    store = Store(settings.database_url)
    store.migrate()
    service = AppService(store)
    try:
        if args.app_command == "register":
            app = service.register(redirect_uris=args.redirect, app_type=args.app_type,
                                   title=args.title, client_id=args.client_id)
            print(app.client_id, file=out)
        elif args.app_command == "list":
            for a in service.all():
                print(f"{a.client_id}\t{a.app_type}\t{' '.join(a.redirect_uris)}"
                      + ("\t(and the portal)" if a.portal_redirects else ""), file=out)
        else:
            service.unregister(args.client_id)
            print(f"{args.client_id} unregistered", file=out)
    except ServiceError as exc:
        print(f"error: {exc}", file=err)
        return 1
    finally:
        store.close()
    return 0


def _passcode(args: argparse.Namespace) -> str:
    import getpass
    import os

    if args.passcode_stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get(PASSCODE_ENV):
        return os.environ[PASSCODE_ENV]
    return getpass.getpass("Backup passcode: ")


class _Bar:
    """Progress of a backup, a verify or a restore: a rich progress bar on a terminal, a
    plain line every tenth otherwise (logs, CI)."""

    def __init__(self, out: TextIO, label: str) -> None:
        self.out, self.label = out, label
        self.rich: Any = None
        self.task: Any = None
        self.shown = -1
        if out.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self.rich = Progress("[progress.description]{task.description}", BarColumn(),
                                 DownloadColumn(), TransferSpeedColumn(),
                                 TimeRemainingColumn(), console=Console(file=out))

    def __enter__(self) -> _Bar:
        if self.rich is not None:
            self.rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.rich is not None:
            self.rich.stop()

    def __call__(self, progress: Any) -> None:
        if self.rich is not None:
            if self.task is None:
                self.task = self.rich.add_task(self.label, total=progress.total or None)
            self.rich.update(self.task, completed=progress.done, total=progress.total or None)
            return
        tenth = progress.done * 10 // progress.total if progress.total else 10
        if tenth > self.shown:
            self.shown = tenth
            print(f"{self.label}: {min(tenth * 10, 100)}% ({progress.done // 2**20} of "
                  f"{progress.total // 2**20} MiB)", file=self.out, flush=True)


def _backup(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    import fcntl
    import os
    import time
    from pathlib import Path

    from gistasks.security import archive
    from gistasks.services.backups import (
        SERVE_LOCK,
        BackupService,
        Progress,
        apply_pending_restore,
        process_name,
    )
    from gistasks.services.errors import ServiceError
    from gistasks.store import Store
    from gistasks.store.recovery import RestoreRefusedError

    os.umask(0o077)
    if args.command == "backup" and args.backup_command == "verify":
        try:
            path = Path(args.file)
            with _Bar(out, "verify") as bar, path.open("rb") as f:
                total, seen = path.stat().st_size, [0]

                def on_bytes(n: int) -> None:
                    seen[0] += n
                    bar(Progress("verify", seen[0], total))

                manifest = archive.verify(f, _passcode(args), on_bytes)
        except (archive.ArchiveError, OSError) as exc:
            print(f"error: {args.file}: {exc}", file=err)
            return 1
        members = manifest.get("members", [])
        size = sum(int(m.get("size", 0)) for m in members)
        print(f"{args.file}: sound, {len(members)} members, {size} bytes restorable", file=out)
        return 0
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(settings.data_dir / SERVE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    store = Store(settings.database_url)
    finished: str | None = None
    try:
        if args.command == "restore":
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                print("error: a server is running on this data directory: stop it first, "
                      "or restore through the API", file=err)
                return 1
            finished = apply_pending_restore(settings.data_dir, store, settings.sqlite_file)
        store.migrate()
        service = BackupService(store, settings.data_dir, lambda: int(time.time() * 1000),
                                process_name(), lambda: "", settings.sqlite_file)
        if args.command == "restore" or args.backup_command == "create":
            service.start(finished)
        if args.command == "restore":
            with _Bar(out, "restore") as bar:
                job_id = service.restore_offline(Path(args.file), _passcode(args), "cli", bar)
            store.close()
            applied = apply_pending_restore(settings.data_dir, store, settings.sqlite_file)
            store.migrate()
            service.start(applied or job_id)
            print(f"restored {args.file} into {settings.data_dir}", file=out)
        elif args.backup_command == "create":
            with _Bar(out, "backup") as bar:
                job = service.create(args.name, _passcode(args), username="cli",
                                     store=args.store, description=args.description,
                                     retention_date=args.retention_date, wait=True,
                                     progress=bar)
            record = service.find(args.name)
            print(f"backup {record.name}: {service.path_of(record)} ({record.size} bytes, "
                  f"job {job.id})", file=out)
        else:
            for b in service.backups():
                print(f"{b.name}\t{b.store}\t{b.schedule_type}\t{b.size}\t"
                      f"retention {b.retention_date}", file=out)
    except (ServiceError, archive.ArchiveError, RestoreRefusedError, OSError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    finally:
        store.close()
        os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
