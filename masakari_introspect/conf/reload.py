"""Reloading the configuration on SIGHUP.

Only options marked mutable change in a running service: oslo.log's
``debug`` and ``log_config_append``. Everything else needs a restart;
oslo.config warns about each such option that changed in the files.
"""

from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
# oslo.log's mutable options, the only ones registered so.
RELOADABLE = ('[DEFAULT] debug', '[DEFAULT] log_config_append')


def reload(conf: cfg.ConfigOpts, reason: str = 'SIGHUP') -> bool:
    """Re-read the files and apply the mutable options; log one INFO line
    (or one ERROR, keeping the running configuration). True on success."""
    try:
        fresh = conf.mutate_config_files()
    except (cfg.Error, OSError, ValueError) as exc:
        LOG.error('Configuration not reloaded on %s, the running one is '
                  'kept: %s', reason, exc)
        return False
    changes = ['[%s] %s %s -> %s' % (group or 'DEFAULT', name, old, new)
               for (group, name), (old, new) in sorted(
                   fresh.items(), key=lambda item: (item[0][0] or '',
                                                    item[0][1]))]
    LOG.info('Configuration reloaded on %s: %s (reloadable: %s; other '
             'options need a restart)', reason,
             '; '.join(changes) if changes else 'no reloadable option changed',
             ', '.join(RELOADABLE))
    return True
