"""Idempotency-Key storage: one key stands for one request and its result.

A key is stored with the SHA-256 of the validated request body, in a scope:
`intake` for POST /v1/tickets, `action:<ticket id>` for the actions on one
ticket. The same key with the same body is a retry and gets the first
result. The same key with another body is rejected with 422, and a retry
that arrives while the first request runs gets 409; both follow the IETF
draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header). A request that fails without
acting releases its key, so the client can retry it. Keys expire after
`KEY_RETENTION`, and expired keys are deleted whenever a key is claimed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import IdempotencyKeyReused
from api.text import shorten
from helpdesk.db.repository import (
    IdempotencyRecord,
    claim_idempotency_key,
    get_idempotency_key,
    release_idempotency_key,
    repoint_idempotency_key,
)

INTAKE_SCOPE = "intake"
KEY_RETENTION = timedelta(hours=24)


def action_scope(ticket_id: str) -> str:
    return f"action:{ticket_id}"


def request_fingerprint(request: BaseModel) -> str:
    """Return the SHA-256 of a validated request in canonical JSON.

    Key order, whitespace and fields left at their defaults do not change
    it, so a retry that serialises the same request differently still
    matches.
    """
    canonical = json.dumps(
        request.model_dump(mode="json"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    """The stored keys, each call in a transaction of its own."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retention: timedelta = KEY_RETENTION,
    ) -> None:
        self.sessions = sessions
        self.retention = retention

    async def claim(
        self, scope: str, key: str, fingerprint: str, ticket_id: str
    ) -> IdempotencyRecord:
        """Store the key for this request, or return the request stored first.

        The caller owns the key when the record's `ticket_id` is its own.
        Raises IdempotencyKeyReused when the key was stored with another body.
        """
        async with self.sessions.begin() as session:
            record = await claim_idempotency_key(
                session,
                scope=scope,
                key=key,
                request_sha256=fingerprint,
                ticket_id=ticket_id,
                now=datetime.now(UTC),
                retention=self.retention,
            )
        if record.request_sha256 != fingerprint:
            hours = self.retention.total_seconds() / 3600
            raise IdempotencyKeyReused(
                f"Idempotency-Key {shorten(key)!r} was already used with a "
                f"different request body at {record.created_at:%Y-%m-%d %H:%M:%S}Z: "
                "send a new key for a new request, or repeat the first request "
                f"unchanged (keys are kept for {hours:.0f} hours)",
                field="Idempotency-Key",
            )
        return record

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        async with self.sessions() as session:
            return await get_idempotency_key(session, scope=scope, key=key)

    async def repoint(
        self, scope: str, key: str, old_ticket_id: str, ticket_id: str
    ) -> None:
        async with self.sessions.begin() as session:
            await repoint_idempotency_key(
                session,
                scope=scope,
                key=key,
                old_ticket_id=old_ticket_id,
                ticket_id=ticket_id,
            )

    async def release(
        self, scope: str, key: str, fingerprint: str, ticket_id: str
    ) -> None:
        async with self.sessions.begin() as session:
            await release_idempotency_key(
                session,
                scope=scope,
                key=key,
                request_sha256=fingerprint,
                ticket_id=ticket_id,
            )
