"""The entry form: a definition as text fields, read back into the item ``stembeat apply``
reads from a file, and checked by the same code (:func:`~celery_stembeat.cli.files.
checked_entries`), so the form and ``apply`` accept and refuse alike, in the same words."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celery_stembeat.cli.errors import BadInput
from celery_stembeat.cli.files import BadItem, Item, checked_entries, parse_json
from celery_stembeat.entry import Entry
from celery_stembeat.specs import Spec, SpecError, parse_spec

#: Where a form's problem is, as its messages say it (``FILE item N`` in ``apply``'s).
WHERE = "the form"
#: The fields given as JSON, and those that are checkboxes.
JSON_FIELDS = ("args", "kwargs", "options")
FLAGS = ("enabled", "run_once")
#: The values a field holds on a new entry's form.
BLANK = {
    "id": "",
    "task": "",
    "spec": "",
    "args": "[]",
    "kwargs": "{}",
    "options": "{}",
    "enabled": "on",
    "run_once": "",
    "expire_at": "",
    "catch_up": "fire_one",
    "jitter": "0",
    "description": "",
    "overlap": "allow",
    "overlap_timeout": "",
    "tags": "",
}
#: The fields whose values a masked dashboard never shows (they may hold secrets).
MASKED = JSON_FIELDS
#: A JSON number, which a number field is read as (any other text is checked as it is typed).
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_TAG_SEPARATORS = re.compile(r"[\s,]+")


def form_version(text: str) -> int:
    """The entry version a form names (``0``, for no entry, when ``text`` is not one)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0


@dataclass(frozen=True)
class EntryForm:
    """The form's fields as text (a checkbox: ``"on"`` or ``""``), and the version of the
    entry it was filled from (``0``: a new entry)."""

    values: Mapping[str, str]
    version: int = 0

    @classmethod
    def blank(cls) -> EntryForm:
        """A new entry's form."""
        return cls(dict(BLANK))

    @classmethod
    def of(cls, entry: Entry) -> EntryForm:
        """The form filled from ``entry`` at its version."""
        definition = entry.definition()
        values = {name: _text(definition[name]) for name in BLANK}
        for name in FLAGS:
            values[name] = "on" if definition[name] else ""
        values["spec"] = json.dumps(definition["spec"], ensure_ascii=False)
        values["tags"] = " ".join(entry.tags)
        return cls(values, entry.version)

    @classmethod
    def posted(cls, form: Mapping[str, Any]) -> EntryForm:
        """The form as posted (fields not sent are empty; an unreadable version is 0)."""
        values = {name: _field(form, name) for name in BLANK}
        return cls(values, form_version(_field(form, "version")))

    @property
    def is_new(self) -> bool:
        """Whether the form makes a new entry."""
        return self.version == 0

    def with_values(self, **values: str) -> EntryForm:
        """A copy whose fields ``values`` are replaced."""
        return EntryForm({**self.values, **values}, self.version)

    def item(self) -> dict[str, Any]:
        """The entry file item the form says; :class:`BadItem` for a JSON field that is not
        JSON, naming the field."""
        values = self.values
        return {
            "id": values["id"],
            "task": values["task"],
            "spec": spec_value(values["spec"]),
            **{name: _json(name, values[name]) for name in JSON_FIELDS},
            **{name: values[name] == "on" for name in FLAGS},
            "expire_at": values["expire_at"].strip() or None,
            "catch_up": values["catch_up"],
            "jitter": _number("jitter", values["jitter"], 0),
            "description": values["description"],
            "overlap": values["overlap"],
            "overlap_timeout": _number("overlap_timeout", values["overlap_timeout"], None),
            "tags": [tag for tag in _TAG_SEPARATORS.split(values["tags"]) if tag],
        }

    def entry(self) -> Entry:
        """The entry the form makes, checked as ``apply`` checks a file's item; the first
        problem raises :class:`BadItem` (its ``field`` names the form field, where one is)."""
        (entry,) = checked_entries([Item(WHERE, self.item())])
        return entry


def spec_value(text: str) -> Any:
    """A spec field's value as a file holds it: an object for JSON text, else the text (a cron
    or interval string)."""
    stripped = text.strip()
    return _json("spec", stripped) if stripped.startswith("{") else stripped


def spec_of(text: str) -> Spec:
    """The spec a spec field says; :class:`SpecError` or :class:`BadItem` when it says none."""
    value = spec_value(text)
    if not value:
        raise SpecError("a spec is needed: a cron or interval string, or a spec object")
    return parse_spec(value)


def _json(name: str, text: str) -> Any:
    try:
        return parse_json(name, text)
    except BadInput as exc:
        raise BadItem(exc.message, name) from None


def _number(name: str, text: str, empty: float | None) -> Any:
    stripped = text.strip()
    if not stripped:
        return empty
    return _json(name, stripped) if _NUMBER.fullmatch(stripped) else stripped


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
