"""The Redis store's Lua files agree with the Python that reads their replies (no server)."""

from __future__ import annotations

import re
from importlib import resources

from celery_stembeat import audit
from celery_stembeat.stores.redis import codec, scripts
from celery_stembeat.stores.redis.keys import Keys


def lua(name: str) -> str:
    return (resources.files("celery_stembeat.stores.redis") / "lua" / f"{name}.lua").read_text()


def table(text: str, name: str) -> str:
    found = re.search(rf"^local {name} = (\{{.*?\}})\n", text, re.MULTILINE | re.DOTALL)
    assert found, name
    return found.group(1)


def test_layout_lua_holds_the_row_layout_codec_reads() -> None:
    layout = lua("layout")
    assert f"local CHUNK = {codec.CHUNK_BYTES}\n" in layout
    assert tuple(re.findall(r"'(\w+)'", table(layout, "ROW_FIELDS"))) == codec.ROW_FIELDS
    chunked = re.findall(r"\{'(\w+)', (\d+)\}", table(layout, "CHUNKED"))
    assert tuple((name, int(count)) for name, count in chunked) == codec.ROW_CHUNKED
    prefetched = tuple(f"{name}{i}" for name, count in codec.ROW_CHUNKED for i in range(count))
    read_fields = tuple(re.findall(r"'(\w+)'", table(layout, "READ_FIELDS")))
    assert read_fields == (*codec.ROW_FIELDS, *prefetched)


def test_every_lua_file_is_a_script_or_a_part_of_one() -> None:
    folder = resources.files("celery_stembeat.stores.redis") / "lua"
    names = {item.name.removesuffix(".lua") for item in folder.iterdir()}
    parts = {part for needed in scripts.PARTS.values() for part in needed}
    assert names == set(scripts.PARTS) | parts
    assert set(scripts.SOURCES) == set(scripts.PARTS)
    for name, source in scripts.SOURCES.items():
        assert source.endswith(lua(name))


def test_every_script_that_appends_changes_checks_the_head_it_follows_first() -> None:
    """A script stores change records only after checking, at the same ``ARGV`` position, that
    the log's head is the one they were built after; and it is sent with ``audit.lua``."""
    appending = {name for name in scripts.PARTS if "append_changes(" in lua(name)}
    assert appending == {
        "upsert",
        "upsert_many",
        "delete",
        "set_enabled",
        "record_manual_run",
        "set_pause",
    }
    for name in appending:
        text = lua(name)
        (checked,) = re.findall(r"audit_head_is\([^,]+, (\d+)\)", text)
        (appended,) = re.findall(r"append_changes\([^,]+, [^,]+, (\d+)\)", text)
        assert checked == appended, name
        assert text.index("audit_head_is(") < text.index("append_changes("), name
        assert "audit" in scripts.PARTS[name], name


def test_audit_lua_starts_the_chain_where_audit_py_does() -> None:
    assert audit.GENESIS == "0" * 64
    assert "local GENESIS = string.rep('0', 64)\n" in lua("audit")


def test_the_scripts_take_the_index_keys_keys_py_gives() -> None:
    """The rank sets in ``RANK_FIELDS`` order, the keys of the count of runs held after them,
    and as many upsert indexes as ``Keys.indexes``."""
    keys = Keys("p")
    fields = re.findall(r"'(\w+)'", table(lua("helpers"), "RANK_FIELDS"))
    assert [key.rsplit(":", 1)[1] for key in keys.rank_keys] == fields
    assert keys.indexes[6:9] == keys.rank_keys
    assert keys.indexes[9:] == keys.history_keys
    assert keys.completion_indexes[5:] == [*keys.rank_keys, *keys.history_keys]
    assert f"local INDEX_KEYS = {len(keys.indexes)}\n" in lua("write_entry")
