"""What a domain's ``<metadata>`` says about the guest: Nova's facts (for
the policy file's ``match``) and the domain's own ``<policy>`` element.

Pure: reads domain XML text; the core checks the policy's values
(:mod:`masakari_introspect.core.rules`).
"""

import dataclasses
from typing import Any
import xml.etree.ElementTree as ElementTree

from masakari_introspect.core.model import PolicyElement
from masakari_introspect.core.model import ProbeElement

NOVA_NAMESPACES = ('http://openstack.org/xmlns/libvirt/nova/1.1',
                   'http://openstack.org/xmlns/libvirt/nova/1.0')
# The project's own namespace, for ``virsh metadata DOMAIN URI --key mi
# --set '<policy .../>' --live --config``.
POLICY_NAMESPACE = 'http://openstack.org/xmlns/masakari-introspect/policy/1.0'
POLICY_TAG = 'policy'


@dataclasses.dataclass(frozen=True)
class Facts:
    display_name: str | None = None
    flavor: str | None = None
    project: str | None = None
    policy: PolicyElement | None = None


def read(xml: str) -> Facts:
    """The facts of one domain's XML (all None when it has none, or when
    the XML cannot be parsed)."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return Facts()
    metadata = root.find('./metadata')
    if metadata is None:
        return Facts()
    facts = Facts(policy=_policy(metadata.find(
        './{%s}%s' % (POLICY_NAMESPACE, POLICY_TAG))))
    for namespace in NOVA_NAMESPACES:
        instance = metadata.find('./{%s}instance' % namespace)
        if instance is not None:
            return dataclasses.replace(facts, **_nova(instance, namespace))
    return facts


def _nova(instance: ElementTree.Element, namespace: str
          ) -> dict[str, Any]:
    ns = '{%s}' % namespace
    name = instance.find(ns + 'name')
    flavor = instance.find(ns + 'flavor')
    project = instance.find('%sowner/%sproject' % (ns, ns))
    return {'display_name': _text(name.text if name is not None else None),
            'flavor': _text(flavor.get('name') if flavor is not None
                            else None),
            'project': _text(project.get('uuid') if project is not None
                             else None)}


def _text(value: str | None) -> str | None:
    value = (value or '').strip()
    return value or None


def _local(tag: str) -> str:
    """A tag without its namespace: libvirt qualifies only the element it
    was given, not always its children."""
    return tag.rsplit('}', 1)[-1]


def _policy(element: ElementTree.Element | None) -> PolicyElement | None:
    if element is None:
        return None
    probes, unknown = [], []
    for child in element:
        if _local(child.tag) != 'probe':
            unknown.append(_local(child.tag))
            continue
        args = []
        for arg in child:
            if _local(arg.tag) == 'arg':
                args.append(arg.text or '')
            else:
                unknown.append('probe/' + _local(arg.tag))
        probes.append(ProbeElement(tuple(child.attrib.items()),
                                   tuple(args)))
    return PolicyElement(tuple(element.attrib.items()), tuple(probes),
                         tuple(unknown))
