"""`helpdesk up`: the Temporal dev server, a worker and the API on one machine.

The supervisor runs the three as child processes in its own process group,
so a signal to the group (Ctrl-C in a terminal) reaches all of them, and on
Linux each child also gets SIGTERM when the supervisor itself dies. A child
that exits on its own is restarted with a growing delay; one that keeps
crashing stops the stack.

All state lives in the data directory: `temporal.db` (workflows, timers,
history), `helpdesk.db` (the read model) and `logs/` with one log file per
child (`temporal.log`, `worker.log`, `api.log`), appended to across runs.
Starting again with the same directory carries on with the open tickets
and their SLA timers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import httpx

from helpdesk import search_attributes
from helpdesk.temporal_bins import temporal_cli

LOOPBACK = "127.0.0.1"
TEMPORAL_START_TIMEOUT_S = 60.0
API_START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
RESTART_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)
# A child that crashes this often within CRASH_WINDOW_S stops the stack.
MAX_CRASHES = 5
CRASH_WINDOW_S = 120.0


class StackError(RuntimeError):
    """The stack cannot start; the message names the fix."""


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    api_port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233
    sla_policy: Path | None = None
    log_level: str = "INFO"

    @property
    def temporal_address(self) -> str:
        return f"{LOOPBACK}:{self.temporal_port}"

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / 'helpdesk.db').resolve()}"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ui_port}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


@dataclass
class Child:
    """One supervised process and its restart bookkeeping."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    crashes: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    _log_file: IO[bytes] | None = None

    def start(self) -> None:
        stdout: IO[bytes] | None = None
        if self.log_path is not None:
            if self._log_file is not None:
                # A restart: the file of the run that exited is done.
                self._log_file.close()
            self._log_file = self.log_path.open("ab")
            stdout = self._log_file
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            preexec_fn=_die_with_parent,
        )
        self.restart_at = None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Send SIGTERM, wait up to `grace` seconds, then SIGKILL."""
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this child when the supervisor dies.

    Without it a SIGKILL of the supervisor alone would leave the Temporal
    server, worker and API running. Other systems skip this.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def check_port_free(port: int, flag: str) -> None:
    """Raise StackError when `port` on 127.0.0.1 is already taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do: connections of a stopped server that linger in
        # TIME_WAIT do not block a restart.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise StackError(
                f"port {port} on {LOOPBACK} is already in use ({exc.strerror}): "
                f"stop the process that holds it or choose another port with {flag}"
            ) from exc


def temporal_argv(config: StackConfig) -> list[str]:
    return [
        temporal_cli(),
        "server",
        "start-dev",
        "--db-filename",
        str((config.data_dir / "temporal.db").resolve()),
        "--ip",
        LOOPBACK,
        "--port",
        str(config.temporal_port),
        "--ui-port",
        str(config.ui_port),
        "--ui-disable-news-fetch",
        "--log-level",
        "warn",
        *search_attributes.dev_server_flags(),
    ]


def child_env(config: StackConfig) -> dict[str, str]:
    """Return the environment of the worker and API: the stack's own settings."""
    env = dict(os.environ)
    env.update(
        HELPDESK_TEMPORAL_ADDRESS=config.temporal_address,
        HELPDESK_TEMPORAL_NAMESPACE="default",
        HELPDESK_DATABASE_URL=config.database_url,
        HELPDESK_API_HOST=LOOPBACK,
        HELPDESK_API_PORT=str(config.api_port),
        HELPDESK_LOG_LEVEL=config.log_level,
        PYTHONUNBUFFERED="1",
    )
    if config.sla_policy is not None:
        env["HELPDESK_SLA_POLICY_FILE"] = str(config.sla_policy.resolve())
    else:
        env.pop("HELPDESK_SLA_POLICY_FILE", None)
    return env


class StopRequested(Exception):
    """A signal arrived while the stack was still starting."""


def wait_for_temporal(
    address: str,
    child: Child,
    stopping: Callable[[], bool],
    timeout: float = TEMPORAL_START_TIMEOUT_S,
) -> None:
    """Block until the Temporal frontend passes a health check."""
    import asyncio

    from temporalio.client import Client

    async def healthy() -> bool:
        try:
            client = await Client.connect(address)
            return await client.service_client.check_health()
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stopping():
            raise StopRequested
        if not child.running():
            raise StackError(
                f"the Temporal server exited with code {child.exit_code()} "
                f"while starting; its log ends with:\n{child.log_tail()}"
            )
        if asyncio.run(healthy()):
            return
        time.sleep(0.3)
    raise StackError(
        f"the Temporal server did not respond on {address} within {timeout:.0f}s; "
        f"see {child.log_path}"
    )


def wait_for_api(
    url: str,
    child: Child,
    stopping: Callable[[], bool],
    timeout: float = API_START_TIMEOUT_S,
) -> None:
    """Block until GET /healthz on the API returns 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stopping():
            raise StopRequested
        if not child.running():
            raise StackError(
                f"the API exited with code {child.exit_code()} while starting; "
                f"its log ends with:\n{child.log_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise StackError(f"the API did not respond on {url} within {timeout:.0f}s")


class Supervisor:
    """Start the children in order, restart crashed ones, stop all on a signal."""

    def __init__(
        self,
        config: StackConfig,
        echo: Callable[[str], None],
        warn: Callable[[str], None],
    ) -> None:
        self.config = config
        self.echo = echo
        self.warn = warn
        self.stopping = False
        env = child_env(config)
        python = sys.executable
        self.temporal = Child(
            "temporal",
            temporal_argv(config),
            dict(os.environ),
            log_path=config.log_dir / "temporal.log",
        )
        self.worker = Child(
            "worker",
            [python, "-m", "helpdesk.cli", "worker"],
            env,
            log_path=config.log_dir / "worker.log",
        )
        self.api = Child(
            "api",
            [python, "-m", "helpdesk.cli", "api", "--port", str(config.api_port)],
            env,
            log_path=config.log_dir / "api.log",
        )
        self.children = [self.temporal, self.worker, self.api]

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            self.echo(f"{signal.Signals(signum).name} received: stopping the stack")
        self.stopping = True

    def _is_stopping(self) -> bool:
        return self.stopping

    def run(self) -> int:
        """Run the stack in the foreground; return the exit code."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self._start_all()
            return self._watch()
        except StopRequested:
            return 0
        except StackError as exc:
            self.warn(f"error: {exc}")
            return 1
        finally:
            self.stop_all()
            self.echo("helpdesk stopped")

    def _start_all(self) -> None:
        config = self.config
        config.log_dir.mkdir(parents=True, exist_ok=True)
        self.echo(f"data directory: {config.data_dir.resolve()}")
        self.temporal.start()
        wait_for_temporal(config.temporal_address, self.temporal, self._is_stopping)
        self._migrate()
        self.worker.start()
        self.api.start()
        wait_for_api(config.api_url, self.api, self._is_stopping)
        self.echo(
            "helpdesk is up\n"
            f"  API:          {config.api_url}\n"
            f"  API docs:     {config.api_url}/docs\n"
            f"  Temporal UI:  {config.ui_url}\n"
            f"  Temporal:     {config.temporal_address} (namespace default)\n"
            f"  logs:         {config.log_dir.resolve()} "
            "(temporal.log, worker.log, api.log)\n"
            "Press Ctrl-C to stop."
        )

    def _migrate(self) -> None:
        """Bring the database schema up to date before the worker and API open it."""
        result = subprocess.run(
            [sys.executable, "-m", "helpdesk.cli", "migrate"],
            env=child_env(self.config),
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"the database migration failed with exit code {result.returncode}"
            )

    def _watch(self) -> int:
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at and not self.stopping:
                        self.echo(f"restarting {child.name}")
                        child.start()
                    continue
                code = child.exit_code()
                if code is None or self.stopping:
                    continue
                if not self._schedule_restart(child, code, now):
                    return 1
            time.sleep(0.2)
        return 0

    def _schedule_restart(self, child: Child, code: int, now: float) -> bool:
        """Plan a restart of a child that exited; False when it crashes too often."""
        while child.crashes and now - child.crashes[0] > CRASH_WINDOW_S:
            child.crashes.popleft()
        child.crashes.append(now)
        if len(child.crashes) >= MAX_CRASHES:
            self.warn(
                f"error: {child.name} exited {len(child.crashes)} times within "
                f"{CRASH_WINDOW_S:.0f}s (last exit code {code}); stopping the stack"
            )
            tail = child.log_tail()
            if tail:
                self.warn(tail)
            return False
        delay = RESTART_DELAYS_S[min(len(child.crashes), len(RESTART_DELAYS_S)) - 1]
        where = f" (log: {child.log_path})" if child.log_path else ""
        self.warn(
            f"{child.name} exited with code {code}; restarting in {delay:.0f}s{where}"
        )
        child.restart_at = now + delay
        return True

    def stop_all(self) -> None:
        """Stop the API first, then the worker, then Temporal."""
        for child in reversed(self.children):
            child.stop()


def run_stack(
    config: StackConfig,
    echo: Callable[[str], None],
    warn: Callable[[str], None],
) -> int:
    """Check the ports, then run the stack until a signal; return the exit code.

    `echo` prints progress and `warn` prints errors and restarts.
    """
    try:
        check_port_free(config.api_port, "--api-port")
        check_port_free(config.temporal_port, "--temporal-port")
        check_port_free(config.ui_port, "--ui-port")
    except StackError as exc:
        warn(f"error: {exc}")
        return 1
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return Supervisor(config, echo, warn).run()
