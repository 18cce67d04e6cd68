"""``stembeat metrics serve`` as operators run it: a real process serving a real store's view,
scraped over HTTP and read with prometheus_client's parser."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from celery_stembeat.entry import Entry
from celery_stembeat.specs import IntervalSpec
from celery_stembeat.stores import Store
from tests.cli.scenario import NOW

STEMBEAT = str(Path(sys.executable).with_name("stembeat"))


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_scrape_of_the_served_store(store: Store, store_url: str) -> None:
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    store.upsert(
        Entry(id="ping", task="tasks.ping", spec=IntervalSpec(60)).with_state(next_run_at=soon)
    )
    store.upsert(
        Entry(id="stale", task="tasks.stale", spec=IntervalSpec(60)).with_state(next_run_at=NOW)
    )
    process = subprocess.Popen(
        [STEMBEAT, "--url", store_url, "metrics", "serve", "--port", "0", "--entries", "st"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C reaches it even when this run was started in the background, which ignores
        # SIGINT for everything it starts.
        preexec_fn=_interruptible,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("stembeat: serving the store's metrics on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode()
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("stembeat_store_up", ())] == 1, errors
    assert samples[("stembeat_store_entries", (("state", "missed"),))] == 1
    assert samples[("stembeat_store_entries", (("state", "ok"),))] == 1
    assert samples[("stembeat_entry_health", (("entry", "stale"), ("state", "missed")))] == 1
    assert not [labels for name, labels in samples if dict(labels).get("entry") == "ping"]
    assert samples[("stembeat_store_live_beats", ())] == 0


def test_serve_without_prometheus_client_names_the_extra(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['prometheus_client'] = None; "
        "from celery_stembeat.cli import main; "
        f"main(['--url', 'sqlite:///{tmp_path / 's.db'}', 'metrics', 'serve', '--port', '0'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: Serving Prometheus metrics needs prometheus_client: "
        "pip install 'celery-stembeat[metrics]'"
    )
