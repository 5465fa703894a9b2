"""Throughput and peak memory of gistasks.security.archive (a scratch measurement).

    .venv/bin/python benchmarks/archive_throughput.py [--size-mb 1024] [--dir /tmp]
        [--level 3] [--repeat 3] [--impl path/to/archive.py]

Each measurement runs in a fresh process so its peak RSS (``ru_maxrss``) is its own. The input
files are written first (random bytes; JSON-like text that compresses about 5x) and are in the
page cache when read; the backup is written to the same directory and deleted afterwards.
For each input the backup is written, then read ``--repeat`` times: "read" reads and verifies
(as ``verify``), "restore" also writes each member to a file in the same directory (as a
restore does, without its fsync unless FSYNC is set; the file is deleted afterwards). The best
of the repeats is printed last. ``--impl`` measures another copy of the module (a baseline).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PASSCODE = "benchmark passcode"


def make_inputs(where: Path, size: int) -> dict[str, Path]:
    random_file = where / "random.bin"
    with random_file.open("wb") as f:
        for _ in range(size >> 20):
            f.write(os.urandom(1 << 20))
    text_file = where / "text.jsonl"
    rnd = random.Random(1)
    with text_file.open("wb") as f:
        written = 0
        while written < size:
            lines = b"".join(b'{"id": %d, "name": "item %d", "x": %f, "tags": ["a", "b"]}\n'
                             % (i, rnd.randrange(10**6), rnd.random()) for i in range(20000))
            f.write(lines)
            written += len(lines)
    return {"random": random_file, "text": text_file}


def load(impl: str | None) -> Any:
    if not impl:
        from gistasks.security import archive
        return archive
    spec = importlib.util.spec_from_file_location("archive_under_test", impl)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def child(mode: str, source: str, target: str, level: int) -> float:
    archive = load(os.environ.get("ARCHIVE_IMPL"))
    start = time.perf_counter()
    if mode == "write":
        with open(target, "wb") as out:
            writer = archive.ArchiveWriter(out, PASSCODE, {"name": "bench"}, level=level)
            ready, cpu_ready = time.perf_counter(), time.process_time()
            writer.add_file("data/" + Path(source).name, source)
            writer.finish()
            os.fsync(out.fileno()) if os.environ.get("FSYNC") else None
        size = os.path.getsize(source)
    elif mode == "read":
        with open(target, "rb") as f:
            reader = archive.ArchiveReader(f, PASSCODE)
            ready, cpu_ready = time.perf_counter(), time.process_time()
            size = 0
            for _, pieces in reader.members():
                for piece in pieces:
                    size += len(piece)
    else:  # restore: each member to a file, as services.backups.stage_restore does
        restored = Path(target + ".restored")
        with open(target, "rb") as f:
            reader = archive.ArchiveReader(f, PASSCODE)
            ready, cpu_ready = time.perf_counter(), time.process_time()
            size = 0
            for _, pieces in reader.members():
                fd = os.open(restored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    for piece in pieces:
                        out.write(piece)
                        size += len(piece)
                    out.flush()
                    os.fsync(out.fileno()) if os.environ.get("FSYNC") else None
        end = time.perf_counter()
        restored.unlink()
    end = end if mode == "restore" else time.perf_counter()
    cpu = time.process_time() - cpu_ready
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{mode:7} {Path(source).stem:6} level {level}: {size / (end - ready) / 1e6:5.0f} MB/s"
          f" of content ({end - ready:.2f} s after a KDF of {ready - start:.2f} s; CPU "
          f"{cpu:.2f} s = {size / cpu / 1e6:.0f} MB per CPU-second), archive "
          f"{os.path.getsize(target) / 1e6:.0f} MB, peak RSS {rss:.0f} MB", flush=True)
    return size / (end - ready) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--level", type=int, action="append")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--impl", help="the path of another archive.py to measure")
    parser.add_argument("--mode", action="append", choices=["read", "restore"])
    parser.add_argument("--child", nargs=4)
    args = parser.parse_args()
    if args.child:
        rate = child(args.child[0], args.child[1], args.child[2], int(args.child[3]))
        Path(args.child[2] + ".rate").write_text(str(rate))
        return
    env = dict(os.environ, ARCHIVE_IMPL=os.path.abspath(args.impl) if args.impl else "")
    best: list[str] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        where = Path(tmp)
        inputs = make_inputs(where, args.size_mb << 20)
        for level in args.level or [3]:
            for kind, path in inputs.items():
                target = where / f"{kind}.backup"
                for mode in ("write", *(args.mode or ["read", "restore"])):
                    rates = []
                    for _ in range(1 if mode == "write" else args.repeat):
                        os.sync()  # no writeback of earlier files during a measurement
                        subprocess.run([sys.executable, __file__, "--child", mode, str(path),
                                        str(target), str(level)], check=True, env=env)
                        rates.append(float(Path(str(target) + ".rate").read_text()))
                    best.append(f"{mode:7} {kind:6} level {level}: best {max(rates):5.0f} MB/s "
                                f"of {len(rates)}")
                target.unlink()
    print("\n".join(best))


if __name__ == "__main__":
    main()
