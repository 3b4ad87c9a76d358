"""Many guests hang at once: more than libvirtd serves at once on one
connection (5), all reported within one failure window, each once."""
from __future__ import annotations

import concurrent.futures
import time

import pytest

from tests.functional.conftest import (
    notifications_for,
    wait_all_reported,
    watching,
)

HUNG = [f"hung{i}" for i in range(6)]
HEALTHY = ["fine0", "fine1"]
GUESTS = {role: {} for role in HUNG + HEALTHY}


@pytest.fixture(scope="module")
def monitor(fleet, api, tmp_path_factory):
    with watching(fleet.values(), api, tmp_path_factory) as proc:
        yield proc


def test_six_of_eight_hung_at_once_are_all_reported_once_within_10_s(
        fleet, api, monitor, timings):
    hung = [fleet[role] for role in HUNG]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(hung)) as pool:
        list(pool.map(lambda guest: guest.control("agent-hang"), hung))
    seen = wait_all_reported(api, hung, started)
    worst = max(seen.values())
    timings["6 of 8 hung at once, worst"] = worst
    time.sleep(6)
    for guest in hung:
        assert len(notifications_for(api, guest.uuid)) == 1, guest.name
    for role in HEALTHY:
        assert notifications_for(api, fleet[role].uuid) == [], role
    assert worst <= 10, seen
