"""/metrics: the gateway's counts in Prometheus's text format (prometheus-client).

The hub and the feed keep plain counters (a message sent costs an integer increment, not a metric's lock);
this collector reads them when Prometheus scrapes. Each app has its own registry.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from services.audio_gateway.feed import Feed
    from services.audio_gateway.gc_policy import GcPolicy
    from services.audio_gateway.hub import Hub

PREFIX = "aurora_gateway_"
CONTENT_TYPE = CONTENT_TYPE_LATEST  # of /metrics


def _counter(name: str, doc: str, value: float | None = None, label: str | None = None,
             values: dict[str, float] | None = None) -> CounterMetricFamily:
    if label is None:
        return CounterMetricFamily(PREFIX + name, doc, value=value)
    family = CounterMetricFamily(PREFIX + name, doc, labels=[label])
    for key, count in sorted((values or {}).items()):
        family.add_metric([key], count)
    return family


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=value)


class GatewayCollector(Collector):
    """The hub's and the feed's counters: all it reads, so this module knows nothing of the app."""

    def __init__(self, hub: "Hub", feed: "Feed"):
        self.hub, self.feed = hub, feed

    def collect(self) -> Iterator[Metric]:
        hub, feed = self.hub, self.feed
        stats = hub.stats
        queued = hub.queued()
        yield _gauge("viewers", "WebSocket viewers connected", len(hub.viewers))
        yield _counter("viewers_accepted", "WebSocket viewers accepted", stats.accepted)
        yield _counter("events_received", "events received from the canvas and applied", stats.events)
        yield _counter("snapshots_received", "studio snapshots taken by the gateway's replica (joins, resyncs)",
                       stats.snapshots)
        yield _counter("messages_sent", "WebSocket messages sent to viewers, by type", label="type",
                       values=stats.sent)
        yield _counter("resyncs", "resync messages given to viewers, by reason", label="reason",
                       values=stats.resyncs)
        yield _counter("viewers_dropped", "viewers closed with 1013 for falling behind, by reason", label="reason",
                       values=stats.dropped)
        yield _counter("refusals", "WebSocket connections refused, by reason", label="reason",
                       values=stats.refusals)
        yield _counter("viewer_input_messages", "messages viewers sent (ignored)", stats.input_messages)
        yield _counter("record_errors", "API requests whose record reads failed (answered from live counts)",
                       stats.record_errors)
        yield _counter("bad_events", "events forwarded but not counted (their data is not as the protocol says)",
                       stats.bad_events)
        yield _gauge("queue_depth", "messages queued for all viewers together", sum(queued))
        yield _gauge("queue_depth_max", "messages queued for the most behind viewer", max(queued, default=0))
        yield _gauge("seq", "the seq of the last event (or snapshot) the gateway has", hub.seq)
        heard = feed.heard
        yield _gauge("canvas_silent_seconds", "seconds since the canvas was last heard (-1: never)",
                     -1 if heard is None else round(time.monotonic() - heard, 3))
        yield _counter("replica_counts", "the replica's own counts (services/canvas/replica.py), by what",
                       label="what", values=feed.counters)


class GcCollector(Collector):
    """The gateway process's garbage collections and its policy's work (services/audio_gateway/gc_policy.py)."""

    def __init__(self, policy: "GcPolicy"):
        self.policy = policy

    def collect(self) -> Iterator[Metric]:
        stats = self.policy.stats
        by_generation = {str(g): n for g, n in enumerate(stats.collections)}
        yield _counter("gc_collections", "garbage collections, by generation", label="generation",
                       values=by_generation)
        yield _counter("gc_pause_seconds", "seconds spent in garbage collections (nothing else runs), by generation",
                       label="generation", values={str(g): s for g, s in enumerate(stats.pause_seconds)})
        longest = GaugeMetricFamily(PREFIX + "gc_pause_max_seconds", "the longest garbage collection, by generation",
                                    labels=["generation"])
        for g, seconds in enumerate(stats.longest):
            longest.add_metric([str(g)], seconds)
        yield longest
        yield _counter("gc_thaws", "full collections of the frozen heap, made when it had grown", stats.thaws)
        yield _gauge("gc_frozen_objects", "objects frozen (never scanned) at the last freeze; some freed since",
                     stats.frozen)


def registry_for(hub: "Hub", feed: "Feed") -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(hub, feed))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
