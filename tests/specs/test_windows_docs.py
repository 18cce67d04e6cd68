"""The examples of docs/schedules.md, "Blackout windows": each result the docs show holds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

DOCS = Path(__file__).parents[2] / "docs" / "schedules.md"


def _example() -> str:
    """The Python block of the "Blackout windows" section."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Blackout windows", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return block


def test_every_result_shown_in_the_docs_is_what_the_code_gives() -> None:
    code = _example()
    lines = code.splitlines()
    namespace: dict[str, object] = {}
    checked = 0
    for node in ast.parse(code).body:
        source = ast.get_source_segment(code, node)
        assert source is not None
        shown = lines[node.end_lineno] if node.end_lineno is not None else ""
        if isinstance(node, ast.Expr) and shown.startswith("# "):
            assert eval(source, namespace) == eval(shown[2:], namespace), source
            checked += 1
        else:
            exec(source, namespace)
    assert checked == 6
