"""Functional test bed: libvirtd + QEMU (TCG) + a tiny guest running the real qemu-ga.

Modules:
  host    -- prepare the host (packages, qemu.conf, libvirtd under a subreaper)
  image   -- build and cache the guest kernel + initramfs
  guest   -- drive one libvirt domain (agent pings, in-guest fault injection,
             optional disk, NIC, pvpanic, watchdog and balloon)
  disk    -- a guest's disk image, its boot flags, and filling it up
  events  -- record libvirt's domain events in the test process
  heartbeat -- the balloon heartbeat (last-update), vCPU run delay, starving a guest
  reaper  -- tiny child-subreaper that runs libvirtd in the foreground

Run ``python -m tests.bed --help`` for the command line.
"""
