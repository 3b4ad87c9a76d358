"""Clean delivery (issue 11): the delivery layer against a real masakari-api.

Only masakari-api 22.0.0 is needed (no libvirtd, no guests, no lock): the
real sender, spool and notifier in this process post to the real API. The
same cases on real guests, through the service, are in test_delivery.py.
"""
from __future__ import annotations

import json
import logging
import uuid

import pytest

from tests.functional.conftest import HOSTNAME

SENDER_LOG = "masakari_introspect.recovery.sender"


# -- the delivery layer against the real API ------------------------------------------


@pytest.fixture(scope="module")
def api_only(tmp_path_factory):
    from tests.bed.masakari import MasakariAPI, ensure_venv
    with MasakariAPI(tmp_path_factory.mktemp("masakari-delivery"), HOSTNAME,
                     venv=ensure_venv()) as api:
        yield api


@pytest.fixture()
def fresh_api(api_only):
    api_only.reset()
    api_only.set_maintenance(HOSTNAME, False)
    yield api_only
    api_only.set_maintenance(HOSTNAME, False)


def make_sender(api, spool_dir, host, **kwargs):
    from keystoneauth1 import adapter, noauth, session

    from masakari_introspect.recovery.masakari import MasakariNotifier
    from masakari_introspect.recovery.sender import Sender
    from masakari_introspect.recovery.spool import Spool
    sess = session.Session(auth=noauth.NoAuth(), timeout=10)
    notifier = MasakariNotifier(adapter.Adapter(sess, endpoint_override=api.endpoint))
    clock = [0.0]
    sender = Sender(Spool(spool_dir, 100), notifier, hostname=host,
                    retry_interval=1, retry_interval_max=5, clock=lambda: clock[0],
                    **kwargs)
    return sender, clock


def pending(spool_dir):
    """Entries left in the spool."""
    return len(list(spool_dir.glob("*.json")))


def run_until_idle(sender, clock, rounds=10):
    for _ in range(rounds):
        wait = sender.deliver_due()
        if wait is None:
            return True
        clock[0] += wait
    return False


def notification(instance=None):
    from masakari_introspect.core.notification import Notification
    return Notification.create(instance or str(uuid.uuid4()), "decided-as-this-host",
                               instance_name="vm", reason="unresponsive")


def test_api_wrong_host_refused_then_fixed_delivers_each_once(fresh_api, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=SENDER_LOG)
    spool = tmp_path / "spool"
    wrong, clock = make_sender(fresh_api, spool, "no-such-host")
    sent = [notification(), notification()]
    for n in sent:
        wrong.submit(n)
    assert not run_until_idle(wrong, clock, rounds=3)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and all("no-such-host" in e for e in errors), errors
    assert fresh_api.notifications() == []
    # the operator fixes [DEFAULT] host and restarts
    fixed, clock = make_sender(fresh_api, spool, HOSTNAME)
    assert run_until_idle(fixed, clock)
    found = fresh_api.notifications()
    assert sorted(n["payload"]["instance_uuid"] for n in found) == \
        sorted(n.instance_uuid for n in sent)
    assert pending(spool) == 0


def test_api_maintenance_409_waits_then_one_notification(fresh_api, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=SENDER_LOG)
    fresh_api.set_maintenance(HOSTNAME, True)
    sender, clock = make_sender(fresh_api, tmp_path / "spool", HOSTNAME)
    n = notification()
    sender.submit(n)
    for _ in range(4):
        wait = sender.deliver_due()
        assert wait is not None
        clock[0] += wait
    assert pending(tmp_path / "spool") == 1
    assert fresh_api.notifications() == []
    assert len([r for r in caplog.records if "on maintenance" in r.getMessage()
                and r.levelno == logging.WARNING]) == 1
    fresh_api.set_maintenance(HOSTNAME, False)
    assert run_until_idle(sender, clock)
    found = fresh_api.notifications()
    assert [f["payload"]["instance_uuid"] for f in found] == [n.instance_uuid]
    assert any("no longer on maintenance" in r.getMessage() for r in caplog.records)


def test_api_kill_after_202_sends_nothing_twice(fresh_api, tmp_path, caplog):
    """The spool as a kill -9 between the 202 and the removal leaves it."""
    from masakari_introspect.recovery.spool import Spool
    caplog.set_level(logging.INFO, logger=SENDER_LOG)
    spool_dir = tmp_path / "spool"
    first, clock = make_sender(fresh_api, spool_dir, HOSTNAME)
    n = notification()
    first.submit(n)
    saved = (spool_dir / f"{n.instance_uuid}.json").read_bytes()
    assert run_until_idle(first, clock)
    assert len(fresh_api.notifications()) == 1
    # put back the entry, marked started, as the killed process left it
    Spool(spool_dir, 100)  # the directory exists
    record = json.loads(saved)
    record.update(started=True, token="")
    (spool_dir / f"{n.instance_uuid}.json").write_text(json.dumps(record))
    second, clock = make_sender(fresh_api, spool_dir, HOSTNAME)
    assert run_until_idle(second, clock)
    assert len(fresh_api.notifications()) == 1
    assert pending(spool_dir) == 0
    assert any("took effect" in r.getMessage() for r in caplog.records)




# -- issue 18: the restart check and the duplicate window ------------------------------


def test_api_restart_check_pages_and_filters_on_this_host(fresh_api, tmp_path):
    """After a 202 the check asks for this host's notifications only, one
    second before the entry's time, and follows marker pages."""
    import datetime

    from masakari_introspect.core.notification import Notification
    sender, clock = make_sender(fresh_api, tmp_path / "spool", HOSTNAME)
    base = datetime.datetime.now(datetime.timezone.utc)
    target = Notification.create(str(uuid.uuid4()), HOSTNAME, base)
    sender.submit(target)
    assert run_until_idle(sender, clock)
    for i in range(1, 106):     # more than one page (100) after it
        sender.submit(Notification.create(
            str(uuid.uuid4()), HOSTNAME, base + datetime.timedelta(seconds=i)))
        assert run_until_idle(sender, clock)
    assert len(fresh_api.notifications()) == 106
    notifier = sender._driver   # the one that saw the 202s
    found = notifier.settled(target, "")
    assert found is not None and found.status == 200, found
    other = Notification.create(str(uuid.uuid4()), HOSTNAME, base)
    assert notifier.settled(other, "") is None


def test_api_a_new_failure_within_the_duplicate_window_is_sent_after_it(
        fresh_api, tmp_path, caplog):
    """Masakari's default window (180 s): the second report of the same
    instance 20 s after the first is refused (409), then sent once the
    window has passed with a generated time past it, and accepted."""
    import datetime

    from masakari_introspect.core.notification import Notification
    caplog.set_level(logging.INFO, logger="masakari_introspect")
    sender, clock = make_sender(fresh_api, tmp_path / "spool", HOSTNAME,
                                duplicate_window=180)
    instance = str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc)
    sender.submit(Notification.create(instance, HOSTNAME, now))
    assert run_until_idle(sender, clock)
    sender.submit(Notification.create(
        instance, HOSTNAME, now + datetime.timedelta(seconds=20)))
    wait = sender.deliver_due()
    assert wait == pytest.approx(181.0)           # refused: wait the window
    assert len(fresh_api.notifications()) == 1
    clock[0] += wait
    assert sender.deliver_due() is None
    found = fresh_api.notifications()
    assert len(found) == 2
    stamps = sorted(datetime.datetime.fromisoformat(n["generated_time"].removesuffix("Z"))
                    for n in found)
    assert (stamps[1] - stamps[0]).total_seconds() == 181
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
