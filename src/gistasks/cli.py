"""The ``gistasks`` command: ``serve`` and ``cron``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TextIO

from gistasks import __version__
from gistasks.config import ConfigError, resolve
from gistasks.cron import DST_GAP_POLICIES, DST_OVERLAP_POLICIES, CronExpression, CronSyntaxError


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

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the schema migrations")
    upgrade.add_argument("--data-dir", help="data directory (for the default SQLite database)")
    upgrade.add_argument("--database", help="database URL")

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
        if args.command == "db":
            settings = resolve(data_dir=args.data_dir, database=args.database)
        else:
            settings = resolve(data_dir=args.data_dir, host=args.host, port=args.port,
                               database=args.database, context=args.context)
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return 2
    if args.command == "db":
        from gistasks.store import Store

        store = Store(settings.database_url)
        store.migrate()
        print(f"database {store.engine.url.render_as_string(hide_password=True)} is up to date",
              file=out)
        store.close()
        return 0
    from gistasks.server import serve

    serve(settings, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
