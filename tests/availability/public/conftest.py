"""A real shared cache for the public endpoint's tests: Varnish from Debian, in front of a host.

Without varnishd its tests are skipped, except under CI (`CI=true`), where they fail: `.ci/run` installs it.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from devtools.varnish import Varnish, varnishd_path


@pytest.fixture
def cache_in_front():
    """Starts a Varnish in front of a host's URL (`start(url)` → the Varnish); stops it after the test."""
    if varnishd_path() is None:
        reason = "varnishd is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}: CI must run the shared-cache tests (.ci/run installs varnish).", pytrace=False)
        pytest.skip(f"{reason}; on Debian: apt-get install --no-install-recommends varnish")
    started: list[Varnish] = []

    def start(url: str) -> Varnish:
        started.append(Varnish(urlsplit(url).netloc))
        return started[-1]

    yield start
    for cache in started:
        cache.stop()
