"""The file format of a gistasks backup: a public header, then members, compressed and sealed.

A backup is one file. Its header is in the clear (a backup can be listed without its passcode)
but authenticated; what follows it is a zstandard stream of a simple container of named members
(files of the data directory, a database dump), cut into chunks sealed with AES-256-GCM under a
key derived from a passcode with scrypt, the way age (the STREAM construction) and restic do
it. No chunk can be altered, dropped, reordered, truncated, or swapped with a chunk of another
backup (even one made with the same passcode and the same header) without detection.

This module is a layer of primitives over bytes: it decides nothing about what goes into a
backup or how it is restored. Everything a reader gets is untrusted until ``members()`` has
been read to its end: only then are the manifest and the end of the file checked. A restore
should write into a fresh place and adopt it only after that.

Layout (format version 1; integers are unsigned big-endian)::

    magic      b"gistasks-backup/1\\n"         the version is the decimal number after "/"
    length     u32                             of the header JSON, at most 64 KiB
    header     UTF-8 JSON object               {"format": F, "header": H}
    tag        32 bytes                        HMAC-SHA256(K_header, magic || length || header)
    chunks     ...                             the sealed payload, to the end of the file

``H`` is the writer's public metadata, as given (the caller decides: name, times, sizes…).
``F`` is exactly ``{"kdf": "scrypt", "salt": b64(16 random bytes), "n": N, "r": r, "p": p,
"key_salt": b64(32 random bytes), "cipher": "aes-256-gcm", "compression": "zstd",
"chunk_size": C}`` (standard base64 with padding).

Keys: ``S = scrypt(NFC(passcode) as UTF-8, salt, N, r, p, 32 bytes)``; ``K_header`` and
``K_payload`` are HKDF-SHA256 of ``S`` with the salt ``key_salt`` and the infos
``b"gistasks-backup/1 header"`` and ``b"gistasks-backup/1 payload"``. A wrong passcode and an
altered header both show as a tag mismatch, and cannot be told apart: ``WrongPasscode`` says so.
The reader refuses scrypt parameters outside ``2**10 <= N <= 2**20`` (a power of two),
``1 <= r <= 16``, ``1 <= p <= 4``, ``128 * N * r <= 256 MiB`` before deriving anything.

Chunks: the payload (the zstandard stream) is cut into pieces of ``C`` bytes (``1 KiB <= C <=
8 MiB``, default 1 MiB), the last one shorter or as long (never empty: the payload never is).
Piece ``i`` is stored as ``AES-256-GCM(K_payload, nonce, piece, aad)`` (the piece and its
16-byte tag), with ``nonce = i as 11 bytes || flag`` where ``flag`` is 1 for the last piece
and 0 for the others, and ``aad = SHA-256(magic || length || header || tag)``. Every chunk but
the last is exactly ``C + 16`` bytes. The key is unique to the file (random salts), the nonce
unique to the position, the flag marks the end: a file cut at a chunk boundary has no last
chunk, a chunk after the last one or trailing bytes fail their tag, a chunk from elsewhere
fails its tag (``CorruptArchive``).

Payload: one zstandard frame (level 1 to 19, default 3; the reader allows windows up to
``2**27`` bytes and takes its output in bounded steps) of records, each a type byte::

    b"F" u32 n, n bytes of JSON {"name": name}     a member (n <= 64 KiB), then its content:
         (u32 m, m bytes)*  u32 0                  blocks of m <= 4 MiB bytes, an empty one last
    b"M" u32 n, n bytes of JSON                    the manifest (n <= 256 MiB), after the members:
         {"members": [{"name", "size", "sha256"}...], "extra": {...}}  (sha256 in lowercase hex)
    b"E"                                           the end; nothing may follow it

Member names are relative POSIX paths: not empty, at most 4096 bytes of UTF-8, no leading
``/``, no empty, ``.`` or ``..`` component, no NUL and no backslash. The writer refuses others
(and a name used twice) with ValueError; the reader raises CorruptArchive. The manifest must
list the members read, in order, with their sizes and SHA-256, each name once.

The writer and the reader each use a second thread: the writer reads and hashes in the
caller's thread while a worker compresses, encrypts and writes; the reader reads, decrypts and
decompresses (in bounded steps) in a worker while the caller's thread parses and hashes (and
writes what it is given: hashlib, zstandard and file writes release the GIL). Their memory is
bounded by a few chunks or steps, the zstandard window and (for the reader) the manifest.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import queue
import stat
import struct
import threading
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO, Final, cast

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gistasks import jsonsafe

FORMAT_VERSION: Final = 1
MAGIC_PREFIX: Final = b"gistasks-backup/"
MAGIC: Final = MAGIC_PREFIX + b"%d\n" % FORMAT_VERSION
MIN_PASSCODE: Final = 8
"""Characters of a passcode, at least (the writer refuses shorter ones)."""

MAX_HEADER: Final = 64 * 1024
MAX_MEMBER_HEADER: Final = 64 * 1024
MAX_BLOCK: Final = 4 * 1024 * 1024
MAX_MANIFEST: Final = 256 * 1024 * 1024
MAX_NAME: Final = 4096
MIN_CHUNK: Final = 1024
MAX_CHUNK: Final = 8 * 1024 * 1024
MAX_WINDOW: Final = 2**27
MIN_SCRYPT_N: Final = 2**10
MAX_SCRYPT_N: Final = 2**20
MAX_SCRYPT_R: Final = 16
MAX_SCRYPT_P: Final = 4
MAX_SCRYPT_MEMORY: Final = 256 * 1024 * 1024
DEFAULT_SCRYPT_N: Final = 2**17
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1

_TAG: Final = 16
_MAC: Final = 32
_BLOCK: Final = 1 << 20
"""The writer's blocks (file reads); the reader's steps of output."""
_POOL: Final = 4
"""Buffers of ``_BLOCK`` bytes between the writer's threads."""
_STEPS: Final = 4
"""Steps of decompressed output (at most ``_BLOCK`` bytes each) queued between the reader's."""
_POLL: Final = 0.25
_ZSTD_THREADS: Final = 2
"""zstandard's own compression threads (twice the speed on compressible data on 2 cores)."""
_U32 = struct.Struct(">I")
_MEMBER, _MANIFEST, _END = b"F", b"M", b"E"
_FORMAT_KEYS = frozenset({"kdf", "salt", "n", "r", "p", "key_salt", "cipher", "compression",
                          "chunk_size"})


class ArchiveError(Exception):
    """A backup that cannot be written or read; the message is meant for the user."""


class WrongPasscode(ArchiveError):  # noqa: N818 - the name says it
    """The header's tag does not match: the passcode is wrong, or the header was altered."""


class CorruptArchive(ArchiveError):  # noqa: N818
    """Altered, truncated, reordered, a chunk of another backup, a bad record."""


class UnsupportedArchive(ArchiveError):  # noqa: N818
    """Not a gistasks backup, or one of a format version this gistasks does not read."""


@dataclass(frozen=True)
class Member:
    """A member written: its name, its size in bytes and its SHA-256 (lowercase hex)."""

    name: str
    size: int
    sha256: str


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a member (a sentence), or None if it can."""
    if not isinstance(name, str) or not name:
        return "a member's name must be a non-empty string"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "a member's name must be Unicode text"
    if size > MAX_NAME:
        return f"a member's name is at most {MAX_NAME} bytes"
    if "\x00" in name or "\\" in name:
        return f"the member name {name[:80]!r} holds a NUL or a backslash"
    if name.startswith("/"):
        return f"the member name {name[:80]!r} is not a relative path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return f"the member name {name[:80]!r} has an empty, '.' or '..' component"
    return None


# --- the header -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prefix:
    raw: bytes
    """Everything before the tag."""
    tag: bytes
    header: dict[str, Any]
    salt: bytes
    key_salt: bytes
    n: int
    r: int
    p: int
    chunk_size: int


def _scrypt_problem(n: object, r: object, p: object) -> str | None:
    if not all(type(v) is int for v in (n, r, p)):
        return "its scrypt parameters are not integers"
    assert isinstance(n, int) and isinstance(r, int) and isinstance(p, int)
    if not (MIN_SCRYPT_N <= n <= MAX_SCRYPT_N and n & (n - 1) == 0):
        return f"its scrypt parameter N={n} is not a power of two from 2**10 to 2**20"
    if not (1 <= r <= MAX_SCRYPT_R and 1 <= p <= MAX_SCRYPT_P):
        return f"its scrypt parameters r={r}, p={p} are out of bounds"
    if 128 * n * r > MAX_SCRYPT_MEMORY:
        return f"its scrypt parameters N={n}, r={r} need more than 256 MiB"
    return None


def _gather(take: Callable[[int], bytes | bytearray | memoryview], size: int,
            ends: str) -> bytes | bytearray:
    """Exactly ``size`` bytes from ``take`` (which may give fewer at a time), without
    allocating ``size`` up front (a length read is not an allocation of it); CorruptArchive
    with ``ends`` when the source ends first."""
    data = take(size)
    if len(data) == size:
        return bytes(data)
    gathered = bytearray(data)
    while len(gathered) < size:
        more = take(size - len(gathered))
        if not more:
            raise CorruptArchive(ends)
        gathered += more
    return gathered


def _read_exact(f: BinaryIO, size: int, what: str) -> bytes:
    return bytes(_gather(f.read, size, f"the backup is truncated: it ends inside {what}"))


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) > 128:
        raise CorruptArchive(f"the backup's header is damaged: {what} is not base64")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise CorruptArchive(f"the backup's header is damaged: {what} is not base64") from None
    if not 16 <= len(data) <= 64:
        raise CorruptArchive(f"the backup's header is damaged: {what} has a wrong length")
    return data


def _read_prefix(f: BinaryIO) -> _Prefix:
    start = f.read(len(MAGIC_PREFIX))
    if start != MAGIC_PREFIX:
        raise UnsupportedArchive("this file is not a gistasks backup")
    digits = b""
    while True:
        byte = f.read(1)
        if byte == b"\n" and digits:
            break
        if not byte.isdigit() or len(digits) >= 6:
            raise UnsupportedArchive("this file is not a gistasks backup (its first line)")
        digits += byte
    version = int(digits)
    if version != FORMAT_VERSION:
        newer = " (made by a newer gistasks)" if version > FORMAT_VERSION else ""
        raise UnsupportedArchive(f"this backup is of format version {version}{newer}; this "
                                 f"gistasks reads version {FORMAT_VERSION}")
    raw_length = _read_exact(f, 4, "its header")
    (length,) = _U32.unpack(raw_length)
    if length > MAX_HEADER:
        raise CorruptArchive(f"the backup's header claims {length} bytes, more than "
                             f"{MAX_HEADER}: the file is damaged")
    text = _read_exact(f, length, "its header")
    tag = _read_exact(f, _MAC, "its header")
    try:
        value = jsonsafe.loads(text.decode("utf-8"), max_bytes=MAX_HEADER)
    except (UnicodeDecodeError, jsonsafe.JsonError):
        raise CorruptArchive("the backup's header is damaged (not JSON)") from None
    if not (isinstance(value, dict) and set(value) == {"format", "header"}
            and isinstance(value["format"], dict) and isinstance(value["header"], dict)):
        raise CorruptArchive("the backup's header is damaged (not the expected shape)")
    fmt = value["format"]
    if set(fmt) != _FORMAT_KEYS:
        raise CorruptArchive("the backup's header is damaged (unexpected format fields)")
    if (fmt["kdf"], fmt["cipher"], fmt["compression"]) != ("scrypt", "aes-256-gcm", "zstd"):
        raise UnsupportedArchive("this backup uses a key derivation, cipher or compression "
                                 "this gistasks does not know")
    problem = _scrypt_problem(fmt["n"], fmt["r"], fmt["p"])
    if problem:
        raise UnsupportedArchive(f"this backup cannot be opened: {problem}")
    chunk = fmt["chunk_size"]
    if type(chunk) is not int or not MIN_CHUNK <= chunk <= MAX_CHUNK:
        raise CorruptArchive("the backup's header is damaged (its chunk size)")
    return _Prefix(raw=MAGIC + raw_length + text, tag=tag, header=value["header"],
                   salt=_b64(fmt["salt"], "the salt"),
                   key_salt=_b64(fmt["key_salt"], "the key salt"),
                   n=fmt["n"], r=fmt["r"], p=fmt["p"], chunk_size=chunk)


def read_header(f: BinaryIO) -> dict[str, Any]:
    """The writer's public header of the backup ``f`` is at the start of, without its passcode.

    NOT authenticated (anyone can edit it): good for a listing, not for a decision. Raises
    UnsupportedArchive (not a backup, a newer format) or CorruptArchive (a damaged header)."""
    return _read_prefix(f).header


def _keys(passcode: bytes, salt: bytes, key_salt: bytes, n: int, r: int,
          p: int) -> tuple[bytes, bytes]:
    secret = hashlib.scrypt(passcode, salt=salt, n=n, r=r, p=p, dklen=32,
                            maxmem=128 * r * (n + p + 2) + (1 << 20))

    def sub(info: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, key_salt, info).derive(secret)

    version = MAGIC_PREFIX + b"%d " % FORMAT_VERSION
    return sub(version + b"header"), sub(version + b"payload")


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


# --- the writer -------------------------------------------------------------------------------


_Item = tuple[bytes, memoryview | bytes | None, bytearray | None]
"""Container bytes to compress: a prefix, data, and the pooled buffer holding the data."""


def _write_all(out: BinaryIO, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        done = out.write(view)
        view = view[len(view) if done is None else done:]


class _Sealer:
    """The writer's worker thread: compresses, seals and writes what the caller queues.

    It holds no reference to its ArchiveWriter, so a writer dropped without ``finish`` or
    ``abort`` is collected, and its finalizer stops this thread."""

    def __init__(self, out: BinaryIO, aead: AESGCM, aad: bytes, chunk_size: int,
                 level: int) -> None:
        self.out, self.aead, self.aad = out, aead, aad
        threads = _ZSTD_THREADS if (os.cpu_count() or 1) > 1 else 0
        self.chunker = zstandard.ZstdCompressor(level=level, threads=threads).chunker(
            chunk_size=chunk_size)
        self.sealed = bytearray(chunk_size + _TAG)
        self.pending: bytes | None = None
        self.index = 0
        self.written = 0
        self.error: BaseException | None = None
        self.abandoned = False
        self.queue: queue.Queue[_Item | None] = queue.Queue(_POOL)
        self.free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(_POOL):
            self.free.put(bytearray(_BLOCK))
        self.thread = threading.Thread(target=self.run, name="archive-writer", daemon=True)

    def run(self) -> None:
        try:
            while (item := self.queue.get()) is not None and not self.abandoned:
                prefix, data, buffer = item
                if prefix:
                    for piece in self.chunker.compress(prefix):
                        self.seal(piece)
                if data is not None:
                    for piece in self.chunker.compress(data):
                        self.seal(piece)
                if buffer is not None:
                    self.free.put(buffer)
            if self.abandoned:
                return
            finished: Iterator[bytes] = self.chunker.finish()  # type: ignore[no-untyped-call]
            for piece in finished:
                self.seal(piece)
            if self.pending is None:  # pragma: no cover - a zstd stream is never empty
                raise AssertionError("empty payload")
            self.write(self.pending, final=True)
        except BaseException as exc:
            self.error = exc

    def seal(self, piece: bytes) -> None:
        """Seals the piece before this one: only the very last is sealed as the last."""
        if self.pending is not None:
            self.write(self.pending, final=False)
        self.pending = piece

    def write(self, piece: bytes, final: bool) -> None:
        size = len(piece) + _TAG
        view = memoryview(self.sealed)[:size]
        self.aead.encrypt_into(_nonce(self.index, final), piece, self.aad, view)
        _write_all(self.out, view)
        self.index += 1
        self.written += size

    def abandon(self) -> None:
        """Stops the thread without a last chunk; from any thread, without waiting."""
        self.abandoned = True
        with contextlib.suppress(queue.Full):  # when full, the thread sees the flag next
            self.queue.put_nowait(None)


class ArchiveWriter:
    """Writes a backup to ``out``; a context manager (finishes on a normal exit, abandons the
    backup on an exception: a backup not finished has no last chunk and never opens).

    ``header`` is the public metadata (JSON, at most about 64 KiB); ``level`` the zstandard
    level (1 to 19); ``scrypt_n`` the scrypt cost (a power of two, 2**10 to 2**20; lower than
    the default only in tests); ``on_bytes(n)`` is called, in the caller's thread, with the
    bytes of the backup written since the last call. Raises ValueError for a bad argument.
    ``out`` is written from a worker thread, between calls and during them; an error writing
    it is raised by the next call as ArchiveError (caused by the original error). Use it in a
    ``with`` block, or end it with ``finish`` or ``abort`` (its thread waits until then)."""

    def __init__(self, out: BinaryIO, passcode: str, header: Mapping[str, Any], *,
                 level: int = 3, chunk_size: int = 1 << 20, scrypt_n: int = DEFAULT_SCRYPT_N,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        passcode = unicodedata.normalize("NFC", passcode)
        if len(passcode) < MIN_PASSCODE:
            raise ValueError(f"a backup's passcode has at least {MIN_PASSCODE} characters")
        secret = passcode.encode("utf-8")
        if type(level) is not int or not 1 <= level <= 19:
            raise ValueError("the compression level is from 1 to 19")
        if type(chunk_size) is not int or not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise ValueError(f"the chunk size is from {MIN_CHUNK} to {MAX_CHUNK} bytes")
        problem = _scrypt_problem(scrypt_n, SCRYPT_R, SCRYPT_P)
        if problem:
            raise ValueError(problem.replace("its", "the"))
        public = dict(header)
        jsonsafe.check(public)
        salt, key_salt = os.urandom(16), os.urandom(32)
        fmt = {"kdf": "scrypt", "salt": base64.b64encode(salt).decode(), "n": scrypt_n,
               "r": SCRYPT_R, "p": SCRYPT_P, "key_salt": base64.b64encode(key_salt).decode(),
               "cipher": "aes-256-gcm", "compression": "zstd", "chunk_size": chunk_size}
        text = jsonsafe.dumps({"format": fmt, "header": public}).encode("utf-8")
        if len(text) > MAX_HEADER:
            raise ValueError(f"the backup's header is longer than {MAX_HEADER} bytes")
        mac_key, payload_key = _keys(secret, salt, key_salt, scrypt_n, SCRYPT_R, SCRYPT_P)
        raw = MAGIC + _U32.pack(len(text)) + text
        prefix = raw + hmac.digest(mac_key, raw, "sha256")

        self._out = out
        self._on_bytes = on_bytes
        self._reported = 0
        self._members: list[Member] = []
        self._names: set[str] = set()
        self._state = "open"  # "open", "finished", "broken"
        self._sealer = _Sealer(out, AESGCM(payload_key), hashlib.sha256(prefix).digest(),
                               chunk_size, level)
        _write_all(out, prefix)
        self._sealer.written = len(prefix)
        self._report()
        self._sealer.thread.start()
        weakref.finalize(self, self._sealer.abandon)

    # the caller's side

    def _report(self) -> None:
        written = self._sealer.written
        if self._on_bytes is not None and written > self._reported:
            self._on_bytes(written - self._reported)
        self._reported = written

    def _check(self, running: bool = True) -> None:
        error = self._sealer.error
        if error is not None:
            self._state = "broken"
            raise ArchiveError(f"the backup could not be written: {error}") from error
        if running and not self._sealer.thread.is_alive():  # pragma: no cover - defensive
            self._state = "broken"
            raise ArchiveError("the backup could not be written: its writer stopped")

    def _send(self, item: _Item | None) -> None:
        while True:
            self._check()
            try:
                self._sealer.queue.put(item, timeout=_POLL)
                break
            except queue.Full:
                continue
        self._report()

    def _buffer(self) -> bytearray:
        while True:
            self._check()
            try:
                return self._sealer.free.get(timeout=_POLL)
            except queue.Empty:
                continue

    def _begin(self, name: str) -> None:
        if self._state != "open":
            raise ValueError(f"the backup is {self._state}: no member can be added")
        problem = name_problem(name)
        if problem:
            raise ValueError(problem)
        if name in self._names:
            raise ValueError(f"the member {name[:80]!r} is already in the backup")

    def _start(self, name: str) -> None:
        self._names.add(name)
        self._state = "broken"  # until the member is complete
        text = jsonsafe.dumps({"name": name}).encode("utf-8")
        self._send((_MEMBER + _U32.pack(len(text)) + text, None, None))

    def _end(self, name: str, size: int, digest: Any) -> Member:
        self._send((_U32.pack(0), None, None))
        member = Member(name, size, digest.hexdigest())
        self._members.append(member)
        self._state = "open"
        return member

    def add_file(self, name: str, path: os.PathLike[str] | str) -> Member:
        """Adds the file at ``path`` as ``name``, streamed: up to the size it has when opened
        (a regular file), or to its end. ValueError for a bad or repeated name, OSError if the
        file cannot be read (the backup is then unusable unless it failed to open)."""
        self._begin(name)
        with open(path, "rb", buffering=0) as f:
            info = os.fstat(f.fileno())
            left = info.st_size if stat.S_ISREG(info.st_mode) else None
            self._start(name)
            digest, size = hashlib.sha256(), 0
            while left is None or left > 0:
                buffer = self._buffer()
                view = memoryview(buffer)
                want = _BLOCK if left is None else min(_BLOCK, left)
                got = f.readinto(view[:want])
                if not got:
                    self._sealer.free.put(buffer)
                    break
                block = view[:got]
                digest.update(block)
                size += got
                if left is not None:
                    left -= got
                self._send((_U32.pack(got), block, buffer))
        return self._end(name, size, digest)

    def add_bytes(self, name: str, data: bytes | bytearray | memoryview) -> Member:
        """Adds ``data`` as ``name`` (``bytes`` are not copied; other buffers are, as by
        ``add_stream``). ValueError for a bad or repeated name."""
        self._begin(name)
        if not isinstance(data, bytes):
            return self.add_stream(name, [data])
        self._start(name)
        view = memoryview(data)
        digest = hashlib.sha256(view)
        for at in range(0, len(view), _BLOCK):
            block = view[at:at + _BLOCK]
            self._send((_U32.pack(len(block)), block, None))
        return self._end(name, len(view), digest)

    def add_stream(self, name: str,
                   chunks: Iterable[bytes | bytearray | memoryview]) -> Member:
        """Adds the concatenation of ``chunks`` (any sizes, iterated in the caller's thread,
        copied) as ``name``. ValueError for a bad or repeated name; an exception of the
        iteration leaves the backup unusable and propagates."""
        self._begin(name)
        self._start(name)
        digest, size = hashlib.sha256(), 0
        buffer, fill = self._buffer(), 0
        for chunk in chunks:
            view = memoryview(chunk).cast("B")
            digest.update(view)
            size += len(view)
            while view:
                take = min(len(view), _BLOCK - fill)
                buffer[fill:fill + take] = view[:take]
                fill += take
                view = view[take:]
                if fill == _BLOCK:
                    self._send((_U32.pack(fill), memoryview(buffer), buffer))
                    buffer, fill = self._buffer(), 0
        if fill:
            self._send((_U32.pack(fill), memoryview(buffer)[:fill], buffer))
        else:
            self._sealer.free.put(buffer)
        return self._end(name, size, digest)

    def _raw(self, data: bytes) -> None:
        """Container bytes as they are (for tests that craft hostile backups)."""
        self._send((data, None, None))

    def _close(self) -> None:
        """Ends the payload (its last chunk) and waits for the worker; flushes ``out``."""
        self._send(None)
        self._sealer.thread.join()
        self._check(running=False)
        self._out.flush()
        self._report()

    def finish(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Writes the manifest (with ``extra``, JSON) and the last chunk, flushes ``out`` and
        returns the manifest. Does not close or fsync ``out`` (write to a temporary name,
        fsync, rename)."""
        if self._state != "open":
            raise ValueError(f"the backup is {self._state}: it cannot be finished")
        manifest = {"members": [{"name": m.name, "size": m.size, "sha256": m.sha256}
                                for m in self._members],
                    "extra": dict(extra or {})}
        jsonsafe.check(manifest)
        text = jsonsafe.dumps(manifest).encode("utf-8")
        if len(text) > MAX_MANIFEST:
            raise ValueError(f"the backup's manifest is longer than {MAX_MANIFEST} bytes")
        self._state = "broken"
        self._send((_MANIFEST + _U32.pack(len(text)), text, None))
        self._send((_END, None, None))
        self._close()
        self._state = "finished"
        return manifest

    def abort(self) -> None:
        """Stops writing: the backup is left without its last chunk (it will not open)."""
        if self._state != "finished":
            self._state = "broken"
        if self._sealer.thread.is_alive():
            self._sealer.abandon()
            self._sealer.thread.join()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None and self._state == "open":
            self.finish()
        else:
            self.abort()


# --- the reader -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _End:
    read: int
    """Bytes of the file read since the last step."""


_Step = tuple[bytes, int]
"""Container bytes decompressed (at most ``_BLOCK``), bytes of the file read for them."""
_EMPTY: Final = memoryview(b"")


class _Source:
    """What zstandard reads, in the worker thread: the chunks of the file, decrypted."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> bytes:
        return next(self._chunks, b"")


class _Feed:
    """The container bytes, in the caller's thread: the worker's steps, as views of them."""

    def __init__(self, reader: ArchiveReader) -> None:
        self._reader = reader
        self._view = _EMPTY
        self._at = 0
        self.ended = False

    def take(self, size: int) -> memoryview:
        """At most ``size`` bytes (at least one, but none at the end): a view of a step, which
        is never reused (it stays valid)."""
        if self._at == len(self._view):
            if self.ended:
                return _EMPTY
            item = self._reader._queue.get()
            if isinstance(item, BaseException):
                self.ended = True
                self._view = _EMPTY
                raise item
            if isinstance(item, _End):
                self.ended = True
                self._view, self._at = _EMPTY, 0
                self._reader._report(item.read)
                return _EMPTY
            data, read = item
            self._view, self._at = memoryview(data), 0
            self._reader._report(read)
        at = self._at
        self._at = min(at + size, len(self._view))
        return self._view[at:self._at]


class ArchiveReader:
    """Reads a backup from ``f`` (at its start): the header is read and authenticated at once
    (WrongPasscode, CorruptArchive, UnsupportedArchive), then ``members()`` decrypts the rest.

    ``on_bytes(n)`` is called, in the caller's thread, with the bytes of the backup read since
    the last call. ``max_content`` bounds the total size of the members (ArchiveError beyond
    it): a backup's content can be far larger than the file (zeros compress well). Memory is
    bounded whatever the file; a context manager (``close`` stops the worker thread)."""

    header: dict[str, Any]
    manifest: dict[str, Any]

    def __init__(self, f: BinaryIO, passcode: str, *,
                 on_bytes: Callable[[int], None] | None = None,
                 max_content: int | None = None) -> None:
        prefix = _read_prefix(f)
        try:
            secret = unicodedata.normalize("NFC", passcode).encode("utf-8")
        except UnicodeEncodeError:
            raise WrongPasscode(_WRONG) from None
        mac_key, payload_key = _keys(secret, prefix.salt, prefix.key_salt, prefix.n,
                                     prefix.r, prefix.p)
        if not hmac.compare_digest(hmac.digest(mac_key, prefix.raw, "sha256"), prefix.tag):
            raise WrongPasscode(_WRONG)
        self.header = prefix.header
        self._f = f
        self._on_bytes = on_bytes
        self._max_content = max_content
        self._aead = AESGCM(payload_key)
        self._aad = hashlib.sha256(prefix.raw + prefix.tag).digest()
        self._chunk_size = prefix.chunk_size
        self._queue: queue.Queue[_Step | BaseException | _End] = queue.Queue(_STEPS)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = 0
        self._started = False
        if on_bytes is not None:
            on_bytes(len(prefix.raw) + len(prefix.tag))

    # the worker: read, decrypt and decompress

    def _put(self, item: _Step | BaseException | _End) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _read_chunk(self) -> bytes:
        full = self._chunk_size + _TAG
        data = self._f.read(full)
        while 0 < len(data) < full:
            more = self._f.read(full - len(data))
            if not more:
                break
            data += more
        return data

    def _chunks(self) -> Iterator[bytes]:
        """The chunks decrypted, in order, up to the last one (or an exception)."""
        full = self._chunk_size + _TAG
        chunk = self._read_chunk()
        if not chunk:
            raise CorruptArchive("the backup is truncated: nothing follows its header")
        index = 0
        while True:
            after = self._read_chunk() if len(chunk) == full else b""
            final = not after
            plain = self._open(index, chunk, final)
            self._read += len(chunk)
            yield plain
            if final:
                return
            chunk, index = after, index + 1

    def _pump(self) -> None:
        try:
            chunks = self._chunks()
            decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
            stream = decompressor.stream_reader(cast(BinaryIO, _Source(chunks)),
                                                read_size=self._chunk_size,
                                                read_across_frames=True, closefd=False)
            while True:
                try:
                    data: bytes = stream.read(_BLOCK)
                except zstandard.ZstdError:
                    raise CorruptArchive("the backup is damaged: its compressed data is "
                                         "invalid (it was written wrongly)") from None
                read, self._read = self._read, 0
                if not data:
                    break
                if not self._put((data, read)):
                    return
            if next(chunks, None) is not None:  # pragma: no cover - zstandard reads to the end
                raise CorruptArchive("the backup is damaged: something follows its end")
            self._put(_End(read))
        except BaseException as exc:
            self._put(exc)

    def _open(self, index: int, chunk: bytes, final: bool) -> bytes:
        if len(chunk) < _TAG:
            raise CorruptArchive(f"the backup is truncated (inside chunk {index})")
        try:
            return self._aead.decrypt(_nonce(index, final), chunk, self._aad)
        except InvalidTag:
            pass
        if final and len(chunk) == self._chunk_size + _TAG:
            try:
                self._aead.decrypt(_nonce(index, False), chunk, self._aad)
            except InvalidTag:
                pass
            else:
                raise CorruptArchive(f"the backup is truncated: it ends after chunk {index}, "
                                     "which is not its last") from None
        raise CorruptArchive(f"the backup is damaged or was altered: chunk {index} fails its "
                             "authentication (altered, truncated, reordered, followed by "
                             "extra bytes, or from another backup)")

    # the caller's side: parse and hash

    def _report(self, read: int) -> None:
        if self._on_bytes is not None and read:
            self._on_bytes(read)

    def members(self) -> Iterator[tuple[str, Iterator[memoryview]]]:
        """Each member's name and content, in pieces of at most 1 MiB as they are decompressed:
        read-only memoryviews (``file.write`` takes them, ``bytes(piece)`` copies one), each
        valid for as long as it is kept (a buffer yielded is never reused).

        Read a member's content before asking for the next member (what is left is skipped;
        a content iterator kept past that yields nothing more). After the last member the
        manifest is checked against what was read (names in order, sizes, SHA-256) and the end
        of the file is checked: CorruptArchive (or any ArchiveError) from this iteration means
        nothing read can be trusted. ``manifest`` is set once this is exhausted. Once only."""
        if self._started:
            raise RuntimeError("the members of a backup can be read once")
        self._started = True
        self._thread = threading.Thread(target=self._pump, name="archive-reader", daemon=True)
        self._thread.start()
        try:
            yield from self._records(_Feed(self))
        finally:
            self.close()

    def _records(self, feed: _Feed) -> Iterator[tuple[str, Iterator[memoryview]]]:
        listed = hashlib.sha256()
        count, total = 0, 0

        def exact(size: int, what: str) -> bytes | bytearray:
            return _gather(feed.take, size, f"the backup is damaged: it ends inside {what}")

        def length(limit: int, what: str) -> int:
            size: int = _U32.unpack(exact(4, what))[0]
            if size > limit:
                raise CorruptArchive(f"the backup is damaged: {what} of {size} bytes (at most "
                                     f"{limit})")
            return size

        def content(name: str, done: list[tuple[int, str]]) -> Iterator[memoryview]:
            nonlocal total
            digest, size = hashlib.sha256(), 0
            while block := length(MAX_BLOCK, f"a block of {name[:80]!r}"):
                while block:
                    piece = feed.take(block)
                    if not piece:
                        raise CorruptArchive(f"the backup is damaged: it ends inside "
                                             f"{name[:80]!r}")
                    block -= len(piece)
                    size += len(piece)
                    total += len(piece)
                    if self._max_content is not None and total > self._max_content:
                        raise ArchiveError(f"the backup holds more than {self._max_content} "
                                           "bytes")
                    digest.update(piece)
                    yield piece
            done.append((size, digest.hexdigest()))

        while (kind := exact(1, "a record")) == _MEMBER:
            text = exact(length(MAX_MEMBER_HEADER, "a member's header"), "a member's header")
            name = _member_name(text)
            done: list[tuple[int, str]] = []
            pieces = content(name, done)
            yield name, pieces
            for _ in pieces:
                pass
            if not done:
                raise CorruptArchive(f"the backup is damaged: {name[:80]!r} is incomplete")
            listed.update(_entry(name, *done[0]))
            count += 1
        if kind != _MANIFEST:
            raise CorruptArchive("the backup is damaged: an unknown record")
        text = exact(length(MAX_MANIFEST, "its manifest"), "its manifest")
        manifest = _manifest(text)
        if exact(1, "the end of its records") != _END or feed.take(1) or not feed.ended:
            raise CorruptArchive("the backup is damaged: something follows its end")
        expected = hashlib.sha256()
        for entry in manifest["members"]:
            expected.update(_entry(entry["name"], entry["size"], entry["sha256"]))
        if len(manifest["members"]) != count:
            raise CorruptArchive(f"the backup is damaged: its manifest lists "
                                 f"{len(manifest['members'])} members, {count} were read")
        if expected.digest() != listed.digest():
            raise CorruptArchive("the backup is damaged: its manifest does not match the "
                                 "members read (their names, order, sizes or SHA-256)")
        self.manifest = manifest

    def close(self) -> None:
        """Stops the worker thread (a backup not read to its end stays unchecked)."""
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    self._queue.get(timeout=_POLL)
            self._thread.join()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_WRONG = ("the passcode is wrong, or the backup's header was altered (the two cannot be "
          "told apart)")


def _entry(name: str, size: int, sha256: str) -> bytes:
    encoded = name.encode("utf-8")
    return _U32.pack(len(encoded)) + encoded + size.to_bytes(8, "big") + bytes.fromhex(sha256)


def _member_name(text: bytes | bytearray) -> str:
    try:
        value = jsonsafe.loads(text.decode("utf-8"), max_bytes=MAX_MEMBER_HEADER)
    except (UnicodeDecodeError, jsonsafe.JsonError):
        raise CorruptArchive("the backup is damaged: a member's header is not JSON") from None
    if not isinstance(value, dict) or set(value) != {"name"}:
        raise CorruptArchive("the backup is damaged: a member's header is not as expected")
    problem = name_problem(value["name"])
    if problem:
        raise CorruptArchive(f"the backup is damaged: {problem}")
    name: str = value["name"]
    return name


def _manifest(text: bytes | bytearray) -> dict[str, Any]:
    try:
        value = jsonsafe.loads(text.decode("utf-8"), max_bytes=MAX_MANIFEST)
    except (UnicodeDecodeError, jsonsafe.JsonError):
        raise CorruptArchive("the backup is damaged: its manifest is not JSON") from None
    if not (isinstance(value, dict) and set(value) == {"members", "extra"}
            and isinstance(value["members"], list) and isinstance(value["extra"], dict)):
        raise CorruptArchive("the backup is damaged: its manifest is not as expected")
    names: set[str] = set()
    for entry in value["members"]:
        if not (isinstance(entry, dict) and set(entry) == {"name", "size", "sha256"}
                and name_problem(entry["name"]) is None and type(entry["size"]) is int
                and 0 <= entry["size"] < 2**63 and isinstance(entry["sha256"], str)
                and len(entry["sha256"]) == 64
                and all(c in "0123456789abcdef" for c in entry["sha256"])):
            raise CorruptArchive("the backup is damaged: an entry of its manifest is not as "
                                 "expected")
        if entry["name"] in names:
            raise CorruptArchive(f"the backup is damaged: its manifest lists "
                                 f"{entry['name'][:80]!r} twice")
        names.add(entry["name"])
    return value


def verify(f: BinaryIO, passcode: str, on_bytes: Callable[[int], None] | None = None, *,
           max_content: int | None = None) -> dict[str, Any]:
    """Reads the whole backup ``f`` and returns its manifest; raises what ArchiveReader and
    its ``members()`` raise."""
    with ArchiveReader(f, passcode, on_bytes=on_bytes, max_content=max_content) as reader:
        for _, pieces in reader.members():
            for _ in pieces:
                pass
        return reader.manifest
