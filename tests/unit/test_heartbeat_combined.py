"""Where the heartbeat, kdump, agent-loss and maintenance rules meet."""

from masakari_introspect.core.model import EventKind
from tests.unit.fakes import A
from tests.unit.test_heartbeat import Bed


def test_a_kdump_wait_that_times_out_in_maintenance_is_not_reported():
    # A guest without a balloon (no heartbeat) dumps and reboots fine in
    # maintenance; it is not probed there, so kdump_timeout passes without
    # a sign of life: maintenance ending must not report it crashed.
    bed = Bed()
    bed.hidden.add(A)
    bed.period[A] = 0
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    bed.event(A, EventKind.CRASH_LOADED)
    bed.event(A, EventKind.REBOOTED)
    for _ in range(int(bed.policy.kdump_timeout / bed.policy.probe_interval)
                   + 10):
        bed.tick()
    bed.do(bed.fleet.set_maintenance(A, False)[1])
    for _ in range(5):
        bed.tick()
    assert bed.reports() == []


def test_a_kdump_wait_ending_just_after_maintenance_waits_for_a_probe():
    # Maintenance ends one interval before kdump_timeout: the guest gets
    # its first probe only then; it answers, and is not reported.
    bed = Bed()
    bed.hidden.add(A)
    bed.period[A] = 0
    bed.event(A, EventKind.CRASH_LOADED)
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    bed.event(A, EventKind.REBOOTED)
    for _ in range(int(bed.policy.kdump_timeout / bed.policy.probe_interval)
                   - 1):
        bed.tick()
    bed.do(bed.fleet.set_maintenance(A, False)[1])
    for _ in range(5):
        bed.tick()
    assert bed.reports() == []
