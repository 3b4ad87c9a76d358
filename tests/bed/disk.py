"""A guest's optional virtio disk: a sparse raw image, optionally on its own tiny tmpfs.

Layout of the image (shared with guest-init.sh):
  sector 0          flags for the next boot, as text separated by spaces
                    (``bed.noagent``: /init does not start qemu-ga)
  1 MiB .. 2 MiB    the ring the disk workload rewrites (16 blocks of 64 KiB)

Disk full: the image lives on a per-guest tmpfs of a few MiB. ``fill()`` frees
the ring's blocks in the image (punches holes) and fills the tmpfs, so the
workload's next write needs space the filesystem does not have: QEMU gets
ENOSPC and, with the disk's error policy ``stop`` (QEMU's default for ENOSPC
too), pauses the domain with reason ``ioerror``. ``unfill()`` gives the space
back; resuming the domain retries the write.
"""
from __future__ import annotations

import ctypes
import errno
import logging
import os
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

SECTOR = 512
RING_OFFSET = 1 << 20
RING_LENGTH = 1 << 20
MIN_SIZE_MIB = 4
FS_ROOT = Path("/run/masakari-bed")
FILLER = "filler"
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
NO_AGENT_FLAG = "bed.noagent"


def fs_dir(name: str) -> Path:
    """Mount point of a guest's tmpfs."""
    return FS_ROOT / name


def is_mounted(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0


def mount_tmpfs(path: Path, size_mib: int) -> None:
    """A fresh tmpfs of size_mib at path (an old one there is unmounted first)."""
    unmount(path)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700",
                    "masakari-bed", str(path)], check=True, capture_output=True)


def unmount(path: Path) -> None:
    """Unmount path if it is a mount point, and remove the directory."""
    if path.exists() and is_mounted(path):
        subprocess.run(["umount", str(path)], check=True, capture_output=True)
    try:
        path.rmdir()
    except OSError:
        pass


def create_image(path: Path, size_mib: int) -> None:
    """A sparse raw image of size_mib MiB with no boot flags."""
    if size_mib < MIN_SIZE_MIB:
        raise ValueError(f"a bed disk needs at least {MIN_SIZE_MIB} MiB, not {size_mib}")
    with open(path, "wb") as image:
        image.truncate(size_mib << 20)
    write_flags(path, [])


def write_flags(path: Path, flags: list[str]) -> None:
    """Set the boot flags (sector 0). Read by /init at its next boot, even a reboot
    from inside the guest; safe while the domain runs (QEMU does not cache it)."""
    text = (" " + " ".join(flags) + " ").encode()
    if len(text) > SECTOR:
        raise ValueError("boot flags longer than a sector")
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, text.ljust(SECTOR, b"\0"), 0)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_flags(path: Path) -> list[str]:
    with open(path, "rb") as image:
        return image.read(SECTOR).rstrip(b"\0").decode().split()


def punch_hole(path: Path, offset: int, length: int) -> None:
    """Deallocate a range of a file (its bytes read as zeros afterwards)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    fd = os.open(path, os.O_WRONLY)
    try:
        if libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"punching a hole in {path}: {os.strerror(code)}")
    finally:
        os.close(fd)


def fill(image: Path) -> int:
    """Free the ring in image and fill its filesystem; return the bytes of filler written."""
    if not is_mounted(image.parent):
        raise RuntimeError(f"{image} is not on the bed's own tmpfs: define the guest "
                           "with disk_fs_mib to make its disk fillable")
    punch_hole(image, RING_OFFSET, RING_LENGTH)
    written = 0
    chunk = 1 << 20
    with open(image.parent / FILLER, "ab", buffering=0) as filler:
        while chunk >= 4096:
            try:
                written += filler.write(b"\xff" * chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    log.info("%s: filesystem full (%d KiB of filler)", image, written >> 10)
    return written


def unfill(image: Path) -> None:
    """Give the space that fill() took back."""
    (image.parent / FILLER).unlink(missing_ok=True)
