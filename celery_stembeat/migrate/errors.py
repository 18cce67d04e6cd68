"""The one error a migration source or target raises for anything it cannot read or write."""

from __future__ import annotations


class MigrateError(Exception):
    """A source or target could not be opened, read or written; the message says which."""
