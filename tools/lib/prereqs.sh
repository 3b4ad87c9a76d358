# Sourced by tools/run-tests and tools/sandbox: the Debian packages needed to
# build libvirt-python and create virtual environments, installed if missing.
ensure_build_prereqs() {
    local need=() pkg
    for pkg in libvirt-dev pkg-config gcc python3-dev python3-venv; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    [ "${#need[@]}" -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "$(basename "$0"): missing packages ${need[*]}; run as root or install them" >&2
        exit 1
    fi
    echo "$(basename "$0"): installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
}
