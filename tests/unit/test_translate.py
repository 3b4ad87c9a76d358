"""libvirt's event numbers and domain XML, translated (no libvirt needed)."""

import logging

import pytest

from masakari_introspect.core.model import BlindSpot
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import PauseReason
from masakari_introspect.virt import translate as t

K = EventKind


@pytest.mark.parametrize('event,detail,kind', [
    (t.STARTED, 0, K.STARTED),        # booted
    (t.STARTED, 1, K.MIGRATING),      # migrated (arriving)
    (t.STARTED, 2, K.STARTED),        # restored
    (t.STARTED, 3, K.STARTED),        # from_snapshot
    (t.STARTED, 4, K.RESUMED),        # wakeup
    (t.SUSPENDED, 0, K.PAUSED),       # paused
    (t.SUSPENDED, 1, K.MIGRATING),    # migrated
    (t.SUSPENDED, 2, K.PAUSED),       # ioerror
    (t.SUSPENDED, 3, K.PAUSED),       # watchdog
    (t.SUSPENDED, 6, K.PAUSED),       # api_error
    (t.SUSPENDED, 7, K.MIGRATING),    # postcopy
    (t.RESUMED, 0, K.RESUMED),        # unpaused
    (t.RESUMED, 1, K.RESUMED),        # migrated
    (t.RESUMED, 3, K.RESUMED),        # postcopy
    (t.STOPPED, 0, K.STOPPED),        # shutdown
    (t.STOPPED, 1, K.STOPPED),        # destroyed
    (t.STOPPED, 2, K.STOPPED),        # crashed
    (t.STOPPED, 3, K.STOPPED),        # migrated (left)
    (t.STOPPED, 4, K.STOPPED),        # saved
    (t.STOPPED, 5, K.STOPPED),        # failed
    (t.STOPPED, 6, K.STOPPED),        # from_snapshot
    (t.STOPPED, 99, K.STOPPED),       # a detail not known yet
    (t.UNDEFINED, 0, K.UNDEFINED),    # a running domain runs on
    (t.UNDEFINED, 1, K.UNDEFINED),
    (t.CRASHED, 0, K.CRASHED),
    (t.SHUTDOWN, 0, K.SHUTTING_DOWN),
    (t.SHUTDOWN, 1, K.SHUTTING_DOWN),
    (t.SHUTDOWN, 2, K.SHUTTING_DOWN),
    (t.PMSUSPENDED, 0, K.PAUSED),
    (t.PMSUSPENDED, 1, K.PAUSED),
    (t.DEFINED, 0, None),
    (t.DEFINED, 1, None),
    (42, 0, None),                    # an event type not known yet
])
def test_lifecycle(event, detail, kind):
    assert t.lifecycle(event, detail) is kind


def test_event_type_numbers():
    assert (t.DEFINED, t.UNDEFINED, t.STARTED, t.SUSPENDED, t.RESUMED,
            t.STOPPED, t.SHUTDOWN, t.PMSUSPENDED, t.CRASHED) == tuple(range(9))


@pytest.mark.parametrize('event,detail,name', [
    (t.STARTED, 0, 'booted'),
    (t.STARTED, 1, 'migrated'),
    (t.SUSPENDED, 0, 'paused'),
    (t.SUSPENDED, 2, 'ioerror'),
    (t.STOPPED, 1, 'destroyed'),
    (t.STOPPED, 5, 'failed'),
    (t.SHUTDOWN, 1, 'guest'),
    (t.STOPPED, 99, '99'),
    (t.STOPPED, -1, '-1'),
    (42, 3, '3'),
])
def test_detail_name(event, detail, name):
    assert t.detail_name(event, detail) == name


@pytest.mark.parametrize('state,kind', [
    (1, K.AGENT_CONNECTED),
    (2, K.AGENT_DISCONNECTED),
    (0, None),
    (3, None),
])
def test_agent_lifecycle(state, kind):
    assert t.agent_lifecycle(state) is kind


@pytest.mark.parametrize('reason,name', [
    (0, 'unknown'),
    (1, 'domain started'),
    (2, 'channel'),
    (7, '7'),
    (-1, '-1'),
])
def test_agent_reason(reason, name):
    assert t.agent_reason(reason) == name


# -- domain XML --------------------------------------------------------------

NOVA_XML = """
<domain type='kvm' id='3' xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>
  <name>instance-00000001</name>
  <uuid>0f2b3c4d-1111-2222-3333-444455556666</uuid>
  <metadata><nova:instance><nova:name>vm</nova:name></nova:instance></metadata>
  <devices>
    <disk type='file' device='disk'><target dev='vda' bus='virtio'/></disk>
    <serial type='pty'><target port='0'/></serial>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/org.qemu.guest_agent.0.instance-00000001.sock'/>
      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
      <alias name='channel0'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/>
    </channel>
  </devices>
</domain>
"""

AUTO_PATH_XML = """
<domain type='kvm'>
  <name>guest</name>
  <devices>
    <channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
  </devices>
</domain>
"""

OTHER_CHANNEL_XML = """
<domain type='kvm'>
  <name>guest</name>
  <devices>
    <channel type='unix'>
      <source mode='bind' path='/run/ctl.sock'/>
      <target type='virtio' name='org.example.ctl.0'/>
    </channel>
    <channel type='spicevmc'>
      <target type='virtio' name='com.redhat.spice.0'/>
    </channel>
  </devices>
</domain>
"""

NO_DEVICES_XML = "<domain type='kvm'><name>guest</name></domain>"

SECOND_CHANNEL_XML = """
<domain type='kvm'>
  <devices>
    <channel type='unix'>
      <target type='virtio' name='org.example.ctl.0'/>
    </channel>
    <channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
  </devices>
</domain>
"""


@pytest.mark.parametrize('xml,expected', [
    (NOVA_XML, True),
    (AUTO_PATH_XML, True),
    (SECOND_CHANNEL_XML, True),
    (OTHER_CHANNEL_XML, False),
    (NO_DEVICES_XML, False),
    ("<domain type='kvm'><devices/></domain>", False),
])
def test_the_agent_channel_is_found_by_its_name(xml, expected):
    assert (t.agent_channel_state(xml) is not None) is expected


@pytest.mark.parametrize('xml', [
    '',
    '<domain><devices>',
    'not xml at all',
    ("<domain><devices><channel><target name='org.qemu.guest_agent.0'/>"
     "</devices></domain>"),
])
def test_malformed_xml_has_no_agent_channel(xml, caplog):
    caplog.set_level(logging.WARNING, logger=t.__name__)
    assert t.agent_channel_state(xml) is None
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_agent_channel_name():
    assert t.AGENT_CHANNEL == 'org.qemu.guest_agent.0'


def test_agent_channel_state_is_read_from_the_live_xml():
    live = ("<domain><devices><channel type='unix'><target type='virtio' "
            "name='org.qemu.guest_agent.0' state='{}'/></channel></devices></domain>")
    assert t.agent_channel_state(live.format('connected')) == 'connected'
    assert t.agent_channel_state(live.format('disconnected')) == 'disconnected'
    assert t.agent_channel_state(
        "<domain><devices><channel type='unix'><target type='virtio' "
        "name='org.example.ctl.0' state='connected'/></channel></devices></domain>") is None
    assert t.agent_channel_state('<domain><devices>') is None


@pytest.mark.parametrize('event,detail,pause', [
    (t.SUSPENDED, 0, PauseReason.USER),
    (t.SUSPENDED, 2, PauseReason.IOERROR),
    (t.SUSPENDED, 3, PauseReason.WATCHDOG),
    (t.SUSPENDED, 6, PauseReason.API_ERROR),
    (t.SUSPENDED, 1, PauseReason.MIGRATION),
    (t.SUSPENDED, 99, PauseReason.UNKNOWN),
    (t.PMSUSPENDED, 0, PauseReason.USER),
    (t.RESUMED, 0, PauseReason.NONE),
])
def test_pause_reasons_of_events(event, detail, pause):
    assert t.pause_reason(event, detail) is pause


def test_failure_pauses():
    assert {p for p in PauseReason if p.failure} == {
        PauseReason.IOERROR, PauseReason.WATCHDOG, PauseReason.API_ERROR,
        PauseReason.CRASHED}
    assert t.state_reason(t.STATE_CRASHED, 0) is PauseReason.CRASHED
    assert t.state_reason(1, 0) is PauseReason.NONE
    assert t.state_reason(t.STATE_SHUTOFF, t.SHUTOFF_CRASHED) \
        is PauseReason.CRASHED                  # on_crash=destroy
    assert t.state_reason(t.STATE_SHUTOFF, 2) is PauseReason.NONE  # destroyed


def _xml(devices):
    return '<domain><devices>%s</devices></domain>' % devices


@pytest.mark.parametrize('devices,spots', [
    ("<disk type='file'/>", ()),
    ("<interface type='bridge'/>", ()),
    ("<interface type='hostdev'/><disk type='file'/>", ()),
    ('', (BlindSpot.NO_DEVICES,)),
    ("<interface type='hostdev'/>", (BlindSpot.HOSTDEV_NIC,)),
    ("<interface type='vhostuser'/><disk type='vhostuser'/>",
     (BlindSpot.VHOST_USER,)),
    ("<hostdev mode='subsystem' type='scsi'/>", (BlindSpot.PASSTHROUGH,)),
    ("<interface type='hostdev'/><hostdev type='pci'/>",
     (BlindSpot.HOSTDEV_NIC, BlindSpot.PASSTHROUGH)),
])
def test_blind_spots(devices, spots):
    assert t.blind_spots(_xml(devices)) == spots
