"""Every ``stembeat_*`` celery setting, read once in one place."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery_stembeat.engine import EngineSettings, default_owner
from celery_stembeat.health import HealthRules
from celery_stembeat.setting import URL_VARIABLE, ConfigError
from celery_stembeat.specs import zone_name
from celery_stembeat.webhooks import check_webhook, mask_webhook

#: The environment variable naming the store when the app's config does not.
#: Appended to celery's ``beat_schedule_filename`` to name the embedded SQLite store.
EMBEDDED_SUFFIX = "-stembeat.db"
#: ``stembeat_max_skew`` when not set (seconds).
DEFAULT_MAX_SKEW = 1.0


def embedded_url(schedule_filename: str) -> str:
    """The SQLite store that lives beside celery's own schedule file."""
    path = Path(schedule_filename + EMBEDDED_SUFFIX).expanduser().resolve()
    return f"sqlite:///{path}"


def store_url(app: Any, schedule_filename: str | None = None) -> str:
    """The store a celery app's beat uses: ``stembeat_url``, else ``$STEMBEAT_URL``, else the
    embedded SQLite file beside ``beat_schedule_filename``."""
    conf = app.conf
    filename = schedule_filename or conf.get("beat_schedule_filename") or "celerybeat-schedule"
    return str(conf.get("stembeat_url") or os.environ.get(URL_VARIABLE) or embedded_url(filename))


def _seconds(
    conf: Any, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
) -> float:
    value = conf.get(name)
    if value is None:
        return default
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ConfigError(f"{name}: {value!r} is not a number of seconds >= {minimum:g}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}: {value!r} is more than {maximum:g} s")
    return float(value)


def _count(conf: Any, name: str, default: int) -> int:
    value = conf.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}: {value!r} is not a positive whole number")
    return value


def _port(conf: Any, name: str) -> int | None:
    value = conf.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{name}: {value!r} is not a TCP port (1-65535)")
    return value


def _alert_rules(conf: Any, grace: timedelta) -> HealthRules:
    defaults = HealthRules()

    def within(name: str, default: timedelta) -> timedelta:
        return timedelta(seconds=_seconds(conf, name, default.total_seconds(), minimum=1))

    return HealthRules(
        missed_after=grace,
        start_within=within("stembeat_alert_start_within", defaults.start_within),
        finish_within=within("stembeat_alert_finish_within", defaults.finish_within),
        failures=_count(conf, "stembeat_alert_failures", defaults.failures),
    )


def _webhooks(conf: Any, name: str) -> tuple[str, ...]:
    """The http(s) URLs of setting ``name`` (a list, or one URL); an error shows a URL only
    masked."""
    value = conf.get(name)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{name}: not a list of http(s) URLs but {type(value).__name__}")
    urls: list[str] = []
    for index, url in enumerate(value):
        try:
            urls.append(check_webhook(url))
        except ValueError as exc:
            raise ConfigError(f"{name}[{index}]: {exc} ({mask_webhook(url)})") from None
    return tuple(urls)


@dataclass(frozen=True)
class StembeatConfig:
    """The scheduler's settings.

    ``stembeat_url`` (else ``$STEMBEAT_URL``, else SQLite beside ``beat_schedule_filename``),
    ``stembeat_lease``, ``stembeat_grace``, ``stembeat_catch_up_limit``,
    ``stembeat_batch_size``, ``stembeat_lookahead``, ``stembeat_max_backoff``,
    ``stembeat_max_skew`` (seconds or counts), ``stembeat_owner`` (this beat's name in
    claims and history), ``stembeat_metrics_port``, ``stembeat_metrics_address`` and
    ``stembeat_alert_webhooks``, ``stembeat_alert_failures``, ``stembeat_alert_start_within``
    and ``stembeat_alert_finish_within``.
    """

    url: str
    engine: EngineSettings
    timezone: str
    #: The most this host's clock may differ from the store's before beat says so (s); also
    #: the largest error a reading of the store's time may have.
    max_skew: float = DEFAULT_MAX_SKEW
    #: The port beat serves Prometheus metrics on (``None``: no metrics).
    metrics_port: int | None = None
    #: The address it listens on (all interfaces by default).
    metrics_address: str = "0.0.0.0"
    #: The URLs alerts are POSTed to: secrets, shown only through
    #: :func:`~celery_stembeat.webhooks.mask_webhook` (and left out of the repr).
    alert_webhooks: tuple[str, ...] = field(default=(), repr=False)
    #: When an entry's health alerts (``missed_after`` is ``stembeat_grace``).
    alert_rules: HealthRules = field(default_factory=HealthRules)

    @classmethod
    def from_app(
        cls, app: Any, schedule_filename: str | None = None, max_interval: float | None = None
    ) -> StembeatConfig:
        """Read the settings from a celery app's configuration."""
        conf = app.conf
        url = store_url(app, schedule_filename)
        defaults = EngineSettings()
        engine = EngineSettings(
            lease=timedelta(
                seconds=_seconds(conf, "stembeat_lease", defaults.lease.total_seconds(), minimum=1)
            ),
            grace=timedelta(
                seconds=_seconds(conf, "stembeat_grace", defaults.grace.total_seconds())
            ),
            catch_up_limit=_count(conf, "stembeat_catch_up_limit", defaults.catch_up_limit),
            batch_size=_count(conf, "stembeat_batch_size", defaults.batch_size),
            lookahead=timedelta(
                seconds=_seconds(
                    conf, "stembeat_lookahead", defaults.lookahead.total_seconds(), maximum=1
                )
            ),
            max_interval=float(max_interval or defaults.max_interval),
            max_backoff=_seconds(conf, "stembeat_max_backoff", defaults.max_backoff, minimum=0.1),
            owner=str(conf.get("stembeat_owner") or default_owner()),
        )
        return cls(
            url=url,
            engine=engine,
            timezone=zone_name(app.timezone),
            max_skew=_seconds(conf, "stembeat_max_skew", DEFAULT_MAX_SKEW, minimum=0.001),
            metrics_port=_port(conf, "stembeat_metrics_port"),
            metrics_address=str(conf.get("stembeat_metrics_address") or "0.0.0.0"),
            alert_webhooks=_webhooks(conf, "stembeat_alert_webhooks"),
            alert_rules=_alert_rules(conf, engine.grace),
        )
