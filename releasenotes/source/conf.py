"""Sphinx configuration for the masakari_introspect release notes (reno)."""

project = 'masakari_introspect Release Notes'
copyright = 'masakari_introspect developers'
extensions = ['reno.sphinxext']
exclude_patterns: list[str] = []
html_theme = 'alabaster'
