"""After a verdict: forensics, the durable spool, the sender and the
recovery drivers (Masakari, libvirt, a command, dry run)."""
