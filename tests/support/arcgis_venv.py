"""A separate virtual environment holding the official ArcGIS API for Python (``arcgis``).

The client is far too heavy (about 640 MB: pandas, pyarrow, matplotlib ...) and too pinned to
live in the project's own environment, so the client tests run it in an interpreter of its own.
That environment is built once and kept in a cache that outlives the work tree:

* ``$GISTASKS_TEST_CACHE/arcgis-<version>`` when the variable is set,
* ``~/.cache/gistasks-tests/arcgis-<version>`` otherwise.

It is built in place under an exclusive ``fcntl`` lock (two pytest processes that start at
once wait for each other), and a marker file written last says it is complete. A directory
without the marker is the remains of a build that died, and is built again. Every use checks
that ``import arcgis`` gives the pinned version; a failing install or check raises, it never
skips: the client tests are the proof that the server speaks the dialect.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

ARCGIS_VERSION = "2.4.4"
# ``six`` is missing from arcgis 2.4.4's declared dependencies: ``gis.admin`` imports it.
# ``ipykernel``: the notebook tests run their kernels in this interpreter, so that a notebook
# can sign in with ``GIS("home")``.
REQUIREMENTS = (f"arcgis=={ARCGIS_VERSION}", "six", "ipykernel")
MARKER = ".gistasks-complete"
INSTALL_TIMEOUT_S = 1200


class ArcgisVenvError(RuntimeError):
    """The arcgis environment could not be built or does not import the pinned version."""


def cache_root() -> Path:
    configured = os.environ.get("GISTASKS_TEST_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "gistasks-tests"


def venv_dir() -> Path:
    return cache_root() / f"arcgis-{ARCGIS_VERSION}"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ArcgisVenvError(f"{what} failed: {exc}") from exc
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-6000:]
        raise ArcgisVenvError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{output}")


def _verify(venv: Path) -> None:
    check = (f"import arcgis, six, ipykernel; "
             f"assert arcgis.__version__ == {ARCGIS_VERSION!r}, arcgis.__version__")
    _run([str(venv_python(venv)), "-c", check], f"import arcgis {ARCGIS_VERSION}", 120)


def _build(venv: Path) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    _run([sys.executable, "-m", "venv", str(venv)], "python -m venv", 300)
    _run([str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
          "--no-input", *REQUIREMENTS], f"pip install {' '.join(REQUIREMENTS)}",
         INSTALL_TIMEOUT_S)
    _verify(venv)
    (venv / MARKER).write_text(f"{' '.join(REQUIREMENTS)}\n")


def ensure_arcgis_venv() -> Path:
    """Return the python of a complete arcgis environment, building it first if needed."""
    venv = venv_dir()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (venv / MARKER).exists():
            wanted = f"{' '.join(REQUIREMENTS)}\n"
            if (venv / MARKER).read_text() != wanted:  # built with fewer: add the rest
                _run([str(venv_python(venv)), "-m", "pip", "install",
                      "--disable-pip-version-check", "--no-input", *REQUIREMENTS],
                     f"pip install {' '.join(REQUIREMENTS)}", INSTALL_TIMEOUT_S)
                (venv / MARKER).write_text(wanted)
            try:
                _verify(venv)
                return venv_python(venv)
            except ArcgisVenvError:
                # A cached environment can break under it (its base python was replaced):
                # build it again, once.
                (venv / MARKER).unlink()
        _build(venv)
    return venv_python(venv)


if __name__ == "__main__":
    print(ensure_arcgis_venv())
