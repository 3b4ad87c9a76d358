"""Every option group of the service: registered on its configuration by
:func:`register_opts`, listed for oslo-config-generator
(``oslo.config.opts``) by :func:`list_opts`."""

from oslo_config import cfg

from masakari_introspect.conf import api
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


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register every group the service reads on ``conf``."""
    for module in _MODULES:
        module.register_opts(conf)
    api.register_opts(conf)   # masakari-monitors' [api], deprecated
