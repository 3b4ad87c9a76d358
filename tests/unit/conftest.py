"""Fixtures shared by the unit tests."""

import os
import pathlib
import shutil
import tempfile

import pytest


@pytest.fixture
def shared_dir():
    """A directory other users can search (tmp_path's parents are 0700)."""
    path = tempfile.mkdtemp(prefix='mi-unit-')
    os.chmod(path, 0o711)
    yield pathlib.Path(path)
    shutil.rmtree(path)
