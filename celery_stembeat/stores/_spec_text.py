"""A spec as every store keeps it: canonical JSON text (equal specs, equal text, so a store can
tell that a schedule changed by comparing text), read back through a cache, and the compact
JSON encoder the stores write values with."""

from __future__ import annotations

import functools
import json

from celery_stembeat.specs import Spec, parse_spec

#: ``json.dumps(value)`` without spaces, keeping non-ASCII text as it is, refusing NaN, and
#: without building an encoder per call.
compact_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


@functools.lru_cache(maxsize=4096)
def spec_text(spec: Spec) -> str:
    """The spec's canonical JSON (specs are immutable values: computed once per spec)."""
    return json.dumps(
        spec.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


@functools.lru_cache(maxsize=4096)
def spec_from_text(text: str) -> Spec:
    """A stored spec, parsed once per process (a cron spec takes ~0.1 ms to parse)."""
    return parse_spec(json.loads(text))


__all__ = ["compact_json", "spec_from_text", "spec_text"]
