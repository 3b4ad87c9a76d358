"""Configuration: one module per option group, registered on one CONF."""

from oslo_config import cfg

from masakari_introspect.conf import api
from masakari_introspect.conf import default
from masakari_introspect.conf import introspection
from masakari_introspect.conf import libvirt
from masakari_introspect.conf import masakari
from masakari_introspect.conf import metrics
from masakari_introspect.conf import recovery
from masakari_introspect.conf import status

CONF = cfg.CONF

default.register_opts(CONF)
introspection.register_opts(CONF)
libvirt.register_opts(CONF)
masakari.register_opts(CONF)
metrics.register_opts(CONF)
recovery.register_opts(CONF)
status.register_opts(CONF)
api.register_opts(CONF)   # masakari-monitors' [api], deprecated
