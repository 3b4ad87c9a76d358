"""The decision core, driven synchronously: inputs in, actions out."""

import logging

import pytest

from masakari_introspect.core.actions import Lookup
from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.actions import Sample
from masakari_introspect.core.actions import Save
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import BlindSpot
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.ops.snapshot import encode_instance
from tests.unit.fakes import A, B, C, HOST, domain
from tests.unit.fleet_bed import Bed, INTERVAL, hang, idle, one_guest, two_guests


@pytest.fixture
def bed():
    return two_guests()

# -- discovery ---------------------------------------------------------------


def test_only_domains_with_the_agent_channel_are_watched():
    bed = Bed()
    bed.listed(domain(A), domain(B, agent=False), domain(C, running=False,
                                                         reason='user'))
    assert [i.uuid for i in bed.fleet.snapshot()] == [A, C]
    assert bed.state(C)['state'] == 'paused'
    bed.tick()
    assert bed.probes(A) and not bed.probes(C)


def test_a_vanished_domain_is_forgotten_and_its_report_withdrawn(bed):
    bed.listed(domain(A, 'vm-a'))
    assert [i.uuid for i in bed.fleet.snapshot()] == [A]
    assert bed.of(Withdraw) == [
        Withdraw(B, 'left the host: domain no longer running',
                   WithdrawCause.LEFT_HOST)]


def test_an_event_for_an_unknown_domain_asks_for_it():
    bed = Bed()
    assert bed.event(A, EventKind.STARTED, domain_id=4) == [Lookup(A)]
    bed.do(bed.fleet.looked_up(A, domain(A, domain_id=4)))
    assert bed.state(A)['state'] == 'grace'


# -- missed intervals ----------------------------------------------------------


def test_a_hung_guest_is_reported_after_threshold_missed_intervals(bed):
    hang(bed, B, 3)
    [report] = bed.reports()
    assert report.instance_uuid == B
    assert report.hostname == HOST
    assert report.reason == 'unresponsive'
    assert bed.state(B)['state'] == 'failed'
    hang(bed, B, 5)
    assert len(bed.reports()) == 1    # once per episode


def test_the_third_interval_is_judged_on_the_sample_that_follows_it(bed):
    hang(bed, B, 2)
    bed.tick()                        # the 3rd missed interval closes
    assert bed.reports() == []
    bed.do(bed.fleet.sampled(idle(A, B)))
    assert [n.instance_uuid for n in bed.reports()] == [B]


def test_a_probe_in_flight_is_not_sent_again_but_counts(bed):
    hang(bed, B, 2)
    # the fixture's probe, the one that timed out, then one on the suspect
    # lane that stays out: none more while it is out
    assert [p.suspect for p in bed.probes(B)] == [True, False, True]
    assert bed.state(B)['misses'] == 2


def test_without_a_sample_the_guest_counts_as_inactive(bed):
    hang(bed, B, 2)
    bed.tick()          # 3rd miss; no statistics arrive
    bed.tick()          # a whole interval later: judged without them
    assert [n.reason for n in bed.reports()] == ['unresponsive']


@pytest.mark.parametrize('outcome,detail,reason', [
    (Outcome.MISS, 'timeout', 'unresponsive'),
    (Outcome.DISCONNECTED, 'QEMU guest agent is not connected',
     'disconnected'),
    (Outcome.BUSY, 'agent busy', 'busy'),
    (Outcome.ERROR, 'malformed', 'error'),
])
def test_every_kind_of_non_answer_counts_and_names_the_reason(
        bed, outcome, detail, reason):
    for _ in range(3):
        bed.tick(idle(A, B))
        bed.answer(A)
        bed.answer(B, outcome, detail)
    assert bed.reports() == []
    bed.tick(idle(A, B))
    assert [n.reason for n in bed.reports()] == [reason]


def test_a_lost_connection_never_counts(bed):
    for _ in range(5):
        bed.tick(idle(A, B))
        bed.answer(A)
        bed.answer(B, Outcome.CONNECTION, 'not connected')
    assert bed.reports() == []
    assert bed.state(B)['misses'] == 0


def test_connection_loss_resets_the_count(bed):
    hang(bed, B, 2)
    bed.do(bed.fleet.connection(False))
    assert bed.state(B)['misses'] == 0
    hang(bed, B, 2)
    assert bed.reports() == []


def test_an_answer_rearms_and_a_second_hang_is_reported_again(bed):
    hang(bed, B, 4)
    assert len(bed.reports()) == 1
    bed.answer(B)
    assert bed.of(Withdraw) == [Withdraw(B, 'the guest answers again')]
    assert bed.state(B)['state'] == 'healthy'
    hang(bed, B, 4)
    assert len(bed.reports()) == 2


def test_a_stale_result_is_ignored(bed):
    hang(bed, B, 1)
    stale = bed.probes(B)[-1]
    bed.event(B, EventKind.RESUMED)
    bed.do(bed.fleet.result(ProbeResult(B, Outcome.OK), stale.token))
    assert bed.state(B)['seconds_since_success'] is not None
    assert bed.state(B)['state'] == 'grace'


def test_a_probe_that_never_returns_is_sent_again_after_its_deadline():
    bed = Bed(probe_deadline=25.0)
    bed.listed(domain(A))
    bed.tick(idle(A))
    bed.answer(A)
    bed.tick(idle(A))                 # sent; libvirt never returns it
    sent = len(bed.probes(A))
    bed.do(bed.fleet.started(A, bed.probes(A)[-1].token))
    bed.tick(idle(A))
    bed.tick(idle(A))
    assert len(bed.probes(A)) == sent       # still out: not sent twice
    assert bed.state(A)['misses'] == 2      # inside libvirt: each missed
    bed.tick(idle(A))                       # 30 s > deadline
    assert len(bed.probes(A)) == sent + 1
    assert [n.reason for n in bed.reports(A)] == ['unresponsive']
    bed.answer(A)
    assert bed.state(A)['state'] == 'healthy'


# -- the second signal: activity ------------------------------------------------


def test_an_active_guest_with_a_failed_agent_is_not_reported(bed, caplog):
    counters = iter(range(0, 10000, 40))
    for _ in range(6):
        disk = next(counters)
        bed.tick([Activity(A, 0, 0), Activity(B, disk, disk // 10)])
        bed.answer(A)
        bed.time_out(B)
    assert bed.reports() == []
    assert bed.state(B)['state'] == 'agent failed, guest active'
    warnings = [r for r in caplog.records
                if 'but the guest is active' in r.getMessage()]
    assert len(warnings) == 1
    assert 'disk requests' in warnings[0].getMessage()
    # The workload stops: a whole window without activity, then reported.
    for _ in range(3):
        bed.tick([Activity(A, 0, 0), Activity(B, disk, disk // 10)])
        bed.answer(A)
    assert [n.reason for n in bed.reports()] == ['inactive']


def test_network_receive_alone_is_not_activity():
    # Only transmitted packets and disk requests are counted: the fake
    # hypervisor below reports a constant of both while "receiving".
    bed = Bed()
    bed.listed(domain(B))
    bed.tick(idle(B, disk=5, sent=7))
    bed.answer(B)
    for _ in range(4):
        bed.tick(idle(B, disk=5, sent=7))
        bed.time_out(B)
    assert [n.reason for n in bed.reports()] == ['unresponsive']


def test_with_the_activity_check_off_the_agent_alone_decides():
    bed = Bed(activity_check=False)
    bed.listed(domain(B))
    bed.tick()
    bed.answer(B)
    disk = 0
    for _ in range(4):
        disk += 100
        bed.tick(idle(B, disk=disk))
        bed.time_out(B)
    assert [n.reason for n in bed.reports()] == ['unresponsive']


# -- what libvirt already knows ---------------------------------------------------


def test_a_crash_is_reported_at_once(bed):
    bed.event(B, EventKind.CRASHED, 'panicked')
    assert [n.reason for n in bed.reports()] == ['crashed']
    bed.event(B, EventKind.STOPPED, 'crashed')
    assert bed.of(Withdraw) == []       # destroyed on crash: it stands


@pytest.mark.parametrize('action,reported', [
    ('pause', True), ('none', True), ('reset', False), ('poweroff', False),
    ('shutdown', False)])
def test_a_watchdog_that_leaves_the_guest_as_it_is_is_a_failure(
        bed, action, reported):
    bed.event(B, EventKind.WATCHDOG, action)
    assert [n.reason for n in bed.reports()] == (
        ['watchdog'] if reported else [])


@pytest.mark.parametrize('why', ['ioerror', 'watchdog', 'api_error'])
def test_a_failure_pause_is_reported_after_the_failure_window(bed, why):
    bed.event(B, EventKind.PAUSED, why)
    bed.tick(idle(A, B))
    bed.tick(idle(A, B))
    assert bed.reports() == []
    bed.tick(idle(A, B))
    assert [n.reason for n in bed.reports()] == ['failure_pause']


@pytest.mark.parametrize('kind,why', [
    (EventKind.PAUSED, 'paused'), (EventKind.MIGRATING, 'migrated'),
    (EventKind.PAUSED, 'from_snapshot'), (EventKind.SHUTTING_DOWN, '')])
def test_benign_pauses_are_never_reported(bed, kind, why):
    bed.event(B, kind, why)
    hang(bed, B, 10)
    assert bed.reports() == []
    assert not bed.probes(B)[2:]


def test_a_failure_pause_found_by_a_listing_counts_too():
    bed = Bed()
    bed.listed(domain(B, running=False, reason='ioerror'))
    for _ in range(3):
        bed.tick()
    assert [n.reason for n in bed.reports()] == ['failure_pause']


# -- grace and boot hangs --------------------------------------------------------


def test_a_guest_never_seen_answering_is_only_warned_about(caplog):
    bed = Bed(grace=30)
    bed.listed(domain(B, connected=False))
    for _ in range(8):
        bed.tick(idle(B))
        if bed.probes(B):
            bed.answer(B, Outcome.DISCONNECTED, 'not connected')
    assert bed.reports() == []
    assert bed.state(B)['state'] == 'no_agent'
    assert len([r for r in caplog.records
                if 'has not answered since' in r.getMessage()]) == 1


def test_a_known_guest_that_hangs_while_booting_is_reported_once():
    bed = Bed(grace=30, activity_check=False,
              remembered={B: Remembered(-1, False, False, known=True)})
    bed.listed(domain(B, connected=False, domain_id=7))
    for _ in range(8):
        bed.tick(idle(B))
        if bed.probes(B):
            bed.answer(B, Outcome.DISCONNECTED, 'not connected')
    assert [n.reason for n in bed.reports()] == ['boot_hang']


# -- the recovery limit -----------------------------------------------------------


def test_the_recovery_limit_stops_reports_until_the_window_allows(caplog):
    bed = Bed(max_recoveries=2, recovery_window=600)
    bed.listed(domain(B))
    for _episode in range(3):
        bed.tick(idle(B))
        bed.answer(B)
        for _ in range(4):
            bed.tick(idle(B))
            bed.time_out(B)
    assert len(bed.reports()) == 2
    assert bed.state(B)['state'] == 'recovery limit reached'
    assert len([r for r in caplog.records
                if 'recovery limit reached' in r.getMessage()]) == 1
    assert bed.fleet.records()[B].reports      # kept across restarts
    bed.idle_intervals(60, guests=(B,))                        # the window passes
    assert len(bed.reports()) == 3


def test_recent_reports_survive_a_restart_of_the_monitor():
    bed = Bed(max_recoveries=1, recovery_window=600, remembered={
        B: Remembered(2, True, False, reports=(1.7e9 - 10,))})
    bed.listed(domain(B, domain_id=2))
    bed.idle_intervals(5, guests=(B,))
    assert bed.reports() == []
    assert bed.state(B)['recovery_limited'] is True


# -- many at once -----------------------------------------------------------------


def test_a_mass_hang_is_reported_within_one_failure_window():
    bed = Bed()
    uuids = ['00000000-0000-0000-0000-%012d' % i for i in range(1000)]
    hung = set(uuids[::4])
    bed.listed(*[domain(u, 'vm-%s' % u[-4:], domain_id=i + 1)
                 for i, u in enumerate(uuids)])
    bed.tick(idle(*uuids))
    for uuid in uuids:
        bed.answer(uuid)
    for _ in range(4):     # the probe goes out, then 3 missed intervals
        bed.tick(idle(*uuids))
        for uuid in uuids:
            if uuid not in hung:
                bed.answer(uuid)
        bed.time_out(*hung)
    assert sorted(n.instance_uuid for n in bed.reports()) == sorted(hung)


def test_a_probe_waiting_in_the_healthy_queue_is_never_abandoned(bed):
    bed.tick(idle(A, B))
    bed.answer(A)
    bed.idle_intervals(10)                # queued behind others, never started
    assert bed.state(B)['misses'] == 0
    assert bed.reports() == []
    assert len(bed.probes(B)) == 2


def test_suspect_and_settled_guests_are_probed_apart_and_less_often(bed):
    bed.tick(idle(A, B))
    bed.answer(A)
    bed.answer(B, Outcome.MISS, 'timeout')
    bed.tick(idle(A, B))
    assert bed.probes(B)[-1].suspect
    assert bed.probes(B)[-1].priority == 1
    hang(bed, B, 3)
    suspect = bed.probes(B)
    assert len(bed.reports(B)) == 1
    out = len(suspect)
    bed.answer(B, Outcome.MISS, 'timeout')     # failed; its probe is back
    for _ in range(6):
        bed.tick(idle(A, B))
        bed.answer(A)
        if len(bed.probes(B)) > out:
            out = len(bed.probes(B))
            assert bed.probes(B)[-1].priority >= 100
            bed.answer(B, Outcome.MISS, 'timeout')
    assert 1 <= len(bed.probes(B)) - len(suspect) <= 3
    assert not [p for p in bed.probes(A)[1:] if p.suspect]


# -- the operator -----------------------------------------------------------------


def test_maintenance_by_name_silences_and_withdraws(bed):
    uuid, actions = bed.fleet.set_maintenance('vm-b', True)
    assert uuid == B
    assert Withdraw(B, 'put in maintenance',
                      WithdrawCause.MAINTENANCE) in actions
    assert Save() in actions
    hang(bed, B, 6)
    assert bed.reports() == []
    assert bed.state(B)['state'] == 'maintenance'
    assert bed.fleet.set_maintenance('nope', True) == (None, [])


def test_an_overdue_suspect_probe_counts_before_its_interval_ends(bed):
    bed.tick(idle(A, B))
    bed.answer(A)
    bed.answer(B, Outcome.MISS, 'timeout')       # interval 1 missed
    bed.tick(idle(A, B))                          # a suspect probe goes out
    bed.answer(A)
    bed.clock.advance(1.0)
    assert bed.do(bed.fleet.overdue()) == []     # within the timeout
    bed.clock.advance(1.5)
    bed.do(bed.fleet.overdue())
    assert bed.state(B)['misses'] == 2           # interval 2, already
    bed.clock.advance(7.5 - INTERVAL)
    bed.tick(idle(A, B))                          # closes it: no double count
    bed.answer(A)
    assert bed.state(B)['misses'] == 2
    bed.clock.advance(2.5)
    actions = bed.do(bed.fleet.overdue())        # interval 3: the threshold
    assert [a for a in actions if isinstance(a, Sample)]
    bed.do(bed.fleet.sampled(idle(A, B)))
    assert [n.reason for n in bed.reports()] == ['unresponsive']


def test_a_healthy_lane_probe_is_never_overdue(bed):
    bed.tick(idle(A, B))
    bed.clock.advance(5)
    bed.do(bed.fleet.overdue())
    assert bed.state(A)['misses'] == 0


def test_maintenance_of_an_absent_instance_is_shown_then_dropped(caplog):
    caplog.set_level(logging.INFO)
    bed = Bed(forget_after=3600)
    bed.listed(domain(A, 'vm-a'), domain(B, 'vm-b', domain_id=2))
    bed.fleet.set_maintenance('vm-b', True)
    bed.listed(domain(A, 'vm-a'))                 # B left the host
    [absent] = [encode_instance(i) for i in bed.fleet.snapshot()
                if i.uuid == B]
    assert absent['state'] == 'maintenance'
    assert absent['name'] == '(not on this host)'
    bed.wall.advance(3000)
    bed.listed(domain(A, 'vm-a'))
    assert B in bed.fleet.persisted().maintenance
    bed.wall.advance(700)
    bed.listed(domain(A, 'vm-a'))
    assert B not in bed.fleet.persisted().maintenance
    assert B not in bed.fleet.records()
    assert [i.uuid for i in bed.fleet.snapshot()] == [A]
    assert 'maintenance flag and history are dropped' in caplog.text
    # Back months later: monitored like a new instance.
    bed.listed(domain(A, 'vm-a'), domain(B, 'vm-b', domain_id=9))
    assert bed.state(B)['state'] == 'grace'


def test_an_instance_back_in_time_keeps_its_maintenance():
    bed = Bed(forget_after=3600)
    bed.listed(domain(B, 'vm-b'))
    bed.fleet.set_maintenance(B, True)
    bed.listed()
    bed.wall.advance(1000)
    bed.listed(domain(B, 'vm-b', domain_id=5))
    assert bed.state(B)['state'] == 'maintenance'
    assert bed.fleet.persisted().absent == {}


def test_a_threshold_reached_by_a_result_asks_for_a_sample_at_once(bed):
    for _ in range(2):
        bed.tick(idle(A, B))
        bed.answer(A)
        bed.answer(B, Outcome.DISCONNECTED, 'not connected')
    bed.tick(idle(A, B))
    bed.answer(A)
    actions = bed.answer(B, Outcome.DISCONNECTED, 'not connected')
    assert Sample() in actions
    bed.do(bed.fleet.sampled(idle(A, B)))
    assert [n.reason for n in bed.reports()] == ['disconnected']


def test_an_agent_disconnect_starts_a_new_interval(bed):
    bed.tick(idle(A, B))
    bed.answer(A)
    bed.answer(B)                              # answered in this interval
    actions = bed.event(B, EventKind.AGENT_DISCONNECTED, 'channel')
    assert [a for a in actions if isinstance(a, Probe) and a.uuid == B]
    bed.answer(B, Outcome.DISCONNECTED, 'not connected')
    assert bed.state(B)['misses'] == 1         # counts although answered
    for _ in range(2):
        bed.tick(idle(A, B))
        bed.answer(A)
        bed.answer(B, Outcome.DISCONNECTED, 'not connected')
    bed.do(bed.fleet.sampled(idle(A, B)))
    assert [n.reason for n in bed.reports()] == ['disconnected']


def test_an_agent_restart_is_not_a_failure(bed):
    bed.tick(idle(A, B))
    bed.answer(B)
    bed.event(B, EventKind.AGENT_DISCONNECTED, 'channel')
    bed.answer(B, Outcome.DISCONNECTED, 'not connected')
    bed.event(B, EventKind.AGENT_CONNECTED, 'channel')
    assert bed.state(B)['misses'] == 0
    for _ in range(4):
        bed.tick(idle(A, B))
        bed.answer(B)
    assert bed.reports() == []


# -- a pending notification belongs to one QEMU process ------------------------

def new_process_withdrawals(bed, uuid):
    return [a for a in bed.of(Withdraw)
            if a.uuid == uuid and a.cause is WithdrawCause.NEW_PROCESS]


def test_a_crashed_guest_started_again_withdraws_its_report(bed):
    bed.event(B, EventKind.CRASHED, 'panicked')
    bed.event(B, EventKind.STOPPED, 'crashed')
    assert new_process_withdrawals(bed, B) == []
    bed.event(B, EventKind.STARTED, 'booted', domain_id=7)   # by hand
    bed.do(bed.fleet.looked_up(B, domain(B, 'vm-b', domain_id=7)))
    assert new_process_withdrawals(bed, B) == [
        Withdraw(B, 'new QEMU process', WithdrawCause.NEW_PROCESS)]


def test_a_started_event_with_a_new_domain_id_withdraws(bed):
    bed.event(B, EventKind.STARTED, 'restored', domain_id=9)
    assert len(new_process_withdrawals(bed, B)) == 1
    bed.event(B, EventKind.STARTED, 'restored', domain_id=9)
    assert len(new_process_withdrawals(bed, B)) == 1    # same process


def test_a_resync_finding_a_new_domain_id_withdraws(bed):
    bed.listed(domain(A, 'vm-a'), domain(B, 'vm-b', domain_id=2))
    assert new_process_withdrawals(bed, B) == []
    bed.listed(domain(A, 'vm-a'), domain(B, 'vm-b', domain_id=3))
    assert len(new_process_withdrawals(bed, B)) == 1
    assert new_process_withdrawals(bed, A) == []


def test_first_sight_of_a_domain_withdraws_nothing():
    bed = Bed()
    bed.listed(domain(A, 'vm-a'), domain(B, 'vm-b', domain_id=2))
    assert bed.of(Withdraw) == []


# -- ticks, jobs, answers, undefine (issue 17) -------------------------------------


def test_two_ticks_a_millisecond_apart_close_one_interval(bed):
    bed.tick(idle(A, B))
    bed.answer(A)
    bed.answer(B, Outcome.MISS, 'timeout')
    bed.clock.advance(INTERVAL)
    bed.do(bed.fleet.tick())          # the owner thread stalled: queued
    bed.clock.advance(0.001)
    assert bed.do(bed.fleet.tick()) == []   # ... ticks, back to back
    bed.clock.advance(0.001)
    assert bed.do(bed.fleet.tick()) == []
    assert bed.state(B)['misses'] == 1
    bed.clock.advance(INTERVAL)
    bed.do(bed.fleet.tick())
    assert bed.state(B)['misses'] == 2


def test_a_late_tick_still_closes_its_interval(bed):
    bed.tick(idle(A, B))
    bed.answer(A)
    bed.answer(B, Outcome.MISS, 'timeout')
    bed.clock.advance(INTERVAL * 0.6)        # early, but past half of it
    assert bed.do(bed.fleet.tick())
    assert bed.state(B)['misses'] == 1


def test_a_domain_job_shields_a_hung_agent_until_it_ends(bed, caplog):
    caplog.set_level(logging.INFO)
    bed.tick(idle(A, B))
    bed.answer(A)
    bed.answer(B, Outcome.JOB)
    for _ in range(10):
        bed.tick(idle(A, B))
        bed.answer(A)
        bed.clock.advance(3)
        bed.do(bed.fleet.overdue())
        bed.answer(B, Outcome.JOB)
        bed.clock.advance(-3)
    assert bed.reports() == []
    assert 'A domain job holds instance vm-b' in caplog.text
    for _ in range(2):                        # the job ends, the hang stays
        bed.tick(idle(A, B))
        bed.answer(A)
        bed.answer(B, Outcome.MISS, 'timeout')
    assert 'domain job of instance vm-b' in caplog.text
    assert bed.reports() == []
    bed.tick(idle(A, B))
    bed.answer(B, Outcome.MISS, 'timeout')
    bed.do(bed.fleet.sampled(idle(A, B)))
    assert [n.reason for n in bed.reports()] == ['unresponsive']


def test_a_job_longer_than_job_grace_max_no_longer_shields(caplog):
    bed = one_guest(job_grace_max=40)
    for _ in range(10):
        bed.tick(idle(B))
        bed.answer(B, Outcome.JOB)
    assert [n.reason for n in bed.reports()] == ['unresponsive']
    assert 'for more than 40 s (job_grace_max)' in caplog.text


def test_an_agent_error_is_an_answer(bed, caplog):
    for _ in range(6):
        bed.tick(idle(A, B))
        bed.answer(A)
        bed.answer(B, Outcome.AGENT_ERROR, 'unable to execute QEMU agent '
                   'command: guest-ping has been disabled')
    assert bed.reports() == []
    assert bed.state(B)['state'] == 'healthy'
    assert len([r for r in caplog.records
                if 'answered with an error' in r.getMessage()]) == 1


def test_another_libvirt_error_is_a_miss_logged_with_its_code(bed, caplog):
    bed.tick(idle(A, B))
    bed.do(bed.fleet.result(ProbeResult(B, Outcome.ERROR, 'odd',
                                        error_code=1),
                            bed.probes(B)[-1].token))
    assert bed.state(B)['misses'] == 1
    assert 'code 1' in caplog.text


def test_undefine_of_a_running_domain_keeps_it_and_its_report(bed, caplog):
    caplog.set_level(logging.INFO)
    hang(bed, B, 3)
    assert len(bed.reports(B)) == 1
    assert bed.event(B, EventKind.UNDEFINED, 'removed') == []
    assert bed.of(Withdraw) == []
    assert bed.state(B)['state'] == 'failed'
    assert 'lost its definition but still runs' in caplog.text
    bed.event(B, EventKind.STOPPED, 'destroyed')     # stopped at last
    assert bed.of(Withdraw) == [
        Withdraw(B, 'left the host: domain stopped (destroyed)',
                   WithdrawCause.LEFT_HOST)]


def test_undefine_then_a_hang_is_reported_once(bed):
    bed.event(B, EventKind.UNDEFINED, 'removed')
    hang(bed, B, 6)
    assert [n.reason for n in bed.reports()] == ['unresponsive']


def test_undefine_of_an_unknown_domain_asks_nothing():
    bed = Bed()
    assert bed.event(A, EventKind.UNDEFINED, 'removed') == []


# -- maintenance, for every reason -----------------------------------------------


def test_a_crash_in_maintenance_is_reported_once_when_it_ends(bed, caplog):
    caplog.set_level(logging.INFO)
    bed.fleet.set_maintenance(B, True)
    bed.event(B, EventKind.CRASHED, 'panicked')
    bed.event(B, EventKind.PAUSED, 'crashed')
    bed.idle_intervals(5, answering=(A,))
    assert bed.reports() == []
    assert 'failed (crashed) while in maintenance: not reported' \
        in caplog.text
    assert bed.state(B)['reason'] == 'crashed'
    _uuid, actions = bed.fleet.set_maintenance(B, False)
    bed.do(actions)
    assert [n.reason for n in bed.reports()] == ['crashed']
    bed.idle_intervals(5)
    assert len(bed.reports()) == 1


def test_a_watchdog_pause_in_maintenance_is_reported_once_when_it_ends(bed):
    bed.fleet.set_maintenance(B, True)
    bed.event(B, EventKind.WATCHDOG, 'pause')
    bed.event(B, EventKind.PAUSED, 'watchdog')
    bed.idle_intervals(5)
    assert bed.reports() == []
    bed.maintenance('vm-b', False)
    bed.idle_intervals(5)
    assert [n.reason for n in bed.reports()] == ['watchdog']


def test_maintenance_ending_after_the_guest_resumed_reports_nothing(bed):
    bed.fleet.set_maintenance(B, True)
    bed.event(B, EventKind.PAUSED, 'ioerror')
    bed.idle_intervals(5)
    bed.event(B, EventKind.RESUMED, 'unpaused')
    bed.maintenance(B, False)
    bed.tick(idle(A, B))
    bed.answer(B)
    assert bed.reports() == []


# -- boot hangs and activity through the fleet ---------------------------------


def test_a_known_guest_booting_while_it_works_is_active_not_hung(caplog):
    bed = Bed(grace=30, remembered={B: Remembered(-1, False, False,
                                                  known=True)})
    bed.listed(domain(B, connected=False, domain_id=7))
    disk = 0
    disk = bed.without_agent(B, 9, disk, step=50)
    assert bed.reports() == []
    assert bed.state(B)['state'] == 'agent failed, guest active'
    [warning] = [r.getMessage() for r in caplog.records
                 if 'agent silent, guest active' in r.getMessage()]
    assert 'is booting for' in warning and 'disk requests' in warning
    bed.without_agent(B, 4, disk)                       # the work stops
    assert [n.reason for n in bed.reports()] == ['boot_hang']


def test_work_before_a_hang_is_not_taken_for_work_after_it():
    bed = Bed()
    bed.listed(domain(B))
    disk = 0
    for _ in range(3):                       # busy and answering
        disk += 100
        bed.tick(idle(B, disk=disk))
        bed.answer(B)
    disk += 100                              # the last busy interval
    hang(bed, B, 3, others=(B,), disk=disk)
    assert [n.reason for n in bed.reports()] == ['unresponsive']
    assert bed.state(B)['state'] == 'failed'


def test_a_guest_libvirt_cannot_count_is_named_at_start(caplog):
    caplog.set_level(logging.INFO)
    bed = Bed()
    bed.listed(domain(B, blind_spots=(BlindSpot.HOSTDEV_NIC,)),
               domain(A))
    lines = [r.getMessage() for r in caplog.records
             if 'activity check cannot clear it' in r.getMessage()]
    assert len(lines) == 1
    assert 'SR-IOV/hostdev network interface' in lines[0] and B in lines[0]


# -- what to persist: return values, not flags -------------------------------------


def test_the_fleet_says_when_to_save_and_what(bed):
    assert Save() in bed.listed(domain(A, 'vm-a'),
                                  domain(B, 'vm-b', domain_id=2))
    bed.fleet.persisted()
    bed.tick(idle(A, B))
    assert Save() not in bed.answer(A)     # nothing new to keep
    hang(bed, B, 2)
    bed.tick()
    actions = bed.do(bed.fleet.sampled(idle(A, B)))
    assert Save() in actions
    assert bed.fleet.persisted().records[B].reported


def test_a_report_that_could_not_be_kept_is_decided_again(bed):
    hang(bed, B, 3)
    [report] = bed.reports()
    actions = bed.fleet.report_failed(report)
    assert actions == [Save()]
    assert not bed.fleet.persisted().records[B].reported
    assert bed.state(B)['state'] == 'failing'
    assert bed.fleet.report_failed(report) == []


def test_a_job_ending_with_a_pause_gives_a_fresh_window(caplog):
    caplog.set_level(logging.INFO)
    bed = Bed(grace=120)
    bed.listed(domain(B, 'vm-b'))
    bed.tick(idle(B))
    bed.answer(B)
    bed.tick(idle(B))
    bed.answer(B, Outcome.JOB)
    bed.event(B, EventKind.PAUSED, 'paused')
    bed.event(B, EventKind.RESUMED, 'unpaused')
    assert 'domain job of instance vm-b' in caplog.text
    assert bed.state(B)['state'] == 'healthy'
    hang(bed, B, 3, others=(B,))
    assert [n.reason for n in bed.reports()] == ['unresponsive']
