"""The Redis store's Lua files agree with the Python that reads their replies (no server)."""

from __future__ import annotations

import re
from importlib import resources

from celery_stembeat.stores.redis import codec, scripts


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
