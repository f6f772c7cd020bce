"""/metrics across processes: the live gauges of a process that has ended are dropped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from govern.decisions import metrics


def state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def test_gauges_of_an_ended_but_unreaped_process_are_dropped(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while state(ended.pid) != "Z" and time.monotonic() < deadline:  # ended, not yet reaped
            time.sleep(0.01)
        assert state(ended.pid) == "Z"
        for pid in (ended.pid, os.getpid()):
            (tmp_path / f"gauge_liveall_{pid}.db").touch()
            (tmp_path / f"gauge_livesum_{pid}.db").touch()

        metrics.forget_gone_processes()
    finally:
        ended.wait()

    assert sorted(path.name for path in tmp_path.iterdir()) == \
        [f"gauge_liveall_{os.getpid()}.db", f"gauge_livesum_{os.getpid()}.db"]
