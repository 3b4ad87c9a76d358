"""Fixtures shared by the unit tests."""

import os
import pathlib
import shutil
import tempfile

import pytest
from prometheus_client import CollectorRegistry

from masakari_introspect.ops.metrics import Metrics
from masakari_introspect.ops.metrics import MetricsListener
from tests.unit.fakes import InstantHypervisor
from tests.unit.fakes import RecordingOutbox
from tests.unit.fakes import Reported
from tests.unit.fakes import Suspects
from tests.unit.fakes import make_monitor
from tests.unit.fakes import ticked_until


@pytest.fixture
def shared_dir():
    """A directory other users can search (tmp_path's parents are 0700)."""
    path = tempfile.mkdtemp(prefix='mi-unit-')
    os.chmod(path, 0o711)
    yield pathlib.Path(path)
    shutil.rmtree(path)


@pytest.fixture
def metrics():
    """A fresh metrics registry, without the process collectors."""
    return Metrics(CollectorRegistry(), process=False)


@pytest.fixture
def listener(metrics):
    """A real HTTP listener on a free loopback port serving ``metrics``."""
    server = MetricsListener(metrics.registry, '127.0.0.1', 0)
    server.start()
    yield server
    server.close()


@pytest.fixture
def reported():
    """A monitor on an InstantHypervisor with a suspect prober of its own,
    started, resynced and ticked until guest B was reported; stopped after
    the test."""
    hypervisor, outbox = InstantHypervisor(), RecordingOutbox()
    suspects = Suspects(hypervisor)
    monitor = make_monitor(hypervisor, outbox, suspect_prober=suspects)
    monitor.start()
    try:
        monitor.resync()
        ticked_until(monitor, lambda: outbox.sent)
        yield Reported(hypervisor, outbox, suspects, monitor)
    finally:
        monitor.stop(2)
