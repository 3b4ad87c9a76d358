"""Forensics before a report: folder layout, the bounded capture, retention."""

import datetime
import json
import logging
import threading
import time

import pytest

from masakari_introspect.recovery.forensics import Recorder

A = '00000000-0000-0000-0000-00000000000a'
B = '00000000-0000-0000-0000-00000000000b'
WHEN = datetime.datetime(2026, 12, 2, 3, 15, 0, tzinfo=datetime.timezone.utc)
PPM = b'P6\n2 1\n255\n' + bytes(6)
XML = "<domain type='qemu'><name>vm-a</name></domain>"
# Generous bounds: a test fails only if the recorder really waits for the
# stuck fake (which never returns on its own).
BUDGET = 0.2
PATIENCE = 10.0


class FakeCapture:
    def __init__(self, shot=(PPM, 'image/x-portable-pixmap'), xml=XML):
        self.shot = shot
        self.xml = xml
        self.calls: list[tuple[str, str]] = []

    def screenshot(self, uuid):
        self.calls.append(('screenshot', uuid))
        return self.shot

    def domain_xml(self, uuid):
        self.calls.append(('domain_xml', uuid))
        return self.xml


class StuckCapture(FakeCapture):
    """The screenshot blocks until released, like a QEMU with a stuck monitor."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned = threading.Event()

    def screenshot(self, uuid):
        self.calls.append(('screenshot', uuid))
        self.entered.set()
        self.release.wait()
        self.returned.set()
        return self.shot


class RaisingCapture(FakeCapture):
    def screenshot(self, uuid):
        raise RuntimeError('screendump exploded')


def record(recorder, uuid=A, when=WHEN, reason='missed 3 guest-pings'):
    return recorder.record(uuid, 'vm-a', reason, {'cpu.time': 12},
                           [{'outcome': 'miss', 'error': 'agent not connected'}],
                           when)


def verdict(folder):
    return json.loads((folder / 'verdict.json').read_text())


def eventually(predicate, what):
    deadline = time.monotonic() + PATIENCE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.01)


def record_in_thread(recorder, **kwargs):
    """record() in a thread; returns (thread, result list)."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(record(recorder, **kwargs)),
                              daemon=True)
    thread.start()
    return thread, result


def test_folder_layout_and_contents(tmp_path):
    capture = FakeCapture()
    folder = record(Recorder(tmp_path, 10, capture))
    assert folder == tmp_path / A / '20261202T031500Z'
    assert sorted(p.name for p in folder.iterdir()) == [
        'domain.xml', 'probes.json', 'screenshot.ppm', 'stats.json', 'verdict.json']
    assert (folder / 'screenshot.ppm').read_bytes() == PPM
    assert (folder / 'domain.xml').read_text() == XML
    assert json.loads((folder / 'stats.json').read_text()) == {'cpu.time': 12}
    assert json.loads((folder / 'probes.json').read_text()) == [
        {'outcome': 'miss', 'error': 'agent not connected'}]
    found = verdict(folder)
    assert found['uuid'] == A
    assert found['name'] == 'vm-a'
    assert found['reason'] == 'missed 3 guest-pings'
    assert found['time'] == '2026-12-02T03:15:00Z'
    assert found['host']['hostname']
    assert found['capture']['screenshot'].startswith('written: screenshot.ppm')
    assert found['capture']['domain.xml'] == 'written: domain.xml'
    assert sorted(capture.calls) == [('domain_xml', A), ('screenshot', A)]


def test_time_is_converted_to_utc(tmp_path):
    local = datetime.timezone(datetime.timedelta(hours=2))
    when = datetime.datetime(2026, 12, 2, 5, 15, 0, tzinfo=local)
    folder = record(Recorder(tmp_path, 10, FakeCapture()), when=when)
    assert folder.name == '20261202T031500Z'
    assert verdict(folder)['time'] == '2026-12-02T03:15:00Z'


@pytest.mark.parametrize('mime, filename', [
    ('image/png', 'screenshot.png'),
    ('image/x-portable-pixmap', 'screenshot.ppm'),
    ('image/x-something', 'screenshot.bin'),
])
def test_screenshot_named_by_mime_type(tmp_path, mime, filename):
    folder = record(Recorder(tmp_path, 10, FakeCapture(shot=(b'data', mime))))
    assert (folder / filename).read_bytes() == b'data'
    assert mime in verdict(folder)['capture']['screenshot']


def test_nothing_to_capture(tmp_path):
    folder = record(Recorder(tmp_path, 10, FakeCapture(shot=None, xml=None)))
    assert sorted(p.name for p in folder.iterdir()) == [
        'probes.json', 'stats.json', 'verdict.json']
    assert verdict(folder)['capture'] == {'domain.xml': 'unavailable',
                                          'screenshot': 'unavailable'}


def test_unique_folders_within_one_second(tmp_path):
    recorder = Recorder(tmp_path, 10, FakeCapture())
    first = record(recorder, reason='first')
    second = record(recorder, when=WHEN + datetime.timedelta(microseconds=500),
                    reason='second')
    assert first != second
    assert first.name == '20261202T031500Z'
    assert second.name == '20261202T031500Z-1'
    assert verdict(first)['reason'] == 'first'
    assert verdict(second)['reason'] == 'second'


def test_retention_keeps_newest_per_instance(tmp_path):
    recorder = Recorder(tmp_path, 3, FakeCapture())
    other = record(recorder, uuid=B)
    stray = tmp_path / A / 'notes'          # not ours: never deleted
    stray.mkdir(parents=True)
    for minute in range(5):
        record(recorder, when=WHEN + datetime.timedelta(minutes=minute))
    assert sorted(p.name for p in (tmp_path / A).iterdir()) == [
        '20261202T031700Z', '20261202T031800Z', '20261202T031900Z', 'notes']
    assert other.is_dir()


def test_retention_orders_same_second_numerically(tmp_path):
    recorder = Recorder(tmp_path, 3, FakeCapture())
    for _ in range(12):
        record(recorder)
    # -9, -10, -11 are the newest; a plain string sort would keep -7, -8, -9.
    assert sorted(p.name for p in (tmp_path / A).iterdir()) == [
        '20261202T031500Z-10', '20261202T031500Z-11', '20261202T031500Z-9']


def test_record_older_than_the_kept_ones_is_kept(tmp_path):
    # The wall clock stepped back: the new folder is not deleted at once.
    recorder = Recorder(tmp_path, 2, FakeCapture())
    for minute in (5, 6):
        record(recorder, when=WHEN + datetime.timedelta(minutes=minute))
    folder = record(recorder)
    assert folder.is_dir()
    assert sorted(p.name for p in (tmp_path / A).iterdir()) == [
        '20261202T031500Z', '20261202T032100Z']


def test_stuck_capture_does_not_hold_the_caller(tmp_path):
    capture = StuckCapture()
    recorder = Recorder(tmp_path, 10, capture, budget=BUDGET, late=PATIENCE * 10)
    thread, result = record_in_thread(recorder)
    thread.join(PATIENCE)
    assert not thread.is_alive(), 'record() waited for the stuck capture'
    assert capture.entered.is_set() and not capture.returned.is_set()
    folder = result[0]
    found = verdict(folder)
    assert found['capture']['domain.xml'] == 'written: domain.xml'
    assert found['capture']['screenshot'].startswith('pending')
    assert not (folder / 'screenshot.ppm').exists()

    # Released within the late window: written after all, verdict updated.
    capture.release.set()
    eventually(lambda: verdict(folder)['capture']['screenshot'].startswith('written'),
               'the late screenshot')
    assert (folder / 'screenshot.ppm').read_bytes() == PPM


def test_one_worker_while_a_capture_is_stuck(tmp_path):
    capture = StuckCapture()
    recorder = Recorder(tmp_path, 10, capture, budget=BUDGET)
    first, _ = record_in_thread(recorder)
    first.join(PATIENCE)
    assert not first.is_alive()
    threads_before = threading.active_count()

    second, result = record_in_thread(recorder, uuid=B)
    second.join(PATIENCE)
    assert not second.is_alive()
    skipped = verdict(result[0])['capture']
    assert skipped['screenshot'].startswith('skipped')
    assert skipped['domain.xml'].startswith('skipped')
    assert capture.calls.count(('screenshot', A)) == 1
    assert ('domain_xml', B) not in capture.calls
    assert threading.active_count() <= threads_before

    # Once the stuck call returns, the next record captures again.
    capture.release.set()
    eventually(lambda: (tmp_path / A / '20261202T031500Z' / 'screenshot.ppm').exists(),
               'the first capture to finish')
    eventually(lambda: record(recorder, uuid=B, when=WHEN + datetime.timedelta(minutes=1))
               and ('screenshot', B) in capture.calls, 'a capture for B')


def test_too_late_is_dropped(tmp_path):
    capture = StuckCapture()
    recorder = Recorder(tmp_path, 10, capture, budget=BUDGET, late=0)
    thread, result = record_in_thread(recorder)
    thread.join(PATIENCE)
    assert not thread.is_alive()
    folder = result[0]
    capture.release.set()
    eventually(lambda: verdict(folder)['capture']['screenshot'].startswith('dropped'),
               'the drop')
    assert not (folder / 'screenshot.ppm').exists()


def test_raising_capture_is_noted(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger='masakari_introspect.recovery.forensics')
    folder = record(Recorder(tmp_path, 10, RaisingCapture()))
    found = verdict(folder)['capture']
    assert 'screendump exploded' in found['screenshot']
    assert found['screenshot'].startswith('failed')
    assert found['domain.xml'] == 'written: domain.xml'
    assert not list(folder.glob('screenshot.*'))
    assert any('screendump exploded' in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)


def test_unusable_root_logs_one_error(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger='masakari_introspect.recovery.forensics')
    root = tmp_path / 'not-a-directory'
    root.write_text('')
    assert record(Recorder(root, 10, FakeCapture())) is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert A in errors[0].getMessage()


def test_unusable_uuid_is_refused(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger='masakari_introspect.recovery.forensics')
    assert record(Recorder(tmp_path / 'f', 10, FakeCapture()), uuid='../escape') is None
    assert not (tmp_path / 'escape').exists()
    assert not (tmp_path / 'f').exists()
    assert len(caplog.records) == 1


def test_values_that_json_cannot_encode_are_written_as_text(tmp_path):
    recorder = Recorder(tmp_path, 10, FakeCapture())
    folder = recorder.record(A, 'vm-a', 'r', {'seen': WHEN}, [{'set': {1}}], WHEN)
    assert json.loads((folder / 'stats.json').read_text()) == {
        'seen': '2026-12-02 03:15:00+00:00'}
    assert json.loads((folder / 'probes.json').read_text()) == [{'set': '{1}'}]


@pytest.mark.parametrize('keep, budget', [(0, 1.0), (3, 0)])
def test_bad_settings_refused(tmp_path, keep, budget):
    with pytest.raises(ValueError):
        Recorder(tmp_path, keep, FakeCapture(), budget=budget)


# --- LibvirtCapture on libvirt's in-process test driver (no libvirtd) -------------

TEST_URI = 'test:///default'


@pytest.fixture
def test_driver():
    libvirt = pytest.importorskip('libvirt')
    libvirt.registerErrorHandler(lambda *_args: None, None)
    conn = libvirt.open(TEST_URI)
    uuid = conn.lookupByName('test').UUIDString()
    conn.close()
    return uuid


@pytest.fixture
def libvirt_capture():
    from masakari_introspect.virt.capture import LibvirtCapture
    capture = LibvirtCapture(TEST_URI)
    yield capture
    capture.close()


def test_libvirt_capture_reads_screenshot_and_xml(test_driver, libvirt_capture):
    data, mime = libvirt_capture.screenshot(test_driver)
    assert mime == 'image/png'
    assert data.startswith(b'\x89PNG\r\n\x1a\n')
    assert len(data) > 1000
    assert '<name>test</name>' in libvirt_capture.domain_xml(test_driver)


def test_libvirt_capture_unknown_domain(test_driver, libvirt_capture, caplog):
    caplog.set_level(logging.WARNING, logger='masakari_introspect.virt.capture')
    assert libvirt_capture.screenshot(A) is None
    assert libvirt_capture.domain_xml(A) is None
    assert len(caplog.records) == 2
    assert all(A in r.getMessage() for r in caplog.records)


def test_libvirt_capture_reopens_a_dead_connection(test_driver, libvirt_capture, caplog):
    assert libvirt_capture.domain_xml(test_driver) is not None
    libvirt_capture._connection.get()[0].close()   # libvirtd "went away"
    caplog.set_level(logging.WARNING, logger='masakari_introspect.virt.capture')
    assert libvirt_capture.domain_xml(test_driver) is None   # the dead one
    assert len(caplog.records) == 1
    assert libvirt_capture.domain_xml(test_driver) is not None   # a new one


def test_libvirt_capture_without_libvirtd(test_driver, caplog):
    from masakari_introspect.virt.capture import LibvirtCapture
    caplog.set_level(logging.WARNING, logger='masakari_introspect.virt.capture')
    capture = LibvirtCapture('qemu+unix:///system?socket=/nonexistent/libvirt-sock')
    assert capture.screenshot(A) is None
    assert len(caplog.records) == 1
    assert 'cannot connect' in caplog.records[0].getMessage()


def test_recorder_with_libvirt_capture(test_driver, libvirt_capture, tmp_path):
    folder = Recorder(tmp_path, 10, libvirt_capture).record(
        test_driver, 'test', 'missed 3 guest-pings', {}, [], WHEN)
    assert (folder / 'screenshot.png').read_bytes().startswith(b'\x89PNG')
    assert '<name>test</name>' in (folder / 'domain.xml').read_text()
