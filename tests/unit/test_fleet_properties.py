"""Randomised runs of the fleet (fixed seeds): what must hold whatever the
order of events, results, samples and ticks (1 ms to 300 s apart)."""

import random

import pytest

from masakari_introspect.core.actions import Lookup
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Save
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import PauseReason
from masakari_introspect.core.model import ProbeResult
from tests.unit.fakes import A, B, domain
from tests.unit.fleet_bed import Bed, idle

SEEDS = range(300)
GAPS = (0.001, 3, 10, 10, 10, 10, 10, 15, 35, 300)
LIVE_EVENTS = (EventKind.PAUSED, EventKind.RESUMED, EventKind.REBOOTED,
               EventKind.AGENT_CONNECTED, EventKind.AGENT_DISCONNECTED,
               EventKind.UNDEFINED, EventKind.STARTED)
ANY_EVENTS = LIVE_EVENTS + (EventKind.CRASHED, EventKind.WATCHDOG,
                            EventKind.STOPPED)


def random_bed(r, **policy):
    bed = Bed(grace=r.choice([0, 20, 60]), threshold=r.choice([1, 2, 3]),
              never=r.choice([False, True]),
              activity_check=r.choice([True, False]), **policy)
    bed.listed(domain(A, 'vm-a'), domain(B, 'vm-b', domain_id=2))
    return bed


def event(r, uuid, kinds):
    kind = r.choice(kinds)
    detail = {EventKind.PAUSED: r.choice(['user', 'ioerror']),
              EventKind.WATCHDOG: 'none',
              EventKind.STOPPED: r.choice(['destroyed', 'crashed'])
              }.get(kind, '')
    pause = PauseReason(detail) if detail in {p.value for p in PauseReason} \
        else PauseReason.NONE
    return DomainEvent(uuid, 'vm', kind, detail, r.choice([-1, 2, 3]), pause)


@pytest.mark.parametrize('seed', SEEDS)
def test_a_guest_that_always_answers_is_never_reported(seed):
    r = random.Random(seed)
    bed = random_bed(r)
    paused = set()
    for step in range(120):
        gap = r.choice(GAPS)
        bed.clock.advance(gap)
        bed.wall.advance(gap)
        bed.do(bed.fleet.tick())
        if r.random() < 0.15:
            uuid = r.choice([A, B])
            ev = event(r, uuid, LIVE_EVENTS)
            if ev.kind is EventKind.PAUSED:
                ev = DomainEvent(uuid, 'vm', ev.kind, 'user', -1,
                                 PauseReason.USER)
                paused.add(uuid)
            elif ev.kind in (EventKind.RESUMED, EventKind.STARTED):
                paused.discard(uuid)
            bed.do(bed.fleet.event(ev))
        if r.random() < 0.05:
            bed.do(bed.fleet.set_maintenance(r.choice([A, B]),
                                             r.choice([True, False]))[1])
        bed.clock.advance(0.05)
        if r.random() < 0.5:
            bed.do(bed.fleet.overdue())
        for uuid in (A, B):
            watched = bed.fleet.watched.get(uuid)
            if watched is None or watched.token is None:
                continue
            outcome = Outcome.NOT_RUNNING if uuid in paused else r.choice(
                [Outcome.OK] * 6 + [Outcome.AGENT_ERROR, Outcome.JOB])
            bed.do(bed.fleet.result(ProbeResult(
                uuid, outcome, 'x', pause=PauseReason.USER
                if uuid in paused else PauseReason.NONE), watched.token))
        bed.do(bed.fleet.sampled(r.choice(
            [None, idle(A, B), idle(A, B, disk=step * 5)])))
    assert bed.reports() == []


@pytest.mark.parametrize('seed', SEEDS)
def test_what_persists_is_saved_and_an_episode_is_reported_once(seed):
    r = random.Random(seed)
    bed = random_bed(r, job_grace_max=r.choice([0, 30, 600]),
                     max_recoveries=r.choice([1, 3]))
    bed.fleet.persisted()
    reported = set()     # reported, and no answer or new process since
    for step in range(80):
        before = bed.fleet.records()
        pick, uuid = r.random(), r.choice([A, B])
        watched = bed.fleet.watched.get(uuid)
        if pick < 0.3:
            bed.clock.advance(10)
            bed.wall.advance(10)
            actions = bed.fleet.tick()
        elif pick < 0.4:
            actions = bed.fleet.sampled(r.choice(
                [None, idle(A, B, disk=r.randint(0, 5) * step)]))
        elif pick < 0.7:
            if watched is None or watched.token is None:
                continue
            actions = bed.fleet.result(ProbeResult(uuid, r.choice(
                [Outcome.OK, Outcome.MISS, Outcome.JOB, Outcome.AGENT_ERROR,
                 Outcome.DISCONNECTED, Outcome.BUSY, Outcome.ERROR]), 'x'),
                watched.token)
        elif pick < 0.85:
            ev = event(r, uuid, ANY_EVENTS)
            if ev.kind in (EventKind.STARTED, EventKind.STOPPED):
                reported.discard(uuid)
            actions = bed.fleet.event(ev)
        elif pick < 0.92:
            actions = bed.fleet.set_maintenance(uuid, r.choice(
                [True, False]))[1]
        elif pick < 0.96:
            actions = bed.fleet.listed([domain(A, 'vm-a'), domain(
                B, 'vm-b', domain_id=r.choice([2, 3]))])
        else:
            actions = bed.fleet.overdue()
        for action in list(actions):
            if isinstance(action, Lookup):
                actions += bed.fleet.looked_up(
                    action.uuid, domain(action.uuid, 'vm', domain_id=3))
        for action in actions:
            if isinstance(action, Withdraw) and \
                    action.cause is not WithdrawCause.MAINTENANCE:
                reported.discard(action.uuid)
            if isinstance(action, Report):
                uuid = action.notification.instance_uuid
                assert uuid not in reported, 'reported twice'
                reported.add(uuid)
        for uuid in (A, B):
            if uuid not in bed.fleet.watched:
                reported.discard(uuid)
        if any(isinstance(a, Save) for a in actions):
            bed.fleet.persisted()
        else:
            assert bed.fleet.records() == before, 'changed without a Save'


def answer(bed, uuid, outcome):
    watched = bed.fleet.watched.get(uuid)
    if watched is not None and watched.token is not None:
        bed.do(bed.fleet.result(ProbeResult(
            uuid, outcome, 'x', pause=PauseReason.USER
            if outcome is Outcome.NOT_RUNNING else PauseReason.NONE),
            watched.token))


@pytest.mark.parametrize('seed', SEEDS)
def test_a_guest_that_hangs_after_any_history_is_reported(seed):
    """Alive with noise (misses, agent errors, jobs, pauses, reboots,
    maintenance, late and doubled ticks), then hung and idle: reported
    within its grace, the job allowance and a few failure windows."""
    r = random.Random(seed)
    grace, job_grace = r.choice([0, 20, 60]), r.choice([0, 30, 600])
    bed = Bed(grace=grace, threshold=r.choice([1, 2, 3]),
              activity_check=r.choice([True, False]),
              job_grace_max=job_grace, max_recoveries=1000)
    bed.listed(domain(A, 'vm-a'), domain(B, 'vm-b', domain_id=2))
    paused = maintenance = False
    for step in range(r.randint(3, 30)):
        gap = r.choice([0.001, 10, 10, 10, 25])
        bed.clock.advance(gap)
        bed.wall.advance(gap)
        bed.do(bed.fleet.tick())
        if r.random() < 0.2:
            ev = event(r, B, LIVE_EVENTS[:-1])
            if ev.kind is EventKind.PAUSED:
                ev = DomainEvent(B, 'vm', ev.kind, 'user', -1,
                                 PauseReason.USER)
            paused = ev.kind is EventKind.PAUSED or (
                paused and ev.kind is not EventKind.RESUMED)
            bed.do(bed.fleet.event(ev))
        if r.random() < 0.1:
            maintenance = not maintenance
            bed.do(bed.fleet.set_maintenance(B, maintenance)[1])
        bed.clock.advance(0.05)
        answer(bed, A, Outcome.OK)
        answer(bed, B, Outcome.NOT_RUNNING if paused else r.choice(
            [Outcome.OK] * 4 + [Outcome.AGENT_ERROR, Outcome.JOB,
                                Outcome.MISS]))
        bed.do(bed.fleet.sampled(r.choice([None, idle(A, B, disk=step)])))
    if paused:
        bed.do(bed.fleet.event(DomainEvent(B, 'vm', EventKind.RESUMED, '',
                                           -1, PauseReason.NONE)))
    if maintenance:
        bed.maintenance(B, False)
    if bed.fleet.watched[B].state.reported:
        return                       # a miss in the noise was reported
    start, before = bed.clock.now, len(bed.reports(B))
    while len(bed.reports(B)) == before:
        assert bed.clock.now - start < grace + job_grace + 100, 'missed'
        gap = r.choice([0.001, 10, 10, 10, 10, 10, 25])
        bed.clock.advance(gap)
        bed.wall.advance(gap)
        bed.do(bed.fleet.tick())
        bed.clock.advance(0.05)
        answer(bed, A, Outcome.OK)
        if bed.fleet.watched[B].token is not None and \
                not bed.probes(B)[-1].suspect:
            answer(bed, B, r.choice([Outcome.MISS] * 5 + [Outcome.JOB]))
        if r.random() < 0.5:
            bed.clock.advance(3)
            bed.do(bed.fleet.overdue())
        bed.do(bed.fleet.sampled(r.choice([None, idle(A, B)])))
    assert len(bed.reports(B)) == before + 1
