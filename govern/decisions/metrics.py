"""Prometheus metrics of the decision path.

Under `govern serve` PROMETHEUS_MULTIPROC_DIR is set before any worker starts, so every worker
writes its samples to a shared folder and /metrics adds them up across processes; elsewhere (tests,
the CLI) the process's own registry is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

DECISIONS = Counter("govern_decisions", "Answered access decisions.", ["result", "tier", "reason"])
REFUSALS_AGGREGATED = Counter(
    "govern_unauthenticated_aggregated",
    "Unauthenticated attempts past their source's allowance, logged in aggregate rows.", ["reason"])
DECISION_LATENCY = Histogram(
    "govern_decision_latency_seconds", "Time from request to decision, before the log commit.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
LOG_QUEUE_DEPTH = Gauge("govern_decision_log_queue_depth", "Decisions waiting for their commit.",
                        multiprocess_mode="livesum")
LOG_COMMIT_LATENCY = Histogram(
    "govern_decision_log_commit_seconds", "Duration of one group commit of the decision log.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0))
POLICY_VERSION = Gauge("govern_policy_version", "Policy version this process answers with.",
                       multiprocess_mode="liveall")
POLICY_BUILD_FAILED = Gauge(
    "govern_policy_build_failed_version",
    "Newest policy version this process cannot build and does not answer with (0: none; -1: "
    "nothing could be rebuilt, e.g. the governance state is unreadable).", multiprocess_mode="liveall")


def exposition() -> bytes:
    """The metrics in Prometheus text format, summed over worker processes when there are several."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


def forget_process(pid: int) -> None:
    """Drop the live gauges of a process that answers no requests (anymore) from /metrics; its
    counters and histograms still count."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def forget_gone_processes() -> None:
    """Drop the live gauges of processes that have ended: the server replaces a worker that dies
    without telling anyone, and its gauges would otherwise be reported for ever."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return
    for path in Path(folder).glob("gauge_live*_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        if not _alive(pid):
            forget_process(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and someone else's
        pass
    # A zombie has ended too: granian starts a worker's replacement before it reaps the old one.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: trust the signal check
    return stat[stat.rindex(")") + 2] != "Z"
