"""Command line of the test bed: python -m tests.bed
{prepare,demo-guest,control,heartbeat,cleanup}."""
from __future__ import annotations

import argparse
import logging
import sys
import time


def cmd_prepare(_args: argparse.Namespace) -> int:
    from tests.bed.host import cache_dir, missing_requirements, prepare_host
    from tests.bed.image import build_image

    started = time.monotonic()
    prepare_host()
    image = build_image()
    print(f"kernel: {image.kernel}")
    print(f"initrd: {image.initrd}")
    print(f"cache:  {cache_dir()}")
    print(f"took:   {time.monotonic() - started:.1f} s")
    missing = missing_requirements()
    if missing:
        print("still missing: " + "; ".join(missing))
        return 1
    return 0


def cmd_demo_guest(args: argparse.Namespace) -> int:
    from tests.bed.guest import Guest
    from tests.bed.image import build_image

    guest = Guest.define(args.name, build_image(), agent_channel=not args.no_agent_channel,
                         agent_autostart=not args.no_agent_autostart,
                         nova_socket_path=args.nova_socket_path, disk_mib=args.disk_mib,
                         disk_fs_mib=args.disk_fs_mib, disk_error_policy=args.disk_error_policy,
                         nic=args.nic, pvpanic=args.pvpanic, on_crash=args.on_crash,
                         watchdog=args.watchdog, balloon_period=args.balloon_period)
    guest.start()
    print(f"uuid: {guest.uuid}")
    print(f"time to first guest-ping: {guest.wait_agent(args.timeout):.1f} s")
    print(f"agent socket: {guest.agent_socket()}")
    return 0


def cmd_control(args: argparse.Namespace) -> int:
    from tests.bed.guest import Guest

    started = time.monotonic()
    command = " ".join([args.command, *args.argument])
    Guest.lookup(args.name).control(command, timeout=args.timeout)
    print(f"ok {command} ({time.monotonic() - started:.2f} s)")
    return 0


def cmd_heartbeat(args: argparse.Namespace) -> int:
    from tests.bed.guest import Guest
    from tests.bed.heartbeat import measure_vcpu, watch_heartbeat

    guest = Guest.lookup(args.name)
    for sample in watch_heartbeat(guest, args.seconds):
        age = "-" if sample.age is None else f"{sample.age:.1f} s"
        print(f"last-update {sample.last_update}  age {age}")
    vcpu = measure_vcpu(guest, 2)
    print(f"vcpu 0 over {vcpu.seconds:.1f} s: time {vcpu.time:.2f} s, delay {vcpu.delay:.2f} s"
          f"{' (starved)' if vcpu.starved else ''}")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    from tests.bed.guest import destroy_all

    removed = destroy_all(args.prefix)
    print("removed: " + (", ".join(removed) or "nothing"))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m tests.bed", description=__doc__)
    top.add_argument("-v", "--verbose", action="store_true")
    commands = top.add_subparsers(dest="command", required=True)

    commands.add_parser("prepare", help="prepare the host and build the guest image") \
        .set_defaults(func=cmd_prepare)

    demo = commands.add_parser("demo-guest", help="define and start a guest, wait for its agent")
    demo.add_argument("name")
    demo.add_argument("--no-agent-channel", action="store_true")
    demo.add_argument("--no-agent-autostart", action="store_true")
    demo.add_argument("--nova-socket-path", action="store_true")
    demo.add_argument("--disk-mib", type=int, default=0, help="a virtio disk of this size")
    demo.add_argument("--disk-fs-mib", type=int, help="the disk image on a tmpfs of this size")
    demo.add_argument("--disk-error-policy", help="stop, report, ignore or enospace")
    demo.add_argument("--nic", action="store_true", help="a virtio NIC on a host tap")
    demo.add_argument("--pvpanic", action="store_true", help="a pvpanic device")
    demo.add_argument("--on-crash", default="destroy", help="destroy, preserve, restart...")
    demo.add_argument("--watchdog", help="an i6300esb watchdog with this action (pause...)")
    demo.add_argument("--balloon-period", type=int,
                      help="a virtio balloon with statistics every N s (0: off)")
    demo.add_argument("--timeout", type=float, default=60)
    demo.set_defaults(func=cmd_demo_guest)

    control = commands.add_parser("control", help="send a control command to a guest")
    control.add_argument("name")
    control.add_argument("command", help="ping, agent-stop, agent-kill, agent-hang, "
                         "agent-resume, agent-start, panic, reboot, poweroff, poweroff-after, "
                         "disk-start, disk-stop, net-start, net-stop, watchdog-arm, "
                         "watchdog-starve, watchdog-disarm, freeze-userspace, "
                         "thaw-userspace, crash-loaded, balloon-unload, balloon-load")
    control.add_argument("argument", nargs="*", help="seconds, for poweroff-after, "
                         "watchdog-arm and freeze-userspace")
    control.add_argument("--timeout", type=float, default=15)
    control.set_defaults(func=cmd_control)

    heartbeat = commands.add_parser("heartbeat", help="print a guest's balloon last-update "
                                    "once a second, then its vCPU run time and delay")
    heartbeat.add_argument("name")
    heartbeat.add_argument("--seconds", type=float, default=5)
    heartbeat.set_defaults(func=cmd_heartbeat)

    cleanup = commands.add_parser("cleanup", help="destroy and undefine the bed's domains")
    cleanup.add_argument("--prefix", default="", help="only domains whose name starts with this")
    cleanup.set_defaults(func=cmd_cleanup)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
