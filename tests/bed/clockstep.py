"""Step a process's wall clock, not its monotonic clock: an LD_PRELOAD shim.

A time namespace cannot shift CLOCK_REALTIME, so the shim wraps
``clock_gettime`` (CLOCK_REALTIME and its coarse variant) and
``gettimeofday``: once the file named by ``MI_CLOCK_STEP_FILE`` exists, its
content (seconds, e.g. ``-3600``) is added to every wall-clock reading.
The file is looked for at most every 0.2 s of monotonic time; the step
happens once. Built with gcc into a directory of the caller's.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

ENV = "MI_CLOCK_STEP_FILE"

SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_fn)(clockid_t, struct timespec *);
typedef int (*tod_fn)(struct timeval *, void *);

static volatile long step = 0;          /* seconds added to the wall clock */
static volatile int stepped = 0;
static volatile double next_look = 0;

static clock_fn real_clock(void) {
    static clock_fn fn = 0;
    if (!fn) fn = (clock_fn)dlsym(RTLD_NEXT, "clock_gettime");
    return fn;
}

static void look(void) {
    struct timespec mono;
    double now;
    const char *path;
    FILE *f;
    long value;
    if (stepped) return;
    real_clock()(CLOCK_MONOTONIC, &mono);
    now = mono.tv_sec + mono.tv_nsec / 1e9;
    if (now < next_look) return;
    next_look = now + 0.2;
    path = getenv("MI_CLOCK_STEP_FILE");
    if (!path || !(f = fopen(path, "r"))) return;
    if (fscanf(f, "%ld", &value) == 1) {
        step = value;
        stepped = 1;
    }
    fclose(f);
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    int rc = real_clock()(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        look();
        ts->tv_sec += step;
    }
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    static tod_fn fn = 0;
    int rc;
    if (!fn) fn = (tod_fn)dlsym(RTLD_NEXT, "gettimeofday");
    rc = fn(tv, tz);
    if (rc == 0 && tv) {
        look();
        tv->tv_sec += step;
    }
    return rc;
}
"""


def build(directory: Path) -> Path:
    """Compile the shim into ``directory``; the path of the .so."""
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "clockstep.c"
    library = directory / "clockstep.so"
    source.write_text(SOURCE)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source),
                    "-ldl"], check=True, capture_output=True)
    return library
