"""API errors: domain errors carry their HTTP status and one handler renders them.

Every error body has the same shape:

    {"error": {"code": "not_found", "message": "ticket HD-4F7K2Q not found",
               "field": null, "problems": []}}

`field` names the offending request field when there is one; validation
errors list every problem under `problems`.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from helpdesk.logging import get_logger

log = get_logger("helpdesk.api")


class Problem(BaseModel):
    field: str | None = Field(
        description="dotted path of the field, e.g. reporter.kind"
    )
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable error code")
    message: str = Field(description="what was wrong, for a person")
    field: str | None = Field(default=None, description="the request field at fault")
    problems: list[Problem] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """An error with its HTTP status and code, rendered by `api_error_handler`."""

    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}


class InvalidRequest(ApiError):
    status_code = 422
    code = "invalid_request"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class IllegalTransition(ApiError):
    """The action is not allowed in the ticket's current stage."""

    status_code = 409
    code = "illegal_transition"


class TicketClosed(ApiError):
    status_code = 409
    code = "ticket_closed"


class IdempotencyKeyReused(ApiError):
    """The Idempotency-Key was first sent with another request body."""

    status_code = 422
    code = "idempotency_key_reused"


class IdempotencyKeyInUse(ApiError):
    """The first request with this Idempotency-Key has not finished yet."""

    status_code = 409
    code = "idempotency_key_in_use"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(
            message, field="Idempotency-Key", headers={"Retry-After": str(retry_after)}
        )


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class SearchAttributeNotRegistered(ApiError):
    """The Temporal namespace lacks a ticket search attribute; a retry cannot
    help until an operator registers it."""

    status_code = 500
    code = "search_attribute_not_registered"


class ServiceUnavailable(ApiError):
    """A dependency did not respond; retry after `retry_after` seconds."""

    status_code = 503
    code = "unavailable"

    def __init__(
        self, message: str, *, retry_after: int = 5, field: str | None = None
    ) -> None:
        super().__init__(
            message, field=field, headers={"Retry-After": str(retry_after)}
        )


ModelT = typing.TypeVar("ModelT", bound=BaseModel)


def validate_body(model: type[ModelT], values: dict[str, Any]) -> ModelT:
    """Validate request values into a domain model.

    A problem becomes a 422 naming the body field, the same as FastAPI's own
    validation of the request schema.
    """
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from exc


def error_body(
    code: str,
    message: str,
    field: str | None = None,
    problems: list[Problem] | None = None,
) -> dict[str, Any]:
    body = ErrorBody(code=code, message=message, field=field, problems=problems or [])
    return ErrorResponse(error=body).model_dump(mode="json")


def responses(*errors: type[ApiError]) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI `responses` entry declaring these errors of a route."""
    declared: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = declared.setdefault(
            error.status_code, {"model": ErrorResponse, "description": ""}
        )
        entry["description"] = " or ".join(
            part for part in (entry["description"], error.code) if part
        )
    return declared


def _field_path(loc: tuple[int | str, ...]) -> str | None:
    """Turn a pydantic error location into a dotted field path.

    The leading `body`/`query`/`path`/`header` part is dropped, and so are
    the index of a repeated query parameter (`("query", "stage", 1)` is the
    field `stage`) and the tag that a discriminated union adds
    (`("body", "diagnose", "note")` is the field `note`).
    """
    parts = list(loc)
    if parts and parts[0] == "query" and isinstance(parts[-1], int):
        # The index of a repeated query parameter: the parameter is the field.
        parts = parts[:-1]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    if parts and parts[0] in _UNION_TAGS:
        parts = parts[1:]
    return ".".join(str(part) for part in parts) or None


# The detail of FastAPI's HTTPException for a body it cannot decode.
_FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"

# Filled by api.schemas with the action names, which pydantic puts in the
# location of an error inside a discriminated union.
_UNION_TAGS: list[str] = []


def register_union_tags(tags: list[str]) -> None:
    _UNION_TAGS.extend(tag for tag in tags if tag not in _UNION_TAGS)


def _problem(error: dict[str, Any]) -> Problem:
    field = _field_path(tuple(error.get("loc", ())))
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    kind = error.get("type")
    if kind == "missing":
        message = "field required"
    elif kind == "extra_forbidden":
        message = "unknown field; remove it"
    elif kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        expected = ", ".join(_UNION_TAGS)
        message = f"unknown action {ctx.get('tag')!r}; expected one of {expected}"
        field = ctx.get("discriminator", "action").strip("'")
    elif kind == "union_tag_not_found":
        field = error.get("ctx", {}).get("discriminator", "action").strip("'")
        message = "field required: name the action"
    elif kind == "json_invalid":
        message = f"invalid JSON: {error.get('ctx', {}).get('error', message)}"
    return Problem(field=field, message=message)


def _ticket_field(request: Request) -> dict[str, str]:
    """Return `{"ticket_id": ...}` for a request about one ticket, else {}."""
    ticket_id = request.path_params.get("ticket_id")
    return {"ticket_id": str(ticket_id).upper()} if ticket_id else {}


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    if exc.status_code >= 500 and exc.status_code != 503:
        log.error(
            "api.request.failed",
            path=request.url.path,
            **_ticket_field(request),
            code=exc.code,
            error=exc.message,
        )
    elif exc.status_code == 503:
        log.warning(
            "api.request.unavailable",
            path=request.url.path,
            **_ticket_field(request),
            code=exc.code,
            error=exc.message,
        )
    # A 422 lists its one problem too, so clients read every 422 the same way.
    problems = (
        [Problem(field=exc.field, message=exc.message)]
        if exc.status_code == 422
        else []
    )
    return JSONResponse(
        error_body(exc.code, exc.message, exc.field, problems),
        status_code=exc.status_code,
        headers=exc.headers,
    )


# Errors about the request body as a whole: missing, not JSON, not an object.

# pydantic's error types for a body that is not a JSON object.
_NOT_AN_OBJECT = {"model_attributes_type", "model_type", "dict_type"}


def _required_body_fields(request: Request) -> list[str]:
    """Return the fields that every accepted body of this route requires.

    The action route takes a union of one model per action, so its result
    is the fields that all of them require (`action`, `actor`).
    """
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    annotation = getattr(getattr(body_field, "field_info", None), "annotation", None)
    members = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType)
        else (annotation,)
    )
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    if not models:
        return []
    return [
        name
        for name, field in models[0].model_fields.items()
        if all(
            name in model.model_fields and model.model_fields[name].is_required()
            for model in models
        )
    ]


def _is_json_request(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _json_type_name(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _line_and_column(document: str, position: int) -> tuple[int, int]:
    line = document.count("\n", 0, position) + 1
    column = position - document.rfind("\n", 0, position)
    return line, column


def _body_problem(request: Request, error: dict[str, Any], body: Any) -> Problem | None:
    """Return the problem of a body that is missing, not JSON or not an object.

    Returns None for errors about one field, which `_problem` describes.
    """
    loc = tuple(error.get("loc", ()))
    kind = error.get("type")
    if kind == "json_invalid":
        reason = error.get("ctx", {}).get("error", "invalid JSON")
        position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
        line, column = _line_and_column(body if isinstance(body, str) else "", position)
        return Problem(
            field=None,
            message=f"invalid JSON at line {line} column {column}: {reason}",
        )
    if loc != ("body",):
        return None
    if kind == "missing":
        required = sorted(_required_body_fields(request))
        fields = f" (required fields: {', '.join(required)})" if required else ""
        return Problem(
            field=None,
            message=f"request body is missing: send a JSON object{fields} "
            "with the header Content-Type: application/json",
        )
    if kind in _NOT_AN_OBJECT:
        if not _is_json_request(request):
            received = request.headers.get("content-type") or "no Content-Type"
            return Problem(
                field=None,
                message=f"request body must be JSON, but the request has "
                f"{received}: send a JSON object with the header "
                "Content-Type: application/json",
            )
        return Problem(
            field=None,
            message="request body must be a JSON object, not "
            f"{_json_type_name(error.get('input'))}",
        )
    return None


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        _body_problem(request, dict(error), exc.body) or _problem(dict(error))
        for error in exc.errors()
    ]
    first = problems[0] if problems else Problem(field=None, message="invalid request")
    message = "; ".join(
        f"{p.field}: {p.message}" if p.field else p.message for p in problems
    )
    return JSONResponse(
        error_body("invalid_request", message, first.field, problems),
        status_code=422,
    )


def _unparsable_body_message(cause: BaseException | None) -> str:
    """Describe why FastAPI could not parse a JSON body (its 400 error)."""
    if isinstance(cause, UnicodeDecodeError):
        return (
            f"request body is not valid UTF-8 (invalid byte at offset "
            f"{cause.start}): send JSON encoded as UTF-8"
        )
    if isinstance(cause, RecursionError):
        return (
            "request body nests arrays or objects too deeply to parse: send a "
            "flatter JSON object"
        )
    return f"request body could not be parsed as JSON ({type(cause).__name__})"


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Render Starlette's own errors (unknown route, wrong method) in our shape.

    FastAPI returns 400 for a JSON body it cannot decode at all (invalid
    UTF-8, nesting deeper than the parser's recursion limit); that is an
    invalid body like any other, so it becomes 422 with the reason.
    """
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_PARSE_ERROR:
        message = _unparsable_body_message(exc.__cause__)
        problem = Problem(field=None, message=message)
        return JSONResponse(
            error_body("invalid_request", message, None, [problem]), status_code=422
        )
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Return 503 when the database cannot be reached or is locked."""
    log.warning(
        "api.database.unavailable",
        path=request.url.path,
        **_ticket_field(request),
        error=str(exc),
    )
    return JSONResponse(
        error_body("unavailable", "the database is not available; retry later"),
        status_code=503,
        headers={"Retry-After": "5"},
    )


# The start of the message of the RuntimeError that the Temporal SDK raises
# when a lazy client cannot connect on its first call.
_TEMPORAL_CONNECT_FAILED = "Failed client connect"


async def runtime_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Return 503 when the Temporal client cannot connect; 500 for the rest."""
    if not str(exc).startswith(_TEMPORAL_CONNECT_FAILED):
        return await unexpected_error_handler(request, exc)
    log.warning(
        "api.temporal.unavailable",
        path=request.url.path,
        **_ticket_field(request),
        error=str(exc),
    )
    return JSONResponse(
        error_body(
            "unavailable",
            "Temporal cannot be reached (the connection failed); retry later",
        ),
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception(
        "api.request.failed",
        path=request.url.path,
        **_ticket_field(request),
        error=repr(exc),
    )
    return JSONResponse(
        error_body("internal_error", "internal error; the request was logged"),
        status_code=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(OperationalError, database_error_handler)
    app.add_exception_handler(InterfaceError, database_error_handler)
    app.add_exception_handler(RuntimeError, runtime_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
