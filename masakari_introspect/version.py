"""The version of the installed package, as pbr computed it at build time."""

from importlib import metadata

DISTRIBUTION = 'masakari-introspect'


def version_string() -> str:
    """``0.1.0``, ``0.0.1.dev19``, or ``unknown`` when not installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return 'unknown'
