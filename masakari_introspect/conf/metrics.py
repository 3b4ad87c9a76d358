"""Options of the [metrics] group: the Prometheus metrics listener."""

import ipaddress
import re

from oslo_config import cfg

from masakari_introspect.conf.group import option_group
from oslo_config import types

LOOPBACK = '127.0.0.1'
_LABEL = re.compile(r'(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT`` or a bare ``PORT`` (loopback).

    Raises ValueError with a readable reason.
    """
    text = value.strip()
    if not text:
        raise ValueError('empty listen address')
    if text.isdigit():
        host, port_text = LOOPBACK, text
    elif text.startswith('['):
        host, sep, port_text = text[1:].partition(']:')
        if not sep:
            raise ValueError('expected [IPV6]:PORT, got %r' % value)
        ipaddress.IPv6Address(host)   # raises ValueError
    else:
        host, sep, port_text = text.rpartition(':')
        if not sep or not host or ':' in host:
            raise ValueError('expected HOST:PORT, [IPV6]:PORT or PORT, '
                             'got %r' % value)
        _check_host(host)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError('invalid port in %r' % value)
    return host, int(port_text)


def _check_host(host: str) -> None:
    """An IPv4 address or a host name; raises ValueError."""
    if re.fullmatch(r'[0-9.]+', host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError('%r is not an IPv4 address' % host) from None
        return
    labels = host.rstrip('.').split('.')
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError('%r is neither an IP address nor a host name'
                         % host)


class ListenAddress(types.String):
    """A string that must parse with :func:`parse_listen`."""

    def __init__(self) -> None:
        super().__init__(type_name='listen address value')

    def __call__(self, value: object) -> str:
        text = super().__call__(value)
        parse_listen(text)
        return text


metrics_group = cfg.OptGroup(
    'metrics',
    title='Prometheus metrics',
    help="""
An optional HTTP listener serving Prometheus metrics at ``/metrics``: per
instance, whether its guest agent answers, its consecutive misses, the time
since its last answer and its state; per service, probe latency, probes by
outcome, notifications by result, the spool depth and the libvirt connection.
""")

metrics_opts = [
    cfg.Opt(
        'listen',
        type=ListenAddress(),
        default=None,
        help="""
Address and port of the metrics listener; unset (the default), no listener is
opened.

The listener has no authentication and no TLS: keep it on the loopback or a
management network, and scrape it from there.

Possible values:

* Unset: no metrics listener.
* ``PORT``: listen on the loopback only (``127.0.0.1:PORT``).
* ``HOST:PORT`` or ``[IPV6]:PORT``, e.g. ``127.0.0.1:9178`` or
  ``0.0.0.0:9178``.
"""),
]


register_opts, list_opts = option_group(metrics_group, metrics_opts)
