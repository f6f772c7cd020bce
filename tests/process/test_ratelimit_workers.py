"""A limit of N per minute admits exactly N across every worker process of `govern serve`, with
the default storage (SQLite in the instance folder) and with a real redis-server."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT = 10.0
LIMIT = 10
WORKERS = 3
OPEN_GENERATE = {"model": "open-7b", "capability": "generate"}


@pytest.fixture
def redis_url(tmp_path: Path, port_finder: Callable[[], int]) -> Iterator[str]:
    """A redis-server of this test only, on a free port of 127.0.0.1, keeping nothing on disk."""
    port = port_finder()
    folder = tmp_path / "redis"
    folder.mkdir()
    process = subprocess.Popen(
        [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start: {(folder / 'redis.log').read_text()}")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def limit_free_tier(demo_instance) -> None:  # type: ignore[no-untyped-def]
    demo_instance.edit_policy(lambda document: document.update(
        rate_limits={"free": {"per_minute": LIMIT}}))


def admitted_across_workers(server, key: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Ask with `key` on every worker in turn, then from many connections at once, then on every
    worker again; the reason of every answer."""
    headers = {"Authorization": f"Bearer {key}"}
    workers = sorted(server.worker_pids())
    assert len(workers) == WORKERS

    def on(pid: int) -> str:
        answer = server.on_worker(pid, lambda s: s.post(f"{server.url}/v1/check", json=OPEN_GENERATE,
                                                        headers=headers, timeout=10))
        return str(answer.json()["reason"])

    def fresh(_: int) -> str:
        answer = requests.post(f"{server.url}/v1/check", json=OPEN_GENERATE, headers=headers, timeout=10)
        return str(answer.json()["reason"])

    reasons = [on(pid) for _round in range(2) for pid in workers]  # 6 of the 10, 2 on each worker
    with ThreadPoolExecutor(12) as pool:
        reasons += list(pool.map(fresh, range(4 * LIMIT)))
    reasons += [on(pid) for pid in workers]
    return reasons


@pytest.mark.parametrize("storage", ["default", "redis"])
def test_limit_of_n_per_minute_admits_exactly_n_across_all_workers(
        storage, demo_instance, live_server, tmp_path, request):  # type: ignore[no-untyped-def]
    limit_free_tier(demo_instance)
    overrides = {}
    if storage == "redis":
        overrides["GOVERN_RATELIMIT_STORAGE"] = request.getfixturevalue("redis_url")
    server = live_server(workers=WORKERS, **overrides)

    reasons = admitted_across_workers(server, demo_instance.keys["free"])

    assert reasons[:2 * WORKERS] == ["granted_by_tier"] * (2 * WORKERS)
    assert reasons.count("granted_by_tier") == LIMIT
    assert reasons.count("rate_limited") == len(reasons) - LIMIT
    assert reasons[-WORKERS:] == ["rate_limited"] * WORKERS
    if storage == "default":
        assert (demo_instance.folder / "ratelimits.db").exists()
