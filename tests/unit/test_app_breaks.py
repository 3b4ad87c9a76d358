"""Review attacks on application probes: where their rules meet the
fleet's others (maintenance, pauses, withdrawals, policy changes)."""

from masakari_introspect.core import model as f
from masakari_introspect.core.app_run import RunOutcome
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.policy import AppProbe
from tests.unit.fakes import A
from tests.unit.test_application import Bed

FAIL = dict(exit_code=1, output='down')
ONE = AppProbe('web', ('/bin/true',), timeout=5, every=1, threshold=1)
DB = AppProbe('db', ('/bin/true',), timeout=5, every=1, threshold=1)


def turns(bed, n, outcome=RunOutcome.FAILED, **fields):
    """``n`` ticks; the runs they start come back with ``outcome``."""
    for _ in range(n):
        for run in bed.tick():
            bed.back(run, outcome, **fields)


def event(bed, kind):
    return bed.do(bed.fleet.event(DomainEvent(A, 'vm-a', kind)))


def test_maintenance_holds_application_runs():
    bed = Bed(ONE)
    bed.tick()
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    turns(bed, 4)
    assert not bed.reports()


def test_a_kernel_withdrawal_of_the_pending_report_re_arms_the_probe():
    # The application report is pending; the agent then stops answering
    # (unresponsive: the outbox keeps the pending one) and answers again:
    # that withdrawal drops the application's notification while the
    # application still fails. Its next failed run must report it again.
    bed = Bed(ONE, threshold=2)
    bed.tick()
    turns(bed, 1, **FAIL)
    assert [r.notification.reason for r in bed.reports()] == ['application']
    for _ in range(3):
        bed.tick(answer=False)
    bed.tick()                                 # answers again
    (withdraw,) = bed.of(f.Withdraw)
    bed.do(bed.fleet.withdrawn(withdraw))      # the outbox dropped it
    before = len(bed.reports())
    turns(bed, 2, **FAIL)
    assert len(bed.reports()) == before + 1
    assert bed.reports()[-1].notification.reason == 'application'


def test_one_probe_passing_does_not_withdraw_another_ones_report():
    bed = Bed(ONE, DB)
    bed.tick()
    turns(bed, 1, **FAIL)       # both fail: one notification (pending)
    assert bed.reports()
    for run in bed.tick():      # web passes, db still fails
        bed.back(run, RunOutcome.PASSED if run.probe.name == 'web'
                 else RunOutcome.FAILED)
    assert not bed.of(f.Withdraw)


def test_two_failing_probes_are_one_report():
    bed = Bed(ONE, DB)
    bed.tick()
    turns(bed, 1, **FAIL)
    assert len(bed.reports()) == 1


def test_a_run_across_a_pause_is_not_judged():
    # The guest is paused while the run is out (its process too) and is
    # resumed: the run's timeout counted host time the guest did not run.
    bed = Bed(ONE)
    bed.tick()
    (run,) = bed.tick()
    event(bed, EventKind.PAUSED)
    event(bed, EventKind.RESUMED)
    bed.tick()     # the ping answers: healthy; the run is still out
    bed.back(run, RunOutcome.TIMEOUT, pid=7)
    assert bed.fleet.snapshot()[0].probes[0].failures == 0
