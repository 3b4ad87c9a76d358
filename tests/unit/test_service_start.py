"""The service's start: pending notifications wait for the first resync."""

import json
import sys
import threading

import pytest

from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.spool import Spool
from tests.unit.fakes import wait_until
from tests.unit.test_dry_run import make_conf

UUID = 'a1b2c3d4-0000-4000-8000-00000000beef'
DOMAIN = """<domain type='test'><name>mi-new-process</name>
<uuid>%s</uuid><memory>65536</memory><os><type>hvm</type></os>
<devices><channel type='unix'>
<target type='virtio' name='org.qemu.guest_agent.0'/></channel></devices>
</domain>""" % UUID


@pytest.fixture
def guest():
    """A guest with an agent channel on libvirt's in-process test host."""
    libvirt = pytest.importorskip('libvirt')
    conn = libvirt.open('test:///default')
    domain = conn.defineXML(DOMAIN)
    domain.create()
    try:
        yield domain.ID()
    finally:
        domain.destroy()
        domain.undefine()
        conn.close()


def test_a_notification_about_an_earlier_qemu_process_is_not_acted_on(
        tmp_path, guest):
    """Started again by hand while the service was down: the first resync
    withdraws its notification before the sender may act on it."""
    from masakari_introspect.service import Service
    state = tmp_path / 'state'
    state.mkdir()
    (state / 'instances.json').write_text(json.dumps({'instances': {
        UUID: {'domain_id': guest + 100, 'answered': True,
               'reported': True}}}))
    Spool(state / 'spool', 10).add(Notification(
        UUID, 'compute-1', '2026-11-21T17:00:00', 'id-1'))
    ran = tmp_path / 'ran'
    hook = tmp_path / 'hook.py'
    hook.write_text('open(%r, "a").write("ran\\n")\n' % str(ran))
    conf = make_conf(tmp_path, (
        '[DEFAULT]\nstate_path = %s\n[libvirt]\nconnection_uri = '
        'test:///default\n[recovery]\ndriver = command\ncommand = %s,%s\n'
        'forensics = false\n') % (state, sys.executable, hook))
    service = Service(conf)
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: len(Spool(state / 'spool', 10)) == 0, timeout=10)
    finally:
        service.request_stop()
        runner.join(15)
    assert not ran.exists()
