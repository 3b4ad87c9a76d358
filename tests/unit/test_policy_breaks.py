"""Where the per-instance policy (issue 20) meets the other rules:
maintenance, pending and limited reports, crashes, kdump, a lost agent,
restarts of the monitor, reloads, the guest's own cadence and odd files.
With fake clocks, no threads."""

import dataclasses

import pytest
import yaml

from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import PolicyElement
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.policy import AgentLoss
from masakari_introspect.core.rules import PolicyError
from masakari_introspect.core.rules import Rules
from masakari_introspect.core.rules import metadata_overrides
from masakari_introspect.core.rules import parse_rules
from tests.unit import test_heartbeat
from masakari_introspect.core.fleet import Fleet
from tests.unit.fakes import A, B, domain, wait_until
from tests.unit.test_fleet import Bed, idle
from tests.unit.test_fleet_policy import fleet_of, guest, rules

OFF = 'rules: [{match: {name: "vm-a"}, monitor: false}]'
ON = 'rules: []'


def healthy(bed, uuid=A):
    bed.tick(idle(A, B))
    bed.answer(uuid)
    assert bed.state(uuid)['state'] == 'healthy'


def miss(bed, uuid=A, times=1):
    for _ in range(times):
        bed.tick(idle(A, B))
        out = bed.fleet.watched[uuid]
        if out.token is not None and bed.probes(uuid)[-1].token == out.token:
            bed.answer(uuid, Outcome.MISS, 'timeout')


# -- monitor: false meets maintenance, in every order --------------------------


@pytest.mark.parametrize('order', [
    ('policy_off', 'maint_on', 'policy_on', 'maint_off'),
    ('policy_off', 'maint_on', 'maint_off', 'policy_on'),
    ('maint_on', 'policy_off', 'policy_on', 'maint_off'),
    ('maint_on', 'policy_off', 'maint_off', 'policy_on'),
])
def test_either_exclusion_ending_leaves_the_other_in_force(order):
    bed = fleet_of(guest(), text=ON)
    healthy(bed)
    policy_off = maint_on = False
    for step in order:
        if step.startswith('policy'):
            policy_off = step == 'policy_off'
            bed.do(bed.fleet.set_rules(rules(OFF if policy_off else ON)))
        else:
            maint_on = step == 'maint_on'
            bed.do(bed.fleet.set_maintenance(A, maint_on)[1])
        excluded = policy_off or maint_on
        assert bed.fleet.watched[A].state.maintenance is excluded, step
        assert bed.fleet.persisted().maintenance == (
            frozenset({A}) if maint_on else frozenset()), step
        [status] = bed.fleet.snapshot()
        assert status.maintenance is maint_on and \
            status.monitored is not policy_off, step
        probes = len(bed.probes(A))
        bed.tick(idle(A))
        assert (len(bed.probes(A)) == probes) is excluded, step
        if not excluded:
            bed.answer(A)


# -- monitor: false while failing, reported, crashed, in kdump, agent lost -------


def test_excluded_while_failing_is_not_reported_and_counts_afresh_after():
    bed = fleet_of(guest(), text=ON)
    healthy(bed)
    miss(bed, times=2)
    assert bed.state(A)['misses'] == 2
    bed.do(bed.fleet.set_rules(rules(OFF)))
    for _ in range(6):
        bed.tick(idle(A))
    assert bed.reports() == []
    bed.do(bed.fleet.set_rules(rules(ON)))
    assert bed.state(A)['misses'] == 0
    assert bed.reports() == []


def test_excluded_with_a_report_pending_withdraws_it_and_holds_a_crash():
    bed = fleet_of(guest(), text=ON)
    healthy(bed)
    bed.event(A, EventKind.CRASHED)
    assert len(bed.reports(A)) == 1
    actions = bed.do(bed.fleet.set_rules(rules(OFF)))
    [withdraw] = [a for a in actions if isinstance(a, Withdraw)]
    assert withdraw.cause is WithdrawCause.MAINTENANCE
    bed.do(bed.fleet.withdrawn(withdraw))     # it was still pending
    assert bed.fleet.records()[A].reported is False
    bed.do(bed.fleet.set_rules(rules(ON)))
    assert len(bed.reports(A)) == 2           # the crash, held, stands


def test_a_crash_while_excluded_then_maintenance_on_and_off_stays_held():
    bed = fleet_of(guest(), text=OFF)
    bed.event(A, EventKind.CRASHED)
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    bed.do(bed.fleet.set_maintenance(A, False)[1])
    assert bed.reports() == []                # still excluded by policy
    bed.do(bed.fleet.set_rules(rules(ON)))
    [report] = bed.reports(A)
    assert report.reason == 'crashed'


def test_a_kdump_wait_ends_when_excluded_and_is_not_reported_after():
    bed = fleet_of(guest(), text=ON)
    healthy(bed)
    bed.event(A, EventKind.CRASH_LOADED)
    assert bed.fleet.watched[A].state.phase is Phase.KDUMP
    bed.do(bed.fleet.set_rules(rules(OFF)))
    for _ in range(80):                       # past kdump_timeout
        bed.tick(idle(A))
    assert bed.reports() == []
    bed.do(bed.fleet.set_rules(rules(ON)))
    assert bed.fleet.watched[A].kdump_since is None
    assert bed.state(A)['phase'] == 'grace'


def test_excluded_with_a_report_held_by_the_recovery_limit_sends_none():
    bed = fleet_of(guest(), text=ON)
    bed.fleet.settings = dataclasses.replace(bed.fleet.settings,
                                             max_recoveries=1)
    healthy(bed)
    bed.event(A, EventKind.CRASHED)
    assert len(bed.reports(A)) == 1
    bed.event(A, EventKind.STARTED, domain_id=2)
    bed.tick(idle(A))
    bed.answer(A)
    bed.event(A, EventKind.CRASHED)
    assert len(bed.reports(A)) == 1 and bed.fleet.watched[A].limited
    bed.do(bed.fleet.set_rules(rules(OFF)))
    for _ in range(400):                      # the recovery window passes
        bed.tick(idle(A))
    assert len(bed.reports(A)) == 1, 'reported while not monitored'
    bed.do(bed.fleet.set_rules(rules(ON)))
    bed.tick(idle(A))
    assert len(bed.reports(A)) == 2     # monitored again: the window allows


def test_the_operators_maintenance_sends_no_limited_report_either():
    bed = fleet_of(guest(), text=ON)
    bed.fleet.settings = dataclasses.replace(bed.fleet.settings,
                                             max_recoveries=1)
    healthy(bed)
    bed.event(A, EventKind.CRASHED)
    bed.event(A, EventKind.STARTED, domain_id=2)
    bed.tick(idle(A))
    bed.answer(A)
    bed.event(A, EventKind.CRASHED)
    assert bed.fleet.watched[A].limited
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    for _ in range(400):
        bed.tick(idle(A))
    assert len(bed.reports(A)) == 1, 'reported in maintenance'


# -- agent_loss changed while the agent is lost ---------------------------------


def lost_bed():
    bed = test_heartbeat.Bed()
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    assert bed.state().phase is Phase.AGENT_LOST
    return bed


def test_agent_loss_report_set_while_lost_counts_its_misses():
    bed = lost_bed()
    report = parse_rules(yaml.safe_load(
        'rules: [{match: {name: vm-a}, agent_loss: report}]'), 10.0)
    bed.do(bed.fleet.set_rules(report))
    assert bed.state().policy.agent_loss is AgentLoss.REPORT
    for _ in range(8):
        bed.tick()
    [notification] = bed.reports()
    assert notification.reason == 'disconnected'


def test_agent_loss_warn_set_while_its_misses_count_spares_a_live_kernel():
    bed = test_heartbeat.Bed(agent_loss=AgentLoss.REPORT, threshold=5)
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    bed.tick()
    bed.tick()
    assert bed.state().phase is Phase.FAILING
    warn = parse_rules(yaml.safe_load(
        'rules: [{match: {name: vm-a}, agent_loss: warn}]'), 10.0)
    bed.do(bed.fleet.set_rules(warn))
    for _ in range(8):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


# -- threshold and interval changed while failing --------------------------------


def test_threshold_lowered_below_the_misses_reports_on_the_next_miss():
    text = 'rules: [{match: {name: vm-a}, failure_threshold: %d}]'
    bed = fleet_of(guest(), text=text % 5)
    healthy(bed)
    miss(bed, times=3)
    assert bed.state(A)['misses'] == 3 and bed.reports() == []
    bed.do(bed.fleet.set_rules(rules(text % 2)))
    miss(bed)
    assert len(bed.reports(A)) == 1


def test_interval_lengthened_while_failing_counts_one_miss_per_own_interval():
    text = 'rules: [{match: {name: vm-a}, probe_interval: %d}]'
    bed = fleet_of(guest(), text=ON)
    healthy(bed)
    miss(bed)
    assert bed.state(A)['misses'] == 1
    bed.do(bed.fleet.set_rules(rules(text % 30)))
    for _ in range(3):
        miss(bed)
    assert bed.state(A)['misses'] <= 2
    for _ in range(6):
        miss(bed)
    assert len(bed.reports(A)) == 1


def test_back_to_back_ticks_do_not_shorten_a_guests_own_interval():
    text = 'rules: [{match: {name: vm-a}, probe_interval: 20}]'
    bed = fleet_of(guest(), text=text)
    ticks = []
    for _ in range(6):
        bed.clock.advance(10)
        before = len(bed.probes(A))
        bed.do(bed.fleet.tick())
        bed.do(bed.fleet.tick())          # queued: closes nothing
        ticks.append(len(bed.probes(A)) - before)
        if len(bed.probes(A)) > before:
            bed.answer(A)
    assert ticks == [0, 1, 0, 1, 0, 1]


# -- the monitor restarted ---------------------------------------------------------


def restarted(bed, new_rules):
    saved = bed.fleet.persisted()
    return Fleet(bed.policy, bed.fleet.settings, remembered=saved.records,
                 maintenance=saved.maintenance, absent=saved.absent,
                 clock=bed.clock, wall=bed.wall, rules=new_rules)


def test_a_restart_with_a_pending_report_of_a_now_excluded_guest_withdraws_it():
    bed = fleet_of(guest(), text=ON)
    healthy(bed)
    bed.event(A, EventKind.CRASHED)
    assert bed.fleet.records()[A].reported
    # The policy file changed while the monitor was down.
    fleet = restarted(bed, rules(OFF))
    actions = fleet.listed([guest()])
    assert Withdraw(A, 'not monitored (rule 1 (name=vm-a))',
                      WithdrawCause.MAINTENANCE) in actions
    assert fleet.persisted().maintenance == frozenset()
    [withdraw] = [a for a in actions if isinstance(a, Withdraw)]
    fleet.withdrawn(withdraw)                 # it was still pending
    assert fleet.records()[A].reported is False
    # Monitored again: the crash (its reason kept on disk) was never
    # reported, as it was withdrawn: it is reported now, once.
    actions = fleet.set_rules(Rules())
    assert [a.notification.reason for a in actions
            if isinstance(a, Report)] == ['crashed']
    assert fleet.watched[A].state.phase is Phase.FAILED
    assert not any(isinstance(a, Report) for a in fleet.set_rules(Rules()))


def test_a_restart_keeps_a_policy_exclusion_out_of_the_maintenance_file():
    bed = fleet_of(guest(), text=OFF)
    fleet = restarted(bed, rules(OFF))
    fleet.listed([guest()])
    assert fleet.watched[A].state.maintenance
    assert fleet.persisted().maintenance == frozenset()
    fleet.set_rules(Rules())
    assert not fleet.watched[A].state.maintenance


# -- metadata events ----------------------------------------------------------------


def test_a_metadata_lookup_of_a_vanished_domain_changes_nothing():
    bed = fleet_of(guest(), text=ON)
    assert bed.fleet.looked_up(A, None) == []
    assert A in bed.fleet.watched


def test_bad_new_metadata_keeps_the_rule_and_applies_the_good_values():
    bed = fleet_of(guest(flavor='slow.1'))
    bad = guest(flavor='slow.1', policy=PolicyElement(
        (('probe_interval', '15'), ('failure_threshold', '4'))))
    bed.do(bed.fleet.looked_up(A, bad))
    policy = bed.fleet.watched[A].state.policy
    assert policy.probe_interval == 20 and policy.failure_threshold == 4


# -- odd values ------------------------------------------------------------------------


@pytest.mark.parametrize('value', ['1' * 400, '9' * 40])
@pytest.mark.parametrize('key', ['probe_interval', 'failure_threshold'])
def test_a_huge_number_in_metadata_is_a_warning_not_a_crash(key, value):
    overrides, errors = metadata_overrides(
        PolicyElement(((key, value),)), 10.0)
    assert getattr(overrides, key) is None
    assert len(errors) == 1 and key in errors[0]


@pytest.mark.parametrize('key', ['probe_interval', 'failure_threshold'])
def test_a_huge_number_in_the_file_is_one_line(key):
    with pytest.raises(PolicyError, match=key):
        parse_rules({'rules': [{'match': {}, key: 10 ** 400}]}, 10.0)


def test_a_huge_number_in_metadata_does_not_break_the_fleet():
    bed = fleet_of(guest(), text=ON)
    huge = guest(policy=PolicyElement((('failure_threshold', '1' * 400),
                                       ('probe_interval', '1' + '0' * 30))))
    bed.do(bed.fleet.looked_up(A, huge))
    policy = bed.fleet.watched[A].state.policy
    assert policy.failure_threshold == 3 and policy.probe_interval == 10
    healthy(bed)
    assert policy.window == 30


@pytest.mark.parametrize('text,monitor', [
    ('rules: [{match: {}, monitor: no}]', False),
    ('rules: [{match: {}, monitor: off}]', False),
    ('rules: [{match: {}, monitor: yes}]', True),
])
def test_yaml_1_1_booleans_are_booleans(text, monitor):
    [rule] = rules(text).rules
    assert rule.overrides.monitor is monitor


@pytest.mark.parametrize('text', [
    'rules: [{match: {}, monitor: "false"}]',
    'rules: [{match: {}, probe_interval: 0}]',
    'rules: [{match: {}, probe_interval: -10}]',
    'rules: [{match: {}, probe_interval: 15}]',
    'rules: [{match: {}, probe_interval: 20.0}]',
    'rules: [{match: {}, failure_threshold: 0}]',
    'rules: [{match: {}, failure_threshold: true}]',
    'rules: [{match: {}, agent_loss: REPORT}]',
])
def test_odd_values_are_one_error(text):
    with pytest.raises(PolicyError):
        rules(text)


@pytest.mark.parametrize('text,count', [
    ('', 0), ('rules:', 0), ('rules: []', 0), ('rules: null', 0),
    ('rules: [{match: {}}]', 1),
    ('rules: [{match: {name: "vm-ä*"}, failure_threshold: 4}]', 1),
    ('rules:\n' + '  - {match: {name: "x%d"}, monitor: false}\n' * 1, 1),
])
def test_odd_but_valid_files(text, count):
    assert len(rules(text).rules) == count


def test_a_huge_file_matches_its_last_rule():
    text = 'rules:\n' + ''.join(
        '  - {match: {name: "g%d"}, failure_threshold: %d}\n' % (n, n % 9 + 1)
        for n in range(5000))
    found = rules(text)
    info = dataclasses.replace(domain(A, 'g4999'))
    assert found.first(info).index == 5000


def test_duplicate_keys_in_a_rule_are_an_error(tmp_path):
    from masakari_introspect.conf import policy_file
    from masakari_introspect.conf.errors import ConfigError
    path = tmp_path / 'policy.yaml'
    path.write_text('rules:\n  - match: {flavor: "a.*"}\n'
                    '    monitor: false\n    match: {flavor: "b.*"}\n')
    with pytest.raises(ConfigError, match="'match'.*twice"):
        policy_file.load(str(path), 10)


def test_an_empty_match_is_every_guest():
    found = rules('rules: [{match: {}, failure_threshold: 7}]')
    bed = fleet_of(guest(), guest(B, 'vm-b', domain_id=2),
                   text='rules: [{match: {}, failure_threshold: 7}]')
    assert found.rules[0].name == 'rule 1 (every guest)'
    assert {w.state.policy.failure_threshold
            for w in bed.fleet.watched.values()} == {7}


# -- the libvirt workers -------------------------------------------------------------


def test_longer_own_intervals_never_probe_more_at_once_than_all_at_one():
    infos = [guest('%08d-0000-0000-0000-000000000000' % n, 'g%d' % n,
                   domain_id=n + 1, flavor='slow.1' if n % 2 else None)
             for n in range(20)]
    bed = Bed(activity_check=False)
    bed.do(bed.fleet.set_rules(rules()))
    bed.listed(*infos)
    for _ in range(6):
        sent = [a for a in bed.tick() if isinstance(a, Probe)]
        assert len(sent) <= len(infos)
        assert len({p.uuid for p in sent}) == len(sent)
        for probe in sent:
            bed.do(bed.fleet.result(ProbeResult(probe.uuid, Outcome.OK),
                                    probe.token))


# -- the file read again on SIGHUP ---------------------------------------------------


def test_a_file_nested_too_deeply_is_one_line_and_a_reload_keeps_the_policy(
        tmp_path, caplog):
    from masakari_introspect.conf import policy_file
    from masakari_introspect.conf.errors import ConfigError
    path = tmp_path / 'policy.yaml'
    path.write_text('rules: ' + '[' * 20000 + ']' * 20000 + '\n')
    with pytest.raises(ConfigError, match='policy_file'):
        policy_file.load(str(path), 10)
    assert policy_file.reload(str(path), 10) is None
    assert 'running policy is kept' in caplog.text


def test_a_guest_monitored_again_by_a_listing_that_finds_it_resumed_is_probed():
    # Excluded by its metadata, paused; then a resync (after a reconnect:
    # the resume event was lost) finds it running, its metadata removed.
    off = guest(policy=PolicyElement((('monitor', 'false'),)))
    bed = fleet_of(off, text=ON)
    bed.event(A, EventKind.PAUSED, 'user')
    bed.listed(guest())
    assert bed.fleet.watched[A].state.probed
    bed.tick(idle(A))
    assert bed.probes(A)


def test_a_lost_agent_excluded_then_monitored_again_is_not_reported():
    bed = lost_bed()
    off = parse_rules(yaml.safe_load(
        'rules: [{match: {name: vm-a}, monitor: false}]'), 10.0)
    bed.do(bed.fleet.set_rules(off))
    for _ in range(3):
        bed.tick()
    bed.do(bed.fleet.set_rules(Rules()))
    for _ in range(20):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


def test_a_lost_agent_in_maintenance_and_out_is_not_reported():
    bed = lost_bed()
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    for _ in range(3):
        bed.tick()
    bed.do(bed.fleet.set_maintenance(A, False)[1])
    for _ in range(20):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


def test_a_wall_clock_step_does_not_move_a_guests_own_cadence():
    text = 'rules: [{match: {name: vm-a}, probe_interval: 20}]'
    bed = fleet_of(guest(), text=text)
    probed = []
    for number in range(1, 7):
        if number == 3:
            bed.wall.advance(-7200)        # stepped back two hours
        before = len(bed.probes(A))
        bed.tick(idle(A))
        if len(bed.probes(A)) > before:
            probed.append(number)
            bed.answer(A)
    assert probed == [2, 4, 6]


def test_merge_keys_share_settings_and_a_rule_overrides_them(tmp_path):
    from masakari_introspect.conf import policy_file
    path = tmp_path / 'policy.yaml'
    path.write_text(
        'rules:\n'
        '  - match: {flavor: "ha.*"}\n'
        '    <<: &strict {failure_threshold: 2, agent_loss: report}\n'
        '  - match: {flavor: "db.*"}\n'
        '    <<: *strict\n'
        '    failure_threshold: 4\n')
    first, second = policy_file.load(str(path), 10).rules
    assert first.overrides.failure_threshold == 2
    assert second.overrides.failure_threshold == 4
    assert second.overrides.agent_loss is AgentLoss.REPORT


# -- the monitor's wiring: SIGHUP's rules reach the owner thread ------------------


def test_rules_posted_to_the_monitor_withdraw_a_pending_report_once(
        reported):
    monitor, outbox = reported.monitor, reported.outbox
    assert [n.instance_uuid for n in outbox.sent] == [B]
    off = parse_rules(yaml.safe_load(
        'rules: [{match: {name: "vm-b*"}, monitor: false}]'), 0.01)
    name = reported.hypervisor.domain_info(B).name
    assert name.startswith('vm-b')
    monitor.set_rules(off)
    wait_until(lambda: outbox.withdrawn)
    assert outbox.withdrawn == [(B, 'not monitored (rule 1 '
                                 '(name=vm-b*))')]
    state = monitor.query(lambda: monitor.fleet.records()[B]).result(2)
    assert state.reported is False       # withdrawn while pending
    for _ in range(5):
        monitor.tick()
    assert len(outbox.sent) == 1


def test_threshold_raised_while_awaiting_the_sample_waits_for_the_new_one():
    bed = Bed()                                  # activity check on
    bed.do(bed.fleet.set_rules(rules(ON)))
    bed.listed(guest())
    healthy(bed)
    for _ in range(6):
        bed.tick()                               # no sample yet
        bed.time_out(A)
        if bed.fleet.watched[A].state.awaiting_sample:
            break
    assert bed.state(A)['misses'] == 3
    assert bed.fleet.watched[A].state.awaiting_sample
    bed.do(bed.fleet.set_rules(rules(
        'rules: [{match: {name: vm-a}, failure_threshold: 5}]')))
    bed.do(bed.fleet.sampled(idle(A)))           # the sample asked for
    assert bed.reports(A) == [], 'reported at 3 misses of 5'


def test_threshold_raised_while_active_needs_the_new_threshold_of_misses():
    bed = Bed()                                  # activity check on
    bed.do(bed.fleet.set_rules(rules(ON)))
    bed.listed(guest())
    healthy(bed)
    work = 0
    for _ in range(8):
        work += 10                               # the guest works
        bed.tick(idle(A, disk=work))
        bed.time_out(A)
        if bed.fleet.watched[A].state.phase is Phase.ACTIVE:
            break
    assert bed.fleet.watched[A].state.phase is Phase.ACTIVE
    assert bed.state(A)['misses'] == 3
    bed.do(bed.fleet.set_rules(rules(
        'rules: [{match: {name: vm-a}, failure_threshold: 6}]')))
    assert bed.fleet.watched[A].state.phase is Phase.FAILING
    bed.tick(idle(A, disk=work))                 # idle now
    assert bed.reports(A) == [], 'reported at 3 misses of 6'


def test_a_watchdog_while_excluded_is_reported_when_monitored_again():
    bed = fleet_of(guest(), text=OFF)
    bed.event(A, EventKind.WATCHDOG, 'pause')
    assert bed.reports() == []
    bed.do(bed.fleet.set_rules(rules(ON)))
    [report] = bed.reports(A)
    assert report.reason == 'watchdog'


def test_a_crash_held_while_excluded_is_void_after_a_new_qemu_process():
    bed = fleet_of(guest(), text=OFF)
    bed.event(A, EventKind.CRASHED)
    bed.event(A, EventKind.STARTED, domain_id=7)
    bed.do(bed.fleet.set_rules(rules(ON)))
    assert bed.reports() == []
    assert bed.state(A)['phase'] == 'grace'


def test_a_guest_excluded_by_metadata_and_a_rule_needs_both_removed():
    off = PolicyElement((('monitor', 'false'),))
    bed = fleet_of(guest(policy=off), text=OFF)
    bed.do(bed.fleet.set_rules(rules(ON)))       # the rule is gone
    assert bed.fleet.watched[A].state.maintenance
    bed.do(bed.fleet.looked_up(A, guest()))       # and the metadata
    assert not bed.fleet.watched[A].state.maintenance


def test_a_failure_pause_while_excluded_is_reported_when_monitored_again():
    text = 'rules: [{match: {name: vm-a}, probe_interval: 20}]'
    bed = fleet_of(guest(), text=OFF)
    bed.event(A, EventKind.PAUSED, 'ioerror')
    for _ in range(8):                         # past its window
        bed.tick(idle(A))
    assert bed.reports() == []
    bed.do(bed.fleet.set_rules(rules(text)))   # monitored, own interval
    [report] = bed.reports(A)
    assert report.reason == 'failure_pause'
