"""Deployment keys and private files: what only the server's account may read.

Every file the server writes into its data directory is created 0600 and every folder 0700,
whatever the umask: the directory holds the database (password hashes), the keys that sign
tokens and seal secrets, and the TLS key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(directory: Path) -> Path:
    """``directory``, created if missing, with mode 0700."""
    directory.mkdir(parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != PRIVATE_DIR:
        directory.chmod(PRIVATE_DIR)
    return directory


def write_private(path: Path, data: bytes, *, exclusive: bool = False,
                  durable: bool = False) -> None:
    """Write ``data`` to ``path`` with mode 0600 from its first byte on.

    ``exclusive``: fail with FileExistsError if the file exists (first-start secrets that two
    processes might race to create). Otherwise the file is replaced atomically; ``durable``:
    and the file and its directory are on disk before this returns (a mark that a crash must
    not lose or leave half-written).
    """
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(partial, path)
        if durable:
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def make_private(directory: Path) -> int:
    """Tighten an existing data directory: folders 0700, files 0600 (deployments made before
    this rule, or files copied in by hand). Symbolic links are left alone. Returns how many
    modes were changed."""
    changed = 0
    for root, dirs, files in os.walk(directory):
        for name, wanted in [(d, PRIVATE_DIR) for d in dirs] + [(f, PRIVATE_FILE)
                                                                 for f in files]:
            path = Path(root, name)
            if path.is_symlink():
                continue
            if stat.S_IMODE(path.stat().st_mode) != wanted:
                path.chmod(wanted)
                changed += 1
    if stat.S_IMODE(directory.stat().st_mode) != PRIVATE_DIR:
        directory.chmod(PRIVATE_DIR)
        changed += 1
    return changed


def load_key(directory: Path, name: str) -> bytes:
    """A 32-byte deployment key, created 0600 on first use. Nodes of a cluster share the data
    directory, so they share the key; two nodes starting at once agree on the first one."""
    path = directory / name
    if not path.exists():
        private_dir(directory)
        with contextlib.suppress(FileExistsError):  # another node made it first
            write_private(path, secrets.token_bytes(32), exclusive=True)
    key = path.read_bytes()
    if len(key) < 32:
        raise ValueError(f"{path} holds {len(key)} bytes; a deployment key has 32")
    return key
