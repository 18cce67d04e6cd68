"""stembeat's prediction: once an occurrence is on time, the spec's occurrences themselves are the
fires, exactly what the engine's catch-up rule decides for each claim."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from celery_stembeat.catchup import plan
from celery_stembeat.engine import EngineSettings
from celery_stembeat.entry import Entry
from celery_stembeat.migrate.predict import predict_entry
from celery_stembeat.specs import CronSpec, IntervalSpec, Spec

UTC = timezone.utc
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None)
START = datetime(2026, 3, 6, 12, 0, 0, 250_000, tzinfo=UTC)


def claim_by_claim(
    entry: Entry, start: datetime, end: datetime, engine: EngineSettings
) -> list[datetime]:
    """The engine's rule applied to every claim, one after the other."""
    fires: list[datetime] = []
    scheduled = entry.state.next_run_at if entry.enabled else None
    while scheduled is not None:
        now = max(scheduled, start)
        if now > end:
            break
        decided = plan(entry, scheduled, now, grace=engine.grace, limit=engine.catch_up_limit)
        fires += [now] * len(decided.runs)
        upcoming = decided.next_run_at
        if (
            (entry.run_once and decided.runs)
            or upcoming is None
            or (entry.expire_at is not None and upcoming > entry.expire_at)
        ):
            break
        scheduled = upcoming
    return fires


SPECS: tuple[Spec, ...] = (
    IntervalSpec(30),
    IntervalSpec(7.5),
    IntervalSpec(3600, start_at=START + timedelta(minutes=7)),
    IntervalSpec(90, end_at=START + timedelta(hours=5)),
    CronSpec("*/5 * * * *"),
    CronSpec("30 2 * * *", "America/New_York"),
    CronSpec("*/20 * * * * *", "Europe/London"),
)


@PROPERTY
@given(
    spec=st.sampled_from(SPECS),
    first=st.integers(-3 * 86400_000, 86400_000),
    hours=st.integers(0, 72),
    expire=st.none() | st.integers(-3600, 72 * 3600),
    run_once=st.booleans(),
    enabled=st.booleans(),
    catch_up=st.sampled_from(("skip", "fire_one", "fire_all")),
    grace=st.integers(0, 120),
    limit=st.integers(1, 5),
)
def test_the_prediction_is_the_engine_rule_claim_by_claim(
    spec: Spec,
    first: int,
    hours: int,
    expire: int | None,
    run_once: bool,
    enabled: bool,
    catch_up: str,
    grace: int,
    limit: int,
) -> None:
    entry = Entry(
        id="e",
        task="t",
        spec=spec,
        run_once=run_once,
        enabled=enabled,
        catch_up=catch_up,
        expire_at=None if expire is None else START + timedelta(seconds=expire),
    ).with_state(next_run_at=START + timedelta(milliseconds=first))
    end = START + timedelta(hours=hours)
    engine = EngineSettings(grace=timedelta(seconds=grace), catch_up_limit=limit)
    predicted = [fire.at for fire in predict_entry(entry, START, end, engine)]
    assert predicted == claim_by_claim(entry, START, end, engine)
