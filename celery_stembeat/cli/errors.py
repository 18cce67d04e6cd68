"""Exit codes, and the translation of store and validation errors into them.

0: done. 1: the operation failed (unknown id, store unreachable, a conflict that kept
coming back). 2: bad usage or bad input (click's own usage errors exit 2 as well).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click

from celery_stembeat.entry import EntryError
from celery_stembeat.extras import MissingExtra, missing_extra
from celery_stembeat.setting import ConfigError
from celery_stembeat.specs import SpecError
from celery_stembeat.stores import StoreError, StoreURLError


def _command_class() -> type[click.Command]:
    """celery's command class under ``celery stembeat`` (its help groups options as celery's
    commands do), click's for the standalone ``stembeat``, which so never imports celery's CLI
    (a third of its start-up)."""
    celery_cli = sys.modules.get("celery.bin.base")
    command: type[click.Command] = click.Command if celery_cli is None else celery_cli.CeleryCommand
    return command


#: The class of every verb.
Command = _command_class()


class Failed(click.ClickException):
    """The operation could not be done; exit 1."""

    exit_code = 1


class BadInput(click.ClickException):
    """The input (a file, a spec, a setting) is invalid; exit 2."""

    exit_code = 2


def changed_meanwhile(entry_id: str, doing: str, kept: str) -> Failed:
    """The error of a write that found the entry changed by another process since it was read
    (``doing``: what was being done, ``kept``: what was left alone)."""
    return Failed(f"entry {entry_id!r} changed while {doing}: {kept} (see stembeat log {entry_id})")


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
    that brings it (exit 2), wherever the library was needed.

    ``lazy`` names verbs by ``module:attribute``: a verb's module is imported only when that
    verb runs (or help lists it), so each verb starts with only what it needs.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = self.lazy.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = where.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

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
