"""Prometheus metrics of one running assistant (`/metrics`); counters are bumped where things happen.

A registry of its own rather than prometheus_client's global one: only what the assistant defines is
exported, and tests can read it without the library's process collectors.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "stadtretter_updates", "Messages, presses and reactions handled", ["platform"], registry=REGISTRY
)
ANSWER_SECONDS = Histogram(
    "stadtretter_answer_seconds",
    "Time to compute the answer to one update",
    ["platform"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
FLOOD_WAITS = Counter(
    "stadtretter_flood_waits", "429 answers (flood control) from a platform", ["platform"], registry=REGISTRY
)
FLOOD_WAIT_SECONDS = Counter(
    "stadtretter_flood_wait_seconds",
    "Seconds a platform asked us to wait (429 retry_after)",
    ["platform"],
    registry=REGISTRY,
)
OUTBOX_RESULTS = Counter(
    "stadtretter_outbox_results",
    "What became of the outbox messages this instance handled (sent, retried, failed, unreachable, expired)",
    ["result"],
    registry=REGISTRY,
)
OUTBOX_MESSAGES = Gauge(
    "stadtretter_outbox_messages",
    "Outbox messages in the database by kind (overview, reminder, impulse, other) and status",
    ["kind", "status"],
    registry=REGISTRY,
)
REGISTRATIONS = Gauge(
    "stadtretter_registrations", "Registrations in the database by status", ["status"], registry=REGISTRY
)
LEADER = Gauge(
    "stadtretter_leader",
    "1 while this instance is the active one (platforms, scheduler, outbox), 0 as a standby",
    registry=REGISTRY,
)
LEADERSHIP_CHANGES = Counter(
    "stadtretter_leadership_acquired", "Times this instance became the active one", registry=REGISTRY
)
