"""The backup file format: round trips, and every alteration of a file detected, within bounds."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from gistasks.security import archive
from gistasks.security.archive import (
    MAGIC,
    ArchiveError,
    ArchiveReader,
    ArchiveWriter,
    CorruptArchive,
    Member,
    UnsupportedArchive,
    WrongPasscode,
    read_header,
    verify,
)

PASSCODE = "correct horse battery"
N = 2**10
CHUNK = 1024
TAG = 16


def write(members: dict[str, bytes], *, header: dict[str, Any] | None = None,
          extra: dict[str, Any] | None = None, chunk_size: int = CHUNK,
          passcode: str = PASSCODE) -> bytes:
    out = io.BytesIO()
    with ArchiveWriter(out, passcode, header or {"name": "nightly"}, chunk_size=chunk_size,
                       scrypt_n=N) as writer:
        for name, data in members.items():
            writer.add_bytes(name, data)
        writer.finish(extra)
    return out.getvalue()


def read(data: bytes, passcode: str = PASSCODE) -> tuple[dict[str, bytes], dict[str, Any]]:
    with ArchiveReader(io.BytesIO(data), passcode) as reader:
        got = {name: b"".join(pieces) for name, pieces in reader.members()}
        return got, reader.manifest


def prefix_length(data: bytes) -> int:
    length: int = struct.unpack(">I", data[len(MAGIC):len(MAGIC) + 4])[0]
    return len(MAGIC) + 4 + length + 32


def chunks(data: bytes, chunk_size: int = CHUNK) -> list[bytes]:
    start, full = prefix_length(data), chunk_size + TAG
    return [data[at:at + full] for at in range(start, len(data), full)]


def rebuild(data: bytes, parts: list[bytes]) -> bytes:
    return data[:prefix_length(data)] + b"".join(parts)


SAMPLE = {"items/a.bin": os.urandom(6000), "empty": b"", "db/dump.sql": b"INSERT 1;\n" * 300}


@pytest.fixture(scope="module")
def sample() -> bytes:
    data = write(SAMPLE, extra={"schema": 7})
    assert len(chunks(data)) >= 6
    return data


def test_files_bytes_and_streams_round_trip_with_their_manifest(tmp_path: Path) -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)  # more than the writer's blocks and many chunks
    (tmp_path / "big").write_bytes(big)
    (tmp_path / "empty").write_bytes(b"")
    out = io.BytesIO()
    with ArchiveWriter(out, PASSCODE, {"name": "n", "sizes": [1, 2]}, scrypt_n=N,
                       chunk_size=64 * 1024) as writer:
        assert writer.add_file("items/big", tmp_path / "big") == Member(
            "items/big", len(big), hashlib.sha256(big).hexdigest())
        writer.add_file("items/empty", str(tmp_path / "empty"))
        writer.add_bytes("bytes", b"hello")
        writer.add_bytes("no bytes", b"")
        pieces: list[bytes | bytearray | memoryview] = [
            b"ab", bytearray(b"cd"), memoryview(big)[:2_500_000], b""]
        writer.add_stream("stream", iter(pieces))
        writer.add_stream("empty stream", [])
        manifest = writer.finish({"schema": 3})
    expected = {"items/big": big, "items/empty": b"", "bytes": b"hello", "no bytes": b"",
                "stream": b"abcd" + big[:2_500_000], "empty stream": b""}
    got, read_manifest = read(out.getvalue())
    assert got == expected and list(got) == list(expected)
    assert read_manifest == manifest
    assert manifest["extra"] == {"schema": 3}
    assert manifest["members"] == [
        {"name": name, "size": len(value), "sha256": hashlib.sha256(value).hexdigest()}
        for name, value in expected.items()]


def test_content_pieces_are_at_most_a_mebibyte_and_unread_members_are_skipped() -> None:
    data = write({"a": os.urandom(3 << 20), "b": b"x", "c": b"yz"}, chunk_size=1 << 20)
    with ArchiveReader(io.BytesIO(data), PASSCODE) as reader:
        names = []
        for name, pieces in reader.members():
            names.append(name)
            if name == "a":
                assert len(next(pieces)) <= 1 << 20  # read partly, the rest skipped
        assert names == ["a", "b", "c"]
        assert [m["name"] for m in reader.manifest["members"]] == names


def test_the_header_is_listed_without_the_passcode(sample: bytes) -> None:
    assert read_header(io.BytesIO(sample)) == {"name": "nightly"}
    with ArchiveReader(io.BytesIO(sample), PASSCODE) as reader:
        assert reader.header == {"name": "nightly"}


def test_a_wrong_passcode_is_refused_as_such(sample: bytes) -> None:
    with pytest.raises(WrongPasscode, match="cannot be told apart"):
        ArchiveReader(io.BytesIO(sample), "correct horse batterY")


def test_the_default_scrypt_cost_round_trips() -> None:
    out = io.BytesIO()
    with ArchiveWriter(out, PASSCODE, {}) as writer:
        writer.add_bytes("a", b"content")
    assert read(out.getvalue())[0] == {"a": b"content"}
    text = out.getvalue()[len(MAGIC) + 4:prefix_length(out.getvalue()) - 32]
    assert json.loads(text)["format"]["n"] == 2**17


def test_a_passcode_is_compared_in_its_normal_form() -> None:
    data = write({"a": b"1"}, passcode="caf\u00e9 au lait")
    assert read(data, "cafe\u0301 au lait")[0] == {"a": b"1"}


def test_progress_counts_every_byte_of_the_file(tmp_path: Path) -> None:
    written: list[int] = []
    out = io.BytesIO()
    with ArchiveWriter(out, PASSCODE, {}, scrypt_n=N, chunk_size=CHUNK,
                       on_bytes=written.append) as writer:
        writer.add_bytes("a", os.urandom(20000))
    read_sizes: list[int] = []
    verify(io.BytesIO(out.getvalue()), PASSCODE, read_sizes.append)
    assert sum(written) == sum(read_sizes) == len(out.getvalue())


def _positions(data: bytes) -> dict[str, int]:
    start = prefix_length(data)
    last_chunk = start + (len(chunks(data)) - 1) * (CHUNK + TAG)
    return {"magic": 3, "version": len(MAGIC) - 2, "length": len(MAGIC) + 2,
            "header": len(MAGIC) + 20, "tag first": start - 32, "tag last": start - 1,
            "chunk 0 first": start, "chunk 0 tag": start + CHUNK + 3,
            "chunk 2 middle": start + 2 * (CHUNK + TAG) + CHUNK // 2,
            "last chunk first": last_chunk, "last byte": len(data) - 1}


@pytest.mark.parametrize("where", ["magic", "version", "length", "header", "tag first",
                                   "tag last", "chunk 0 first", "chunk 0 tag",
                                   "chunk 2 middle", "last chunk first", "last byte"])
def test_a_flipped_byte_anywhere_is_detected(sample: bytes, where: str) -> None:
    offset = _positions(sample)[where]
    altered = bytearray(sample)
    altered[offset] ^= 0x01
    expected: Any = (CorruptArchive if offset >= prefix_length(sample)
                     else (WrongPasscode, CorruptArchive, UnsupportedArchive))
    with pytest.raises(expected):
        verify(io.BytesIO(bytes(altered)), PASSCODE)


def test_a_flipped_header_byte_is_seen_as_a_wrong_passcode(sample: bytes) -> None:
    altered = sample.replace(b'"name":"nightly"', b'"name":"nightlz"')
    assert read_header(io.BytesIO(altered)) == {"name": "nightlz"}  # listing is not proof
    with pytest.raises(WrongPasscode):
        ArchiveReader(io.BytesIO(altered), PASSCODE)


@pytest.mark.parametrize("cut", ["in magic", "in header", "before tag end", "after header",
                                 "after chunk 0", "before last chunk", "inside chunk 2",
                                 "last byte"])
def test_a_truncated_backup_is_corrupt(sample: bytes, cut: str) -> None:
    start, full, count = prefix_length(sample), CHUNK + TAG, len(chunks(sample))
    at = {"in magic": 5, "in header": len(MAGIC) + 10, "before tag end": start - 1,
          "after header": start, "after chunk 0": start + full,
          "before last chunk": start + (count - 1) * full,
          "inside chunk 2": start + 2 * full + 100, "last byte": len(sample) - 1}[cut]
    expected: Any = UnsupportedArchive if cut == "in magic" else CorruptArchive
    with pytest.raises(expected):
        verify(io.BytesIO(sample[:at]), PASSCODE)


def test_a_backup_cut_at_a_chunk_boundary_says_it_is_truncated(sample: bytes) -> None:
    cut = rebuild(sample, chunks(sample)[:3])
    with pytest.raises(CorruptArchive, match="truncated"):
        verify(io.BytesIO(cut), PASSCODE)


@pytest.mark.parametrize("tail", [b"\x00", b"x" * TAG, b"\x00" * (CHUNK + TAG), b"y" * 5000])
def test_bytes_after_the_last_chunk_are_corrupt(sample: bytes, tail: bytes) -> None:
    with pytest.raises(CorruptArchive):
        verify(io.BytesIO(sample + tail), PASSCODE)


def test_a_chunk_repeated_after_the_last_one_is_corrupt(sample: bytes) -> None:
    parts = chunks(sample)
    with pytest.raises(CorruptArchive):
        verify(io.BytesIO(rebuild(sample, [*parts, parts[-1]])), PASSCODE)


def test_swapped_or_dropped_chunks_are_corrupt(sample: bytes) -> None:
    parts = chunks(sample)
    swapped = [parts[0], parts[2], parts[1], *parts[3:]]
    dropped = [parts[0], *parts[2:]]
    for altered in (swapped, dropped):
        with pytest.raises(CorruptArchive):
            verify(io.BytesIO(rebuild(sample, altered)), PASSCODE)


def test_a_chunk_of_another_backup_with_the_same_passcode_and_header_is_corrupt() -> None:
    first, second = write(SAMPLE), write(SAMPLE)
    for index in (0, 2, len(chunks(first)) - 1):
        parts = chunks(first)
        parts[index] = chunks(second)[index]
        with pytest.raises(CorruptArchive):
            verify(io.BytesIO(rebuild(first, parts)), PASSCODE)


def test_a_newer_format_version_or_another_file_is_unsupported(sample: bytes) -> None:
    newer = b"gistasks-backup/2\n" + sample[len(MAGIC):]
    for data in (newer, b"PK\x03\x04 a zip file", b"", b"gistasks-backup/x\n"):
        with pytest.raises(UnsupportedArchive):
            read_header(io.BytesIO(data))
        with pytest.raises(UnsupportedArchive):
            ArchiveReader(io.BytesIO(data), PASSCODE)
    with pytest.raises(UnsupportedArchive, match="newer"):
        read_header(io.BytesIO(newer))


def _with_format(sample: bytes, **changes: Any) -> bytes:
    start = prefix_length(sample)
    value = json.loads(sample[len(MAGIC) + 4:start - 32])
    value["format"].update(changes)
    text = json.dumps(value).encode()
    return MAGIC + struct.pack(">I", len(text)) + text + b"\x00" * 32 + sample[start:]


@pytest.mark.parametrize("params", [
    {"n": 2**21}, {"n": 2**40}, {"n": 1000}, {"n": 2**9}, {"n": -2}, {"n": 2.0**14},
    {"n": True}, {"n": "16384"}, {"r": 17}, {"r": 0}, {"p": 5}, {"n": 2**20, "r": 16},
    {"n": 2**19, "r": 8}])
def test_hostile_scrypt_parameters_are_refused_before_deriving(
        sample: bytes, params: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("scrypt was called")

    monkeypatch.setattr("hashlib.scrypt", refuse)
    crafted = _with_format(sample, **params)
    with pytest.raises(UnsupportedArchive):
        ArchiveReader(io.BytesIO(crafted), PASSCODE)
    with pytest.raises(UnsupportedArchive):
        read_header(io.BytesIO(crafted))


@pytest.mark.parametrize("changes", [{"chunk_size": 10}, {"chunk_size": 2**30},
                                     {"salt": "not base64!"}, {"salt": ""},
                                     {"key_salt": "AAAA"}, {"extra": 1}])
def test_a_malformed_format_is_corrupt(sample: bytes, changes: dict[str, Any]) -> None:
    with pytest.raises(CorruptArchive):
        read_header(io.BytesIO(_with_format(sample, **changes)))


def test_an_oversized_or_malformed_header_is_corrupt_without_reading_it(sample: bytes) -> None:
    huge = MAGIC + struct.pack(">I", 2**31) + b"{"
    with pytest.raises(CorruptArchive, match="more than"):
        read_header(io.BytesIO(huge))
    for text in (b"[1]", b"{\"format\": {}, \"header\": {}}", b"\xff\xfe", b"{\"a\": NaN}"):
        data = MAGIC + struct.pack(">I", len(text)) + text + b"\x00" * 32
        with pytest.raises(CorruptArchive):
            read_header(io.BytesIO(data))


BAD_NAMES = ["", "/etc/passwd", "a/../b", "..", ".", "a//b", "a/", "./a", "a\\b", "a\x00b",
             "x" * 4097, "\ud800"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_writer_refuses_bad_member_names(name: str) -> None:
    with ArchiveWriter(io.BytesIO(), PASSCODE, {}, scrypt_n=N) as writer:
        with pytest.raises(ValueError):
            writer.add_bytes(name, b"x")
        with pytest.raises(ValueError):
            writer.add_stream(name, [])
        longest = "fine/" + "é" * 2045 + "x"  # 4096 bytes of UTF-8
        writer.add_bytes(longest, b"")
        with pytest.raises(ValueError, match="already"):
            writer.add_bytes(longest, b"")


def _crafted(*records: bytes, chunk_size: int = CHUNK) -> bytes:
    """A backup, sealed right, holding the container ``records`` as they are."""
    out = io.BytesIO()
    writer = ArchiveWriter(out, PASSCODE, {}, scrypt_n=N, chunk_size=chunk_size)
    for record in records:
        writer._raw(record)
    writer._close()
    return out.getvalue()


def _record(kind: bytes, value: Any) -> bytes:
    text = value if isinstance(value, bytes) else json.dumps(value).encode()
    return kind + struct.pack(">I", len(text)) + text


def _member(name: str, *blocks: bytes) -> bytes:
    body = b"".join(struct.pack(">I", len(b)) + b for b in blocks)
    return _record(b"F", {"name": name}) + body + struct.pack(">I", 0)


def _manifest(*members: tuple[str, bytes]) -> bytes:
    return _record(b"M", {"members": [{"name": name, "size": len(data),
                                       "sha256": hashlib.sha256(data).hexdigest()}
                                      for name, data in members], "extra": {}})


def test_crafted_records_that_are_well_formed_are_read() -> None:
    data = _crafted(_member("a", b"12", b"345"), _manifest(("a", b"12345")), b"E")
    assert read(data)[0] == {"a": b"12345"}


@pytest.mark.parametrize("name", [n for n in BAD_NAMES if n != "\ud800"])
def test_the_reader_refuses_bad_member_names(name: str) -> None:
    data = _crafted(_member(name, b"x"), _manifest(), b"E")
    with pytest.raises(CorruptArchive):
        verify(io.BytesIO(data), PASSCODE)


@pytest.mark.parametrize("records", [
    pytest.param((_member("a", b"x"), _manifest(("a", b"y")), b"E"), id="wrong sha256"),
    pytest.param((_member("a", b"x"), _manifest(("a", b"xy")), b"E"), id="wrong size"),
    pytest.param((_member("a", b"x"), _manifest(("b", b"x")), b"E"), id="wrong name"),
    pytest.param((_member("a", b"x"), _manifest(("a", b"x"), ("b", b"")), b"E"),
                 id="member missing"),
    pytest.param((_member("a", b"x"), _member("b"), _manifest(("b", b""), ("a", b"x")),
                  b"E"), id="order"),
    pytest.param((_member("a", b"x"), _member("a", b"x"), _manifest(("a", b"x"), ("a", b"x")),
                  b"E"), id="a name twice"),
    pytest.param((_member("a", b"x"), _manifest(("a", b"x"))), id="no end"),
    pytest.param((_member("a", b"x"), _manifest(("a", b"x")), b"E", b"E"), id="after end"),
    pytest.param((_member("a", b"x"), _manifest(("a", b"x")), b"EX"), id="junk after end"),
    pytest.param((_member("a", b"x"),), id="no manifest"),
    pytest.param((_member("a", b"x"), b"Q"), id="unknown record"),
    pytest.param((b"F" + struct.pack(">I", 2**20) + b"{",), id="member header too large"),
    pytest.param((_record(b"F", b'{"name": "a", "mode": 1}'),), id="member header fields"),
    pytest.param((_record(b"F", b"not json"),), id="member header not json"),
    pytest.param((_record(b"F", {"name": "a"}) + struct.pack(">I", 2**31),),
                 id="block too large"),
    pytest.param((_record(b"F", {"name": "a"}) + struct.pack(">I", 100) + b"short",),
                 id="block truncated"),
    pytest.param((b"M" + struct.pack(">I", 2**31),), id="manifest too large"),
    pytest.param((b"M" + struct.pack(">I", 2**28 - 1) + b"{",), id="manifest ends early"),
    pytest.param((_record(b"M", {"members": [{"name": "a"}], "extra": {}}), b"E"),
                 id="manifest entry"),
    pytest.param((_record(b"M", {"members": [], "extra": {}, "x": 1}), b"E"),
                 id="manifest fields"),
])
def test_bad_records_are_corrupt(records: tuple[bytes, ...]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(CorruptArchive):
            verify(io.BytesIO(_crafted(*records)), PASSCODE)
        assert tracemalloc.get_traced_memory()[1] < 8 << 20  # no length was allocated
    finally:
        tracemalloc.stop()


def _sealed(payload: bytes) -> bytes:
    """A backup whose payload (the zstandard stream) is ``payload``, sealed by hand."""
    out = io.BytesIO()
    writer = ArchiveWriter(out, PASSCODE, {}, scrypt_n=N, chunk_size=CHUNK)
    writer.abort()
    pieces = [payload[at:at + CHUNK] for at in range(0, len(payload), CHUNK)]
    for index, piece in enumerate(pieces):
        final = index == len(pieces) - 1
        sealer = writer._sealer
        out.write(sealer.aead.encrypt(archive._nonce(index, final), piece, sealer.aad))
    return out.getvalue()


def test_a_last_chunk_of_full_size_is_read() -> None:
    frame = zstandard.ZstdCompressor().compress(
        _member("a", b"12345") + _manifest(("a", b"12345")) + b"E")
    padding = 2 * CHUNK - len(frame) - 8  # a skippable frame fills the payload to 2 chunks
    payload = frame + struct.pack("<II", 0x184D2A50, padding) + bytes(padding)
    data = _sealed(payload)
    assert len(chunks(data)) == 2 and len(chunks(data)[1]) == CHUNK + TAG
    assert read(data)[0] == {"a": b"12345"}
    with pytest.raises(CorruptArchive, match="truncated"):
        verify(io.BytesIO(rebuild(data, chunks(data)[:1])), PASSCODE)


def test_a_payload_that_is_not_zstandard_is_corrupt() -> None:
    wide = zstandard.ZstdCompressor(
        compression_params=zstandard.ZstdCompressionParameters(window_log=28)).compressobj()
    frame = wide.compress(_member("a", b"x")) + wide.flush()
    window = zstandard.get_frame_parameters(frame).window_size
    assert window == 2**28  # the reader allows 2**27
    for payload in (b"plain text, not a zstandard frame", frame):
        with pytest.raises(CorruptArchive, match="compressed data is invalid"):
            verify(io.BytesIO(_sealed(payload)), PASSCODE)


def test_a_decompression_bomb_is_read_in_bounded_steps() -> None:
    zeros = bytes(4 << 20)
    blocks = [zeros] * 48  # 192 MiB of content
    data = _crafted(_member("bomb", *blocks), _manifest(("bomb", b"".join(blocks))), b"E")
    assert len(data) < 1 << 20
    tracemalloc.start()
    try:
        with ArchiveReader(io.BytesIO(data), PASSCODE) as reader:
            for _, pieces in reader.members():
                assert max(len(piece) for piece in pieces) <= 1 << 20
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()
    with pytest.raises(ArchiveError, match="more than"):
        verify(io.BytesIO(data), PASSCODE, max_content=10 << 20)


def test_an_abandoned_backup_never_opens() -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError), ArchiveWriter(out, PASSCODE, {}, scrypt_n=N) as writer:
        writer.add_bytes("a", os.urandom(5000))
        raise RuntimeError("the disk is full")
    with pytest.raises(CorruptArchive):
        verify(io.BytesIO(out.getvalue()), PASSCODE)


def test_a_failing_stream_breaks_the_backup() -> None:
    def failing() -> Iterator[bytes]:
        yield b"start"
        raise OSError("cannot read")

    with ArchiveWriter(io.BytesIO(), PASSCODE, {}, scrypt_n=N) as writer:
        with pytest.raises(OSError):
            writer.add_stream("a", failing())
        with pytest.raises(ValueError, match="broken"):
            writer.add_bytes("b", b"")
        with pytest.raises(ValueError, match="broken"):
            writer.finish()


def test_a_missing_file_leaves_the_backup_usable(tmp_path: Path) -> None:
    out = io.BytesIO()
    with ArchiveWriter(out, PASSCODE, {}, scrypt_n=N) as writer:
        with pytest.raises(FileNotFoundError):
            writer.add_file("gone", tmp_path / "gone")
        writer.add_bytes("here", b"1")
    assert read(out.getvalue())[0] == {"here": b"1"}


def test_a_write_error_is_raised_to_the_caller() -> None:
    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            if self.tell() > 500:
                raise OSError("no space left on device")
            return super().write(data)

    writer = ArchiveWriter(Full(), PASSCODE, {}, scrypt_n=N, chunk_size=CHUNK)
    with pytest.raises(ArchiveError, match="no space"):
        writer.add_bytes("a", os.urandom(50000))
        writer.finish()
    writer.abort()


@pytest.mark.parametrize("arguments", [
    {"passcode": "short"}, {"level": 0}, {"level": 20}, {"chunk_size": 100},
    {"chunk_size": 2**24}, {"scrypt_n": 2**9}, {"scrypt_n": 2**21}, {"scrypt_n": 3000},
    {"header": {"big": "x" * 70000}}, {"header": {"bad": float("nan")}}])
def test_the_writer_refuses_bad_arguments(arguments: dict[str, Any]) -> None:
    given: dict[str, Any] = {"passcode": PASSCODE, "header": {}, "scrypt_n": N, **arguments}
    with pytest.raises(ValueError):
        ArchiveWriter(io.BytesIO(), given.pop("passcode"), given.pop("header"), **given)


def test_a_finished_backup_takes_nothing_more() -> None:
    writer = ArchiveWriter(io.BytesIO(), PASSCODE, {}, scrypt_n=N)
    writer.finish()
    with pytest.raises(ValueError):
        writer.add_bytes("a", b"")
    with pytest.raises(ValueError):
        writer.finish()


def test_members_are_read_once(sample: bytes) -> None:
    with ArchiveReader(io.BytesIO(sample), PASSCODE) as reader:
        iterator = reader.members()
        next(iterator)
        with pytest.raises(RuntimeError):
            next(reader.members())


def _reader_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("archive-"))


def test_a_read_left_early_stops_its_thread() -> None:
    data = write({"a": os.urandom(3 << 20), "b": b"x"})
    before = threading.active_count()
    with ArchiveReader(io.BytesIO(data), PASSCODE) as reader:
        for _name, pieces in reader.members():
            next(pieces, None)
            assert _reader_threads() == ["archive-reader"]
            assert threading.active_count() == before + 1
            break
    assert threading.active_count() == before and not _reader_threads()


def test_a_writer_dropped_unfinished_stops_its_thread() -> None:
    before = threading.active_count()
    writer = ArchiveWriter(io.BytesIO(), PASSCODE, {}, scrypt_n=N)
    writer.add_bytes("a", b"x")
    thread = writer._sealer.thread
    assert threading.active_count() == before + 1
    del writer
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_pieces_are_read_only_views_that_stay_valid_after_the_next() -> None:
    big, small = os.urandom(5 << 20), os.urandom(3000)
    data = write({"big": big, "small": small}, chunk_size=64 * 1024)
    kept: dict[str, list[memoryview]] = {}
    with ArchiveReader(io.BytesIO(data), PASSCODE) as reader:
        for name, pieces in reader.members():
            kept[name] = []
            for piece in pieces:
                assert isinstance(piece, memoryview) and piece.readonly
                assert 0 < len(piece) <= 1 << 20
                kept[name].append(piece)
        assert len(kept["big"]) > 5
    # every piece kept is intact after all the others were produced and the reader closed
    assert b"".join(kept["big"]) == big and b"".join(kept["small"]) == small


def test_pieces_can_be_written_to_a_file(tmp_path: Path) -> None:
    content = os.urandom(2 << 20) + b"tail"
    data = write({"a": content})
    with ArchiveReader(io.BytesIO(data), PASSCODE) as reader:
        for name, pieces in reader.members():
            with open(tmp_path / name, "wb") as out:
                for piece in pieces:
                    out.write(piece)
    assert (tmp_path / "a").read_bytes() == content


def test_an_error_reading_the_file_is_raised_to_the_caller() -> None:
    data = write({"a": os.urandom(200_000)})

    class Failing(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 50_000:
                raise OSError("an I/O error")
            return super().read(size)

    with ArchiveReader(Failing(data), PASSCODE) as reader:
        with pytest.raises(OSError, match="an I/O error"):
            for _, pieces in reader.members():
                for _ in pieces:
                    pass
        assert reader._thread is not None and not reader._thread.is_alive()


def test_progress_is_reported_in_the_callers_thread() -> None:
    data = write({"a": os.urandom(100_000)})
    threads: set[str] = set()
    total = [0]

    def on_bytes(n: int) -> None:
        threads.add(threading.current_thread().name)
        total[0] += n

    verify(io.BytesIO(data), PASSCODE, on_bytes)
    assert threads == {threading.current_thread().name} and total[0] == len(data)
