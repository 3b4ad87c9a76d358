"""Build (and cache) the bed's guest: a Debian kernel plus a small initramfs.

The initramfs holds busybox-static, the real qemu-ga with the host libraries it
links to, the virtio modules and tests/bed/guest-init.sh as /init. It is
written in pure Python (newc cpio, gzip). Packages are fetched with
``apt-get download`` and unpacked into the cache, never installed on the host.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import logging
import lzma
import re
import stat
import struct
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bed.host import cache_dir, run

log = logging.getLogger(__name__)

INIT_SCRIPT = Path(__file__).with_name("guest-init.sh")
KERNEL_META_PACKAGE = "linux-image-amd64"
# Loaded by /init in this order (a module after the modules it depends on).
# Only the virtio console is needed by every guest; the rest drive optional
# devices (virtio balloon, disk and NIC, pvpanic, i6300esb watchdog) and load
# harmlessly without them.
GUEST_MODULES = (
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "virtio_console",
    "virtio_balloon",
    "virtio_blk",
    "failover",
    "net_failover",
    "virtio_net",
    "pvpanic",
    "pvpanic-mmio",
    "watchdog",
    "i6300esb",
)
STALE_INITRD_AGE = 2 * 24 * 3600.0
SHUTDOWN_WRAPPER = b"""#!/bin/sh
# qemu-ga's guest-shutdown runs /sbin/shutdown -P|-H|-r +0 MESSAGE
case " $* " in
    *" -r "*) exec reboot -f ;;
    *) exec poweroff -f ;;
esac
"""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path


# --- packages ----------------------------------------------------------------


def kernel_package() -> str:
    """The versioned kernel package that linux-image-amd64 depends on."""
    out = run(["apt-cache", "depends", KERNEL_META_PACKAGE]).stdout
    match = re.search(r"Depends: (linux-image-\S+)", out)
    if not match:
        raise RuntimeError(f"cannot resolve {KERNEL_META_PACKAGE}:\n{out}")
    return match.group(1)


def download_deb(package: str, into: Path) -> Path:
    """apt-get download package into a directory; return the .deb."""
    into.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s", package)
    try:
        run(["apt-get", "download", package], cwd=into)
    except RuntimeError:
        run(["apt-get", "update"])
        run(["apt-get", "download", package], cwd=into)
    debs = sorted(into.glob(f"{package}_*.deb"))
    if not debs:
        raise RuntimeError(f"apt-get download {package} produced no .deb in {into}")
    return debs[-1]


def extract_from_deb(deb: Path, wanted, dest: Path) -> list[Path]:
    """Extract the regular files of deb whose path satisfies wanted(path)."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    extracted = []
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            path = member.name.lstrip("./")
            if not member.isfile() or not wanted(path):
                continue
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
            target.chmod(member.mode & 0o7777)
            extracted.append(target)
    if proc.wait() != 0:
        raise RuntimeError(f"dpkg-deb --fsys-tarfile {deb} failed")
    return extracted


def package_files(package: str, wanted) -> Path:
    """Unpack the wanted files of a package into the cache once; return its root."""
    root = cache_dir() / "packages" / package
    if (root / ".complete").exists():
        return root
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        deb = download_deb(package, Path(tmp))
        extract_from_deb(deb, wanted, root)
    (root / ".complete").touch()
    return root


def module_wanted(path: str) -> bool:
    name = Path(path).name.split(".ko")[0]
    return path.startswith("lib/modules/") and ".ko" in path and name in GUEST_MODULES


def kernel_files() -> Path:
    package = kernel_package()
    root = package_files(package, lambda p: p.startswith("boot/vmlinuz-") or module_wanted(p))
    if not (root / ".modules").exists() or \
            (root / ".modules").read_text().split() != list(GUEST_MODULES):
        # Unpacked by an older bed that wanted fewer modules: unpack again.
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            extract_from_deb(download_deb(package, Path(tmp)), module_wanted, root)
        (root / ".modules").write_text("\n".join(GUEST_MODULES) + "\n")
    return root


def busybox_files() -> Path:
    return package_files("busybox-static", lambda p: p == "bin/busybox")


def agent_files() -> Path:
    return package_files("qemu-guest-agent", lambda p: p == "usr/sbin/qemu-ga")


# --- the initramfs -------------------------------------------------------------


class Cpio:
    """An in-memory newc cpio archive."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, bytes, int]] = {}  # path -> (mode, data, rdev)

    def add_dir(self, path: str) -> None:
        path = path.strip("/")
        parent = str(Path(path).parent)
        if parent != ".":
            self.add_dir(parent)
        self.entries.setdefault(path, (stat.S_IFDIR | 0o755, b"", 0))

    def _add(self, path: str, mode: int, data: bytes, rdev: int = 0) -> None:
        path = path.strip("/")
        parent = str(Path(path).parent)
        if parent != ".":
            self.add_dir(parent)
        self.entries[path] = (mode, data, rdev)

    def add_file(self, path: str, data: bytes, perm: int = 0o644) -> None:
        self._add(path, stat.S_IFREG | perm, data)

    def add_symlink(self, path: str, target: str) -> None:
        self._add(path, stat.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, path: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._add(path, stat.S_IFCHR | perm, b"", (major << 8) | minor)

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        for ino, path in enumerate(sorted(self.entries), start=1):
            mode, data, rdev = self.entries[path]
            write_entry(out, ino, path, mode, data, rdev)
        write_entry(out, 0, "TRAILER!!!", 0, b"", 0)
        return out.getvalue()


def pad4(out: io.BytesIO) -> None:
    out.write(b"\0" * (-out.tell() % 4))


def write_entry(out: io.BytesIO, ino: int, name: str, mode: int, data: bytes, rdev: int) -> None:
    name_bytes = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(mode) else 1
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF,
              len(name_bytes), 0)
    out.write(b"070701" + b"".join(b"%08X" % f for f in fields))
    out.write(name_bytes)
    pad4(out)
    out.write(data)
    pad4(out)


def add_busybox(cpio: Cpio, busybox: Path) -> None:
    cpio.add_file("bin/busybox", busybox.read_bytes(), 0o755)
    applets = run([str(busybox), "--list-full"]).stdout.split()
    for applet in applets:
        if applet != "bin/busybox":
            cpio.add_symlink(applet, "/bin/busybox")


def shared_libraries(binary: Path) -> list[Path]:
    """Absolute paths of the libraries (and loader) ldd lists for binary."""
    out = run(["ldd", str(binary)]).stdout
    if "not found" in out:
        raise RuntimeError(f"{binary} needs libraries missing on this host:\n{out}")
    return [Path(p) for p in re.findall(r"(/\S+) \(0x", out)]


def add_agent(cpio: Cpio, qemu_ga: Path) -> None:
    cpio.add_file("usr/sbin/qemu-ga", qemu_ga.read_bytes(), 0o755)
    for library in shared_libraries(qemu_ga):
        cpio.add_file(str(library), library.resolve().read_bytes(), 0o755)


def module_bytes(path: Path) -> bytes:
    """A module's bytes, decompressed (busybox insmod takes plain .ko only)."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.zst"):
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    return data


def module_depends(module: bytes) -> list[str]:
    """The modules a module needs loaded first (its modinfo "depends=")."""
    match = re.search(rb"\0depends=([^\0]*)\0", module)
    if not match or not match.group(1):
        return []
    return [name.replace("-", "_") for name in match.group(1).decode().split(",")]


def add_modules(cpio: Cpio, kernel_root: Path) -> None:
    found = {p.name.split(".ko")[0]: p for p in kernel_root.glob("lib/modules/*/kernel/**/*.ko*")}
    loaded: set[str] = set()
    for index, name in enumerate(GUEST_MODULES):
        if name not in found:
            log.warning("kernel has no module %s (built in?)", name)
            continue
        data = module_bytes(found[name])
        missing = [dep for dep in module_depends(data) if dep not in loaded]
        if missing:
            raise RuntimeError(f"module {name} needs {', '.join(missing)} loaded before it:"
                               " fix the order of GUEST_MODULES")
        loaded.add(name.replace("-", "_"))
        cpio.add_file(f"lib/modules/{index:02d}-{name}.ko", data)


def add_skeleton(cpio: Cpio) -> None:
    for directory in ("dev", "proc", "sys", "run", "tmp", "var", "etc", "root"):
        cpio.add_dir(directory)
    cpio.add_symlink("var/run", "/run")
    cpio.add_chardev("dev/console", 5, 1)
    cpio.add_chardev("dev/null", 1, 3, 0o666)
    cpio.add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    cpio.add_file("etc/group", b"root:x:0:\n")
    cpio.add_file("sbin/shutdown", SHUTDOWN_WRAPPER, 0o755)
    cpio.add_file("init", INIT_SCRIPT.read_bytes(), 0o755)


def build_initramfs(kernel_root: Path) -> bytes:
    cpio = Cpio()
    add_busybox(cpio, busybox_files() / "bin/busybox")
    add_skeleton(cpio)  # after busybox: /sbin/shutdown is ours
    add_agent(cpio, agent_files() / "usr/sbin/qemu-ga")
    add_modules(cpio, kernel_root)
    return gzip.compress(cpio.to_bytes(), compresslevel=6, mtime=0)


# --- the kernel --------------------------------------------------------------------

XZ_MAGIC = b"\xfd7zXZ\x00"
PT_NOTE = 4
XEN_ELFNOTE_PHYS32_ENTRY = 18


def elf_notes(elf: bytes):
    """(name, type) of every note in the PT_NOTE segments of a 64-bit little-endian ELF."""
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for index in range(phnum):
        p_type, _flags, offset, _vaddr, _paddr, size = struct.unpack_from(
            "<IIQQQQ", elf, phoff + index * phentsize)
        if p_type != PT_NOTE:
            continue
        position, end = offset, offset + size
        while position + 12 <= end:
            namesz, descsz, note_type = struct.unpack_from("<III", elf, position)
            name = elf[position + 12:position + 12 + namesz].rstrip(b"\0")
            yield name, note_type
            position += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4


def pvh_vmlinux(bzimage: bytes) -> bytes | None:
    """The uncompressed ELF kernel inside an xz bzImage, if QEMU can boot it via PVH.

    Booting it directly skips the in-guest decompression, which under TCG
    takes about 4 s of every boot.
    """
    start = bzimage.find(XZ_MAGIC)
    if start < 0:
        return None
    try:
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(bzimage[start:])
    except lzma.LZMAError:
        return None
    if elf[:5] != b"\x7fELF\x02" or (b"Xen", XEN_ELFNOTE_PHYS32_ENTRY) not in set(elf_notes(elf)):
        return None
    return elf


def write_kernel(vmlinuz: Path, image_dir: Path, version: str) -> Path:
    """Put the fastest-booting form of the kernel into image_dir; return its path."""
    bzimage = vmlinuz.read_bytes()
    elf = pvh_vmlinux(bzimage)
    kernel = image_dir / (f"vmlinux-{version}" if elf else f"vmlinuz-{version}")
    tmp = kernel.with_suffix(".tmp")
    tmp.write_bytes(elf or bzimage)
    tmp.rename(kernel)
    return kernel


# --- the image -------------------------------------------------------------------


def image_hash() -> str:
    """Hash of what goes into the build: the init script and this builder."""
    digest = hashlib.sha256(INIT_SCRIPT.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:12]


def cached_image(image_dir: Path, digest: str) -> GuestImage | None:
    for initrd in image_dir.glob(f"initrd-*-{digest}.img"):
        version = initrd.name[len("initrd-"):-len(f"-{digest}.img")]
        for kernel in (image_dir / f"vmlinux-{version}", image_dir / f"vmlinuz-{version}"):
            if kernel.exists():
                return GuestImage(kernel=kernel, initrd=initrd)
    return None


def build_image() -> GuestImage:
    """Return the guest kernel and initramfs, building them if missing or outdated."""
    image_dir = cache_dir() / "image"
    digest = image_hash()
    cached = cached_image(image_dir, digest)
    if cached:
        return cached
    kernel_root = kernel_files()
    vmlinuz = next(kernel_root.glob("boot/vmlinuz-*"))
    version = vmlinuz.name[len("vmlinuz-"):]
    log.info("building the guest initramfs (kernel %s)", version)
    image_dir.mkdir(parents=True, exist_ok=True)
    kernel = write_kernel(vmlinuz, image_dir, version)
    initrd = image_dir / f"initrd-{version}-{digest}.img"
    tmp = initrd.with_suffix(".tmp")
    tmp.write_bytes(build_initramfs(kernel_root))
    tmp.rename(initrd)
    remove_stale_initrds(image_dir, keep=initrd)
    return GuestImage(kernel=kernel, initrd=initrd)


def remove_stale_initrds(image_dir: Path, keep: Path) -> None:
    """Remove initrds of other builds, unless built lately.

    Several checkouts of the project may share one cache: a recent initrd may
    belong to another checkout's guests (defined domains point at it).
    """
    for old in image_dir.glob("initrd-*.img"):
        try:
            age = time.time() - old.stat().st_mtime
        except OSError:
            continue
        if old != keep and age > STALE_INITRD_AGE:
            old.unlink(missing_ok=True)
