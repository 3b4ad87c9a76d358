"""A failure held while an instance is excluded (maintenance, ``monitor:
false``): reported once when the exclusion ends, across restarts of the
service, unless a new QEMU process voided it; never while excluded, never
twice. A restart is the fleet's persisted state written by the real
:class:`StateStore` and read back into a new fleet."""

import json
import logging

import pytest

from masakari_introspect.core.actions import Limited
from masakari_introspect.core.actions import Lookup
from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Reason
from masakari_introspect.core.rules import Rules
from masakari_introspect.runtime.store import StateStore
from tests.unit.fakes import A, B, FakeClock, domain
from tests.unit.fleet_bed import Bed, idle, two_guests
from tests.unit.test_fleet_policy import guest, rules

RUNNING_A = domain(A, 'vm-a')
CRASHED_B = domain(B, 'vm-b', domain_id=2, running=False, reason='crashed')
SCRATCH = 'rules: [{match: {name: "vm-b"}, monitor: false}]'


def save(bed, tmp_path, maintenance=None):
    """Write what ``bed``'s fleet persists; the store, to read it back."""
    store = StateStore(tmp_path / 'instances.json')
    state = bed.fleet.persisted()
    store.save(state.records, state.maintenance if maintenance is None
               else maintenance, state.absent)
    return store


def restart(bed, tmp_path, *domains, maintenance=None, wall=None, **kwargs):
    """The service restarts: a new fleet (a new monotonic clock) reads the
    state file ``bed`` wrote (with ``maintenance`` instead of its own set,
    as an operator's edit while the service was down) and lists
    ``domains``."""
    store = save(bed, tmp_path, maintenance)
    after = Bed(clock=FakeClock(100.0), wall=wall or bed.wall,
                remembered=store.load(),
                maintenance=store.load_maintenance(),
                absent=store.load_absent(), **kwargs)
    after.listed(*domains)
    return after


def crashed_in_maintenance():
    bed = two_guests()
    bed.maintenance(B, True)
    bed.event(B, EventKind.CRASHED, 'panicked')
    bed.event(B, EventKind.PAUSED, 'crashed')
    assert bed.reports() == []
    return bed


def paused_by_an_error_in_maintenance():
    bed = two_guests()
    bed.maintenance(B, True)
    bed.event(B, EventKind.PAUSED, 'ioerror')
    bed.idle_intervals(4, answering=(A,))    # a whole failure window
    return bed


def reasons(bed, uuid=B):
    return [n.reason for n in bed.reports(uuid)]


# -- maintenance x crash x restart ---------------------------------------------


def test_a_crash_held_in_maintenance_outlives_a_restart(tmp_path):
    bed = crashed_in_maintenance()
    after = restart(bed, tmp_path, RUNNING_A, CRASHED_B)
    after.idle_intervals(5, answering=(A,))
    assert after.reports() == []             # never while in maintenance
    assert after.state(B)['reason'] == 'crashed'
    after.maintenance(B, False)
    assert reasons(after) == ['crashed']
    after.idle_intervals(5, answering=(A,))
    assert reasons(after) == ['crashed']     # once


def test_a_hold_outlives_two_restarts_and_is_reported_once(tmp_path):
    bed = crashed_in_maintenance()
    first = restart(bed, tmp_path, RUNNING_A, CRASHED_B)
    second = restart(first, tmp_path, RUNNING_A, CRASHED_B)
    assert second.reports() == []
    second.maintenance(B, False)
    third = restart(second, tmp_path, RUNNING_A, CRASHED_B)
    third.idle_intervals(3, answering=(A,))
    assert reasons(second) == ['crashed'] and third.reports() == []


def test_maintenance_ended_while_the_service_was_down_reports_at_start(
        tmp_path):
    bed = crashed_in_maintenance()
    after = restart(bed, tmp_path, RUNNING_A, CRASHED_B, maintenance=set())
    assert reasons(after) == ['crashed']
    again = restart(after, tmp_path, RUNNING_A, CRASHED_B)
    again.idle_intervals(3, answering=(A,))
    assert again.reports() == []             # reported before the restart


def test_a_hold_is_void_for_a_new_qemu_process_found_at_start(
        tmp_path, caplog):
    caplog.set_level(logging.INFO)
    bed = crashed_in_maintenance()
    after = restart(bed, tmp_path, RUNNING_A,
                    domain(B, 'vm-b', domain_id=8))
    assert 'held failure (crashed) is void: new QEMU process' in caplog.text
    after.maintenance(B, False)
    after.idle_intervals(2, answering=(A, B))
    assert after.reports() == []


def test_a_hold_is_void_for_a_new_qemu_process_in_maintenance(
        tmp_path, caplog):
    caplog.set_level(logging.INFO)
    bed = crashed_in_maintenance()
    bed.event(B, EventKind.STARTED, 'booted', domain_id=8)
    assert 'held failure (crashed) is void: new QEMU process' in caplog.text
    after = restart(bed, tmp_path, RUNNING_A,
                    domain(B, 'vm-b', domain_id=8))
    after.maintenance(B, False)
    after.idle_intervals(2, answering=(A, B))
    assert bed.reports() == [] and after.reports() == []


def test_a_new_failure_after_a_voided_hold_is_reported_with_its_reason(
        tmp_path):
    """Crashed in maintenance, started again by the operator (void), then
    its watchdog fires: the new failure is held over a restart and
    reported once, as a watchdog."""
    bed = crashed_in_maintenance()
    bed.event(B, EventKind.STARTED, 'booted', domain_id=8)
    bed.event(B, EventKind.WATCHDOG, 'none')
    after = restart(bed, tmp_path, RUNNING_A, domain(B, 'vm-b', domain_id=8))
    after.maintenance(B, False)
    after.idle_intervals(3, answering=(A,))
    assert bed.reports() == [] and reasons(after) == ['watchdog']


def test_a_pending_report_withdrawn_for_maintenance_is_held_across_restart(
        tmp_path):
    bed = two_guests()
    bed.event(B, EventKind.CRASHED, 'panicked')
    assert reasons(bed) == ['crashed']
    bed.maintenance(B, True)
    [withdraw] = [w for w in bed.of(Withdraw)
                  if w.cause is WithdrawCause.MAINTENANCE]
    bed.do(bed.fleet.withdrawn(withdraw))    # it was still pending
    after = restart(bed, tmp_path, RUNNING_A, CRASHED_B)
    assert after.reports() == []
    after.maintenance(B, False)
    assert reasons(after) == ['crashed']


@pytest.mark.parametrize('kind, detail, found', [
    (EventKind.CRASHED, 'panicked', CRASHED_B),
    (EventKind.WATCHDOG, 'none', domain(B, 'vm-b', domain_id=2))])
def test_a_report_pending_over_a_restart_then_withdrawn_is_held(
        tmp_path, kind, detail, found):
    """Reported, still pending (Masakari down) when the service restarts;
    maintenance after the restart withdraws it: held, with its reason."""
    bed = two_guests()
    bed.event(B, kind, detail)
    after = restart(bed, tmp_path, RUNNING_A, found)
    after.maintenance(B, True)
    [withdraw] = [w for w in after.of(Withdraw)
                  if w.cause is WithdrawCause.MAINTENANCE]
    after.do(after.fleet.withdrawn(withdraw))
    after.maintenance(B, False)
    assert reasons(after) == reasons(bed) == [kind.value]


@pytest.mark.parametrize('maintenance_first', [True, False])
def test_a_crash_reported_and_sent_is_not_repeated(tmp_path,
                                                   maintenance_first):
    """Crash reported (and sent: not withdrawn), then maintenance and a
    restart in either order, then maintenance off: no second report."""
    bed = two_guests()
    bed.event(B, EventKind.CRASHED, 'panicked')
    if maintenance_first:
        bed.maintenance(B, True)
    after = restart(bed, tmp_path, RUNNING_A, CRASHED_B)
    after.maintenance(B, True)
    after.maintenance(B, False)
    after.idle_intervals(3, answering=(A,))
    assert reasons(bed) == ['crashed'] and after.reports() == []


def test_a_crash_after_a_restart_in_maintenance_is_held_too(tmp_path):
    bed = two_guests()
    bed.maintenance(B, True)
    after = restart(bed, tmp_path, RUNNING_A, domain(B, 'vm-b', domain_id=2))
    after.event(B, EventKind.WATCHDOG, 'none')
    again = restart(after, tmp_path, RUNNING_A,
                    domain(B, 'vm-b', domain_id=2))
    assert after.reports() == [] and again.reports() == []
    again.maintenance(B, False)
    assert reasons(again) == ['watchdog']


def test_a_hold_reported_then_maintenance_again_is_not_repeated(tmp_path):
    bed = crashed_in_maintenance()
    bed.maintenance(B, False)                # reported (and sent)
    bed.maintenance(B, True)
    after = restart(bed, tmp_path, RUNNING_A, CRASHED_B)
    after.maintenance(B, False)
    assert reasons(bed) == ['crashed'] and after.reports() == []


def test_a_failure_pause_held_in_maintenance_outlives_a_restart(tmp_path):
    bed = paused_by_an_error_in_maintenance()
    assert bed.reports() == []
    paused = domain(B, 'vm-b', domain_id=2, running=False, reason='ioerror')
    after = restart(bed, tmp_path, RUNNING_A, paused)
    after.maintenance(B, False)
    assert reasons(after) == ['failure_pause']


# -- the exclusion by policy, and SIGHUP -----------------------------------------


def test_a_crash_held_by_policy_outlives_a_restart_and_a_reload(tmp_path):
    bed = Bed(activity_check=False, rules=rules(SCRATCH))
    bed.listed(guest(), guest(B, 'vm-b', domain_id=2))
    bed.event(B, EventKind.CRASHED, 'panicked')
    after = restart(bed, tmp_path, guest(), CRASHED_B,
                    activity_check=False, rules=rules(SCRATCH))
    after.idle_intervals(3, answering=())
    assert after.reports(B) == []
    after.do(after.fleet.set_rules(Rules()))          # SIGHUP: monitored
    assert reasons(after) == ['crashed']
    after.do(after.fleet.set_rules(rules(SCRATCH)))
    after.do(after.fleet.set_rules(Rules()))
    assert reasons(after) == ['crashed']              # not twice


def test_a_policy_dropped_while_the_service_was_down_reports_at_start(
        tmp_path):
    bed = Bed(activity_check=False, rules=rules(SCRATCH))
    bed.listed(guest(), guest(B, 'vm-b', domain_id=2))
    bed.event(B, EventKind.CRASHED, 'panicked')
    after = restart(bed, tmp_path, guest(), CRASHED_B,
                    activity_check=False)
    assert reasons(after) == ['crashed']


def test_maintenance_outlasting_the_policy_keeps_the_hold(tmp_path):
    bed = Bed(activity_check=False, rules=rules(SCRATCH))
    bed.listed(guest(), guest(B, 'vm-b', domain_id=2))
    bed.maintenance(B, True)
    bed.event(B, EventKind.CRASHED, 'panicked')
    after = restart(bed, tmp_path, guest(), CRASHED_B,
                    activity_check=False)              # the rule is gone
    assert after.reports() == []                       # still maintenance
    after.maintenance(B, False)
    assert reasons(after) == ['crashed']


def test_maintenance_off_under_a_policy_exclusion_keeps_the_hold():
    bed = Bed(activity_check=False, rules=rules(SCRATCH))
    bed.listed(guest(), guest(B, 'vm-b', domain_id=2))
    bed.maintenance(B, True)
    bed.event(B, EventKind.WATCHDOG, 'pause')
    bed.maintenance(B, False)                 # the policy still excludes it
    bed.do(bed.fleet.set_rules(rules(SCRATCH)))    # SIGHUP, same rules
    assert bed.reports() == []
    bed.do(bed.fleet.set_rules(Rules()))
    assert reasons(bed) == ['watchdog']


# -- the recovery limit ------------------------------------------------------------


def limited_crash():
    """B reported once (the limit), started again, then crashed past the
    limit."""
    bed = Bed(max_recoveries=1, recovery_window=600.0)
    bed.listed(RUNNING_A, domain(B, 'vm-b', domain_id=2))
    bed.event(B, EventKind.CRASHED, 'panicked')
    bed.event(B, EventKind.STARTED, 'booted', domain_id=3)
    return bed


def test_a_held_report_keeps_its_reason_when_the_guest_pauses():
    bed = limited_crash()
    bed.event(B, EventKind.CRASHED, 'panicked')
    bed.event(B, EventKind.PAUSED, 'crashed')   # preserve: crashed state
    assert len(bed.of(Limited)) == 1
    for _ in range(60):
        bed.tick()
    assert reasons(bed) == ['crashed', 'crashed']


def test_a_hold_past_the_limit_is_sent_once_across_maintenance():
    bed = limited_crash()
    bed.maintenance(B, True)
    bed.event(B, EventKind.CRASHED, 'panicked')
    bed.maintenance(B, False)                  # limited: held back
    bed.maintenance(B, True)
    for _ in range(60):
        bed.tick()
    assert reasons(bed) == ['crashed']         # not while in maintenance
    bed.maintenance(B, False)
    for _ in range(3):
        bed.tick()
    assert reasons(bed) == ['crashed', 'crashed']


def test_a_hold_past_the_recovery_limit_waits_for_the_window(tmp_path):
    bed = Bed(max_recoveries=1, recovery_window=600.0)
    bed.listed(RUNNING_A, domain(B, 'vm-b', domain_id=2))
    bed.event(B, EventKind.CRASHED, 'panicked')          # the one report
    bed.event(B, EventKind.STARTED, 'booted', domain_id=3)
    bed.maintenance(B, True)
    bed.event(B, EventKind.CRASHED, 'panicked')
    crashed = domain(B, 'vm-b', domain_id=3, running=False, reason='crashed')
    after = restart(bed, tmp_path, RUNNING_A, crashed,
                    max_recoveries=1, recovery_window=600.0)
    after.maintenance(B, False)
    assert after.reports() == [] and len(after.of(Limited)) == 1
    again = restart(after, tmp_path, RUNNING_A, crashed,
                    max_recoveries=1, recovery_window=600.0)
    assert again.reports() == []
    for _ in range(60):
        again.tick()
    assert reasons(again) == ['crashed']


# -- clocks ------------------------------------------------------------------------


def test_a_hold_does_not_care_for_a_wall_clock_step(tmp_path):
    bed = crashed_in_maintenance()
    bed.wall.advance(-86400.0)                # stepped back a day
    after = restart(bed, tmp_path, RUNNING_A, CRASHED_B)
    after.wall.advance(2 * 86400.0)           # and forward two
    after.maintenance(B, False)
    assert reasons(after) == ['crashed']


# -- the state file ------------------------------------------------------------------


def test_the_hold_round_trips_through_the_state_file(tmp_path):
    store = StateStore(tmp_path / 'instances.json')
    records = {A: Remembered(3, True, False, held=Reason.WATCHDOG),
               B: Remembered(4, True, False)}
    store.save(records)
    assert store.load() == records


def test_an_old_state_file_restarts_without_a_hold(tmp_path):
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps({'version': 1, 'maintenance': [B],
                                'instances': {B: {'domain_id': 2,
                                                  'answered': True,
                                                  'reported': False}}}))
    store = StateStore(path)
    after = Bed(remembered=store.load(), maintenance=store.load_maintenance())
    after.listed(RUNNING_A, CRASHED_B)
    after.maintenance(B, False)
    assert after.reports() == []              # nothing was held then


def test_an_unknown_held_reason_drops_that_hold_only(tmp_path, caplog):
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps({'instances': {
        A: {'domain_id': 1, 'answered': True, 'reported': False,
            'held': 'gremlins'},
        B: {'domain_id': 2, 'answered': True, 'reported': False,
            'held': 'crashed'}}}))
    loaded = StateStore(path).load()
    assert loaded[A] == Remembered(1, True, False)
    assert loaded[B].held is Reason.CRASHED
    assert 'gremlins' in caplog.text


def test_a_corrupt_state_file_restarts_without_a_hold(tmp_path):
    path = tmp_path / 'instances.json'
    path.write_text('{"instances": {')
    store = StateStore(path)
    after = Bed(remembered=store.load(), maintenance=store.load_maintenance())
    after.listed(RUNNING_A, CRASHED_B)
    after.tick(idle(A, B))
    assert after.reports() == []              # a paused guest: not probed
    assert after.state(B)['state'] != 'maintenance'


# -- the domain stops, disappears or is undefined while excluded --------------------

# As libvirt describes an inactive domain: no XML read, so no channel known.
STOPPED_B = domain(B, 'vm-b', domain_id=-1, running=False, agent=False,
                   reason='crashed')


def destroyed_on_crash_in_maintenance():
    """on_crash=destroy: the crash event, then the stop."""
    bed = crashed_in_maintenance()
    bed.event(B, EventKind.STOPPED, 'crashed')
    assert B not in bed.fleet.watched and bed.reports() == []
    return bed


def test_a_crash_destroyed_in_maintenance_is_reported_when_it_ends():
    bed = destroyed_on_crash_in_maintenance()
    assert Lookup(B) in bed.maintenance(B, False)
    bed.do(bed.fleet.looked_up(B, STOPPED_B))
    assert reasons(bed) == ['crashed']
    bed.maintenance(B, True)
    bed.maintenance(B, False)
    bed.do(bed.fleet.looked_up(B, STOPPED_B))
    bed.listed(RUNNING_A)
    assert reasons(bed) == ['crashed']           # once


def test_a_crash_destroyed_in_maintenance_outlives_a_restart(tmp_path):
    bed = destroyed_on_crash_in_maintenance()
    after = restart(bed, tmp_path, RUNNING_A)
    assert after.reports() == [] and Lookup(B) not in after.actions
    assert Lookup(B) in after.maintenance(B, False)
    after.do(after.fleet.looked_up(B, STOPPED_B))
    assert reasons(after) == ['crashed']
    again = restart(after, tmp_path, RUNNING_A, maintenance=set())
    assert Lookup(B) not in again.actions


def test_maintenance_ended_while_down_looks_a_stopped_crash_up(tmp_path):
    bed = destroyed_on_crash_in_maintenance()
    after = restart(bed, tmp_path, RUNNING_A, maintenance=set())
    assert Lookup(B) in after.actions
    after.do(after.fleet.looked_up(B, STOPPED_B))
    assert reasons(after) == ['crashed']


def test_a_crash_missed_while_down_is_looked_up_when_maintenance_ends(
        tmp_path):
    bed = crashed_in_maintenance()       # destroyed while the service was down
    after = restart(bed, tmp_path, RUNNING_A)
    assert Lookup(B) in after.maintenance(B, False)
    after.do(after.fleet.looked_up(B, STOPPED_B))
    assert reasons(after) == ['crashed']


def test_a_hold_is_void_when_the_domain_was_undefined(caplog):
    caplog.set_level(logging.INFO)
    bed = destroyed_on_crash_in_maintenance()
    bed.maintenance(B, False)
    bed.do(bed.fleet.looked_up(B, None))
    assert 'held failure (crashed) is void: undefined' in caplog.text
    bed.do(bed.fleet.looked_up(B, STOPPED_B))
    assert bed.reports() == []


def test_a_hold_is_void_when_the_domain_was_shut_off_otherwise(caplog):
    caplog.set_level(logging.INFO)
    bed = destroyed_on_crash_in_maintenance()
    bed.maintenance(B, False)
    bed.do(bed.fleet.looked_up(B, domain(B, 'vm-b', domain_id=-1,
                                         running=False, agent=False)))
    assert 'held failure (crashed) is void' in caplog.text
    assert bed.reports() == []


def test_a_hold_is_void_when_the_stopped_domain_was_started_again(caplog):
    caplog.set_level(logging.INFO)
    bed = destroyed_on_crash_in_maintenance()
    bed.listed(RUNNING_A, domain(B, 'vm-b', domain_id=9))
    assert 'held failure (crashed) is void: new QEMU process' in caplog.text
    bed.maintenance(B, False)
    bed.idle_intervals(2, answering=(A, B))
    assert bed.reports() == [] and Lookup(B) not in bed.actions


def test_a_hold_is_void_when_the_operator_stops_the_guest(caplog):
    caplog.set_level(logging.INFO)
    bed = crashed_in_maintenance()
    bed.event(B, EventKind.STOPPED, 'destroyed')
    assert 'held failure (crashed) is void' in caplog.text
    assert Lookup(B) not in bed.maintenance(B, False)
    assert bed.reports() == []


def test_a_stop_after_a_crash_held_by_policy_voids_it(caplog):
    caplog.set_level(logging.INFO)
    bed = Bed(activity_check=False, rules=rules(SCRATCH))
    bed.listed(guest(), guest(B, 'vm-b', domain_id=2))
    bed.event(B, EventKind.CRASHED, 'panicked')
    bed.event(B, EventKind.STOPPED, 'crashed')
    assert 'held failure (crashed) is void' in caplog.text
    bed.do(bed.fleet.set_rules(Rules()))
    bed.listed(guest())
    assert bed.reports() == [] and Lookup(B) not in bed.actions


def test_a_hold_is_void_for_a_domain_running_without_an_agent_channel(
        tmp_path, caplog):
    caplog.set_level(logging.INFO)
    bed = crashed_in_maintenance()
    after = restart(bed, tmp_path, RUNNING_A, maintenance=set())
    after.do(after.fleet.looked_up(B, domain(B, 'vm-b', domain_id=2,
                                             agent=False)))
    assert 'void: running without a guest agent channel' in caplog.text
    after.listed(RUNNING_A)
    assert after.reports() == [] and after.actions.count(Lookup(B)) == 1


def test_a_stopped_crash_past_the_recovery_limit_is_sent_when_it_allows(
        tmp_path):
    """on_crash=destroy in maintenance, past the limit when maintenance
    ends: the hold is looked up again at each listing (across a restart)
    and reported once the window allows; the limit said once."""
    bed = limited_crash()
    bed.maintenance(B, True)
    bed.event(B, EventKind.CRASHED, 'panicked')
    bed.event(B, EventKind.STOPPED, 'crashed')
    bed.maintenance(B, False)
    bed.do(bed.fleet.looked_up(B, STOPPED_B))
    after = restart(bed, tmp_path, RUNNING_A,
                    max_recoveries=1, recovery_window=600.0)
    for _ in range(70):
        after.tick()
        if Lookup(B) in after.listed(RUNNING_A):
            after.do(after.fleet.looked_up(B, STOPPED_B))
    assert reasons(bed) + reasons(after) == ['crashed', 'crashed']
    assert len(bed.of(Limited) + after.of(Limited)) == 1
    assert after.actions.count(Lookup(B)) > 1     # looked up until sent
    assert Lookup(B) not in after.listed(RUNNING_A)


def test_a_stopped_crash_whose_report_could_not_be_kept_is_held_again():
    bed = destroyed_on_crash_in_maintenance()
    bed.maintenance(B, False)
    [report] = [a for a in bed.do(bed.fleet.looked_up(B, STOPPED_B))
                if isinstance(a, Report)]
    bed.do(bed.fleet.report_failed(report.notification))
    assert Lookup(B) in bed.listed(RUNNING_A)
    bed.do(bed.fleet.looked_up(B, STOPPED_B))
    assert reasons(bed) == ['crashed', 'crashed']
    assert Lookup(B) not in bed.listed(RUNNING_A)


# -- a resume or reset that no event told -----------------------------------------


HELD_PAUSED = [crashed_in_maintenance, paused_by_an_error_in_maintenance]


@pytest.mark.parametrize('held', HELD_PAUSED)
@pytest.mark.parametrize('ended_while_down', [True, False])
def test_a_paused_hold_found_running_after_a_restart_is_void(
        tmp_path, caplog, held, ended_while_down):
    """Crashed (preserved) or paused by an error, then reset or resumed in
    the same QEMU process while the service was down: a live guest, not
    reported."""
    caplog.set_level(logging.INFO)
    bed = held()
    after = restart(bed, tmp_path, RUNNING_A, domain(B, 'vm-b', domain_id=2),
                    maintenance=set() if ended_while_down else None)
    after.maintenance(B, False)
    after.idle_intervals(2, answering=(A,))
    assert 'is void: running again' in caplog.text
    assert after.reports() == []


@pytest.mark.parametrize('held', HELD_PAUSED)
def test_a_resume_no_event_told_voids_a_hold(caplog, held):
    """The resume event missed (connection down): the next listing shows
    the guest running in the same QEMU process."""
    caplog.set_level(logging.INFO)
    bed = held()
    bed.listed(RUNNING_A, domain(B, 'vm-b', domain_id=2))
    bed.maintenance(B, False)
    bed.idle_intervals(2, answering=(A,))
    assert 'is void: running again' in caplog.text
    assert bed.reports() == []
