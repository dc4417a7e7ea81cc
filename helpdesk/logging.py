"""Structured logging for every process (worker, API, CLI).

Everything goes through structlog: the service's own `structlog` loggers and
stdlib loggers alike (temporalio's `workflow.logger` and `activity.logger`,
uvicorn, alembic). Output is one JSON object per line, or a readable
console format on a terminal. Event names are dotted
(`ticket.notification.sent`) and context comes as keyword fields.

Inside a Temporal activity or workflow, `workflow_id`, `ticket_id` and
`activity` are added to each event. Events emitted while a workflow
replays its history are dropped, so a restarted worker does not log the
past again. Values under keys that look like secrets or personal data
(contact, e-mail, phone) are redacted.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor
from temporalio import activity, workflow

from helpdesk.settings import Settings

REDACTED = "[redacted]"

# A key whose lower-cased name contains one of these is never logged.
SECRET_KEY_PARTS = (
    "secret",
    "password",
    "passwd",
    "token",
    "authorization",
    "signature",
    "api_key",
    "apikey",
    "cookie",
    "credential",
    "private_key",
)

# Personal data, redacted like secrets: a reporter's or specialist's
# contact, e-mail address or phone number.
PERSONAL_KEY_PARTS = ("contact", "email", "e_mail", "phone")

# user:password@ inside a URL, e.g. a PostgreSQL DSN.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s]+@")

TICKET_WORKFLOW_PREFIX = "ticket-"

# Loggers of libraries that install their own handlers; they are made to
# propagate to the root handler instead, so their lines are structured too.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic")


def is_secret_key(key: str) -> bool:
    """Return True for a key whose value must not be logged: a secret or
    personal data."""
    lowered = key.lower()
    return any(part in lowered for part in SECRET_KEY_PARTS + PERSONAL_KEY_PARTS)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and is_secret_key(key)
            else _redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    if isinstance(value, str) and "://" in value:
        return _URL_PASSWORD.sub(r"\g<scheme>:" + REDACTED + "@", value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Replace values under keys that `is_secret_key` matches, at any depth,
    and passwords in URLs."""
    for key in list(event_dict):
        if key == "event":
            event_dict[key] = _redact(event_dict[key])
        elif is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def ticket_id_from_workflow_id(workflow_id: str) -> str | None:
    """Return `HD-4F7K2Q` for `ticket-HD-4F7K2Q`, None for other workflows."""
    if workflow_id.startswith(TICKET_WORKFLOW_PREFIX):
        return workflow_id.removeprefix(TICKET_WORKFLOW_PREFIX)
    return None


def _is_replaying() -> bool:
    return workflow.in_workflow() and workflow.unsafe.is_replaying()


def add_temporal_context(
    _logger: Any, _method: str, event_dict: EventDict
) -> EventDict:
    """Add workflow_id, ticket_id and activity from the running Temporal task.

    Raises DropEvent while a workflow replays its history. Fields the caller
    set explicitly are kept.
    """
    if activity.in_activity():
        info = activity.info()
        event_dict.setdefault("workflow_id", info.workflow_id)
        event_dict.setdefault("activity", info.activity_type)
        event_dict.setdefault("attempt", info.attempt)
        workflow_id = info.workflow_id
    elif workflow.in_workflow():
        if workflow.unsafe.is_replaying():
            raise structlog.DropEvent
        workflow_id = workflow.info().workflow_id
        event_dict.setdefault("workflow_id", workflow_id)
    else:
        return event_dict
    if workflow_id:
        ticket_id = ticket_id_from_workflow_id(workflow_id)
        if ticket_id:
            event_dict.setdefault("ticket_id", ticket_id)
    return event_dict


def _drop_temporal_extras(
    _logger: Any, _method: str, event_dict: EventDict
) -> EventDict:
    # temporalio's loggers attach the whole task info as an extra; the ids
    # that matter are added by add_temporal_context.
    event_dict.pop("temporal_workflow", None)
    event_dict.pop("temporal_activity", None)
    return event_dict


class _SkipReplay(logging.Filter):
    """Drops stdlib records emitted while a workflow replays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _is_replaying()


def _use_console(log_format: str, stream: TextIO) -> bool:
    choice = log_format.strip().lower()
    if choice == "console":
        return True
    if choice == "json":
        return False
    if choice == "auto":
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())
    raise ValueError(f"invalid log format {log_format!r}: use auto, console or json")


def configure_logging(
    settings: Settings | None = None,
    *,
    log_format: str | None = None,
    level: str | int | None = None,
    stream: TextIO | None = None,
) -> None:
    """Send all logging of this process through structlog.

    `log_format` (auto, console or json) and `level` override the settings.
    Calling it again replaces the previous configuration.
    """
    settings = settings or Settings()
    stream = stream or sys.stderr
    console = _use_console(log_format or settings.log_format, stream)
    requested = level or settings.log_level
    level = requested
    if isinstance(requested, str):
        level = logging.getLevelName(requested.strip().upper())
        if not isinstance(level, int):
            raise ValueError(
                f"invalid log level {requested!r}: use DEBUG, INFO, WARNING or ERROR"
            )

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_temporal_context,
        redact_secrets,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )

    renderer: Processor
    final: list[Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta
    ]
    if console:
        renderer = structlog.dev.ConsoleRenderer(colors=_colors(stream))
    else:
        final.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.ExtraAdder(),
            _drop_temporal_extras,
            *shared,
        ],
        processors=[*final, renderer],
    )

    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_SkipReplay())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)

    for name in _LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
    # Chatty at INFO: httpx logs every request, alembic every migration
    # step (helpdesk.db logs one db.migrated line instead).
    for chatty in ("httpx", "alembic"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))

    # The ids go into fields, so temporalio need not append them to messages.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


def _colors(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
