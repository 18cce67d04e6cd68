"""One step of one scenario for one subject, in a process of its own.

``python -m bench.child SCENARIO STEP SUBJECT N REP`` reads the run's context (JSON) on stdin
and prints the step's result as JSON on a line starting with :data:`MARK`.
"""

from __future__ import annotations

import json
import logging
import sys

from bench.context import Context
from bench.scenarios import SCENARIOS

MARK = "BENCH-RESULT "
#: Steps that run once per subject and size, around the repetitions.
SETUP_STEPS = ("prepare", "cleanup")


def main(argv: list[str]) -> None:
    """Run the step named on the command line."""
    scenario, step, subject, n, rep = argv
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    ctx = Context.from_json(sys.stdin.read())
    function = getattr(SCENARIOS[scenario], step)
    if step in SETUP_STEPS:
        result = function(ctx, subject, int(n))
    else:
        result = function(ctx, subject, int(n), int(rep))
    print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
