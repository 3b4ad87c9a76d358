"""Everything that talks to libvirt lives in this package, and only here."""
