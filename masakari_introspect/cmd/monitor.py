"""``masakari-introspect``: the service's main (reads the configuration,
checks it, builds the :class:`~masakari_introspect.service.Service`)."""

import signal
import sys
import types

from oslo_config import cfg
from oslo_log import log as logging

from masakari_introspect.conf import masakari as masakari_conf
from masakari_introspect.conf import opts
from masakari_introspect.conf import validate
from masakari_introspect.version import version_string

LOG = logging.getLogger(__name__)
PROJECT = 'masakari-introspect'
QUIET_LIBRARIES = ['%s=WARN' % name for name in (
    'apscheduler', 'urllib3', *masakari_conf.LIBRARY_LOGGERS)]


def _fail(message: str) -> int:
    sys.stderr.write('%s: %s\n' % (PROJECT, message))
    return 2


def main(argv: list[str] | None = None) -> int:
    # A hangup while starting is ignored: the files are being read anyway.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    conf = cfg.CONF
    opts.register_opts(conf)
    logging.register_options(conf)
    logging.set_defaults(default_log_levels=(
        logging.get_default_log_levels() + QUIET_LIBRARIES))
    try:
        conf(sys.argv[1:] if argv is None else argv, project=PROJECT,
             prog=PROJECT, version=version_string())
        warnings = validate.check(conf) + validate.unknown_options(conf)
        validate.check_files(conf)
        with validate.naming('[DEFAULT] log_dir / log_file'):
            logging.setup(conf, PROJECT)
    except validate.ConfigError as exc:
        return _fail(str(exc))
    except cfg.Error as exc:
        return _fail('configuration error: %s' % exc)
    except OSError as exc:   # oslo.config opens the files unchecked
        return _fail('cannot read --config-file %s: %s%s' % (
            exc.filename, exc.strerror or exc,
            ' (use --config-dir for a directory)'
            if isinstance(exc, IsADirectoryError) else ''))
    for warning in warnings:
        LOG.warning('%s', warning)

    # Imported late: it pulls in libvirt and the notifier's libraries.
    from masakari_introspect.service import Service

    try:
        service = Service(conf)
    except validate.ConfigError as exc:
        LOG.error('Cannot start: %s', exc)
        return _fail(str(exc))
    except (OSError, ValueError, cfg.Error) as exc:
        LOG.error('Cannot start: %s', exc)
        return _fail('cannot start: %s' % exc)

    def on_signal(signum: int, _frame: types.FrameType | None) -> None:
        LOG.info('Received %s', signal.Signals(signum).name)
        service.request_stop()

    def on_hangup(signum: int, _frame: types.FrameType | None) -> None:
        service.request_reload()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    conf.log_opt_values(LOG, logging.DEBUG)
    service.run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
