#!/bin/sh
# /init of the bed's guest (busybox sh as PID 1).
#
# Loads the virtio modules, starts the real qemu-ga on org.qemu.guest_agent.0
# (unless the kernel command line has bed.noagent), then serves commands that
# the host sends on the virtio-serial port org.example.ctl.0, one per line,
# answering each with "ok <command>" (or "err <command>").

export PATH=/sbin:/bin:/usr/sbin:/usr/bin
AGENT_PORT=/dev/virtio-ports/org.qemu.guest_agent.0
CTL_PORT=/dev/virtio-ports/org.example.ctl.0
AGENT_PID=

say() { read -r up _ < /proc/uptime; echo "bed[$up]: $*" > /dev/console; }

mount_filesystems() {
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    mkdir -p /dev/pts /dev/virtio-ports /run /tmp /var/tmp
}

load_modules() {
    for module in /lib/modules/*.ko; do
        insmod "$module" || say "insmod $module failed"
    done
}

link_ports() {
    for port in /sys/class/virtio-ports/vport*; do
        [ -r "$port/name" ] || continue
        name=$(cat "$port/name")
        [ -n "$name" ] && ln -sf "/dev/${port##*/}" "/dev/virtio-ports/$name"
    done
}

wait_for_ports() {
    tries=0
    until [ -e "$CTL_PORT" ] || [ $tries -ge 100 ]; do
        sleep 0.1
        link_ports
        tries=$((tries + 1))
    done
    link_ports
}

agent_running() {
    [ -n "$AGENT_PID" ] || return 1
    state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$AGENT_PID/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

start_agent() {
    agent_running && return 0
    link_ports
    if [ ! -e "$AGENT_PORT" ]; then
        say "no agent port"
        return 1
    fi
    # 3<&-: the control port is exclusive-open, qemu-ga must not inherit it.
    qemu-ga -m virtio-serial -p "$AGENT_PORT" </dev/null >/dev/null 2>/dev/console 3<&- &
    AGENT_PID=$!
    say "qemu-ga started (pid $AGENT_PID)"
}

signal_agent() {
    [ -n "$AGENT_PID" ] && kill "-$1" "$AGENT_PID" 2>/dev/null
}

stop_agent() {
    agent_running || return 0
    signal_agent "$1"
    signal_agent CONT
    wait "$AGENT_PID" 2>/dev/null
    AGENT_PID=
}

reply() { echo "$*" >&3; }

# Acknowledge first, then take the guest down (the ack must leave first).
ack_then() {
    reply "ok $1"
    sleep 0.3
    shift
    "$@"
}

panic_kernel() { echo c > /proc/sysrq-trigger; }

handle() {
    case "$1" in
        ping) reply pong; reply "ok ping" ;;
        agent-stop) stop_agent TERM; reply "ok $1" ;;
        agent-kill) stop_agent KILL; reply "ok $1" ;;
        agent-hang) signal_agent STOP; reply "ok $1" ;;
        agent-resume) signal_agent CONT; reply "ok $1" ;;
        agent-start) start_agent; reply "ok $1" ;;
        panic) ack_then "$1" panic_kernel ;;
        reboot) ack_then "$1" reboot -f ;;
        poweroff) ack_then "$1" poweroff -f ;;
        "") ;;
        *) reply "err $1" ;;
    esac
}

# A read returns EOF at once while no host client is connected: poll slowly.
control_loop() {
    exec 3<>"$CTL_PORT"
    while true; do
        if read -r command <&3; then
            handle "$(echo "$command" | tr -d '\r')"
        else
            sleep 0.5
        fi
    done
}

mount_filesystems
load_modules
wait_for_ports
case " $(cat /proc/cmdline) " in
    *" bed.noagent "*) say "bed.noagent: qemu-ga not started" ;;
    *) start_agent ;;
esac
if [ -e "$CTL_PORT" ]; then
    say "ready"
    control_loop
fi
say "no control port"
while true; do sleep 3600; done
