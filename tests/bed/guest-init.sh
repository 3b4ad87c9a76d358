#!/bin/sh
# /init of the bed's guest (busybox sh as PID 1).
#
# Loads the modules, starts the real qemu-ga on org.qemu.guest_agent.0
# (unless the kernel command line or the disk's flag sector says bed.noagent),
# then serves commands that the host sends on the virtio-serial port
# org.example.ctl.0, one per line ("command [argument]"), answering each with
# "ok <line>" (or "err <line>").
#
# The optional virtio disk /dev/vda is raw: its first sector holds flags for
# the next boot (text, written by the host), the disk workload rewrites the
# ring of RING_BLOCKS blocks of 64 KiB that starts at 1 MiB.

export PATH=/sbin:/bin:/usr/sbin:/usr/bin
AGENT_PORT=/dev/virtio-ports/org.qemu.guest_agent.0
CTL_PORT=/dev/virtio-ports/org.example.ctl.0
DISK=/dev/vda
RING_START=16
RING_BLOCKS=16
AGENT_PID=
AGENT_BLOCKED=
DISK_PID=
NET_PID=
WATCHDOG_PID=
THAW_PID=
PVPANIC_PORT=1285

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
    qemu-ga -m virtio-serial -p "$AGENT_PORT" ${AGENT_BLOCKED:+-b "$AGENT_BLOCKED"} \
        </dev/null >/dev/null 2>/dev/console 3<&- &
    AGENT_PID=$!
    say "qemu-ga started (pid $AGENT_PID${AGENT_BLOCKED:+, blocked: $AGENT_BLOCKED})"
}

# Restart qemu-ga with the RPCs in $1 (comma-separated; "-" for none)
# blocked; nothing if it already runs so (the host may resend the command).
agent_restart_blocking() {
    blocked=$1
    [ "$blocked" = - ] && blocked=
    agent_running && [ "$blocked" = "$AGENT_BLOCKED" ] && return 0
    stop_agent TERM
    AGENT_BLOCKED=$blocked
    start_agent
}

# Succeed if $2 <= (processes named $1) <= $3.
procs_between() {
    count=0
    for comm in /proc/[0-9]*/comm; do
        [ "$(cat "$comm" 2>/dev/null)" = "$1" ] && count=$((count + 1))
    done
    [ "$count" -ge "$2" ] && [ "$count" -le "$3" ]
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

# --- optional devices ---------------------------------------------------------

# Background children close fd 3: the control port is exclusive-open.
stop_child() {
    [ -n "$1" ] || return 0
    kill "-${2:-TERM}" "$1" 2>/dev/null
    kill -CONT "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

boot_flags() {
    [ -b "$DISK" ] || return 0
    dd if="$DISK" bs=512 count=1 2>/dev/null | tr -d '\000'
}

# Rewrite one block of the ring (O_DIRECT, then a flush) and read it back
# (O_DIRECT), block after block, five times a second.
disk_workload() {
    yes bed | head -c 65536 > /tmp/block
    block=0
    while true; do
        dd if=/tmp/block of="$DISK" bs=64k count=1 seek=$((RING_START + block)) \
            oflag=direct conv=notrunc,fsync 2>/dev/null
        dd if="$DISK" of=/dev/null bs=64k count=1 skip=$((RING_START + block)) \
            iflag=direct 2>/dev/null
        block=$(((block + 1) % RING_BLOCKS))
        sleep 0.2
    done
}

disk_start() {
    [ -b "$DISK" ] || return 1
    [ -n "$DISK_PID" ] && return 0
    disk_workload 3<&- </dev/null >/dev/null 2>&1 &
    DISK_PID=$!
    say "disk workload started (pid $DISK_PID)"
}

disk_stop() { stop_child "$DISK_PID"; DISK_PID=; }

net_interface() {
    for path in /sys/class/net/*; do
        [ "${path##*/}" = lo ] || { echo "${path##*/}"; return 0; }
    done
    return 1
}

# Pings to an address nobody has, ten a second, its MAC address set by hand
# (no ARP): transmit only. IPv6 stays off and the link goes down when the
# traffic stops, so the kernel adds no packets of its own.
NET_PEER=192.0.2.1
net_start() {
    nic=$(net_interface) || return 1
    [ -n "$NET_PID" ] && return 0
    echo 1 > "/proc/sys/net/ipv6/conf/$nic/disable_ipv6"
    ip link set "$nic" up
    ip addr add 192.0.2.2/24 dev "$nic" 2>/dev/null
    arp -i "$nic" -s "$NET_PEER" 02:00:00:00:00:01
    ping -q -i 0.1 "$NET_PEER" 3<&- </dev/null >/dev/null 2>&1 &
    NET_PID=$!
    say "network traffic started on $nic (pid $NET_PID)"
}

net_stop() {
    stop_child "$NET_PID"
    NET_PID=
    nic=$(net_interface) && ip link set "$nic" down
    return 0
}

# busybox watchdog sets the timeout to $1 seconds and feeds every 500 ms.
# SIGKILL leaves the device armed and unfed; SIGTERM disarms it (magic close).
watchdog_arm() {
    [ -c /dev/watchdog ] || return 1
    [ -n "$WATCHDOG_PID" ] && return 0
    watchdog -F -t 500ms -T "${1:-2}" /dev/watchdog 3<&- </dev/null >/dev/null 2>&1 &
    WATCHDOG_PID=$!
    say "watchdog armed, ${1:-2} s (pid $WATCHDOG_PID)"
}

watchdog_starve() { stop_child "$WATCHDOG_PID" KILL; WATCHDOG_PID=; say "watchdog unfed"; }

watchdog_disarm() { stop_child "$WATCHDOG_PID" TERM; WATCHDOG_PID=; }

poweroff_after() {
    ( sleep "$1"; say "powering off"; poweroff -f ) 3<&- </dev/null >/dev/null 2>&1 &
}

is_number() { case "$1" in ''|*[!0-9.]*) return 1 ;; esac; }

# --- kernel heartbeat and userspace faults -----------------------------------------

# SIGSTOP every process but PID 1, which is this shell: kill -1 spares init
# and the caller, so the control port keeps answering. A timer (started after
# the stop, so it runs) sends SIGCONT after $1 seconds unless thawed before.
freeze_userspace() {
    thaw_userspace
    kill -STOP -1
    ( sleep "$1"; kill -CONT -1 ) 3<&- </dev/null >/dev/null 2>&1 &
    THAW_PID=$!
    say "userspace stopped for at most $1 s"
}

thaw_userspace() {
    [ -n "$THAW_PID" ] && kill -KILL "$THAW_PID" 2>/dev/null && wait "$THAW_PID" 2>/dev/null
    THAW_PID=
    kill -CONT -1 2>/dev/null
    return 0
}

# Write 2 (crash loaded) to the ISA pvpanic device's I/O port, as a kernel with
# a crash kernel loaded and crash_kexec_post_notifiers does; the guest runs on.
crash_loaded() {
    [ -c /dev/port ] || return 1
    printf '\002' | dd of=/dev/port bs=1 seek=$PVPANIC_PORT count=1 conv=notrunc 2>/dev/null
}

balloon_loaded() { grep -q '^virtio_balloon ' /proc/modules; }

balloon_unload() { ! balloon_loaded || rmmod virtio_balloon; }

balloon_load() {
    balloon_loaded && return 0
    insmod /lib/modules/*-virtio_balloon.ko
}

# --- the control port -----------------------------------------------------------

reply() { echo "$*" >&3; }

# Reply "ok LINE" if the command succeeded, "err LINE" if not.
result() {
    if [ "$1" -eq 0 ]; then reply "ok $2"; else reply "err $2"; fi
}

# Acknowledge first, then take the guest down (the ack must leave first).
ack_then() {
    reply "ok $1"
    sleep 0.3
    shift
    "$@"
}

panic_kernel() { echo c > /proc/sysrq-trigger; }

handle() {
    line=$1
    # shellcheck disable=SC2086 # split the line into command and argument
    set -- $line
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
        poweroff-after) is_number "$2" && poweroff_after "$2"; result $? "$line" ;;
        disk-start) disk_start; result $? "$line" ;;
        disk-stop) disk_stop; result $? "$line" ;;
        net-start) net_start; result $? "$line" ;;
        net-stop) net_stop; result $? "$line" ;;
        watchdog-arm) { [ -z "$2" ] || is_number "$2"; } && watchdog_arm "$2"; result $? "$line" ;;
        watchdog-starve) watchdog_starve; result $? "$line" ;;
        watchdog-disarm) watchdog_disarm; result $? "$line" ;;
        freeze-userspace) is_number "$2" && freeze_userspace "$2"; result $? "$line" ;;
        thaw-userspace) thaw_userspace; result $? "$line" ;;
        crash-loaded) crash_loaded; result $? "$line" ;;
        balloon-unload) balloon_unload; result $? "$line" ;;
        balloon-load) balloon_load; result $? "$line" ;;
        app-up) touch /run/app; result $? "$line" ;;
        app-down) rm -f /run/app; result $? "$line" ;;
        agent-restart-blocking) [ -n "$2" ] && agent_restart_blocking "$2"; result $? "$line" ;;
        procs-between) is_number "$3" && is_number "$4" && procs_between "$2" "$3" "$4"; result $? "$line" ;;
        "") ;;
        *) reply "err $line" ;;
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
case " $(cat /proc/cmdline) $(boot_flags) " in
    *" bed.noagent "*) say "bed.noagent: qemu-ga not started" ;;
    *) start_agent ;;
esac
if [ -e "$CTL_PORT" ]; then
    say "ready"
    control_loop
fi
say "no control port"
while true; do sleep 3600; done
