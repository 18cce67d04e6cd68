"""The import and export reports and the verification, as lines for people and as JSON for
scripts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from celery_stembeat.changes import listed, unlisted_note
from celery_stembeat.migrate.dcb_export import ExportResult
from celery_stembeat.migrate.importer import RUN_STATE, ImportResult
from celery_stembeat.migrate.instants import Instants
from celery_stembeat.migrate.verify import DCB, STEMBEAT, Divergence, Verification
from celery_stembeat.specs import format_duration, format_instant

VERDICT_SAFE = "SAFE TO SWITCH"
VERDICT_UNSAFE = "NOT SAFE TO SWITCH"
#: Said after a real import from django-celery-beat.
SWITCH_NOTE = (
    "note: later edits in the Django admin are not seen until the next import; "
    "stop django-celery-beat's beat before starting stembeat"
)


def _count(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def instants_text(values: Instants) -> str:
    """Instants in full; a long evenly spaced run as its first, step and last (still exact);
    beyond the instants kept, how many there are and the last."""
    every = values.every
    if values.count > 4 and every is not None and values.first and values.last:
        return (
            f"{format_instant(values.first)}, then every {format_duration(every.total_seconds())}"
            f" to {format_instant(values.last)} ({values.count} fires)"
        )
    text = ", ".join(format_instant(at) for at in values.sample)
    if values.count > len(values.sample) and values.last:
        text += f", … ({values.count} in all, the last {format_instant(values.last)})"
    return text


def _divergence_line(item: Divergence) -> str:
    detail = f" {item.detail}" if item.detail else ""
    return f"  {item.task}  {format_instant(item.at)}  only {item.side} fires{detail}"


def entry_line(status: str, name: str, fields: Sequence[str] = ()) -> str:
    """One entry's line of a report: its status, its id and what changes, in parentheses."""
    detail = f" ({', '.join(fields)})" if fields else ""
    return f"{status:<10} {name}{detail}"


def skipped_line(name: str, why: str) -> str:
    """The line of an entry that was left out, and why."""
    return f"{'skipped':<10} {name}: {why}"


def left_out_line(name: str, fields: Sequence[str]) -> str:
    """The line of an entry written without some of its fields (the target has none)."""
    return f"{'left out':<10} {name}: {', '.join(fields)} (the target has no such field)"


def import_lines(result: ImportResult, dry_run: bool, verbose: bool = False) -> Iterator[str]:
    """A line per entry added, updated or refreshed (with its changes beneath it; unchanged
    ones too with ``verbose``; none when there are too many: see :func:`listed`), a line per
    skipped task, then the totals."""
    rows: list[tuple[str, str, Sequence[str]]] = [("added", name, ()) for name in result.added]
    rows += [("updated", name, fields) for name, fields in result.updated.items()]
    rows += [("refreshed", name, (RUN_STATE,)) for name in result.refreshed]
    if verbose:
        rows += [("unchanged", name, ()) for name in result.unchanged]
    shown = listed(rows, verbose)
    for status, name, fields in shown:
        yield entry_line(status, name, fields)
        for change in result.changes.get(name, ()):
            yield f"{'':<10}   changed: {change}"
    for name, why in result.skipped.items():
        yield skipped_line(name, why)
    total = (
        len(result.added)
        + len(result.updated)
        + len(result.refreshed)
        + len(result.unchanged)
        + len(result.skipped)
    )
    yield (
        f"{_count(total, 'task')}: {len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.refreshed)} refreshed, {len(result.unchanged)} unchanged, "
        f"{len(result.skipped)} skipped; {len(result.changes)} imported with changes"
        + _dry(dry_run)
        + unlisted_note(rows, shown)
    )


def export_lines(result: ExportResult, dry_run: bool) -> Iterator[str]:
    """One line per entry written or left as it was, then the totals (the skipped entries are
    :func:`skipped_line`'s)."""
    for name in result.added:
        yield entry_line("added", name)
    for name, fields in result.updated.items():
        yield entry_line("updated", name, fields)
    for name in result.unchanged:
        yield entry_line("unchanged", name)
    for name, fields in result.left_out.items():
        yield left_out_line(name, fields)
    yield (
        f"{len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged, {len(result.skipped)} skipped" + _dry(dry_run)
    )


def _dry(dry_run: bool) -> str:
    return " (dry run: nothing written)" if dry_run else ""


def verification_lines(verification: Verification) -> Iterator[str]:
    """The window, every divergence, every intentional difference, then the verdict."""
    dcb_fires, our_fires = verification.fires
    yield (
        f"verify {format_instant(verification.start)} .. {format_instant(verification.end)} "
        f"(celery {verification.celery_version}): {_count(len(verification.tasks), 'task')}, "
        f"{DCB} fires {dcb_fires} times, {STEMBEAT} {our_fires} times"
    )
    total = verification.divergence_count
    yield f"divergences: {total}"
    for task in verification.tasks:
        yield from (_divergence_line(item) for item in task.divergences)
        more = task.divergence_count - len(task.divergences)
        last = task.last_divergence
        if more and last is not None:
            yield (
                f"  {task.name}  … {more} more, the last {format_instant(last.at)} "
                f"(only {last.side} fires)"
            )
    intentional = verification.intentional
    yield f"intentional differences: {len(intentional)}"
    for difference in intentional:
        yield f"  {difference.task}  [{difference.reason}] {difference.explanation}"
        for side, fires in ((DCB, difference.dcb), (STEMBEAT, difference.stembeat)):
            if fires:
                yield f"    {side:<19} {instants_text(fires)}"
    notes = [task for task in verification.tasks if task.note]
    for task in notes:
        yield f"  note: {task.name}: {task.note}"
    yield VERDICT_SAFE if verification.safe else f"{VERDICT_UNSAFE}: {_count(total, 'divergence')}"


def verification_dict(verification: Verification) -> dict[str, Any]:
    """JSON-able form of the verification."""
    dcb_fires, our_fires = verification.fires
    return {
        "start": format_instant(verification.start),
        "end": format_instant(verification.end),
        "celery": verification.celery_version,
        "fires": {DCB: dcb_fires, STEMBEAT: our_fires},
        "compared": verification.compared,
        "divergence_count": verification.divergence_count,
        "divergences": [item.to_dict() for item in verification.divergences],
        "intentional": [item.to_dict() for item in verification.intentional],
        "notes": {task.name: task.note for task in verification.tasks if task.note},
        "verdict": VERDICT_SAFE if verification.safe else VERDICT_UNSAFE,
    }
