"""Measure intake latency: POST /v1/tickets until the ticket's first state.

Without --api it starts `helpdesk up` on free loopback ports in a temporary
data directory and stops it afterwards. Each request opens a new ticket
(a fresh external_ref), so every one starts a workflow and queries it.

    python bench/intake_latency.py --count 300 --concurrency 16
    python bench/intake_latency.py --no-ref      # without the dedup claim
    python bench/intake_latency.py --api http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

TITLES = [
    ("Lobby returns 502 for all players in EU", "monitoring", "monitoring"),
    ("Deposit stuck in pending after card payment", "email", "player"),
    ("Slot provider answers 500 on game launch", "api", "operator"),
    ("Repeated failed admin logins from one address", "monitoring", "monitoring"),
    ("Please create a staging account for two engineers", "email", "operator"),
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def started_stack() -> Iterator[str]:
    """Run `helpdesk up` in a temporary directory; yield the API URL."""
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as data_dir:
        log = Path(data_dir) / "stack.log"
        command = [
            sys.executable,
            "-m",
            "helpdesk.cli",
            "up",
            "--data-dir",
            data_dir,
            "--api-port",
            str(api_port),
            "--temporal-port",
            str(temporal_port),
            "--ui-port",
            str(ui_port),
            "--log-level",
            "WARNING",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{api_port}"
        try:
            wait_ready(url, process, log)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"helpdesk up exited:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"the stack was not ready within 120s:\n{log.read_text()}")


def ticket_body(number: int, run: str, with_ref: bool) -> dict[str, Any]:
    title, channel, reporter = TITLES[number % len(TITLES)]
    body: dict[str, Any] = {
        "title": title,
        "description": f"Benchmark ticket {number}.",
        "channel": channel,
        "reporter": {"kind": reporter},
    }
    if with_ref:
        body["external_ref"] = f"bench-{run}-{number}"
    # Every other ticket leaves classification to the classifier.
    if number % 2 == 0:
        body.update(type="technical_incident", category="infrastructure", priority="P3")
    return body


async def post_all(
    url: str, count: int, concurrency: int, with_ref: bool
) -> tuple[list[float], dict[int, int], float]:
    """Post `count` tickets; return latencies (s), status counts and wall time."""
    run = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limit = asyncio.Semaphore(concurrency)
    http_limits = httpx.Limits(max_connections=concurrency)

    async with httpx.AsyncClient(
        base_url=url, timeout=60.0, limits=http_limits
    ) as http:

        async def post(number: int) -> None:
            async with limit:
                started = time.perf_counter()
                response = await http.post(
                    "/v1/tickets", json=ticket_body(number, run, with_ref)
                )
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = (
                    statuses.get(response.status_code, 0) + 1
                )

        began = time.perf_counter()
        await asyncio.gather(*(post(number) for number in range(count)))
        wall = time.perf_counter() - began
    return latencies, statuses, wall


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


async def measure(
    url: str, count: int, concurrency: int, warmup: int, with_ref: bool
) -> None:
    if warmup:
        await post_all(url, warmup, concurrency, with_ref)
    latencies, statuses, wall = await post_all(url, count, concurrency, with_ref)
    refs = "with" if with_ref else "without"
    print(
        f"tickets posted:   {count} {refs} external_ref "
        f"(concurrency {concurrency}, {warmup} warm-up)"
    )
    print(f"statuses:         {dict(sorted(statuses.items()))}")
    print(f"latency median:   {statistics.median(latencies) * 1000:.1f} ms")
    print(f"latency p99:      {percentile(latencies, 0.99) * 1000:.1f} ms")
    print(f"latency max:      {max(latencies) * 1000:.1f} ms")
    print(f"throughput:       {count / wall:.1f} tickets/s ({wall:.1f} s)")
    print(f"machine:          {platform.platform()}, {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", help="API base URL; default: start a stack")
    parser.add_argument("--count", type=int, default=300, help="tickets to post")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="requests in flight at once"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="tickets posted before measuring"
    )
    parser.add_argument(
        "--no-ref",
        action="store_true",
        help="post without external_ref, so intake skips the deduplication claim",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = args.api
        if url is None:
            url = stack.enter_context(started_stack())
            print(f"started helpdesk up at {url}")
        asyncio.run(
            measure(url, args.count, args.concurrency, args.warmup, not args.no_ref)
        )


if __name__ == "__main__":
    main()
