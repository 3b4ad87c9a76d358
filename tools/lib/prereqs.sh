# Sourced by tools/run-tests and tools/sandbox.
#
# They run on the distribution's python3 (Debian's or Ubuntu's /usr/bin/python3,
# which has no pip and refuses system-wide installs, PEP 668), never on
# whatever python3 comes first on PATH, and keep the Python tools they need
# (tox, the sandbox's packages) in virtual environments of their own in the
# bed's cache, outside the tree.

BED_CACHE=${MASAKARI_BED_CACHE:-$HOME/.cache/masakari-introspect-bed}
# The interpreter virtualenvs are built with, as in tests/bed/venv.py.
BED_PYTHON=${MASAKARI_BED_PYTHON:-/usr/bin/python3}

# pbr runs git in this tree. Run as root in a checkout that another user owns
# (sudo tools/sandbox), git refuses the repository ("detected dubious
# ownership") and the install fails as if there were no git: this tree is made
# a safe.directory for git run by these tools and by tox (tox.ini passes
# GIT_CONFIG_*), through git's environment, for this run only.
git_config_index=${GIT_CONFIG_COUNT:-0}
export "GIT_CONFIG_KEY_$git_config_index=safe.directory"
export "GIT_CONFIG_VALUE_$git_config_index=$PWD"
export GIT_CONFIG_COUNT=$((git_config_index + 1))
unset git_config_index

# The Debian packages needed to create virtual environments, to download from
# PyPI, to build libvirt-python and to install this tree (pbr takes its version
# from git: without git, "pip install ." fails): installed if missing (as root,
# with apt).
ensure_build_prereqs() {
    local need=() pkg
    for pkg in python3 python3-venv python3-dev ca-certificates git libvirt-dev pkg-config gcc; do
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

# ensure_tool_venv DIR REQUIREMENT...: a virtualenv at DIR holding the
# requirements, built once with $BED_PYTHON by tests/bed/venv.py (the code
# that builds the bed's masakari-api virtualenv; standard library only).
ensure_tool_venv() {
    "$BED_PYTHON" -B -m tests.bed.venv "$@" || exit 1
}
