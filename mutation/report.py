"""Scores of the last ``mutmut run``, per module, and the survivors that are news.

Run from the project root after ``mutmut run`` (``make mutate`` does both). A survivor listed in
``equivalents.txt`` beside this file (a mutant that changes no behaviour) is left out of the
score and the list; every other survivor is printed with its diff. Exit status 1 when a module
is below its goal, so the check can gate a change to the engine.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files
from mutmut.utils.format_utils import orig_function_and_class_names_from_key

EQUIVALENTS = Path(__file__).with_name("equivalents.txt")
#: Killed share (equivalents left out) each module must reach; the spec modules and the celery
#: bridge beside them all of it.
GOALS = {"celery_stembeat/specs/": 1.0, "celery_stembeat/celery_schedules.py": 1.0}
DEFAULT_GOAL = 0.95
#: A mutant the tests time out on (a wait that never ends), or crash on, is caught as surely as
#: one they fail on; the table shows how many were timeouts.
CAUGHT = {"killed", "timeout", "segfault", "caught by type check"}


@dataclass(frozen=True)
class Mutant:
    """One mutation: where it is and what it changes, as the equivalents file names it."""

    path: str
    function: str
    removed: tuple[str, ...]
    added: tuple[str, ...]

    def block(self) -> str:
        lines = [f"[{self.path} {self.function}]"]
        lines += [f"- {line}" for line in self.removed]
        lines += [f"+ {line}" for line in self.added]
        return "\n".join(lines)


def describe(name: str, path: Path) -> Mutant:
    """The mutant called ``name`` in ``path``, by function and changed lines."""
    function, cls = orig_function_and_class_names_from_key(name)
    diff = get_diff_for_mutant(name, path=path).splitlines()[2:]  # past the --- and +++ lines
    removed = tuple(line[1:].strip() for line in diff if line.startswith("-"))
    added = tuple(line[1:].strip() for line in diff if line.startswith("+"))
    return Mutant(str(path), f"{cls}.{function}" if cls else function, removed, added)


def read_equivalents(text: str) -> dict[Mutant, str]:
    """Blocks of ``[path function]``, ``- line``/``+ line`` and ``why: …``, blank-line apart."""
    found: dict[Mutant, str] = {}
    for block in text.split("\n\n"):
        lines = [line for line in block.strip().splitlines() if not line.startswith("#")]
        if not lines:
            continue
        path, _, function = lines[0].strip("[]").partition(" ")
        removed = tuple(line[2:].strip() for line in lines if line.startswith("- "))
        added = tuple(line[2:].strip() for line in lines if line.startswith("+ "))
        why = [line[4:].strip() for line in lines if line.startswith("why:")]
        if not why:
            raise SystemExit(f"{EQUIVALENTS.name}: {lines[0]} gives no 'why:' line")
        found[Mutant(path, function, removed, added)] = why[0]
    return found


def goal(path: str) -> float:
    return next((share for prefix, share in GOALS.items() if path.startswith(prefix)), DEFAULT_GOAL)


def main() -> int:
    equivalents = read_equivalents(EQUIVALENTS.read_text(encoding="utf-8"))
    used: set[Mutant] = set()
    complete: set[str] = set()
    failing = False
    news: list[tuple[str, str, Mutant]] = []
    print(
        f"{'module':<40} {'mutants':>7} {'caught':>6} {'timeout':>7} {'equiv.':>6} "
        f"{'left':>4} {'score':>6}"
    )
    for path in sorted(walk_mutatable_files()):
        data = SourceFileMutationData(path=path)
        data.load()
        codes = data.exit_code_by_key
        # A mutant not run belongs to another module's run (ONLY=…) or to a run stopped early.
        statuses = {
            name: status_by_exit_code[code] for name, code in codes.items() if code is not None
        }
        if not statuses:
            continue
        if len(statuses) == len(codes):
            complete.add(str(path))
        caught = sum(status in CAUGHT for status in statuses.values())
        equivalent = 0
        for name, status in sorted(statuses.items()):
            if status in CAUGHT:
                continue
            mutant = describe(name, path)
            if mutant in equivalents:
                used.add(mutant)
                equivalent += 1
            else:
                news.append((status, name, mutant))
        scored = len(statuses) - equivalent
        score = caught / scored if scored else 1.0
        failing |= score < goal(str(path))
        unrun = f"  ({len(codes) - len(statuses)} not run)" if len(statuses) < len(codes) else ""
        timeouts = sum(status == "timeout" for status in statuses.values())
        print(
            f"{path!s:<40} {len(statuses):>7} {caught:>6} {timeouts:>7} {equivalent:>6} "
            f"{scored - caught:>4} {score:>6.1%}{unrun}"
        )
    for status, name, mutant in news:
        print(f"\n{status} ({name}):\n{mutant.block()}")
    for mutant in equivalents:
        if mutant not in used and mutant.path in complete:
            print(
                f"\nnot a survivor this run (no longer made, or caught: remove it from "
                f"{EQUIVALENTS.name} unless it timed out under load):\n{mutant.block()}"
            )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
