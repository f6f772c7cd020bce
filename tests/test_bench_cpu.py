"""bench/cpu.py, which bench/run.sh reads around each measured run: the CPU of a server is that of
all its processes, the workers and the writer its main process started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.sqlite_only  # about the benchmark's tools: no database

CPU = Path(__file__).resolve().parent.parent / "bench" / "cpu.py"
# A parent that starts a child, which burns about half a second of CPU and then waits for stdin.
PARENT = (
    "import subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c', "
    "'import sys, time\\nend = time.process_time() + 0.5\\nwhile time.process_time() < end: pass\\n"
    "print(\"burnt\", flush=True)\\nsys.stdin.read()'], "
    "stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)\n"
    "print(child.stdout.readline().strip(), flush=True)\n"
    "sys.stdin.read()\n"
    "child.stdin.close(); child.wait()\n"
)


def cpu_of(*pids: int) -> float:
    done = subprocess.run([sys.executable, str(CPU), *map(str, pids)], capture_output=True, text=True,
                          check=True, timeout=30)
    return float(done.stdout)


def test_the_cpu_of_a_process_includes_its_childrens():
    with subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as parent:
        assert parent.stdout is not None and parent.stdin is not None
        try:
            assert parent.stdout.readline().strip() == "burnt"
            assert cpu_of(parent.pid) >= 0.45  # the child's half second, counted with its parent
        finally:
            parent.stdin.close()
            parent.wait(timeout=30)


def test_no_process_given_is_a_usage_error():
    done = subprocess.run([sys.executable, str(CPU)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "usage" in done.stderr
