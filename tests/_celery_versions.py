"""The installed celery's release, for the tests that take celery's own answers as the reference.

celery-stembeat supports celery 5.3 and later. Some tests compare our schedules with what
celery itself computes, and celery changed those answers over its 5.x releases. Such a test
states the release that gives the answer it pins, and is skipped below it with the reason::

    @requires_celery((5, 5), "crontab accepts month names from celery 5.5")

so that on the newest celery every test runs, and on an older one the skips say what differs.
"""

from __future__ import annotations

import re

import celery
import pytest

_RELEASE = re.match(r"(\d+)\.(\d+)", celery.__version__)
assert _RELEASE is not None, celery.__version__
#: The installed celery as (major, minor), e.g. (5, 3).
CELERY_VERSION = (int(_RELEASE[1]), int(_RELEASE[2]))


def celery_before(version: tuple[int, int]) -> bool:
    """Whether the installed celery is older than ``version``."""
    return version > CELERY_VERSION


def _reason(version: tuple[int, int], why: str) -> str:
    return f"needs celery {version[0]}.{version[1]}+ (installed {celery.__version__}): {why}"


def requires_celery(version: tuple[int, int], why: str) -> pytest.MarkDecorator:
    """A mark skipping the test (or one ``pytest.param``) below celery ``version``."""
    return pytest.mark.skipif(celery_before(version), reason=_reason(version, why))


def skip_before_celery(version: tuple[int, int], why: str) -> None:
    """Skip the running test below celery ``version`` (for one case of a parametrized test)."""
    if celery_before(version):
        pytest.skip(_reason(version, why))
