"""Introspective high-availability monitor for libvirt/QEMU guests."""
