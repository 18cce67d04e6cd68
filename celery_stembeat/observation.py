"""``observe``'s numbers: how many entries are due, late, failing, how much ran lately, and
which entries are not healthy.

Everything comes from the store's indexes and counters (:meth:`Store.activity`,
:meth:`Store.history_size` and :func:`~celery_stembeat.survey.survey`), so an observation costs
about the same on a store of a hundred entries as on one of a million with the same few
problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from celery_stembeat.health import HealthRules
from celery_stembeat.stores import Activity, HistorySize, Store
from celery_stembeat.survey import Survey, survey

#: How far back ``observe`` counts runs.
WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Observation:
    """A store's activity and health at one instant."""

    now: datetime
    #: How late an entry may be before it is overdue (``rules.missed_after``).
    grace: timedelta
    rules: HealthRules
    activity: Activity
    #: How many runs history holds (and their bytes where the store knows).
    history: HistorySize
    #: The health counts, the entries that are not healthy, the beats and the pause.
    survey: Survey


def observe(store: Store, now: datetime, rules: HealthRules) -> Observation:
    """Observe ``store`` at ``now`` (``rules.missed_after`` is the grace)."""
    grace = rules.missed_after
    return Observation(
        now,
        grace,
        rules,
        store.activity(now, now - grace, now - WINDOW),
        store.history_size(),
        survey(store, now, rules),
    )
