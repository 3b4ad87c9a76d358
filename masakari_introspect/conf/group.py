"""What every option group module gives: ``register_opts`` and
``list_opts``, made for a plain group by :func:`option_group`."""

from collections.abc import Callable

from oslo_config import cfg

Register = Callable[[cfg.ConfigOpts], None]
Listing = Callable[[], dict[cfg.OptGroup, list[cfg.Opt]]]


def option_group(group: cfg.OptGroup, opts: list[cfg.Opt]
                 ) -> tuple[Register, Listing]:
    """``register_opts(conf)``, which registers ``group`` and its ``opts``
    on ``conf``, and ``list_opts()`` for oslo-config-generator."""

    def register_opts(conf: cfg.ConfigOpts) -> None:
        conf.register_group(group)
        conf.register_opts(opts, group=group)

    def list_opts() -> dict[cfg.OptGroup, list[cfg.Opt]]:
        return {group: opts}

    return register_opts, list_opts
