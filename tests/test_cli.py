"""The command line: `gistasks cron`, and what `serve` and `db` refuse or do before serving."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from gistasks.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cron_prints_description_and_next_fire_times() -> None:
    code, out, _ = run("cron", "0 0 4 ? * 7", "--after", "2026-11-23T00:00:00+00:00",
                       "--count", "2")
    assert code == 0
    assert out.splitlines() == [
        "0 0 4 ? * 7  (UTC)",
        "At 04:00:00 UTC, only on Saturday",
        "  2026-11-28T04:00:00+00:00  (2026-11-28T04:00:00Z)",
        "  2026-12-05T04:00:00+00:00  (2026-12-05T04:00:00Z)",
    ]


def test_cron_in_a_time_zone_shows_local_and_utc_times() -> None:
    code, out, _ = run("cron", "0 30 2 * * ?", "--tz", "Europe/Berlin", "--after",
                       "2024-03-30T12:00", "--count", "1")
    assert code == 0
    assert "2024-03-31T03:00:00+02:00  (2024-03-31T01:00:00Z)" in out


def test_cron_syntax_error_is_printed_with_exit_status_1() -> None:
    code, out, err = run("cron", "0 0 4 ? * 8")
    assert code == 1 and out == ""
    assert err.startswith("error: dayOfWeek: 8 is outside 1-7")


def test_cron_that_never_fires_says_so() -> None:
    code, out, _ = run("cron", "0 0 0 30 2 ?")
    assert code == 0 and "no fire time before the horizon" in out


def test_cron_rejects_a_bad_after_time() -> None:
    code, _, err = run("cron", "0 0 * * * ?", "--after", "yesterday")
    assert code == 2 and "not an ISO 8601 time" in err


def test_python_dash_m_gistasks_runs_the_same_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gistasks", "cron", "0 0 12 15W * ?", "--count", "1"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert "On the weekday nearest day 15".lower() in proc.stdout.lower()


def test_serve_rejects_a_bad_port_before_starting() -> None:
    code, _, err = run("serve", "--port", "70000")
    assert code == 2 and "--port: 70000 is outside 1-65535" in err


@pytest.mark.parametrize(("var", "value", "message"), [
    ("GISTASKS_TOKEN_MAX_MINUTES", "two weeks",
     "GISTASKS_TOKEN_MAX_MINUTES: 'two weeks' must be a whole number of minutes"),
    ("GISTASKS_LEASE_SECONDS", "soon", "GISTASKS_LEASE_SECONDS: 'soon' must be a positive"),
    ("GISTASKS_WORKERS", "nan", "GISTASKS_WORKERS: 'nan' must be a positive"),
    ("GISTASKS_SHUTDOWN_GRACE_SECONDS", "-5",
     "GISTASKS_SHUTDOWN_GRACE_SECONDS: '-5' must be a positive"),
    ("GISTASKS_HISTORY_USER", "1e400", "GISTASKS_HISTORY_USER: '1e400' must be a positive"),
])
def test_serve_names_a_bad_setting_and_writes_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, var: str, value: str,
        message: str) -> None:
    monkeypatch.setenv(var, value)
    data = tmp_path / "data"
    code, _, err = run("serve", "--data-dir", str(data))
    assert code == 2 and message in err
    assert not data.exists()


def test_db_upgrade_creates_the_schema_and_is_idempotent(tmp_path: object) -> None:
    from gistasks.store import Store

    data = Path(str(tmp_path))
    for _ in range(2):
        code, out, _ = run("db", "upgrade", "--data-dir", str(data))
        assert code == 0 and "is up to date" in out
    store = Store(f"sqlite:///{data / 'gistasks.db'}")
    assert store.tasks.count() == 0
    store.close()
