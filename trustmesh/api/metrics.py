"""Prometheus metrics of a node, read at scrape time from what the node already counts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class _Snapshot:
    """A one-shot collector over numbers gathered just before the scrape."""

    def __init__(self, node, counts: dict[str, int]) -> None:
        self.node, self.counts = node, counts

    def collect(self):
        node = self.node
        records = GaugeMetricFamily("trustmesh_records", "Records held, by type", labels=["type"])
        for kind, n in sorted(self.counts.items()):
            records.add_metric([kind], n)
        yield records
        yield GaugeMetricFamily("trustmesh_peers", "Connected peers", value=len(node.peers()))
        intake = CounterMetricFamily("trustmesh_intake_records",
                                     "Records taken in, by way in (gossip, sync, query, deal, local, import) and outcome"
                                     " (accepted, duplicate, or the fault of a refused one)",
                                     labels=["source", "outcome"])
        for (source, outcome), n in sorted(node.intake.by_source.items()):
            intake.add_metric([source, outcome], n)
        yield intake
        net = node.net
        gossip = getattr(net, "gossip", None)
        out = CounterMetricFamily("trustmesh_gossip_published", "Gossip published", labels=["unit"])
        out.add_metric(["messages"], getattr(gossip, "published_messages", 0))
        out.add_metric(["records"], getattr(gossip, "published_records", 0))
        yield out
        relayed = CounterMetricFamily("trustmesh_gossip_relayed",
                                      "Gossip relayed in messages of our own (net/tuning.py 18)", labels=["unit"])
        relayed.add_metric(["messages"], getattr(gossip, "relayed_messages", 0))
        relayed.add_metric(["records"], getattr(gossip, "relayed_records", 0))
        yield relayed
        batcher = getattr(gossip, "batcher", None)
        yield CounterMetricFamily("trustmesh_gossip_received", "Gossip messages from peers validated",
                                  value=getattr(batcher, "messages", 0))
        totals = getattr(net, "sync_totals", {}) or {}
        yield CounterMetricFamily("trustmesh_sync_sessions", "Sync sessions run", value=totals.get("sessions", 0))
        yield CounterMetricFamily("trustmesh_sync_rounds", "Sync round trips", value=totals.get("rounds", 0))
        sync_bytes = CounterMetricFamily("trustmesh_sync_bytes", "Sync bytes", labels=["direction"])
        sync_bytes.add_metric(["in"], totals.get("bytes_in", 0))
        sync_bytes.add_metric(["out"], totals.get("bytes_out", 0))
        yield sync_bytes
        yield GaugeMetricFamily("trustmesh_quota_held", "Records held by authors without weight",
                                value=node.quota.held)
        yield GaugeMetricFamily("trustmesh_trust_refresh_seconds", "Last trust weights refresh",
                                value=node.weights.last_seconds)
        yield CounterMetricFamily("trustmesh_trust_refreshes", "Trust weights refreshes",
                                  value=node.weights.refreshes)


def render(node, counts: dict[str, int]) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(node, counts))
    return generate_latest(registry), CONTENT_TYPE_LATEST
