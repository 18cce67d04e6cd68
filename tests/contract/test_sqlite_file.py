"""The SQLite store's files hold kwargs, which often carry secrets: only the owner reads them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from celery_stembeat.stores import open_store
from tests.contract.helpers import make_entry


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        store = open_store(f"sqlite:///{tmp_path / 'stembeat.db'}")
        try:
            store.upsert(make_entry("secretive", kwargs={"token": "s3cr3t"}))
            files = sorted(path.name for path in tmp_path.iterdir())
            assert files == ["stembeat.db", "stembeat.db-shm", "stembeat.db-wal"]
            for name in files:
                assert mode(tmp_path / name) == 0o600, name
        finally:
            store.close()
    finally:
        os.umask(previous)


def test_an_existing_database_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    store = open_store(f"sqlite:///{path}")
    store.close()
    assert mode(path) == 0o640
