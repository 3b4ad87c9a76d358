"""The vCPU figures read from the host's scheduler statistics (issue 19
item 4): without a libvirt job or a QEMU query, so a starved QEMU cannot
delay them."""

import threading

import pytest

from masakari_introspect.virt import guest
from masakari_introspect.virt import schedstat
from masakari_introspect.virt.schedstat import SchedStats
from masakari_introspect.virt.statistics import StatisticsReader
from tests.unit.fakes import A, B


def qemu(root, name, pid, threads, clock=None):
    """A QEMU process in a fake /proc and /run/libvirt/qemu: ``threads``
    maps a thread id to (comm, schedstat line[, state letter])."""
    run, proc = root / 'run', root / 'proc'
    run.mkdir(exist_ok=True)
    (run / ('%s.pid' % name)).write_text(str(pid))
    for tid, (comm, stat, *state) in threads.items():
        task = proc / str(pid) / 'task' / str(tid)
        task.mkdir(parents=True)
        set_thread(task, comm, stat, *state)
    if clock is None:
        return SchedStats(proc, run)
    return SchedStats(proc, run, clock)


def set_thread(task, comm, stat, state='S'):
    (task / 'comm').write_text(comm + '\n')
    (task / 'schedstat').write_text(stat + '\n')
    # The name in parentheses may hold spaces and parentheses.
    (task / 'stat').write_text('%s (%s) %s 1 2 3 4\n' % (task.name, comm,
                                                         state))


@pytest.mark.parametrize('uri, expected', [
    ('qemu:///system', True),
    ('qemu:///session', False),
    ('qemu+ssh://host/system', False),
    ('qemu+tcp://host/system', False),
    ('test:///default', False),
])
def test_only_the_local_system_daemon_is_read_from_proc(uri, expected):
    assert schedstat.local(uri) is expected


def test_each_vcpu_thread_gives_its_run_time_and_wait(tmp_path):
    sched = qemu(tmp_path, 'vm-a', 100, {
        100: ('qemu-system-x86', '9 9 9'),
        102: ('IO mon_iothread', '8 8 8'),
        104: ('CPU 1/KVM', '20 4 7'),
        103: ('CPU 0/KVM', '10 3 5'),
    })
    # QEMU's main thread (the thread id is the process id) comes last.
    assert sched.read('vm-a') == ((10, 3), (20, 4), (9, 9))


def test_tcg_vcpu_threads_are_read_too(tmp_path):
    sched = qemu(tmp_path, 'vm-a', 100, {101: ('CPU 0/TCG', '5 6 1')})
    assert sched.read('vm-a') == ((5, 6),)


@pytest.mark.parametrize('threads', [
    {},                                                # process gone
    {101: ('qemu-system-x86', '1 2 3')},               # no vCPU thread
    {101: ('CPU 0/KVM', 'garbled')},
])
def test_unreadable_figures_are_none(tmp_path, threads):
    sched = qemu(tmp_path, 'vm-a', 100, threads)
    assert sched.read('vm-a') is None
    assert sched.read('no-such-domain') is None


class Dom:
    def __init__(self, uuid, name):
        self.uuid, self._name = uuid, name

    def UUIDString(self):
        return self.uuid

    def name(self):
        return self._name


class Conn:
    """listAllDomains only: getAllDomainStats must not be called."""

    def __init__(self, domains):
        self.domains = domains
        self.flags = []

    def listAllDomains(self, flags):
        self.flags.append(flags)
        return self.domains


def test_every_running_domain_is_read_without_a_statistics_call(tmp_path):
    sched = qemu(tmp_path, 'vm-a', 100, {101: ('CPU 0/KVM', '10 3 5')})
    conn = Conn([Dom(A, 'vm-a'), Dom(B, 'vm-b')])     # vm-b: just gone
    assert guest.vcpu_times_local(conn, sched) == {A: ((10, 3),)}
    assert conn.flags == [guest.libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE]
    assert guest.vcpu_times_local(Conn([]), sched) == {}
    # running domains, none readable (not root, another run directory)
    assert guest.vcpu_times_local(Conn([Dom(B, 'vm-b')]), sched) is None


class StatsConn(Conn):
    def __init__(self, domains, records):
        super().__init__(domains)
        self.records = records
        self.stats_calls = 0

    def getAllDomainStats(self, groups, flags):
        self.stats_calls += 1
        return self.records


def lose(conn, why):
    raise AssertionError('no connection error here')


def test_the_reader_falls_back_to_libvirt_when_proc_tells_nothing(
        tmp_path, caplog):
    reader = StatisticsReader(sched=qemu(tmp_path, 'vm-a', 100,
                                         {101: ('CPU 0/KVM', '10 3 5')}))
    conn = StatsConn([Dom(A, 'vm-a')], [])
    assert reader.vcpus(conn, lose) == {A: ((10, 3),)}
    assert conn.stats_calls == 0
    conn.domains = [Dom(B, 'vm-b')]
    conn.records = [(Dom(B, 'vm-b'), {'vcpu.current': 1, 'vcpu.0.time': 7,
                                      'vcpu.0.delay': 1})]
    assert reader.vcpus(conn, lose) == {B: ((7, 1),)}
    assert reader.vcpus(conn, lose) == {B: ((7, 1),)}
    assert conn.stats_calls == 2
    assert len([r for r in caplog.records
                if 'Cannot read the scheduler statistics' in
                r.getMessage()]) == 1


def test_the_host_reads_proc_only_for_the_local_system_daemon():
    from masakari_introspect.virt.host import LibvirtHost

    def sched(uri):
        host = LibvirtHost(uri, on_event=lambda e: None,
                           on_connection=lambda up: None)
        return host._statistics._sched

    assert isinstance(sched('qemu:///system'), SchedStats)
    assert sched('qemu+ssh://elsewhere/system') is None


def test_without_proc_the_vcpu_figures_come_through_libvirt():
    durations = []
    reader = StatisticsReader(
        on_statistics=lambda took, call: durations.append(call))
    conn = StatsConn([Dom(A, 'vm-a')], [(Dom(A, 'vm-a'), {
        'vcpu.current': 1, 'vcpu.0.time': 7, 'vcpu.0.delay': 1})])
    assert reader.vcpus(conn, lose) == {A: ((7, 1),)}
    assert conn.stats_calls == 1 and conn.flags == []
    assert durations == ['vcpu']


class BlockingConn(StatsConn):
    """The bulk call blocks until released; records the calls' order."""

    def __init__(self, domains, records):
        super().__init__(domains, records)
        self.release = threading.Event()
        self.inside = threading.Event()
        self.order = []

    def getAllDomainStats(self, groups, flags):
        self.order.append(groups)
        if groups & guest.STATS_BLOCK:
            self.inside.set()
            self.release.wait(5)
        return super().getAllDomainStats(groups, flags)


def test_through_libvirt_the_vcpu_call_never_overlaps_the_bulk_call():
    # Concurrent, the VCPU group's job would make the bulk call (NOWAIT)
    # leave a domain's block figures out.
    reader = StatisticsReader()
    conn = BlockingConn([Dom(A, 'vm-a')], [])
    bulk = threading.Thread(target=reader.read, args=(conn, lose))
    bulk.start()
    conn.inside.wait(5)
    vcpu = threading.Thread(target=reader.vcpus, args=(conn, lose))
    vcpu.start()
    vcpu.join(0.2)
    assert vcpu.is_alive()                  # waits for the bulk call
    conn.release.set()
    bulk.join(5)
    vcpu.join(5)
    assert [g & guest.STATS_VCPU for g in conn.order] == [0, guest.STATS_VCPU]


def test_from_proc_the_vcpu_call_does_not_wait_for_the_bulk_call(tmp_path):
    reader = StatisticsReader(sched=qemu(tmp_path, 'vm-a', 100,
                                         {101: ('CPU 0/KVM', '10 3 5')}))
    conn = BlockingConn([Dom(A, 'vm-a')], [])
    bulk = threading.Thread(target=reader.read, args=(conn, lose))
    bulk.start()
    try:
        conn.inside.wait(5)
        assert reader.vcpus(conn, lose) == {A: ((10, 3),)}
    finally:
        conn.release.set()
        bulk.join(5)


# -- a wait still going on ---------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def vcpu0(tmp_path, stat, state, clock):
    """(re)write vm-a's only vCPU thread; the reader on first call."""
    task = tmp_path / 'proc' / '100' / 'task' / '101'
    if task.exists():
        set_thread(task, 'CPU 0/TCG', stat, state)
        return None
    return qemu(tmp_path, 'vm-a', 100, {101: ('CPU 0/TCG', stat, state)},
                clock)


def test_a_thread_runnable_throughout_without_running_has_waited(tmp_path):
    # The kernel adds the wait to run_delay only when the thread runs.
    clock = Clock()
    sched = vcpu0(tmp_path, '500 700 9', 'R', clock)
    assert sched.read('vm-a') == ((500, 700),)
    clock.now += 2.0
    assert sched.read('vm-a') == ((500, 700 + 2_000_000_000),)
    clock.now += 2.0
    assert sched.read('vm-a') == ((500, 700 + 4_000_000_000),)
    # It runs at last: run_delay holds the whole 4.5 s wait; the figure
    # given goes on from there and never back.
    vcpu0(tmp_path, '600 %d 10' % (700 + 4_500_000_000), 'S', clock)
    clock.now += 2.0
    assert sched.read('vm-a') == ((600, 700 + 4_500_000_000),)


def test_the_figure_given_never_goes_back(tmp_path):
    clock = Clock()
    sched = vcpu0(tmp_path, '500 700 9', 'R', clock)
    sched.read('vm-a')
    clock.now += 3.0
    assert sched.read('vm-a') == ((500, 700 + 3_000_000_000),)
    # It ran after a wait shorter than counted (it was woken within).
    vcpu0(tmp_path, '600 %d 10' % (700 + 1_000_000_000), 'S', clock)
    clock.now += 2.0
    assert sched.read('vm-a') == ((600, 700 + 3_000_000_000),)


@pytest.mark.parametrize('first, second, stat2', [
    ('S', 'R', '500 700 9'),      # woken within: the wait is unknown
    ('R', 'S', '500 700 9'),      # asleep now: it ran (cannot tell when)
    ('R', 'R', '900 700 9'),      # running on its CPU: it ran
    ('R', 'R', '500 700 10'),     # it got a CPU in between
])
def test_no_wait_is_counted_unless_runnable_throughout_without_running(
        tmp_path, first, second, stat2):
    clock = Clock()
    sched = vcpu0(tmp_path, '500 700 9', first, clock)
    sched.read('vm-a')
    vcpu0(tmp_path, stat2, second, clock)
    clock.now += 2.0
    ran = int(stat2.split()[0])
    assert sched.read('vm-a') == ((ran, 700),)


def test_a_new_qemu_process_starts_afresh(tmp_path):
    clock = Clock()
    sched = vcpu0(tmp_path, '500 700 9', 'R', clock)
    sched.read('vm-a')
    clock.now += 2.0
    sched.read('vm-a')
    (tmp_path / 'run' / 'vm-a.pid').write_text('200')
    task = tmp_path / 'proc' / '200' / 'task' / '201'
    task.mkdir(parents=True)
    set_thread(task, 'CPU 0/TCG', '5 6 1', 'R')
    clock.now += 2.0
    assert sched.read('vm-a') == ((5, 6),)


def test_domains_gone_are_forgotten(tmp_path):
    clock = Clock()
    sched = vcpu0(tmp_path, '500 700 9', 'R', clock)
    sched.read('vm-a')
    sched.keep(['vm-b'])
    clock.now += 2.0
    assert sched.read('vm-a') == ((500, 700),)


def test_a_starved_main_thread_shows_while_the_idle_vcpu_sleeps(tmp_path):
    # Seen on the bed: the starved QEMU's main thread (the agent's
    # channel) waited while the idle vCPU, never woken, waited nothing.
    clock = Clock()
    sched = qemu(tmp_path, 'vm-a', 100, {
        100: ('qemu-system-x86', '900 800 50', 'R'),
        101: ('CPU 0/TCG', '500 700 9', 'S'),
    }, clock)
    assert sched.read('vm-a') == ((500, 700), (900, 800))
    clock.now += 2.0
    assert sched.read('vm-a') == ((500, 700), (900, 800 + 2_000_000_000))


def test_a_main_thread_alone_is_no_figure(tmp_path):
    sched = qemu(tmp_path, 'vm-a', 100, {
        100: ('qemu-system-x86', '900 800 50')})
    assert sched.read('vm-a') is None
