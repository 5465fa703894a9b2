"""Content on SQLite and PostgreSQL: the per-user storage quota, whole files, texts and parts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gistasks.config import ContentPolicy
from gistasks.services.content import ContentService, Upload
from gistasks.services.errors import RefusedError
from gistasks.store import Store

QUOTA = 100


@pytest.fixture
def content(store: Store, tmp_path: Path) -> ContentService:
    return ContentService(store, tmp_path, ContentPolicy(max_user_storage_bytes=QUOTA),
                          lambda: int(time.time() * 1000))


def staged(content: ContentService, data: bytes, name: str = "f.csv") -> Upload:
    path = content.staging / f"t-{time.monotonic_ns()}"
    path.write_bytes(data)
    return Upload(path, name, len(data))


def test_a_user_stores_at_most_the_quota_and_others_are_not_charged(
        content: ContentService) -> None:
    content.add("alice", upload=staged(content, b"a" * 60))
    with pytest.raises(RefusedError, match="GISTASKS_USER_STORAGE_MB"):
        content.add("alice", upload=staged(content, b"b" * 41))
    with pytest.raises(RefusedError, match="GISTASKS_USER_STORAGE_MB"):
        content.add("alice", type="Web Map", text="c" * 41)
    assert content.add("bob", upload=staged(content, b"d" * 90)).size == 90


def test_replacing_a_file_counts_only_the_difference(content: ContentService) -> None:
    item = content.add("alice", upload=staged(content, b"a" * 80))
    updated = content.update(item, staged(content, b"b" * 95))
    assert updated.size == 95


def test_parts_count_against_the_quota_before_their_commit(content: ContentService) -> None:
    content.add("alice", upload=staged(content, b"a" * 50))
    item = content.add("alice", type="CSV", multipart=True, name="p.csv")
    content.add_part(item, 1, staged(content, b"x" * 40))
    with pytest.raises(RefusedError, match="GISTASKS_USER_STORAGE_MB"):
        content.add_part(item, 2, staged(content, b"y" * 20))
    assert content.parts(item) == [1]
