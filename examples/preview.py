"""Print the next fires of every schedule in a celery config module (default: the example)."""

from __future__ import annotations

import argparse
import importlib.util
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.table import Table

from celery_stembeat.specs import format_instant, parse_spec

HERE = Path(__file__).resolve().parent


def load_config(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("preview_config", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", nargs="?", type=Path, default=HERE / "celeryconfig.py")
    parser.add_argument("--count", type=int, default=3, help="fires to show per schedule")
    args = parser.parse_args()
    config = load_config(args.config)
    now = datetime.now(timezone.utc)
    table = Table(title=f"Next fires after {format_instant(now.replace(microsecond=0))}")
    table.add_column("entry", no_wrap=True)
    table.add_column("task")
    table.add_column("schedule")
    table.add_column("next fires (UTC)", no_wrap=True)
    for name, entry in config.beat_schedule.items():
        spec = parse_spec(entry["schedule"], timezone=getattr(config, "timezone", None))
        fires = [format_instant(moment) for moment in spec.occurrences(now, args.count)]
        table.add_row(name, entry["task"], spec.describe(), "\n".join(fires) or "(none left)")
    Console().print(table)


if __name__ == "__main__":
    main()
