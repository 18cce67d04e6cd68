"""Exit codes, and the translation of store and validation errors into them.

0: done. 1: the operation failed (unknown id, store unreachable, a conflict that kept
coming back). 2: bad usage or bad input (click's own usage errors exit 2 as well).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from celery_stembeat.config import ConfigError
from celery_stembeat.entry import EntryError
from celery_stembeat.extras import MissingExtra, missing_extra
from celery_stembeat.specs import SpecError
from celery_stembeat.stores import StoreError, StoreURLError


class Failed(click.ClickException):
    """The operation could not be done; exit 1."""

    exit_code = 1


class BadInput(click.ClickException):
    """The input (a file, a spec, a setting) is invalid; exit 2."""

    exit_code = 2


@contextmanager
def translated() -> Iterator[None]:
    """Turn validation errors into :class:`BadInput` and store errors into :class:`Failed`."""
    try:
        yield
    except (EntryError, SpecError, ConfigError, StoreURLError) as exc:
        raise BadInput(str(exc)) from None
    except StoreError as exc:
        raise Failed(str(exc)) from None


class Verbs(click.Group):
    """A group whose verbs end on a missing optional library with one line naming the extra
    that brings it (exit 2), wherever the library was needed."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:
            missing = exc if isinstance(exc, MissingExtra) else missing_extra(exc)
            if missing is None:
                raise
            raise BadInput(str(missing)) from None
