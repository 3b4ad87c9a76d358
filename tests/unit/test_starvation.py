"""One guest's starvation episodes, span by span (core/starvation.py)."""

import logging

import pytest

from masakari_introspect.core.starvation import Starvation

# The starved idle guest measured on the bed (/proc, 2 s spans, the agent
# pinged): its vCPU ran nothing, its wait went as below.
BED_WAITS = (0.72, 1.68, 2.79, 1.71, 0.00, 4.27, 0.66, 2.89, 2.09, 1.19)


class Feed:
    """vCPU figures read every ``span`` seconds; cumulative ns."""

    def __init__(self, vcpus=1, span=2.0):
        self.starvation = Starvation(grace=120.0)
        self.now = 100.0
        self.span = span
        self.totals = [[0, 0] for _ in range(vcpus)]
        self.starvation.sample(self.now, self._times(), 'g', 'u')

    def _times(self):
        return tuple((ran, waited) for ran, waited in self.totals)

    def span_of(self, *per_vcpu):
        """One span: per vCPU (ran, waited) seconds; shielded after?"""
        self.now += self.span
        for totals, (ran, waited) in zip(self.totals, per_vcpu, strict=True):
            totals[0] += int(ran * 1e9)
            totals[1] += int(waited * 1e9)
        self.starvation.sample(self.now, self._times(), 'g', 'u')
        return self.starvation.shields(self.now)


def test_a_starved_idle_guest_stays_in_its_episode_through_spans_of_little_wait():
    feed = Feed()
    shielded = [feed.span_of((0.0, waited)) for waited in BED_WAITS * 3]
    assert shielded[1:] == [True] * (len(shielded) - 1)
    assert feed.starvation.since == pytest.approx(102.0)


def test_two_spans_without_wait_do_not_end_an_episode():
    feed = Feed()
    assert feed.span_of((0.0, 1.8))
    assert feed.span_of((0.0, 0.0))
    assert feed.span_of((0.0, 0.0))
    assert feed.starvation.since is not None


def test_spans_that_wait_a_little_together_end_an_episode():
    # A busy host that is not overcommitted: a fifth of each span waited.
    feed = Feed()
    assert feed.span_of((0.0, 1.8))
    for _ in range(2):
        assert feed.span_of((0.0, 0.4))
    assert not feed.span_of((0.0, 0.4))


def test_three_quiet_spans_end_an_episode(caplog):
    caplog.set_level(logging.INFO)
    feed = Feed()
    assert feed.span_of((0.0, 1.8))
    for _ in range(2):
        assert feed.span_of((0.0, 0.01))
    assert not feed.span_of((0.0, 0.01))
    assert feed.starvation.since is None
    assert any('no longer starved' in r.getMessage() for r in caplog.records)


def test_spans_that_wait_much_together_keep_an_episode():
    # Each span alone is not starved (under half waited), but together
    # they waited a third of the time and ran nothing.
    feed = Feed()
    assert feed.span_of((0.0, 1.8))
    for _ in range(6):
        assert feed.span_of((0.0, 0.7))
    assert feed.starvation.intervals == 1


def test_a_vcpu_that_runs_again_ends_an_episode():
    feed = Feed()
    assert feed.span_of((0.0, 1.8))
    for _ in range(2):
        feed.span_of((0.8, 0.7))
    assert not feed.span_of((0.8, 0.7))


def test_one_waiting_vcpu_of_two_keeps_an_episode():
    feed = Feed(vcpus=2)
    assert feed.span_of((0.0, 1.8), (0.5, 0.0))
    for _ in range(5):
        assert feed.span_of((0.0, 0.8), (0.5, 0.0))


def test_a_starved_span_starts_the_quiet_count_again():
    feed = Feed()
    assert feed.span_of((0.0, 1.8))
    feed.span_of((0.0, 0.0))
    feed.span_of((0.0, 0.0))
    assert feed.span_of((0.0, 1.8))
    feed.span_of((0.0, 0.0))
    assert feed.span_of((0.0, 0.0))
    assert feed.starvation.intervals == 2


def test_vcpus_added_start_the_quiet_count_again():
    feed = Feed()
    assert feed.span_of((0.0, 1.8))
    feed.span_of((0.0, 0.0))
    feed.span_of((0.0, 0.0))
    feed.totals.append([0, 0])              # a vCPU hot-plugged
    feed.now += feed.span
    feed.starvation.sample(feed.now, feed._times(), 'g', 'u')
    assert feed.span_of((0.0, 0.0), (0.0, 0.0))
    assert feed.span_of((0.0, 0.0), (0.0, 0.0))
    assert not feed.span_of((0.0, 0.0), (0.0, 0.0))


def test_the_episode_shields_no_longer_than_its_grace():
    feed = Feed()
    feed.starvation.grace = 10.0
    shielded = [feed.span_of((0.0, 1.8)) for _ in range(8)]
    assert shielded[:4] == [True] * 4
    assert shielded[5:] == [False] * 3
