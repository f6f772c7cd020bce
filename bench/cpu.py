"""The CPU seconds (user + system) that processes and all their descendants have used so far.

    python bench/cpu.py PID [PID ...]

bench/run.sh reads it before and after each measured run, so the report can say what a request
costs each server in CPU, whatever else the machine was doing: on shared cores requests/s moves
by several times within minutes, CPU per request much less. Processes that ended before the
second reading are not counted (none do in a run).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # after the command name, which may hold spaces


def tree_seconds(roots: Iterable[int]) -> float:
    """CPU seconds of the processes `roots` and of every descendant of theirs alive now."""
    parents: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            pid = int(entry.name)
            parents.setdefault(int(fields[1]), []).append(pid)  # field 4, ppid
            ticks[pid] = int(fields[11]) + int(fields[12])  # fields 14 and 15, utime and stime
    total, seen, todo = 0, set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in ticks:
            continue
        seen.add(pid)
        total += ticks[pid]
        todo += parents.get(pid, [])
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
