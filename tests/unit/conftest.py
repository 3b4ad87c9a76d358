"""Fixtures shared by the unit tests."""

import os
import pathlib
import shutil
import tempfile

import pytest
from prometheus_client import CollectorRegistry

from masakari_introspect.ops.metrics import Metrics
from masakari_introspect.ops.metrics import MetricsListener


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
