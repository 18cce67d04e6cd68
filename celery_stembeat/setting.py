"""What the parts that read settings share, kept light so the CLI can start without the engine:
the store URL's environment variable, the default grace and the error of a bad setting."""

from __future__ import annotations

from datetime import timedelta

#: The environment variable the standalone ``stembeat`` reads the store URL from.
URL_VARIABLE = "STEMBEAT_URL"
#: How late an occurrence may be sent before it counts as missed (``stembeat_grace``).
DEFAULT_GRACE = timedelta(seconds=30)


class ConfigError(ValueError):
    """A ``stembeat_*`` setting has a value the scheduler cannot use."""
