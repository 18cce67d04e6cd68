"""The beat loop without celery: claim due occurrences, publish them, record what happened.

The engine keeps no copy of the schedule. Each :meth:`Engine.tick` asks the store for what is
due (an index look-up), so its cost grows with the entries due, not the entries stored; between
ticks :meth:`Engine.wait` sleeps until the next due time or a change announced by the store.
Time comes from an injected clock (and ``sleep``), randomness from an injected ``random.Random``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from celery_stembeat._collector import collector_paused
from celery_stembeat.catchup import Plan, plan
from celery_stembeat.entry import Entry
from celery_stembeat.limits import error_text
from celery_stembeat.overlap import unfinished_run
from celery_stembeat.publisher import Message, Publisher, occurrence_task_id
from celery_stembeat.setting import DEFAULT_GRACE
from celery_stembeat.specs import format_instant
from celery_stembeat.stores.base import (
    ANY_CHANGE,
    FAILED,
    PUBLISHED,
    SKIPPED,
    ChangeFeed,
    Claim,
    Outcome,
    Pause,
    RunRecord,
    Store,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: While the broker is down, how often (seconds) the count of unsent messages is logged.
BROKER_REPORT_INTERVAL = 60.0


def utc_now() -> datetime:
    """The current instant, aware UTC."""
    return datetime.now(timezone.utc)


def default_owner() -> str:
    """A name for this beat process that other beats and the history can show."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_record(
    message: Message, error: Exception | None, published_at: datetime, owner: str
) -> RunRecord:
    """The history record of ``message`` once a publisher sent it at ``published_at`` (``error``
    ``None``) or could not send it; ``owner`` is who sent it."""
    entry, scheduled_for = message.entry, message.scheduled_for
    if error is not None:
        return RunRecord(
            entry_id=entry.id,
            scheduled_for=scheduled_for,
            outcome=FAILED,
            jitter=message.countdown,
            error=error_text(error),
            owner=owner,
            task_id=message.task_id,
            manual=message.manual,
        )
    return RunRecord(
        entry_id=entry.id,
        scheduled_for=scheduled_for,
        outcome=PUBLISHED,
        published_at=published_at,
        drift=(published_at - scheduled_for).total_seconds(),  # whole microseconds
        jitter=message.countdown,
        owner=owner,
        task_id=message.task_id,
        manual=message.manual,
    )


@dataclass(frozen=True)
class EngineSettings:
    """How the engine claims and catches up; every field has a celery setting (``stembeat_*``)."""

    #: How long a claim stays with this beat before another may recover it. A claim older
    #: than half of it is confirmed with the store (and extended) before anything is sent.
    lease: timedelta = timedelta(seconds=10)
    #: An occurrence at most this late is on time; older ones follow ``catch_up``.
    grace: timedelta = DEFAULT_GRACE
    #: The most runs one claim may produce (``fire_all`` backlogs); the newest are kept.
    catch_up_limit: int = 100
    #: Entries claimed per store round trip.
    batch_size: int = 500
    #: How far ahead a tick claims: occurrences due that soon are claimed at once and each
    #: published at its time, so the claim's round trip does not make them late.
    lookahead: timedelta = timedelta(milliseconds=20)
    #: The longest sleep between ticks, as celery's ``beat_max_loop_interval``.
    max_interval: float = 300.0
    #: Longest pause between retries while the store is unreachable.
    max_backoff: float = 30.0
    owner: str = field(default_factory=default_owner)


@dataclass
class TickReport:
    """What one tick did, for logs and tests."""

    claimed: int = 0
    published: int = 0
    failed: int = 0
    missed: int = 0
    #: Claims found lost when confirmed before sending (another beat took them over).
    taken_over: int = 0
    #: Seconds until the engine wants to tick again.
    delay: float = 0.0
    #: Seconds late each occurrence sent in this tick went out.
    drifts: list[float] = field(default_factory=list)
    #: The size of each claim batch this tick took.
    batches: list[int] = field(default_factory=list)
    #: Occurrences not sent because the entry's previous run had not finished.
    skipped: int = 0
    #: This tick found the store or broker unavailable, and the outage starts with it.
    outage_started: bool = False
    #: The store-wide pause that held this tick's claim back, if one did.
    paused: Pause | None = None


class Engine:
    """Claims due occurrences from a store and publishes them."""

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        settings: EngineSettings | None = None,
        *,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.settings = settings or EngineSettings()
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._feed: ChangeFeed | None = None
        self._unrecorded: list[tuple[Claim, Outcome]] = []
        self._next_recovery: datetime | None = None
        self._outage_since: datetime | None = None
        self._backoff = 0.0
        self._broker = _BrokerOutage()
        #: This pass's entries that missed occurrences: (id, catch_up, missed, counted in part).
        self._missed: list[tuple[str, str, int, bool]] = []
        #: The store-wide pause the last tick found holding claims back.
        self._pause: Pause | None = None
        self._closed = False

    # -- one pass ------------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Publish everything due now and return how long to wait before the next tick.

        Never raises for a store or broker failure: the first failure of an outage is logged,
        later ones are quiet, and the delay backs off until the store answers again.
        """
        try:
            # A busy tick allocates many short-lived objects per fire (claims, messages,
            # records), all freed by reference counting; collecting meanwhile cost about 4% of
            # a burst, full collections included. Cycles wait until the tick ends.
            with collector_paused():
                report = self._tick()
        except Exception as exc:
            self._log_missed()
            return self._outage(exc)
        self._log_missed()
        if self._outage_since is not None:
            logger.warning(
                "stembeat: store reachable again after %.1f s",
                (self.clock() - self._outage_since).total_seconds(),
            )
            self._outage_since = None
            self._backoff = 0.0
        return report

    def _tick(self) -> TickReport:
        report = TickReport()
        self._record()
        now = self.clock()
        self._recover(now)
        settings = self.settings
        while True:
            batch = self.store.claim_batch(
                now + settings.lookahead, settings.batch_size, settings.owner, settings.lease
            )
            report.claimed += len(batch.claims)
            if batch.claims:
                report.batches.append(len(batch.claims))
            outcomes = self._run_when_due(batch.claims, report)
            self._record()
            if len(batch.claims) < settings.batch_size:
                break
            now = self.clock()
        # The index head as the claim left it, or an entry this pass just put back earlier.
        wake_ups = [o.next_run_at for o in outcomes if o.next_run_at is not None]
        if batch.paused is not None and batch.next_due_at is not None:
            # A pass wakes a lookahead before a due time; at a pause's end that claim would
            # still see the pause, so wake at the end itself.
            wake_ups.append(batch.next_due_at + settings.lookahead)
        elif batch.next_due_at is not None:
            wake_ups.append(batch.next_due_at)
        self._note_pause(batch.paused)
        report.paused = batch.paused
        report.delay = self._delay(self.clock(), min(wake_ups, default=None))
        return report

    def _note_pause(self, pause: Pause | None) -> None:
        """Log a pause once as it starts (or is replaced), and once as it ends."""
        if pause == self._pause:
            return
        if pause is not None:
            logger.warning("stembeat: store paused %s", pause.describe())
        else:
            logger.info("stembeat: store pause ended, sending again")
        self._pause = pause

    def _run_when_due(self, claims: list[Claim], report: TickReport) -> list[Outcome]:
        """Run ``claims`` (earliest first, as stores claim them), each group as it falls due;
        each group's outcomes are pending completion as soon as it has run.

        A claim made ahead of its time waits here for it, at most ``lookahead`` in all: if the
        clock says otherwise (it was set back), the rest runs now and the plan, seeing nothing
        due yet, puts it back untouched. Nothing is ever sent before its time.

        Fencing: a claim past half its lease (this beat was paused, or a publish was slow) is
        confirmed with the store right before its group is sent; one that another beat may
        have taken over is dropped, never sent.
        """
        outcomes: list[Outcome] = []
        waited = 0.0
        limit = self.settings.lookahead.total_seconds()
        start = 0
        while start < len(claims):
            now = self.clock()
            early = (claims[start].scheduled_for - now).total_seconds()
            if early > 0 and waited < limit:
                pause = min(early, limit - waited)
                self.sleep(pause)
                waited += pause
                continue
            if now >= claims[start].lease_until - self.settings.lease / 2:
                claims = claims[:start] + self._renew(claims[start:], now, report)
                continue  # the clock again: the renewal took time, or this beat paused again
            end = start + 1
            while end < len(claims) and (claims[end].scheduled_for <= now or waited >= limit):
                end += 1
            group = claims[start:end]
            done = self._run(group, now, report)
            # Pending at once: runs published and then interrupted are still recorded.
            self._unrecorded.extend(zip(group, done, strict=True))
            outcomes += done
            start = end
        return outcomes

    def _renew(self, claims: list[Claim], now: datetime, report: TickReport) -> list[Claim]:
        """The claims still held, each extended by a lease; the others are given up."""
        renewed = self.store.renew_claims(claims, now, self.settings.lease)
        held = [claim for claim in renewed if claim is not None]
        lost = len(claims) - len(held)
        if lost:
            report.taken_over += lost
            logger.warning(
                "stembeat: %d claim(s) held %.1f s, past their lease, were taken over by "
                "another beat; not sent here (first: %s)",
                lost,
                (now - claims[0].lease_until + self.settings.lease).total_seconds(),
                next(c.entry_id for c, r in zip(claims, renewed, strict=True) if r is None),
            )
        return held

    def _run(self, claims: list[Claim], now: datetime, report: TickReport) -> list[Outcome]:
        """Plan every claim, publish all their runs as one batch, and say what happened."""
        plans = [self._plan(claim, now) for claim in claims]
        held = [
            _hold_back(claim.entry, decided.runs, now)
            for claim, decided in zip(claims, plans, strict=True)
        ]
        messages = [
            Message(
                claim.entry,
                scheduled,
                occurrence_task_id(claim.entry_id, scheduled),
                round(self.rng.uniform(0, claim.entry.jitter), 3) if claim.entry.jitter else 0.0,
            )
            for claim, (sent, _) in zip(claims, held, strict=True)
            for scheduled in sent
        ]
        errors = iter(self.publisher.publish_many(messages) if messages else [])
        published_at = self.clock()
        records = [self._record_run(message, next(errors), published_at) for message in messages]
        if records:
            self._broker.sent_batch(messages, records, published_at)
        report.published += sum(record.outcome == PUBLISHED for record in records)
        report.drifts += [record.drift for record in records if record.drift is not None]
        report.failed += sum(record.outcome == FAILED for record in records)
        first = 0
        outcomes = []
        for claim, decided, (sent, skipped) in zip(claims, plans, held, strict=True):
            runs = records[first : first + len(sent)]
            first += len(runs)
            report.missed += decided.missed
            report.skipped += len(skipped)
            if skipped:
                runs = sorted(
                    [*runs, *(self._skipped_run(claim.entry, at, why) for at, why in skipped)],
                    key=lambda run: run.scheduled_for,
                )
            outcomes.append(Outcome(next_run_at=decided.next_run_at, runs=tuple(runs)))
        return outcomes

    def _skipped_run(self, entry: Entry, scheduled_for: datetime, reason: str) -> RunRecord:
        logger.info(
            "stembeat: skipped %s for %s: %s", entry.id, format_instant(scheduled_for), reason
        )
        return RunRecord(
            entry_id=entry.id,
            scheduled_for=scheduled_for,
            outcome=SKIPPED,
            error=reason,
            owner=self.settings.owner,
        )

    def _plan(self, claim: Claim, now: datetime) -> Plan:
        entry = claim.entry
        decided = plan(
            entry,
            claim.scheduled_for,
            now,
            grace=self.settings.grace,
            limit=self.settings.catch_up_limit,
        )
        if decided.missed:
            # One summary per pass (see _log_missed); each entry's detail at debug level.
            self._missed.append((entry.id, entry.catch_up, decided.missed, decided.missed_at_least))
            logger.debug(
                "stembeat: %s missed %s%d occurrence(s) (catch_up=%s)",
                entry.id,
                "at least " if decided.missed_at_least else "",
                decided.missed,
                entry.catch_up,
            )
        return decided

    def _log_missed(self) -> None:
        """One WARNING for the entries of this pass that missed occurrences (late beyond the
        grace): a beat back from downtime may find thousands, each detailed at debug level."""
        missed, self._missed = self._missed, []
        if not missed:
            return
        occurrences = sum(count for _, _, count, _ in missed)
        at_least = "at least " if any(cut for _, _, _, cut in missed) else ""
        grace = self.settings.grace.total_seconds()
        if len(missed) == 1:
            ((entry_id, policy, _, _),) = missed
            logger.warning(
                "stembeat: %s missed %s%s occurrence(s) late by more than the %g s grace "
                "(catch_up=%s)",
                entry_id,
                at_least,
                f"{occurrences:,}",
                grace,
                policy,
            )
            return
        policies = Counter(policy for _, policy, _, _ in missed)
        logger.warning(
            "stembeat: %s entries missed %s%s occurrence(s) late by more than the %g s grace (%s)",
            f"{len(missed):,}",
            at_least,
            f"{occurrences:,}",
            grace,
            ", ".join(f"{policy}: {count:,}" for policy, count in policies.most_common()),
        )

    def _record_run(
        self, message: Message, error: Exception | None, published_at: datetime
    ) -> RunRecord:
        """The history record of one message the publisher sent, or could not send."""
        record = run_record(message, error, published_at, self.settings.owner)
        if record.drift is not None and logger.isEnabledFor(logging.DEBUG):
            entry = message.entry
            logger.debug(
                "stembeat: sent %s (%s) for %s, drift %.3f s, id %s",
                entry.id,
                entry.task,
                message.scheduled_for.isoformat(),
                record.drift,
                message.task_id,
            )
        return record

    def _record(self) -> None:
        """Complete the pending claims; what the store could not take stays pending."""
        if not self._unrecorded:
            return
        results = self.store.complete_many(self._unrecorded)
        pending, self._unrecorded = self._unrecorded, []
        lost = [claim for (claim, _), kept in zip(pending, results, strict=True) if not kept]
        if lost:
            logger.warning(
                "stembeat: %d lease(s) ran out before their runs were recorded (first: %s for "
                "%s); another beat may send them again, with the same task ids",
                len(lost),
                lost[0].entry_id,
                lost[0].scheduled_for.isoformat(),
            )

    def _recover(self, now: datetime) -> None:
        if self._next_recovery is not None and now < self._next_recovery:
            return
        recovered = self.store.recover_expired_claims(now)
        if recovered:
            logger.warning("stembeat: recovered expired claims of %s", ", ".join(recovered))
        self._next_recovery = now + self.settings.lease / 4

    def _delay(self, now: datetime, next_due: datetime | None) -> float:
        candidates = [self.settings.max_interval]
        if next_due is not None:
            candidates.append((next_due - now - self.settings.lookahead).total_seconds())
        if self._next_recovery is not None:
            candidates.append((self._next_recovery - now).total_seconds())
        return max(0.0, min(candidates))

    def _outage(self, exc: Exception) -> TickReport:
        started = self._outage_since is None
        if started:
            self._outage_since = self.clock()
            logger.error("stembeat: store or broker unavailable, retrying: %s", exc)
        else:
            logger.debug("stembeat: still unavailable: %s", exc)
        self._backoff = min(max(self._backoff * 2, 0.5), self.settings.max_backoff)
        self._close_feed()
        return TickReport(
            delay=min(self._backoff, self.settings.max_interval), outage_started=started
        )

    # -- waiting -------------------------------------------------------------------------------

    def wait(self, seconds: float) -> list[str]:
        """Sleep up to ``seconds``, returning early with the ids of entries changed meanwhile."""
        if seconds <= 0 or self._closed:
            return []
        try:
            if self._feed is None:
                self._feed = self.store.watch()
            return self._feed.wait(seconds)
        except Exception as exc:
            return self._feed_failed(exc, seconds)

    def _feed_failed(self, exc: Exception, seconds: float) -> list[str]:
        if self._closed:  # closed from a signal handler while waiting
            return []
        logger.debug("stembeat: change feed unavailable: %s", exc)
        self._close_feed()
        self.sleep(seconds)
        return [ANY_CHANGE]

    def _close_feed(self) -> None:
        feed, self._feed = self._feed, None
        if feed is not None:
            try:
                feed.close()
            except Exception as exc:
                logger.debug("stembeat: closing the change feed failed: %s", exc)

    def close(self) -> None:
        """Record what can still be recorded, then release the feed; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._broker.stopped(self.clock())
        try:
            self._record()
        except Exception as exc:
            logger.warning("stembeat: %d run(s) left unrecorded: %s", len(self._unrecorded), exc)
        self._close_feed()


class _BrokerOutage:
    """The log of the messages that could not be sent, short however many there are.

    A batch of which some messages went out says the broker is up: each failure is logged as
    an ERROR (a message the broker refused, or one that could not be encoded). A batch of
    which none went out is a broker outage: its first failure is an ERROR with the error, the
    later ones are at debug level, a WARNING gives the running count every
    :data:`BROKER_REPORT_INTERVAL` seconds, and one line ends the outage when a message goes
    through again (or beat stops first). Every failed run is recorded in the history all the
    same.
    """

    #: When the running count was last logged; set with ``since``.
    _reported_at: datetime

    def __init__(self) -> None:
        self.since: datetime | None = None
        self.unsent = 0

    def sent_batch(self, messages: list[Message], records: list[RunRecord], now: datetime) -> None:
        """Log what became of one batch (``records`` in the order of ``messages``)."""
        failed = [
            (message, record)
            for message, record in zip(messages, records, strict=True)
            if record.outcome == FAILED
        ]
        if len(failed) < len(records):
            self._ended(now)
            for message, record in failed:
                entry = message.entry
                logger.error(
                    "stembeat: could not send %s (%s): %s", entry.id, entry.task, record.error
                )
            return
        self.unsent += len(failed)
        if self.since is None:
            self.since = self._reported_at = now
            message, record = failed.pop(0)
            logger.error(
                "stembeat: could not send %s (%s), counting further failures until a message "
                "goes through: %s",
                message.entry.id,
                message.entry.task,
                record.error,
            )
        for message, record in failed:
            entry = message.entry
            logger.debug("stembeat: could not send %s (%s): %s", entry.id, entry.task, record.error)
        if (now - self._reported_at).total_seconds() >= BROKER_REPORT_INTERVAL:
            self._reported_at = now
            logger.warning(
                "stembeat: broker still unreachable after %.1f s; %d message(s) not sent so far",
                (now - self.since).total_seconds(),
                self.unsent,
            )

    def _ended(self, now: datetime) -> None:
        if self.since is None:
            return
        logger.warning(
            "stembeat: broker reachable again after %.1f s; %d message(s) could not be sent",
            (now - self.since).total_seconds(),
            self.unsent,
        )
        self.since = None
        self.unsent = 0

    def stopped(self, now: datetime) -> None:
        """Beat stops: sum up an outage still going on (nothing is logged after this)."""
        if self.since is None:
            return
        logger.warning(
            "stembeat: broker still unreachable at stop after %.1f s; %d message(s) could not "
            "be sent",
            (now - self.since).total_seconds(),
            self.unsent,
        )


def _hold_back(
    entry: Entry, runs: tuple[datetime, ...], now: datetime
) -> tuple[tuple[datetime, ...], tuple[tuple[datetime, str], ...]]:
    """The runs to send, and the runs ``overlap: skip`` holds back, each with why.

    An entry that skips overlaps sends at most one run at a time: of a backlog, the newest.
    """
    if entry.overlap != "skip" or not runs:
        return runs, ()
    reason = unfinished_run(entry, now)
    if reason is not None:
        return (), tuple((at, reason) for at in runs)
    newest = runs[-1]
    instead = f"the later occurrence {format_instant(newest)} was sent instead"
    return (newest,), tuple((at, instead) for at in runs[:-1])
