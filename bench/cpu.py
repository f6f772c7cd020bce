"""The CPU seconds (user + system) that processes and all their descendants have used so far.

    python bench/cpu.py PID [PID ...]

bench/run.sh reads it before and after each measured run, so the report can say what a request
costs each server in CPU, whatever else the machine was doing: on shared cores requests/s moves
by several times within minutes, CPU per request much less. Processes that ended before the
second reading are not counted (none do in a run).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> int:
    """utime + stime of `pid` (fields 14 and 15 of its stat, after the command name, which may
    hold spaces); 0 for a process gone meanwhile."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def _children(pid: int) -> list[int]:
    """The children of every thread of `pid` (a worker or writer may be started from any thread)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the thread or the process ended meanwhile
            found += map(int, (task / "children").read_text().split())
    return found


def tree_seconds(roots: Iterable[int]) -> float:
    """CPU seconds of the processes `roots` and of every descendant of theirs alive now."""
    total, seen, todo = 0, set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            total += _ticks(pid)
            todo += _children(pid)
    return total / TICKS


def main() -> int:
    try:
        roots = [int(arg) for arg in sys.argv[1:]]
    except ValueError:
        roots = []
    if not roots:
        print("usage: cpu.py PID [PID ...]", file=sys.stderr)
        return 2
    print(f"{tree_seconds(roots):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
