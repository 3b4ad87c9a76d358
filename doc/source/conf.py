"""Sphinx configuration for the masakari_introspect documentation."""

project = 'masakari_introspect'
copyright = 'masakari_introspect developers'
extensions = ['oslo_config.sphinxext']
exclude_patterns: list[str] = []
html_theme = 'alabaster'
