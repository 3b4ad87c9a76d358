"""What virt/ reads from a domain's <metadata> (issue 20): Nova's facts,
namespaces 1.1 and 1.0, and the domain's own <policy> element; and the
metadata-change event."""

import pytest

from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import PolicyElement
from masakari_introspect.core.model import ProbeElement
from masakari_introspect.virt import metadata
from masakari_introspect.virt import translate

NOVA = """
<domain type='kvm'><name>instance-0000002a</name>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/%s">
      <nova:package version="29.0.0"/>
      <nova:name> shop-web-1 </nova:name>
      <nova:creationTime>2026-12-01 10:00:00</nova:creationTime>
      <nova:flavor name="ha.small"><nova:memory>2048</nova:memory></nova:flavor>
      <nova:owner>
        <nova:user uuid="u1">alice</nova:user>
        <nova:project uuid="p-42">shop</nova:project>
      </nova:owner>
    </nova:instance>
    %s
  </metadata>
</domain>"""
POLICY = """<mi:policy xmlns:mi="%s" monitor="false" failure_threshold="2">
      <mi:probe name="web" timeout="5"><mi:arg>/usr/bin/curl</mi:arg>
        <mi:arg>-fsS</mi:arg></mi:probe>
      <probe name="db"><arg>/bin/true</arg><argv>x</argv></probe>
      <mi:check/>
    </mi:policy>""" % metadata.POLICY_NAMESPACE


@pytest.mark.parametrize('version', ['1.1', '1.0'])
def test_nova_facts_are_read_from_either_namespace(version):
    facts = metadata.read(NOVA % (version, ''))
    assert facts == metadata.Facts(display_name='shop-web-1',
                                   flavor='ha.small', project='p-42')


def test_another_namespace_is_not_nova():
    xml = NOVA.replace('libvirt/nova/%s', 'other/%s') % ('1.1', '')
    assert metadata.read(xml) == metadata.Facts()


@pytest.mark.parametrize('xml', [
    '<domain><name>a</name></domain>',
    '<domain><metadata/></domain>',
    '<domain><metadata>',          # not XML
])
def test_no_metadata_no_facts(xml):
    assert metadata.read(xml) == metadata.Facts()


def test_the_policy_element_is_read_with_its_probes_whatever_prefixes():
    facts = metadata.read(NOVA % ('1.1', POLICY))
    assert facts.flavor == 'ha.small'
    assert facts.policy == PolicyElement(
        settings=(('monitor', 'false'), ('failure_threshold', '2')),
        probes=(ProbeElement((('name', 'web'), ('timeout', '5')),
                             ('/usr/bin/curl', '-fsS')),
                ProbeElement((('name', 'db'),), ('/bin/true',))),
        unknown=('probe/argv', 'check'))


def test_a_policy_element_of_another_namespace_is_not_ours():
    xml = NOVA % ('1.1', '<x:policy xmlns:x="http://example.com/p" '
                         'monitor="false"/>')
    assert metadata.read(xml).policy is None


def test_only_element_metadata_changes_are_events():
    assert translate.metadata_element(2)
    assert not translate.metadata_element(0)     # title
    assert not translate.metadata_element(1)     # description


class FakeDomain:
    def UUIDString(self):
        return 'u-1'

    def name(self):
        return 'vm-1'

    def ID(self):
        return 7


def test_the_metadata_change_event_is_handed_on():
    from masakari_introspect.virt import event_relay
    if event_relay.libvirt is None:
        pytest.skip('libvirt-python is not installed')
    events = []
    relay = event_relay.EventRelay(events.append)
    relay._metadata(None, FakeDomain(), 2, metadata.POLICY_NAMESPACE, None)
    relay._metadata(None, FakeDomain(), 1, None, None)
    assert [(e.uuid, e.kind, e.detail) for e in events] == [
        ('u-1', EventKind.METADATA_CHANGED, metadata.POLICY_NAMESPACE)]
