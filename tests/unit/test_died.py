"""Which part died: the reports' ``died`` (forensics ``verdict.json``)."""

import json

from masakari_introspect.core.actions import Report
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import PauseReason
from masakari_introspect.recovery.forensics import Recorder
from tests.unit.fakes import A
from tests.unit.test_forensics import FakeCapture
from tests.unit.test_forensics import WHEN
from tests.unit.heartbeat_bed import Bed


def died(bed, uuid=A):
    return [a.died for a in bed.actions
            if isinstance(a, Report) and a.notification.instance_uuid == uuid]


def test_a_dead_kernel_is_the_kernel():
    bed = Bed()
    bed.kill_kernel()
    for _ in range(3):
        bed.tick()
    assert died(bed) == ['kernel']


def test_a_pvpanic_crash_is_the_kernel():
    bed = Bed()
    bed.event(A, EventKind.CRASHED)
    assert died(bed) == ['kernel']


def test_a_hung_agent_with_a_live_heartbeat_is_userspace():
    bed = Bed()
    bed.silent.add(A)
    for _ in range(6):
        bed.tick()
    assert died(bed) == ['userspace']


def test_a_hung_agent_without_a_heartbeat_is_unknown():
    bed = Bed()
    bed.hidden.add(A)          # no balloon statistics: never live
    bed.fleet.watched[A].heartbeat.reset()
    bed.silent.add(A)
    for _ in range(6):
        bed.tick()
    assert died(bed) == ['unknown']


def test_a_failure_pause_is_nothing_in_the_guest():
    bed = Bed()
    bed.do(bed.fleet.event(DomainEvent(A, 'vm-a', EventKind.PAUSED,
                                         pause=PauseReason.IOERROR)))
    for _ in range(int(bed.policy.window / 2) + 2):
        bed.tick()
    assert died(bed) == ['none']


def test_verdict_json_carries_died(tmp_path):
    recorder = Recorder(tmp_path, 10, FakeCapture())
    folder = recorder.record(A, 'vm-a', 'kernel_hung', {}, [], WHEN,
                             died='kernel')
    assert json.loads((folder / 'verdict.json').read_text())['died'] == \
        'kernel'
    other = recorder.record(A, 'vm-a', 'unresponsive', {}, [],
                            WHEN.replace(minute=16))
    assert json.loads((other / 'verdict.json').read_text())['died'] == \
        'unknown'
