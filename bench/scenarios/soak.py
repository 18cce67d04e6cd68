"""Soak: ``n`` entries firing every second for ``soak_minutes``, and what the store grows into.

Only stembeat's stores run it (celery beat and RedBeat keep no history and are not
measured). The entries are spread evenly over the second (``n`` fires per second,
steadily) and drive ``celery_stembeat.Scheduler`` as ``celery beat`` does (pass, wait, pass),
in one process, with the publish step stubbed out: the load falls on the store alone. History
keeps ``soak_history_limit`` runs per entry, so that retention runs within a short soak.

Every ``soak_sample_seconds`` a thread of the same process samples the store's bytes
(SQLite: the file with its WAL; PostgreSQL: ``pg_total_relation_size`` of its tables; Redis:
``MEMORY USAGE`` of every key of its prefix), PostgreSQL's dead and live rows and the share of
HOT updates of the entries table, the server's CPU (PostgreSQL: the beat's own backends, and
the server's background processes apart; Redis: the ``redis-server`` process, which serves
other clients too; SQLite has none, its work is the beat's own) read from ``/proc``, the beat
process's CPU and RSS, and the lateness (time after the stubbed publish minus the scheduled
time) of the fires of the window since the last sample, p50 and p99.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from bench import footprint, subjects
from bench.apps import make_app
from bench.context import Context
from bench.results import Results
from bench.stats import Metric, percentile, rss_mb

NAME = "soak"
METRICS = (
    Metric("store_mb", "store size at the end", "MB"),
    Metric("dead_rows", "dead rows at the end (PostgreSQL)", "rows"),
    Metric("server_cpu_pct", "server CPU, last window", "% of a core"),
    Metric("beat_cpu_pct", "beat CPU, last window", "% of a core"),
    Metric("rss_mb", "beat RSS at the end", "MB"),
    Metric("p50_ms", "lateness p50, median window", "ms"),
    Metric("p99_ms", "lateness p99, worst window", "ms"),
    Metric("fires_per_s", "fires per second, whole run", "fires/s", lower_is_better=False),
)
SUBJECTS = ("stembeat-sqlite", "stembeat-postgres", "stembeat-redis")
#: Seconds from now until the first fire (time to store the entries).
LEAD = 0.5
#: Time-series columns: (result key, heading, format).
SERIES = (
    ("t_store_mb", "store MB", "{:.1f}"),
    ("t_dead_rows", "dead rows", "{:,.0f}"),
    ("t_live_rows", "live rows", "{:,.0f}"),
    ("t_hot_pct", "HOT updates %", "{:.0f}"),
    ("t_cpu_pct", "server CPU %", "{:.0f}"),
    ("t_background_cpu_pct", "PG background CPU %", "{:.0f}"),
    ("t_beat_cpu_pct", "beat CPU %", "{:.0f}"),
    ("t_rss_mb", "beat RSS MB", "{:.0f}"),
    ("t_p50_ms", "p50 ms", "{:.1f}"),
    ("t_p99_ms", "p99 ms", "{:.1f}"),
    ("t_fires_per_s", "fires/s", "{:,.0f}"),
)
_TICK = os.sysconf("SC_CLK_TCK")


def plan(ctx: Context) -> list[tuple[int, tuple[str, ...]]]:
    """stembeat's three stores at ``soak_entries`` entries (1,000; quick mode 50)."""
    return [(int(ctx.options["soak_entries"]), SUBJECTS)]


def child_timeout(ctx: Context) -> float:
    """The soak itself and half an hour to set up and clean up."""
    return 60.0 * float(ctx.options["soak_minutes"]) + 1_800.0


def measure(ctx: Context, subject: str, n: int, rep: int) -> list[dict[str, float]]:
    """One soak; one result per sample, then the summary."""
    from celery_stembeat.stores import ClaimBatch

    tag = f"soak{n}r{rep}"
    settings = subjects.settings(ctx, subject, tag)
    url = settings["stembeat_url"]
    settings["stembeat_url"] = (
        f"{url}{'&' if '?' in url else '?'}history_limit={int(ctx.options['soak_history_limit'])}"
    )
    app = make_app(ctx, ctx.name(tag), {}, **settings)
    # Started on its empty store, the beat finds the entries through its change feed.
    scheduler = subjects.start(ctx, subject, tag, app)
    start = time.time() + LEAD
    end = start + 60.0 * float(ctx.options["soak_minutes"])
    first = datetime.fromtimestamp(start, timezone.utc)
    subjects.store_entries(
        ctx, subject, tag, app, n, 1.0, lambda i: first + timedelta(seconds=i / n)
    )
    stub = _Stub()
    engine = scheduler.engine
    engine.publisher = stub
    store = engine.store
    claim = store.claim_batch

    def claim_batch(now: datetime, limit: int, owner: str, lease: timedelta) -> Any:
        # A beat that cannot keep up never leaves its pass: at the end, claim nothing.
        if time.time() >= end:
            return ClaimBatch([], now)
        return claim(now, limit, owner, lease)

    store.claim_batch = claim_batch
    server = _Server(ctx, subject, tag)
    sampler = threading.Thread(
        target=server.run,
        args=(stub, start, end, float(ctx.options["soak_sample_seconds"])),
        name="soak-sampler",
    )
    sampler.start()
    try:
        while time.time() < end:
            scheduler.tick()  # stembeat waits inside its tick
    except BaseException:
        server.stopped.set()
        raise
    finally:
        sampler.join()
        scheduler.close()
        server.close()
        subjects.drop(ctx, subject, tag)
    return [*server.samples, _summary(server.samples)]


def _summary(samples: list[dict[str, float]]) -> dict[str, float]:
    if not samples:
        return {}
    last = samples[-1]
    p50s = sorted(s["t_p50_ms"] for s in samples if not math.isnan(s["t_p50_ms"]))
    p99s = [s["t_p99_ms"] for s in samples if not math.isnan(s["t_p99_ms"])]
    return {
        "store_mb": last["t_store_mb"],
        "dead_rows": last.get("t_dead_rows", math.nan),
        "server_cpu_pct": last.get("t_cpu_pct", math.nan),
        "beat_cpu_pct": last["t_beat_cpu_pct"],
        "rss_mb": last["t_rss_mb"],
        "p50_ms": p50s[len(p50s) // 2] if p50s else math.nan,
        "p99_ms": max(p99s, default=math.nan),
        "fires_per_s": sum(s["t_fires"] for s in samples) / last["t_at_s"],
    }


class _Stub:
    """The engine's publisher, sending nothing: notes each fire's lateness (ms)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._late: list[float] = []

    def publish_many(self, messages: Any) -> list[None]:
        sent = time.time()
        late = [(sent - m.scheduled_for.timestamp()) * 1000 for m in messages]
        with self._lock:
            self._late.extend(late)
        return [None] * len(messages)

    def take(self) -> list[float]:
        """The lateness noted since the last call."""
        with self._lock:
            late, self._late = self._late, []
        return late


class _Server:
    """Samples the store's size and the server's CPU."""

    def __init__(self, ctx: Context, subject: str, tag: str) -> None:
        self.ctx, self.subject, self.tag = ctx, subject, tag
        self.ticks: dict[int, int] = {}
        self.own: dict[int, int] = {}
        self.background: dict[int, int] = {}
        self.at = time.monotonic()
        self.samples: list[dict[str, float]] = []
        #: Set when the soak failed: the sampler stops at once.
        self.stopped = threading.Event()
        self.engine: Any = None
        if subject == "stembeat-postgres":
            import sqlalchemy as sa

            self.engine = sa.create_engine(ctx.postgres_url, poolclass=sa.pool.NullPool)

    def run(self, stub: _Stub, start: float, end: float, every: float) -> None:
        """Sample every ``every`` seconds from ``start`` until ``end`` (the last sample)."""
        self.sample()  # the CPU baseline
        stub.take()
        window, due = time.time(), start + every
        while window < end:
            due = min(due, end)
            if self.stopped.wait(max(0.0, due - time.time())):
                return
            late, now = stub.take(), time.time()
            sample = self.sample()
            sample.update(
                t_at_s=now - start,
                t_rss_mb=rss_mb(),
                t_p50_ms=percentile(late, 0.5),
                t_p99_ms=percentile(late, 0.99),
                t_fires=float(len(late)),
                t_fires_per_s=len(late) / (now - window),
            )
            self.samples.append(sample)
            window, due = now, due + every

    def close(self) -> None:
        """Let go of the sampler's connections."""
        if self.engine is not None:
            self.engine.dispose()

    def sample(self) -> dict[str, float]:
        """The store's bytes and rows, and the server's CPU since the last sample."""
        now = time.monotonic()
        seconds, self.at = now - self.at, now
        values = {
            "t_store_mb": footprint.prefix_bytes(self.ctx, self.subject, self.tag) / 1e6,
            "t_beat_cpu_pct": _cpu(self.own, [os.getpid()], seconds),
        }
        if self.subject == "stembeat-sqlite":
            return values  # embedded: the store's work is the beat's own CPU
        if self.engine is None:
            import redis

            client = redis.Redis.from_url(self.ctx.redis_url)
            try:
                pid = int(client.info("server")["process_id"])
            finally:
                client.close()
            values["t_cpu_pct"] = _cpu(self.ticks, [pid], seconds)
            return values
        rows, backends, background = self._postgres()
        values.update(rows)
        values["t_cpu_pct"] = _cpu(self.ticks, backends, seconds)
        values["t_background_cpu_pct"] = _cpu(self.background, background, seconds)
        return values

    def _postgres(self) -> tuple[dict[str, float], list[int], list[int]]:
        import sqlalchemy as sa

        like = {"prefix": self.ctx.name(self.tag) + "\\_%"}
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT coalesce(sum(n_dead_tup), 0) AS dead, "
                    "coalesce(sum(n_live_tup), 0) AS live, "
                    "coalesce(sum(n_tup_upd) FILTER (WHERE relname LIKE '%\\_entries'), 0) AS upd,"
                    " coalesce(sum(n_tup_hot_upd) FILTER (WHERE relname LIKE '%\\_entries'), 0)"
                    " AS hot FROM pg_stat_user_tables WHERE relname LIKE :prefix"
                ),
                like,
            ).one()
            activity = conn.execute(
                sa.text(
                    "SELECT pid, backend_type, client_port FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid()"
                )
            ).all()
        ports = _own_ports()
        backends = [a.pid for a in activity if a.client_port in ports]
        background = [a.pid for a in activity if a.backend_type != "client backend"]
        stats = {
            "t_dead_rows": float(rows.dead),
            "t_live_rows": float(rows.live),
            "t_hot_pct": 100.0 * float(rows.hot) / float(rows.upd) if rows.upd else math.nan,
        }
        return stats, backends, background


def _cpu(seen: dict[int, int], pids: Iterable[int], seconds: float) -> float:
    """CPU of ``pids`` since ``seen`` (their ticks at the last sample, updated), in % of a
    core; a process first seen counts from its start."""
    used = 0
    for pid in pids:
        ticks = _ticks(pid)
        if ticks is not None:
            used += ticks - seen.get(pid, 0)
            seen[pid] = ticks
    return 100.0 * used / _TICK / seconds if seconds > 0 else math.nan


def _ticks(pid: int) -> int | None:
    """User and system CPU ticks of process ``pid``; ``None`` once it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def _own_ports() -> set[int]:
    """The local TCP ports of this process's sockets (its connections to the server)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    if fields[9] in inodes:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def report(results: Results, ctx: Context) -> str:
    """The time series of every subject: one row per sample."""
    heading = ["store", "N", "t (s)", *(title for _, title, _ in SERIES)]
    lines = [
        "Soak time series (stembeat's stores only; celery beat and "
        "RedBeat are not run; publishing stubbed)",
        "",
        "| " + " | ".join(heading) + " |",
        "|" + "---|" * len(heading),
    ]
    for n, planned in plan(ctx):
        for subject in planned:
            times = results.values(NAME, n, subject, "t_at_s")
            columns = {key: results.values(NAME, n, subject, key) for key, _, _ in SERIES}
            for index, at in enumerate(times):
                cells = [subject, f"{n:,}", f"{at:.0f}"]
                for key, _, form in SERIES:
                    values = columns[key]
                    value = values[index] if index < len(values) else math.nan
                    cells.append("-" if math.isnan(value) else form.format(value))
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
