"""Entry point for oslo-config-generator (``oslo.config.opts``)."""

from oslo_config import cfg

from masakari_introspect.conf import default
from masakari_introspect.conf import introspection
from masakari_introspect.conf import libvirt
from masakari_introspect.conf import masakari
from masakari_introspect.conf import metrics
from masakari_introspect.conf import recovery
from masakari_introspect.conf import status

_MODULES = (default, libvirt, introspection, masakari, recovery, metrics,
            status)


def list_opts() -> list[tuple[str | cfg.OptGroup, list[cfg.Opt]]]:
    result: list[tuple[str | cfg.OptGroup, list[cfg.Opt]]] = []
    for module in _MODULES:
        result.extend(module.list_opts().items())
    return result
