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
(contact, e-mail, phone) are redacted. Exceptions are rendered with their
type, message and frames but never the frames' local variables, which can
contain ticket text and contacts, and their size is capped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import rich.console
import rich.traceback
import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.types import EventDict, ExcInfo, Processor
from temporalio import activity, workflow
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

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

# sdk-core (the Rust core of temporalio) writes its own log lines, with
# terminal colours, straight to stderr. configure_logging sends them to
# this logger instead.
CORE_LOGGER = "temporalio.core"

# Bounds of a rendered exception: frames beyond MAX_EXCEPTION_FRAMES are
# cut from the middle of each stack, a chain of causes is cut to the
# MAX_EXCEPTION_STACKS latest exceptions, each message is cut to
# MAX_EXCEPTION_MESSAGE_CHARS, and the whole rendering to
# MAX_EXCEPTION_CHARS.
MAX_EXCEPTION_FRAMES = 20
MAX_EXCEPTION_STACKS = 10
MAX_EXCEPTION_MESSAGE_CHARS = 2_000
MAX_EXCEPTION_CHARS = 16_000

# Terminal escape sequences: CSI (colours, cursor moves), OSC (titles,
# links) and the two-character ones.
_ANSI_ESCAPE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])"
)


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


def _tidy_library_extras(
    _logger: Any, _method: str, event_dict: EventDict
) -> EventDict:
    # temporalio's loggers attach the whole task info as an extra; the ids
    # that matter are added by add_temporal_context.
    event_dict.pop("temporal_workflow", None)
    event_dict.pop("temporal_activity", None)
    event_dict.pop("__temporal_error_identifier", None)
    # uvicorn repeats each message with terminal colours for its own
    # formatter.
    event_dict.pop("color_message", None)
    # A line forwarded from sdk-core carries the core's own record.
    core_entry = event_dict.pop("temporal_log", None)
    if core_entry is not None:
        event_dict.setdefault("core_target", core_entry.target)
        if core_entry.fields:
            event_dict.setdefault("core_fields", dict(core_entry.fields))
    return event_dict


def _strip_ansi(value: Any) -> Any:
    if isinstance(value, str):
        return _ANSI_ESCAPE.sub("", value) if "\x1b" in value else value
    if isinstance(value, Mapping):
        return {key: _strip_ansi(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strip_ansi(item) for item in value]
    return value


def strip_ansi_escapes(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Remove terminal escape sequences from every string, at any depth."""
    for key in list(event_dict):
        event_dict[key] = _strip_ansi(event_dict[key])
    return event_dict


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} characters cut)"


def _shorten_stack_dicts(stacks: list[dict[str, Any]]) -> None:
    for stack in stacks:
        stack["exc_value"] = _shorten(stack["exc_value"], MAX_EXCEPTION_MESSAGE_CHARS)
        stack["exc_notes"] = [
            _shorten(note, MAX_EXCEPTION_MESSAGE_CHARS) for note in stack["exc_notes"]
        ]
        for group_member in stack.get("exceptions", []):
            _shorten_stack_dicts(group_member)


class _ExceptionDict:
    """Turn exc_info into a list of stack dicts without frame locals, capped.

    If the stacks are still over MAX_EXCEPTION_CHARS as JSON once messages
    and frames are cut, only the type, message and innermost frame of each
    stack are kept.
    """

    def __init__(self) -> None:
        self._transform = ExceptionDictTransformer(
            show_locals=False, max_frames=MAX_EXCEPTION_FRAMES
        )

    def __call__(self, exc_info: ExcInfo) -> list[dict[str, Any]]:
        stacks = self._transform(exc_info)
        _shorten_stack_dicts(stacks)
        if len(json.dumps(stacks, default=repr)) <= MAX_EXCEPTION_CHARS:
            return stacks
        return [
            {
                "exc_type": stack["exc_type"],
                "exc_value": _shorten(stack["exc_value"], 500),
                "frames": stack["frames"][-1:],
                "frames_cut": len(stack["frames"]) - 1,
            }
            for stack in stacks[:MAX_EXCEPTION_STACKS]
        ]


def _shorten_rich_trace(trace: rich.traceback.Trace) -> None:
    for stack in trace.stacks:
        stack.exc_value = _shorten(stack.exc_value, MAX_EXCEPTION_MESSAGE_CHARS)
        stack.notes = [
            _shorten(note, MAX_EXCEPTION_MESSAGE_CHARS) for note in stack.notes
        ]
        for group_member in stack.exceptions:
            _shorten_rich_trace(group_member)


@dataclasses.dataclass
class _ConsoleException:
    """Render exc_info with rich for the console, without frame locals, capped."""

    colors: bool

    def __call__(self, sio: TextIO, exc_info: ExcInfo) -> None:
        trace = rich.traceback.Traceback.extract(*exc_info, show_locals=False)
        # The first stack is the exception raised, the others its causes.
        del trace.stacks[MAX_EXCEPTION_STACKS:]
        _shorten_rich_trace(trace)
        buffer = io.StringIO()
        console = rich.console.Console(
            file=buffer, color_system="truecolor" if self.colors else None
        )
        console.print(
            rich.traceback.Traceback(
                trace,
                show_locals=False,
                max_frames=MAX_EXCEPTION_FRAMES,
                extra_lines=1,
                word_wrap=True,
            )
        )
        rendered = _URL_PASSWORD.sub(r"\g<scheme>:" + REDACTED + "@", buffer.getvalue())
        sio.write("\n" + _shorten(rendered, MAX_EXCEPTION_CHARS))


def core_log_forwarding() -> LogForwardingConfig:
    """Return the settings that send sdk-core's log lines to CORE_LOGGER.

    The target and fields of each line become the `core_target` and
    `core_fields` keys instead of text in the message.
    """
    return LogForwardingConfig(
        logger=logging.getLogger(CORE_LOGGER),
        append_target_to_name=False,
        prepend_target_on_message=False,
        append_log_fields_to_message=False,
    )


def _forward_core_logs(level: int) -> None:
    """Make the default Temporal runtime forward sdk-core's log lines.

    Lines of WARN and above are forwarded, and INFO too when `level` is
    DEBUG. Nothing changes when the default runtime already exists because
    a client was created before logging was configured, so that process's
    core lines still go to stderr as sdk-core formats them.
    """
    core_level = "INFO" if level <= logging.DEBUG else "WARN"
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level=core_level, other_level="ERROR"),
                forwarding=core_log_forwarding(),
            )
        )
    )
    # set_default raises once a default runtime exists, and clients already
    # created keep theirs anyway.
    with contextlib.suppress(RuntimeError):
        Runtime.set_default(runtime)


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
    Calling it again replaces the previous configuration. sdk-core's own
    lines reach the `temporalio.core` logger only if this runs before the
    process creates its first Temporal client.
    """
    settings = settings or Settings()
    stream = stream or sys.stderr
    console = _use_console(log_format or settings.log_format, stream)
    requested = level or settings.log_level
    if isinstance(requested, int):
        level_number = requested
    else:
        level_number = logging.getLevelName(requested.strip().upper())
        if not isinstance(level_number, int):
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
        colors = _colors(stream)
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=_ConsoleException(colors)
        )
    else:
        final += [
            structlog.processors.ExceptionRenderer(_ExceptionDict()),
            # The rendered exception is new text, so it is redacted again.
            redact_secrets,
            strip_ansi_escapes,
        ]
        renderer = structlog.processors.JSONRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.ExtraAdder(),
            _tidy_library_extras,
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
    root.setLevel(level_number)

    for name in _LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
    # Chatty at INFO: httpx logs every request, alembic every migration
    # step (helpdesk.db logs one db.migrated line instead).
    for chatty in ("httpx", "alembic"):
        logging.getLogger(chatty).setLevel(max(level_number, logging.WARNING))

    # The ids go into fields, so temporalio need not append them to messages.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    _forward_core_logs(level_number)


def _colors(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
