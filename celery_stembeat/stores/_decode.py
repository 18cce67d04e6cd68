"""The ``version:digest`` marks a store writes beside a config entry, read back."""

from __future__ import annotations


def attached_digest(mark: str | None, version: int | str) -> str:
    """The digest in a stored ``version:digest`` mark, if it was made for ``version``."""
    made_for, _, digest = (mark or "").partition(":")
    return digest if made_for == str(version) else ""
