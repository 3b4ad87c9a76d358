"""The state file: what survives a restart."""

from masakari_introspect.core.actions import Remembered
from masakari_introspect.runtime.store import StateStore
from tests.unit.fakes import A, B


def test_round_trip_with_known_agents_and_recent_reports(tmp_path):
    store = StateStore(tmp_path / 'instances.json')
    records = {A: Remembered(3, True, True, True, (1.7e9, 1.7e9 + 60),
                             limited=True),
               B: Remembered(-1, False, False, True, ())}
    store.save(records, {B})
    assert store.load() == records
    assert store.load_maintenance() == {B}


def test_an_older_state_file_is_read_with_defaults(tmp_path):
    path = tmp_path / 'instances.json'
    path.write_text('{"version": 1, "maintenance": [], "instances": {"%s": '
                    '{"domain_id": 4, "answered": true, "reported": false}}}'
                    % A)
    [loaded] = StateStore(path).load().values()
    assert loaded == Remembered(4, True, False)
    assert loaded.reports == () and loaded.limited is False


def test_an_unreadable_state_file_is_ignored(tmp_path, caplog):
    path = tmp_path / 'instances.json'
    path.write_text('{"instances": {"x": {"domain_id": "nope"}}}')
    assert StateStore(path).load() == {}
    assert 'unreadable state file' in caplog.text
