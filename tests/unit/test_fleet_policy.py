"""Each instance follows its own policy (issue 20): a longer interval of its
own, its own threshold, ``monitor: false``, the domain's <policy> metadata,
the policy file reloaded; with fake clocks, no threads."""

import dataclasses
import logging

import yaml

from masakari_introspect.core.actions import Lookup
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import PolicyElement
from masakari_introspect.core.rules import Rules
from masakari_introspect.core.rules import parse_rules
from tests.unit.fakes import A, B, domain
from tests.unit.test_fleet import Bed, idle

RULES = """
rules:
  - match: {flavor: "slow.*"}
    probe_interval: 20
    failure_threshold: 2
  - match: {flavor: "scratch.*"}
    monitor: false
"""


def rules(text=RULES):
    return parse_rules(yaml.safe_load(text), 10.0)


def guest(uuid=A, name='vm-a', flavor=None, policy=None, domain_id=1):
    return dataclasses.replace(domain(uuid, name, domain_id=domain_id),
                               flavor=flavor, policy=policy)


def fleet_of(*infos, text=RULES):
    bed = Bed(activity_check=False)
    bed.do(bed.fleet.set_rules(rules(text)))
    bed.listed(*infos)
    return bed


def ticks_with_probes(bed, uuid, ticks):
    """Tick ``ticks`` times, every probe of ``uuid`` timing out; the tick
    numbers (1-based) at which it was probed."""
    probed = []
    for number in range(1, ticks + 1):
        before = len(bed.probes(uuid))
        bed.tick(idle(A, B))
        if len(bed.probes(uuid)) > before:
            probed.append(number)
            bed.answer(uuid, Outcome.MISS, 'timeout')
    return probed


# -- interval and threshold of its own ------------------------------------------------


def test_a_guest_with_twice_the_interval_is_probed_every_second_tick():
    bed = fleet_of(guest(flavor='slow.1'), guest(B, 'vm-b', domain_id=2))
    assert bed.fleet.watched[A].state.policy.probe_interval == 20.0
    probed = []
    for number in range(1, 7):
        before = len(bed.probes(A)), len(bed.probes(B))
        bed.tick(idle(A, B))
        if len(bed.probes(A)) > before[0]:
            probed.append(number)
            bed.answer(A)
        assert len(bed.probes(B)) == before[1] + 1    # B: every tick
        bed.answer(B)
    assert probed == [2, 4, 6]


def test_its_failure_window_is_its_threshold_times_its_interval():
    bed = fleet_of(guest(flavor='slow.1'), guest(B, 'vm-b', domain_id=2))
    bed.tick(idle(A, B))
    bed.answer(B)
    bed.tick(idle(A, B))
    bed.answer(A)              # A answered at tick 2; then it hangs
    bed.answer(B)
    start = bed.clock()
    while not bed.reports(A):
        bed.tick(idle(A, B))
        out = bed.fleet.watched[A]
        if out.token is not None and bed.probes(A)[-1].token == out.token:
            bed.answer(A, Outcome.MISS, 'timeout')
        if bed.fleet.watched[B].token is not None:
            bed.answer(B)
        assert bed.clock() - start <= 60, 'not reported'
    # Two missed intervals of 20 s (the configuration: 3 x 10 s).
    assert bed.clock() - start == 40
    assert bed.state(A)['misses'] == 2
    assert bed.reports(B) == []


def test_the_configured_threshold_applies_to_guests_no_rule_matches():
    bed = fleet_of(guest(B, 'vm-b', domain_id=2))
    bed.tick(idle(B))
    bed.answer(B)
    probed = ticks_with_probes(bed, B, 3)
    assert probed == [1, 2, 3]
    assert len(bed.reports(B)) == 1 and bed.state(B)['misses'] == 3


# -- monitor: false -------------------------------------------------------------------


def test_a_guest_not_monitored_is_never_probed_nor_reported():
    bed = fleet_of(guest(flavor='scratch.small'))
    for _ in range(10):
        bed.tick(idle(A))
    assert bed.probes(A) == [] and bed.reports() == []
    bed.event(A, EventKind.CRASHED)
    assert bed.reports() == []
    [status] = bed.fleet.snapshot()
    assert status.monitored is False and status.maintenance is False
    assert status.label == 'not monitored (policy)'
    assert status.rule == 'rule 2 (flavor=scratch.*)'
    assert bed.fleet.persisted().maintenance == frozenset()


def test_a_crash_held_while_not_monitored_is_reported_when_monitored_again():
    bed = fleet_of(guest(flavor='scratch.small'))
    bed.event(A, EventKind.CRASHED)
    assert bed.reports() == []
    bed.do(bed.fleet.set_rules(Rules()))       # the rule is gone (SIGHUP)
    [report] = bed.reports(A)
    assert report.reason == 'crashed'


def test_the_operators_maintenance_outlasts_the_policy():
    bed = fleet_of(guest(flavor='scratch.small'))
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    bed.do(bed.fleet.set_rules(Rules()))
    [status] = bed.fleet.snapshot()
    assert status.maintenance and status.monitored
    bed.tick(idle(A))
    assert bed.probes(A) == []
    bed.do(bed.fleet.set_maintenance(A, False)[1])
    bed.tick(idle(A))
    assert len(bed.probes(A)) == 1


def test_the_maintenance_switch_off_does_not_monitor_a_guest_policy_excludes():
    bed = fleet_of(guest(flavor='scratch.small'))
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    bed.do(bed.fleet.set_maintenance(A, False)[1])
    bed.tick(idle(A))
    assert bed.probes(A) == []
    assert bed.fleet.snapshot()[0].label == 'not monitored (policy)'


# -- the domain's own metadata ----------------------------------------------------------


def test_a_metadata_change_event_looks_the_domain_up_again():
    bed = fleet_of(guest())
    event = DomainEvent(A, 'vm-a', EventKind.METADATA_CHANGED, 'urn:x')
    assert bed.fleet.event(event) == [Lookup(A)]
    other = dataclasses.replace(event, uuid=B)
    assert bed.fleet.event(other) == []      # not watched: nothing to do


def test_metadata_set_on_a_running_guest_excludes_it_and_removed_resumes():
    bed = fleet_of(guest())
    bed.tick(idle(A))
    bed.answer(A)
    bed.tick(idle(A))
    bed.answer(A, Outcome.MISS, 'timeout')      # one miss on its record
    off = guest(policy=PolicyElement((('monitor', 'false'),)))
    actions = bed.do(bed.fleet.looked_up(A, off))
    assert Withdraw(A, 'not monitored (domain metadata)',
                      WithdrawCause.MAINTENANCE) in actions
    probes = len(bed.probes(A))
    for _ in range(6):
        bed.tick(idle(A))
    assert len(bed.probes(A)) == probes and bed.reports() == []
    assert bed.state(A)['rule'] == 'domain metadata'
    bed.do(bed.fleet.looked_up(A, guest()))     # removed
    assert bed.state(A)['phase'] == 'grace'     # fresh: judged anew
    assert bed.state(A)['rule'] is None
    bed.tick(idle(A))
    assert len(bed.probes(A)) == probes + 1
    bed.answer(A)
    assert bed.state(A)['state'] == 'healthy'


def test_metadata_overrides_the_rule_of_its_flavor():
    bed = fleet_of(guest(flavor='scratch.1', policy=PolicyElement(
        (('monitor', 'true'), ('failure_threshold', '5')))))
    policy = bed.fleet.watched[A].state.policy
    assert policy.monitor is True and policy.failure_threshold == 5
    assert policy.rule == 'rule 2 (flavor=scratch.*) + domain metadata'
    bed.tick(idle(A))
    assert bed.probes(A)


def test_a_bad_metadata_value_is_one_warning_and_ignored(caplog):
    caplog.set_level(logging.WARNING)
    bad = guest(policy=PolicyElement((('monitor', 'maybe'),
                                      ('failure_threshold', '2'))))
    bed = fleet_of(bad)
    for _ in range(3):
        bed.do(bed.fleet.looked_up(A, bad))
        bed.listed(bad)
    warnings = [r.getMessage() for r in caplog.records
                if 'ignored in its metadata' in r.getMessage()]
    assert warnings == ['Instance vm-a (%s): ignored in its metadata: domain '
                        "metadata: monitor: must be true or false, not "
                        "'maybe'" % A]
    policy = bed.fleet.watched[A].state.policy
    assert policy.monitor is True and policy.failure_threshold == 2


# -- the policy file reloaded -----------------------------------------------------------


def test_a_reload_changes_the_policy_of_a_running_guest_keeping_its_record():
    bed = fleet_of(guest(B, 'vm-b', domain_id=2))
    bed.tick(idle(B))
    bed.answer(B)
    ticks_with_probes(bed, B, 1)
    assert bed.state(B)['misses'] == 1
    stricter = 'rules: [{match: {name: "vm-b"}, failure_threshold: 2}]'
    bed.do(bed.fleet.set_rules(rules(stricter)))
    assert bed.state(B)['misses'] == 1              # its record stays
    assert bed.state(B)['rule'] == 'rule 1 (name=vm-b)'
    ticks_with_probes(bed, B, 1)
    assert len(bed.reports(B)) == 1                 # 2 misses now suffice


def test_a_reload_that_changes_nothing_says_nothing(caplog):
    caplog.set_level(logging.INFO)
    bed = fleet_of(guest(flavor='slow.1'))
    caplog.clear()
    assert bed.fleet.set_rules(rules()) == []
    assert not [r for r in caplog.records if 'follows' in r.getMessage()]


# -- what operators see -----------------------------------------------------------------


def test_the_rule_and_the_exclusion_survive_the_status_round_trip():
    from masakari_introspect.ops.snapshot import ServiceStatus
    from masakari_introspect.ops.snapshot import Snapshot
    from masakari_introspect.ops.snapshot import decode
    from masakari_introspect.ops.snapshot import encode
    bed = fleet_of(guest(flavor='scratch.1'), guest(B, 'vm-b', domain_id=2,
                                                    flavor='slow.2'))
    snapshot = Snapshot(ServiceStatus('h', 1, False, True, 0),
                        tuple(bed.fleet.snapshot()))
    doc = encode(snapshot)
    assert [(i['name'], i['state'], i['monitored'], i['rule'])
            for i in doc['instances']] == [
        ('vm-a', 'not monitored (policy)', False,
         'rule 2 (flavor=scratch.*)'),
        ('vm-b', 'grace', True, 'rule 1 (flavor=slow.*)')]
    assert decode(doc) == snapshot


def test_the_check_and_the_metrics_do_not_alert_on_a_guest_not_monitored():
    from masakari_introspect.cmd import check
    from masakari_introspect.core.model import Phase
    from masakari_introspect.core.status import InstanceStatus
    from masakari_introspect.ops import gauges
    excluded = InstanceStatus(A, 'vm-a', Phase.FAILING, misses=2,
                              monitored=False, rule='rule 2 (x)')
    assert check.kind(excluded) is check.Kind.QUIET
    families = {m.name: m for m in gauges._instance_families([excluded])}
    assert not families[gauges.PREFIX + 'instance_agent_up'].samples
    [state] = families[gauges.PREFIX + 'instance_state'].samples
    assert state.labels['state'] == 'not monitored (policy)'
