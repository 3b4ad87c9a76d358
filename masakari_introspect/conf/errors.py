"""The one exception of the configuration checks."""


class ConfigError(Exception):
    """One readable line for the operator, naming the option at fault."""
