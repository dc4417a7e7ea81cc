"""`python -m worker`: run the ticket worker with settings from HELPDESK_*."""

from __future__ import annotations

import asyncio
import logging

from helpdesk.cli import exit_process
from helpdesk.logging import configure_logging
from helpdesk.settings import Settings
from worker.main import run_worker


def main() -> None:
    settings = Settings()
    configure_logging(settings)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    try:
        main()
    except Exception:
        logging.getLogger("worker").exception("worker.crashed")
        exit_process(1)
    exit_process(0)
