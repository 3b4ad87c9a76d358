"""The durable spool of notifications not yet accepted by Masakari."""

import json
import logging
import stat

import pytest

from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.spool import Spool, SpoolFull
from tests.unit.fakes import spooled

A = '00000000-0000-0000-0000-00000000000a'
B = '00000000-0000-0000-0000-00000000000b'
C = '00000000-0000-0000-0000-00000000000c'


def note(uuid, generated='2026-11-21T17:08:46.000001', nid=None):
    return Notification(instance_uuid=uuid, hostname='compute-1',
                        generated_time=generated, id=nid or 'id-' + uuid)


@pytest.fixture
def directory(tmp_path):
    return tmp_path / 'state' / 'spool'


def test_add_pending_remove(directory):
    spool = Spool(directory, 10)
    assert spooled(spool) == []
    assert len(spool) == 0
    first = note(A, '2026-11-21T17:00:00')
    second = note(B, '2026-11-21T17:00:01')
    assert spool.add(second) is True
    assert spool.add(first) is True
    assert len(spool) == 2
    assert spooled(spool) == [first, second]       # oldest first
    spool.remove(first)
    assert spooled(spool) == [second]
    spool.remove(second)
    assert spooled(spool) == []
    assert len(spool) == 0


def test_one_entry_per_instance(directory):
    spool = Spool(directory, 10)
    first = note(A, nid='first')
    assert spool.add(first) is True
    assert spool.add(note(A, '2026-11-21T18:00:00', nid='second')) is False
    assert spooled(spool) == [first]


def test_bound(directory):
    spool = Spool(directory, 2)
    assert spool.add(note(A))
    assert spool.add(note(B))
    with pytest.raises(SpoolFull):
        spool.add(note(C))
    # a second one for a pending instance is still just "already there"
    assert spool.add(note(A, nid='again')) is False
    assert {n.instance_uuid for n in spooled(spool)} == {A, B}
    spool.remove(note(A))
    assert spool.add(note(C))
    assert {n.instance_uuid for n in spooled(spool)} == {B, C}


def test_permissions(directory):
    spool = Spool(directory, 10)
    spool.add(note(A))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.glob('*.json'))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    # no temporary files left behind
    assert sorted(p.name for p in directory.iterdir()) == [A + '.json']


def test_survives_a_restart(directory):
    spool = Spool(directory, 10)
    a, b = note(A, '2026-11-21T17:00:00'), note(B, '2026-11-21T17:00:01')
    spool.add(a)
    spool.add(b)
    spool.remove(a)
    restarted = Spool(directory, 10)
    assert spooled(restarted) == [b]
    assert spooled(restarted)[0].id == b.id
    assert restarted.add(note(B, nid='other')) is False
    assert len(restarted) == 1


@pytest.mark.parametrize('content', [
    b'{not json',
    b'',
    b'\xff\xfe\x00',
    json.dumps({'version': 1, 'foo': 'bar'}).encode(),        # wrong schema
    json.dumps(['a', 'list']).encode(),
    json.dumps({'version': 1, 'id': 'x', 'instance_uuid': B,  # wrong name
                'hostname': 'h', 'generated_time': 't'}).encode(),
])
def test_unreadable_entries_are_set_aside(directory, content, caplog):
    spool = Spool(directory, 10)
    good = note(C)
    spool.add(good)
    (directory / (A + '.json')).write_bytes(content)
    caplog.set_level(logging.ERROR, logger='masakari_introspect.recovery.spool')
    assert spooled(spool) == [good]
    assert (directory / 'corrupt' / (A + '.json')).read_bytes() == content
    assert not (directory / (A + '.json')).exists()
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    # set aside once; the good entry is still there
    assert spooled(spool) == [good]
    assert len(spool) == 1


def test_corrupt_and_wrong_schema_together(directory):
    spool = Spool(directory, 10)
    good = [note(A, '2026-11-21T17:00:00'), note(B, '2026-11-21T17:00:01')]
    for n in good:
        spool.add(n)
    (directory / 'bad1.json').write_text('{')
    (directory / 'bad2.json').write_text('{"version": 1}')
    assert spooled(spool) == good
    assert sorted(p.name for p in (directory / 'corrupt').iterdir()) == [
        'bad1.json', 'bad2.json']


def test_removing_an_outdated_notification_keeps_the_newer(directory):
    spool = Spool(directory, 10)
    old = note(A, '2026-11-21T17:00:00', nid='old')
    spool.add(old)
    spool.remove(old)
    new = note(A, '2026-11-21T17:10:00', nid='new')
    assert spool.add(new)
    spool.remove(old)          # e.g. a late answer for the old one
    assert spooled(spool) == [new]


def test_remove_of_something_not_there_is_harmless(directory):
    spool = Spool(directory, 10)
    spool.remove(note(A))
    assert spooled(spool) == []


def test_what_is_written_round_trips_every_field(directory):
    spool = Spool(directory, 10)
    n = Notification.create(A, 'compute-1.example.org')
    spool.add(n)
    record = json.loads((directory / (A + '.json')).read_text())
    assert record['instance_uuid'] == A
    assert record['id'] == n.id
    assert spooled(Spool(directory, 10)) == [n]


# -- issue 11 ---------------------------------------------------------------------

def test_the_new_fields_are_persisted(directory):
    spool = Spool(directory, 10)
    n = Notification.create(A, 'compute-1', instance_name='web-1',
                            reason='unresponsive',
                            forensics='/var/lib/mi/forensics/x')
    spool.add(n)
    again = spooled(Spool(directory, 10))
    assert again == [n]
    assert (again[0].instance_name, again[0].reason, again[0].forensics) == (
        'web-1', 'unresponsive', '/var/lib/mi/forensics/x')
    # the body posted to Masakari does not change
    assert set(n.body()['notification']['payload']) == {
        'event', 'instance_uuid', 'vir_domain_event'}


def test_an_entry_of_the_previous_format_is_read(directory):
    directory.mkdir(parents=True)
    (directory / (A + '.json')).write_text(json.dumps({
        'version': 1, 'id': 'old', 'instance_uuid': A, 'hostname': 'h',
        'generated_time': '2026-11-21T17:00:00'}))
    entries = Spool(directory, 10).entries()
    assert len(entries) == 1
    assert entries[0].notification == Notification(
        instance_uuid=A, hostname='h', generated_time='2026-11-21T17:00:00',
        id='old')
    assert entries[0].announced is False


def test_mark_announced_is_durable_and_only_for_that_notification(directory):
    spool = Spool(directory, 10)
    n = note(A)
    spool.add(n)
    assert spool.mark_announced(n, 'domain-id-7') is True
    entry = Spool(directory, 10).entries()[0]
    assert (entry.announced, entry.token) == (True, 'domain-id-7')
    assert entry.notification == n
    # another notification of the same instance: not marked
    assert spool.mark_announced(note(A, nid='other'), 'x') is False
    assert spool.mark_announced(note(B), 'x') is False
    assert Spool(directory, 10).entries()[0].token == 'domain-id-7'


def test_withdraw(directory):
    spool = Spool(directory, 10)
    n = note(A)
    spool.add(n)
    spool.add(note(B))
    assert spool.withdraw(A) == n
    assert spool.withdraw(A) is None
    assert spool.withdraw(C) is None
    assert [x.instance_uuid for x in spooled(spool)] == [B]
    assert spool.mark_announced(n, '') is False


class FlakyRead:
    """Reads that fail with EIO a given number of times per file."""

    def __init__(self, failures):
        self.failures = dict(failures)
        self.calls = 0

    def __call__(self, path):
        self.calls += 1
        if self.failures.get(path.name, 0) > 0:
            self.failures[path.name] -= 1
            raise OSError(5, 'Input/output error')
        return path.read_bytes()


def test_a_transient_read_error_keeps_the_entry(directory, caplog):
    caplog.set_level(logging.WARNING, logger='masakari_introspect.recovery.spool')
    read = FlakyRead({A + '.json': 2})
    spool = Spool(directory, 10, read=read)
    a, b = note(A, '2026-11-21T17:00:00'), note(B, '2026-11-21T17:00:01')
    spool.add(a)
    spool.add(b)
    assert spooled(spool) == [b]
    assert spooled(spool) == [b]
    assert spooled(spool) == [a, b]          # readable again
    assert not (directory / 'corrupt').exists()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1                 # once, not per pass
    assert not [r for r in caplog.records if r.levelno == logging.ERROR]
    assert read.calls >= 5


def test_a_read_error_while_marking_is_raised_not_set_aside(directory):
    spool = Spool(directory, 10, read=FlakyRead({A + '.json': 1}))
    spool.add(note(A))
    with pytest.raises(OSError):
        spool.mark_announced(note(A), '')
    assert spool.mark_announced(note(A), '') is True
    assert not (directory / 'corrupt').exists()


def test_a_corrupt_entry_does_not_take_the_place_of_a_new_one(directory):
    spool = Spool(directory, 10)
    (directory / (A + '.json')).write_text('{"version": 1, "instan')
    assert spool.add(note(A)) is True      # not "already pending"
    assert spooled(spool) == [note(A)]
    assert (directory / 'corrupt' / (A + '.json')).exists()
