"""The notebook engine with real kernels (no mocks): what runs, where, for how long, and that
no kernel outlives its run.

Most tests share one engine with a pool of two pre-started kernels (a run takes ~0.1 s);
those that need another configuration make their own (a cold kernel start is ~0.5 s).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gistasks.notebooks import (
    INJECTED_TAG,
    EngineClosedError,
    EngineConfig,
    Limits,
    NoSlotError,
    NotebookEngine,
    NotebookError,
    Outcome,
    read_notebook,
)
from gistasks.notebooks.engine import remove_abandoned_runtime_dirs
from tests.notebooks import gone, notebook_bytes, stream_text, wait_until

PID_CELL = "import os\nprint('pid', os.getpid())"


def printed_pid(text: str) -> int:
    return int(text.split("pid", 1)[1].split()[0])


@pytest.fixture(scope="module")
def engine() -> Iterator[NotebookEngine]:
    with NotebookEngine(EngineConfig(pool_size=2, max_concurrent=4)) as e:
        yield e


@pytest.fixture(scope="module")
def cold_engine() -> Iterator[NotebookEngine]:
    with NotebookEngine(EngineConfig(pool_size=0, max_concurrent=2)) as e:
        yield e


# -- what runs ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dict", "json text"])
def test_the_executed_notebook_shows_the_injected_values_and_every_output(
        engine: NotebookEngine, form: str) -> None:
    params = {"x": 5, "name": "Ada", "flag": True, "missing": None, "items": [1, {"k": False}]}
    given = params if form == "dict" else (
        '{"x": 5, "name": "Ada", "flag": true, "missing": null, "items": [1, {"k": false}]}')
    data = notebook_bytes(("x = 1\nname = 'default'", ["parameters"]),
                          "print(x, name, flag, missing, items)", "x * 2")
    result = engine.run(data, time_limit_s=30, parameters=given, save_injected_parameters=True)
    assert result.outcome is Outcome.SUCCEEDED, result.message
    assert result.message == "Notebook executed successfully."
    assert result.parameters == params
    cells = result.notebook.cells
    assert cells[1].metadata.tags == [INJECTED_TAG]
    assert cells[1].source.splitlines()[-1] == "items = [1, {'k': False}]"
    assert stream_text(result.notebook, 2) == "5 Ada True None [1, {'k': False}]\n"
    assert cells[3].outputs[0].data["text/plain"] == "10"
    assert [c.execution_count for c in cells] == [1, 2, 3, 4]
    assert result.notebook.metadata.language_info.name == "python"


def test_without_saving_the_injected_cell_is_dropped_and_the_other_outputs_kept(
        engine: NotebookEngine) -> None:
    data = notebook_bytes(("x = 1", ["parameters"]), "print(x)")
    result = engine.run(data, time_limit_s=30, parameters={"x": 7})
    assert result.succeeded
    assert [c.source for c in result.notebook.cells] == ["x = 1", "print(x)"]
    assert stream_text(result.notebook, 1) == "7\n"
    read_notebook(result.notebook_bytes())  # still a valid notebook


def test_an_old_injected_cell_is_replaced_and_its_values_not_used(
        engine: NotebookEngine) -> None:
    first = engine.run(notebook_bytes(("x = 1", ["parameters"]), "print(x)"), time_limit_s=30,
                       parameters={"x": 2}, save_injected_parameters=True)
    again = engine.run(first.notebook_bytes(), time_limit_s=30, parameters={"x": 3},
                       save_injected_parameters=True)
    assert again.succeeded
    assert [c.source.splitlines()[0] for c in again.notebook.cells] == [
        "x = 1", "# Parameters", "print(x)"]
    assert stream_text(again.notebook, 2) == "3\n"


def test_bad_parameter_names_are_refused_before_any_kernel_runs(engine: NotebookEngine) -> None:
    with pytest.raises(ValueError, match="'not valid'"):
        engine.run(notebook_bytes("1"), time_limit_s=30, parameters={"not valid": 1})
    with pytest.raises(ValueError, match="JSON object"):
        engine.run(notebook_bytes("1"), time_limit_s=30, parameters="[1]")
    assert engine.running == 0 and engine.slots.in_use == 0


def test_an_oversize_notebook_is_refused(engine: NotebookEngine, tmp_path: Path) -> None:
    small = NotebookEngine(EngineConfig(pool_size=0, limits=Limits(max_notebook_bytes=2000)))
    try:
        with pytest.raises(NotebookError, match="larger than 2000 bytes"):
            small.run(notebook_bytes("x = '" + "a" * 3000 + "'"), time_limit_s=30)
    finally:
        small.shutdown()
    assert not small.runtime_dir.exists()


def test_a_failing_cell_is_named_with_its_error(engine: NotebookEngine) -> None:
    data = notebook_bytes("print('before')", "\n\ndef f():\n    return 1 / 0\nf()",
                          "print('never')")
    result = engine.run(data, time_limit_s=30)
    assert result.outcome is Outcome.FAILED
    assert result.cell is not None and result.error is not None
    assert (result.cell.index, result.cell.execution_count, result.cell.first_line) == (
        1, 2, "def f():")
    assert (result.error.ename, result.error.evalue) == ("ZeroDivisionError", "division by zero")
    assert "\x1b" not in result.error.traceback
    assert "return 1 / 0" in result.error.traceback
    assert result.message == ("Cell 2 (In [2]: def f():) failed: "
                              "ZeroDivisionError: division by zero")
    assert stream_text(result.notebook, 0) == "before\n"
    assert result.notebook.cells[1].outputs[-1].output_type == "error"
    assert result.notebook.cells[2].outputs == []


def test_a_long_traceback_is_cut_to_its_end(engine: NotebookEngine) -> None:
    result = engine.run(notebook_bytes("raise ValueError('x' * 10000)"), time_limit_s=30)
    assert result.error is not None
    assert len(result.error.traceback) == engine.limits.max_traceback_chars
    assert result.error.traceback.startswith("…") and result.error.traceback.endswith("xxx")


def test_a_cell_that_prints_without_end_keeps_only_its_bound(tmp_path: Path) -> None:
    limits = Limits(max_output_per_cell=100_000, max_output_total=150_000)
    with NotebookEngine(EngineConfig(pool_size=0, limits=limits)) as small:
        result = small.run(notebook_bytes(
            "for i in range(30_000): print('line', i)",
            "print('x' * 80_000)", "print('after')", "1 / 0"), time_limit_s=60)
    assert result.outcome is Outcome.FAILED  # the last cell's error is still kept
    first = stream_text(result.notebook, 0)
    assert 100_000 < len(first) < 101_000
    assert "output truncated: more than 100000 (this cell's) characters" in first
    second = stream_text(result.notebook, 1)
    assert "(the whole run's)" in second and len(second) < 51_000
    assert "after" not in stream_text(result.notebook, 2)
    assert result.notebook.cells[3].outputs[0].ename == "ZeroDivisionError"


# -- where it runs -----------------------------------------------------------------------


ENV_CWD_CELL = ("import os\nprint(os.getcwd())\nprint(os.environ.get('NB_AUTH_FILE'))\n"
                "print(os.environ.get('NB_OWNER'))\nprint(open('data.txt').read())\n"
                "print('GISTASKS_SECRET' in os.environ)")


def _check_env_and_cwd(engine: NotebookEngine, tmp_path: Path, warm: bool) -> None:
    (tmp_path / "data.txt").write_text("local file")
    result = engine.run(notebook_bytes(ENV_CWD_CELL), time_limit_s=30, cwd=tmp_path,
                        env={"NB_AUTH_FILE": "/run/auth.json", "NB_OWNER": "erin"})
    assert result.succeeded, result.message
    assert result.warm is warm
    assert stream_text(result.notebook, 0).splitlines() == [
        str(tmp_path), "/run/auth.json", "erin", "local file", "False"]


def test_cwd_and_env_are_applied_on_a_pre_started_kernel(
        engine: NotebookEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GISTASKS_SECRET", "server only")  # kernels started from now on too
    assert wait_until(lambda: engine.pool.idle > 0)
    _check_env_and_cwd(engine, tmp_path, warm=True)


def test_cwd_and_env_are_applied_on_a_kernel_started_for_the_run(
        cold_engine: NotebookEngine, tmp_path: Path) -> None:
    _check_env_and_cwd(cold_engine, tmp_path, warm=False)


def test_a_module_in_the_notebook_folder_can_be_imported(
        engine: NotebookEngine, tmp_path: Path) -> None:
    (tmp_path / "helper_mod_xyz.py").write_text("VALUE = 42\n")
    result = engine.run(notebook_bytes("import helper_mod_xyz\nprint(helper_mod_xyz.VALUE)"),
                        time_limit_s=30, cwd=tmp_path)
    assert stream_text(result.notebook, 0) == "42\n", result.message


def test_what_a_run_leaves_in_its_ipython_profile_does_not_reach_the_next_run(
        engine: NotebookEngine) -> None:
    plant = ("import os\nstartup = get_ipython().profile_dir.startup_dir\n"
             "open(os.path.join(startup, '00-x.py'), 'w').write('PLANTED = 1')\n"
             "print(startup)")
    first = engine.run(notebook_bytes(plant), time_limit_s=30)
    assert first.succeeded, first.message
    assert not Path(stream_text(first.notebook, 0).strip()).exists()
    second = engine.run(notebook_bytes("print('PLANTED' in globals())"), time_limit_s=30)
    assert stream_text(second.notebook, 0) == "False\n"


def test_without_a_cwd_a_run_gets_an_empty_directory_removed_after(
        engine: NotebookEngine) -> None:
    result = engine.run(notebook_bytes("import os\nprint(os.getcwd())\nprint(os.listdir())"),
                        time_limit_s=30)
    where, listing = stream_text(result.notebook, 0).splitlines()
    assert listing == "[]" and not Path(where).exists()


def test_a_kernel_over_tcp_runs_the_same() -> None:
    with NotebookEngine(EngineConfig(pool_size=0, transport="tcp")) as tcp:
        assert tcp.launcher.transport == "tcp"
        result = tcp.run(notebook_bytes("print(6 * 7)"), time_limit_s=30)
    assert stream_text(result.notebook, 0) == "42\n", result.message


def test_another_interpreter_runs_the_kernel(tmp_path: Path) -> None:
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f"#!/bin/sh\nGISTASKS_TEST_WRAPPER=yes exec {sys.executable} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    config = EngineConfig(pool_size=0, python=str(wrapper), inherit_env=("PATH",))
    with NotebookEngine(config) as other:
        result = other.run(notebook_bytes(
            "import os\nprint(os.environ.get('GISTASKS_TEST_WRAPPER'))"), time_limit_s=30)
    assert stream_text(result.notebook, 0) == "yes\n", result.message


def test_an_interpreter_without_ipykernel_is_a_kernel_that_did_not_start(
        tmp_path: Path) -> None:
    bare = Path(sys.base_prefix) / "bin" / "python3"
    with NotebookEngine(EngineConfig(pool_size=0, python=str(bare))) as other:
        result = other.run(notebook_bytes("1"), time_limit_s=30)
        missing = other.run(notebook_bytes("1"), time_limit_s=30)
    assert result.outcome is Outcome.KERNEL_DIED
    assert "ipykernel" in result.message and result.cell is None, result.message
    assert missing.outcome is Outcome.KERNEL_DIED
    with NotebookEngine(EngineConfig(pool_size=0, python=str(tmp_path / "nope"))) as none:
        result = none.run(notebook_bytes("1"), time_limit_s=30)
    assert result.outcome is Outcome.KERNEL_DIED and "could not be started" in result.message


# -- for how long ------------------------------------------------------------------------


def test_a_notebook_that_never_ends_is_killed_at_its_time_limit(engine: NotebookEngine) -> None:
    data = notebook_bytes(PID_CELL + "\nimport subprocess\n"
                          "child = subprocess.Popen(['sleep', '600'])\nprint('child', child.pid)",
                          "n = 0\nwhile True:\n    n += 1")
    started = time.monotonic()
    result = engine.run(data, time_limit_s=1.5)
    took = time.monotonic() - started
    assert result.outcome is Outcome.TIMED_OUT
    assert 1.5 <= took < 3.0
    assert result.cell is not None and (result.cell.index, result.cell.first_line) == (1, "n = 0")
    assert result.message == ("The run's time limit of 1.5 s was reached in cell 2 "
                              "(In [2]: n = 0).")
    printed = stream_text(result.notebook, 0)
    assert result.kernel_pid == printed_pid(printed)
    assert gone(result.kernel_pid)
    child = int(printed.split("child", 1)[1].split()[0])
    assert wait_until(lambda: gone(child), 5), "the kernel's own child outlived it"
    assert result.notebook.cells[1].outputs[-1].ename == "TimeoutError"


def test_cancelling_kills_the_kernel(engine: NotebookEngine) -> None:
    cancel = threading.Event()
    threading.Timer(0.8, cancel.set).start()
    started = time.monotonic()
    result = engine.run(notebook_bytes(PID_CELL, "import time\ntime.sleep(60)"),
                        time_limit_s=30, cancel=cancel)
    assert time.monotonic() - started < 3
    assert result.outcome is Outcome.CANCELLED
    assert result.message == "The run was cancelled in cell 2 (In [2]: import time)."
    assert result.kernel_pid is not None and gone(result.kernel_pid)


def test_a_kernel_that_dies_in_a_cell_is_reported_naming_the_cell(
        engine: NotebookEngine) -> None:
    result = engine.run(notebook_bytes("print(1)", "import os\nos._exit(3)"), time_limit_s=30)
    assert result.outcome is Outcome.KERNEL_DIED
    assert result.cell is not None and result.cell.index == 1
    assert result.message == "The kernel died in cell 2 (In [2]: import os) (exit status 3)."


def test_shutdown_kills_running_and_idle_kernels() -> None:
    own = NotebookEngine(EngineConfig(pool_size=1))
    own.start()
    assert wait_until(lambda: own.pool.idle == 1)
    idle = own.pool.idle_pids()
    results = []
    runner = threading.Thread(target=lambda: results.append(own.run(
        notebook_bytes("import time\nwhile True: time.sleep(0.01)"), time_limit_s=60)))
    runner.start()
    assert wait_until(lambda: own.running == 1)
    time.sleep(0.5)
    own.shutdown()
    runner.join(5)
    (result,) = results
    assert result.outcome is Outcome.CANCELLED and "shut down" in result.message
    assert result.kernel_pid is not None and gone(result.kernel_pid)
    assert all(gone(pid) for pid in idle + own.pool.idle_pids())
    with pytest.raises(EngineClosedError):
        own.run(notebook_bytes("1"), time_limit_s=5)


ORPHAN_SCRIPT = """
import os, signal, sys, time
from gistasks.notebooks import EngineConfig, NotebookEngine
engine = NotebookEngine(EngineConfig(pool_size=1))
engine.start()
while not engine.pool.idle:
    time.sleep(0.01)
print(engine.pool.idle_pids()[0], engine.runtime_dir, flush=True)
if sys.argv[1] == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
"""


# Slow-ish (~2 s each): a Python of its own that starts a kernel.
@pytest.mark.parametrize("how", ["exits", "killed"])
def test_kernels_do_not_outlive_a_server_that_ends_without_shutdown(how: str) -> None:
    done = subprocess.run([sys.executable, "-c", ORPHAN_SCRIPT, how], capture_output=True,
                          text=True, timeout=60, check=False)
    pid_text, runtime_dir = done.stdout.split()
    pid = int(pid_text)
    if how == "exits":  # atexit: killed at once, the runtime directory removed
        assert done.returncode == 0 and gone(pid) and not Path(runtime_dir).exists()
    else:  # SIGKILL: ipykernel sees its parent gone (JPY_PARENT_PID) within about a second
        assert done.returncode == -9
        assert wait_until(lambda: gone(pid), 5)
        # and the next engine made on this machine removes what the dead one left
        assert Path(runtime_dir) in remove_abandoned_runtime_dirs(Path(runtime_dir).parent)
        assert not Path(runtime_dir).exists()


# -- the pool ----------------------------------------------------------------------------


def test_a_pooled_kernel_serves_one_run_only(engine: NotebookEngine) -> None:
    assert wait_until(lambda: engine.pool.idle == 2)
    first = engine.run(notebook_bytes(PID_CELL), time_limit_s=30)
    second = engine.run(notebook_bytes(PID_CELL), time_limit_s=30)
    pids = [printed_pid(stream_text(r.notebook, 0)) for r in (first, second)]
    assert first.warm and second.warm
    assert pids[0] != pids[1] and pids == [first.kernel_pid, second.kernel_pid]
    assert gone(pids[0]) and gone(pids[1])
    assert wait_until(lambda: engine.pool.idle == 2)  # both replaced
    assert not set(pids) & set(engine.pool.idle_pids())


def test_a_kernel_that_died_while_idle_is_never_handed_out() -> None:
    with NotebookEngine(EngineConfig(pool_size=1)) as own:
        assert wait_until(lambda: own.pool.idle == 1)
        (victim,) = own.pool.idle_pids()
        os.kill(victim, 9)
        assert wait_until(lambda: gone(victim))
        result = own.run(notebook_bytes(PID_CELL), time_limit_s=30)
        assert result.succeeded and result.kernel_pid != victim
        assert own.pool.discarded == 1
        assert wait_until(lambda: own.pool.idle == 1)
        assert own.pool.idle_pids() != [victim]


def test_the_filler_replaces_an_idle_kernel_that_died() -> None:
    with NotebookEngine(EngineConfig(pool_size=1)) as own:
        assert wait_until(lambda: own.pool.idle == 1)
        (victim,) = own.pool.idle_pids()
        os.kill(victim, 9)
        assert wait_until(lambda: own.pool.idle_pids() not in ([], [victim]), 5)
        assert own.pool.discarded == 1


# -- the concurrency cap -----------------------------------------------------------------


def test_at_most_max_concurrent_runs_execute_and_the_caller_chooses_to_wait_or_skip(
        cold_engine: NotebookEngine) -> None:
    first = cold_engine.try_acquire()
    second = cold_engine.acquire(timeout_s=1)
    assert first is not None and second is not None
    assert cold_engine.try_acquire() is None
    started = time.monotonic()
    assert cold_engine.acquire(timeout_s=0.2) is None
    assert 0.2 <= time.monotonic() - started < 1
    with pytest.raises(NoSlotError):
        cold_engine.run(notebook_bytes("1"), time_limit_s=30, wait_s=0)
    threading.Timer(0.3, first.release).start()
    result = cold_engine.run(notebook_bytes("1"), time_limit_s=30, wait_s=5)  # waits for it
    assert result.succeeded
    result = cold_engine.run(notebook_bytes("1"), time_limit_s=30, slot=second)
    assert result.succeeded and not second.held  # the run gave the caller's slot back
    assert cold_engine.slots.in_use == 0


def test_concurrent_runs_from_many_threads_each_get_their_own_kernel(
        engine: NotebookEngine) -> None:
    results = []
    lock = threading.Lock()

    def work(i: int) -> None:
        r = engine.run(notebook_bytes(PID_CELL + f"\nprint('n', {i})"), time_limit_s=30,
                       parameters={"i": i})
        with lock:
            results.append(r)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 6 and all(r.succeeded for r in results)
    assert len({r.kernel_pid for r in results}) == 6
    assert engine.slots.in_use == 0


def test_a_run_leaves_no_file_behind_and_connection_files_are_private(
        cold_engine: NotebookEngine) -> None:
    before = set(os.listdir(cold_engine.runtime_dir))
    result = cold_engine.run(notebook_bytes("print(1)"), time_limit_s=30)
    assert result.succeeded
    assert set(os.listdir(cold_engine.runtime_dir)) == before
    assert cold_engine.runtime_dir.stat().st_mode & 0o777 == 0o700
