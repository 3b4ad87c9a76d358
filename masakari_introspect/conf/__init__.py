"""Configuration: one module per option group.

Importing this package registers nothing: each user registers the groups it
reads (the status and check commands only ``[DEFAULT]`` and ``[status]``,
so they never load keystoneauth1); the service registers them all with
:func:`masakari_introspect.conf.opts.register_opts`, and
oslo-config-generator lists them with
:func:`masakari_introspect.conf.opts.list_opts`.
"""
