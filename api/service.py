"""Ticket operations of the API: intake, reads and actions against Temporal.

The workflow is the source of truth for an open ticket. The database contains
the read model (queue, history, closed tickets) and the claims that keep one
`external_ref` on one open ticket.

Intake runs in this order, so that a failure leaves nothing behind:

0. With an Idempotency-Key, claim the key for this request body and a fresh
   ticket id. If the key is already stored with the same body, return the
   ticket of that first request instead (see api/idempotency.py).
1. Claim the `external_ref` (when given) for the ticket id and commit.
   If an open ticket already has it, report the duplicate to that ticket
   and return it.
2. Start the workflow. If the start fails, the claims are released; if the
   outcome is unknown (a timeout), the workflow is looked up first and the
   intake counts as done when it exists.
3. Return the ticket as registered, built by the same pure code the
   workflow runs on its first task. Classification and assignment follow
   in the workflow; querying it here would only wait for the worker, and
   would show the same registered ticket.

The API writes no ticket row: the workflow projects it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    QueryRejectCondition,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import (
    ApiError,
    IdempotencyKeyInUse,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    SearchAttributeNotRegistered,
    ServiceUnavailable,
    TicketClosed,
)
from api.idempotency import (
    INTAKE_SCOPE,
    IdempotencyKeys,
    action_scope,
    request_fingerprint,
)
from api.text import shorten
from helpdesk.contracts import (
    REPORT_DUPLICATE_UPDATE,
    STATE_QUERY,
    TICKET_WORKFLOW,
    ActionRequest,
    DuplicateReport,
    TicketSnapshot,
    TicketWorkflowInput,
    workflow_id_for,
)
from helpdesk.db.repository import IdempotencyRecord
from helpdesk.db.repository.tickets import (
    claim_external_ref,
    get_ticket,
    release_external_ref,
)
from helpdesk.domain import TicketIntake
from helpdesk.ids import is_ticket_id, new_ticket_id
from helpdesk.logging import get_logger
from helpdesk.sla import SlaPolicy
from workflows.state import build_snapshot, new_state
from workflows.visibility import initial_search_attributes

log = get_logger("helpdesk.api")

# How long one call to Temporal may take before the API returns 503.
RPC_TIMEOUT = timedelta(seconds=10)
# How long the start of a ticket's workflow may take in all, the SDK's own
# retries of an unreachable server included, and the part of it kept for
# looking up a start whose outcome is unknown. Without the budget an intake
# took about 15 s to fail while Temporal was down.
START_BUDGET = timedelta(seconds=5)
START_CHECK_RESERVE = timedelta(seconds=1)
# How long a repeated Idempotency-Key waits for the first request to open
# its ticket, and after how long a key whose ticket never appeared counts as
# left behind by a crashed process (well above START_BUDGET plus the
# database writes around it).
KEY_IN_PROGRESS_WAIT = timedelta(seconds=3)
STALE_KEY_AFTER = timedelta(minutes=2)
# How long a duplicate report waits for a concurrent intake of the same
# reference to start its workflow.
CONCURRENT_START_WAIT = timedelta(seconds=3)
# Fresh ticket ids to try when one is taken (about 1 in 10**9 per try).
ID_ATTEMPTS = 5


@dataclass(frozen=True)
class IntakeResult:
    ticket_id: str
    created: bool
    snapshot: TicketSnapshot
    # "registration" for a new ticket, "workflow" for the open ticket that
    # received a duplicate report; a replay reads the ticket as it is now,
    # from the workflow or, when no worker responds, the database.
    source: Literal["workflow", "registration", "database"]
    # True when an earlier request with the same Idempotency-Key did the work.
    replayed: bool = False


@dataclass(frozen=True)
class TicketView:
    snapshot: TicketSnapshot
    source: Literal["workflow", "database"]


def parse_ticket_id(raw: str) -> str:
    """Return the canonical ticket id or raise NotFound naming the expected form."""
    ticket_id = raw.strip().upper()
    if not is_ticket_id(ticket_id):
        raise NotFound(
            f"ticket {shorten(raw)!r} not found: ticket ids look like HD-4F7K2Q, "
            "HD- and six characters from the digits and the letters A-Z "
            "except I, L, O and U",
            field="ticket_id",
        )
    return ticket_id


def static_summary(intake: TicketIntake) -> str:
    """Return the Web UI one-liner, such as `P1 technical_incident from monitoring`.

    The summary is fixed when the workflow starts, so it names what the
    intake gave and marks the rest as pending: the classifier's type and
    priority appear later in the current details and search attributes. It
    names only enumerated values, never the title or reporter, because
    Temporal stores it unencrypted.
    """
    words = [
        intake.priority.value if intake.priority else None,
        intake.type.value if intake.type else "ticket",
        f"from {intake.channel.value}",
    ]
    summary = " ".join(word for word in words if word)
    if intake.type is None and intake.priority is None:
        return f"{summary} (classification pending)"
    if intake.type is None:
        return f"{summary} (type pending classification)"
    if intake.priority is None:
        return f"{summary} (priority pending classification)"
    return summary


def registration_snapshot(workflow_input: TicketWorkflowInput) -> TicketSnapshot:
    """Return the ticket as the workflow stores it at registration."""
    intake = workflow_input.intake
    policy = workflow_input.policy
    registered_at = workflow_input.registered_at
    state = new_state(intake, policy, registered_at)
    return build_snapshot(
        workflow_input.ticket_id, intake, policy, state, registered_at
    )


def _is_status(exc: BaseException, *codes: RPCStatusCode) -> bool:
    return isinstance(exc, RPCError) and exc.status in codes


_NO_SEARCH_ATTRIBUTE = re.compile(
    r"has no mapping defined for search attribute (?P<name>\w+)"
)


def _unregistered_search_attribute(exc: RPCError) -> str | None:
    """Return the attribute that Temporal rejected a start for, if that is why.

    The server (1.32) rejects a start with INVALID_ARGUMENT and a message
    such as "Namespace x has no mapping defined for search attribute
    TicketStage"; the name comes from that message.
    """
    if exc.status != RPCStatusCode.INVALID_ARGUMENT:
        return None
    match = _NO_SEARCH_ATTRIBUTE.search(exc.message)
    return match.group("name") if match else None


def _unavailable(what: str, exc: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"{what}: Temporal did not answer ({type(exc).__name__}: {exc}); retry later"
    )


class TicketService:
    def __init__(
        self,
        client: Client,
        sessions: async_sessionmaker[AsyncSession],
        *,
        task_queue: str,
        policy: SlaPolicy,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.task_queue = task_queue
        self.policy = policy
        self.rpc_timeout = RPC_TIMEOUT
        self.start_budget = START_BUDGET
        self.keys = IdempotencyKeys(sessions)

    def handle(self, ticket_id: str) -> WorkflowHandle[object, object]:
        return self.client.get_workflow_handle(workflow_id_for(ticket_id))

    # Intake

    async def open_ticket(
        self, intake: TicketIntake, idempotency_key: str | None = None
    ) -> IntakeResult:
        """Start a ticket, or report a duplicate to the open ticket with its ref.

        With an `idempotency_key`, a repeat of the same request returns the
        ticket of the first one, and the key with another body raises
        IdempotencyKeyReused. The work is shielded from request
        cancellation: once a claim is written, the intake finishes or undoes
        it even if the caller hangs up.
        """
        if idempotency_key is None:
            work = self._open_ticket(intake, None)
        else:
            work = self._open_ticket_once(intake, idempotency_key)
        task = asyncio.ensure_future(work)
        return await asyncio.shield(task)

    async def _open_ticket_once(self, intake: TicketIntake, key: str) -> IntakeResult:
        """Open the ticket for the first request with `key`; replay it after."""
        fingerprint = request_fingerprint(intake)
        for _ in range(ID_ATTEMPTS):
            ticket_id = new_ticket_id()
            record = await self.keys.claim(INTAKE_SCOPE, key, fingerprint, ticket_id)
            if record.ticket_id == ticket_id:
                return await self._open_with_key(intake, key, fingerprint, ticket_id)
            replay = await self._replay_intake(key, record)
            if replay is not None:
                return replay
        raise IdempotencyKeyInUse(
            f"Idempotency-Key {shorten(key)!r} is held by requests that keep "
            "failing; retry in a moment with the same key"
        )

    async def _open_with_key(
        self, intake: TicketIntake, key: str, fingerprint: str, ticket_id: str
    ) -> IntakeResult:
        """Run the intake that owns the key; release the key when it fails."""
        try:
            result = await self._open_ticket(intake, key, first_id=ticket_id)
        except BaseException:
            await self.keys.release(INTAKE_SCOPE, key, fingerprint, ticket_id)
            raise
        if result.ticket_id != ticket_id:
            # A duplicate report to another ticket, or a fresh id after a
            # taken one: the key now stands for the ticket returned.
            await self.keys.repoint(INTAKE_SCOPE, key, ticket_id, result.ticket_id)
        return result

    async def _replay_intake(
        self, key: str, record: IdempotencyRecord
    ) -> IntakeResult | None:
        """Return the ticket opened by the first request with this key.

        The first request may still be starting the workflow, so a missing
        ticket is awaited briefly. Returns None when the first request
        failed and released the key, or when it left the key behind long
        ago (a crash), so the caller claims the key again.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + KEY_IN_PROGRESS_WAIT.total_seconds()
        while True:
            try:
                view = await self.get(record.ticket_id)
            except NotFound:
                view = None
            if view is not None:
                log.info("ticket.intake.replayed", ticket_id=record.ticket_id)
                return IntakeResult(
                    record.ticket_id, False, view.snapshot, view.source, replayed=True
                )
            current = await self.keys.get(INTAKE_SCOPE, key)
            if current is None or current.request_sha256 != record.request_sha256:
                return None
            record = current
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.1)
        if datetime.now(UTC) - record.created_at > STALE_KEY_AFTER:
            log.warning(
                "ticket.intake.stale_key_released",
                ticket_id=record.ticket_id,
                claimed_at=record.created_at.isoformat(),
            )
            await self.keys.release(
                INTAKE_SCOPE, key, record.request_sha256, record.ticket_id
            )
            return None
        raise IdempotencyKeyInUse(
            f"the first request with Idempotency-Key {shorten(key)!r} is still "
            "opening its ticket; retry in a moment with the same key"
        )

    async def _open_ticket(
        self,
        intake: TicketIntake,
        idempotency_key: str | None,
        *,
        first_id: str | None = None,
    ) -> IntakeResult:
        ref = intake.external_ref
        for attempt in range(ID_ATTEMPTS):
            ticket_id = first_id if attempt == 0 and first_id else new_ticket_id()
            if ref is not None:
                holder = await self._claim(ref, ticket_id)
                if holder is not None:
                    snapshot = await self._report_duplicate(
                        holder, intake, idempotency_key
                    )
                    if snapshot is not None:
                        return IntakeResult(holder, False, snapshot, "workflow")
                    log.info(
                        "ticket.intake.stale_claim_released",
                        ticket_id=holder,
                        external_ref=ref,
                    )
                    await self._release(ref, holder)
                    continue
            try:
                started = await self._start(ticket_id, intake)
            except BaseException:
                if ref is not None:
                    await self._release(ref, ticket_id)
                raise
            if started is None:
                # The id belongs to another ticket: try a fresh one.
                if ref is not None:
                    await self._release(ref, ticket_id)
                continue
            return IntakeResult(
                ticket_id, True, registration_snapshot(started), "registration"
            )
        raise ServiceUnavailable(
            f"could not find a free ticket id in {ID_ATTEMPTS} tries; retry"
        )

    async def _claim(self, ref: str, ticket_id: str) -> str | None:
        async with self.sessions() as session, session.begin():
            return await claim_external_ref(session, ref, ticket_id)

    async def _release(self, ref: str, ticket_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await release_external_ref(session, ref, ticket_id)

    async def _start(
        self, ticket_id: str, intake: TicketIntake
    ) -> TicketWorkflowInput | None:
        """Start the workflow and return its input; None when the id is taken.

        A new ticket id must never attach to another ticket, so a running
        workflow with the id fails the start (conflict policy FAIL) and so
        does a closed one (reuse policy REJECT_DUPLICATE). Retries of the
        RPC inside the SDK carry the same request id, which the server
        recognises as the same start.
        """
        workflow_input = TicketWorkflowInput(
            ticket_id=ticket_id,
            intake=intake,
            registered_at=datetime.now(UTC),
            policy=self.policy,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_budget.total_seconds()
        try:
            async with asyncio.timeout_at(
                deadline - START_CHECK_RESERVE.total_seconds()
            ):
                await self.client.start_workflow(
                    TICKET_WORKFLOW,
                    workflow_input,
                    id=workflow_id_for(ticket_id),
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=initial_search_attributes(intake),
                    static_summary=static_summary(intake),
                    rpc_timeout=self.rpc_timeout,
                )
        except WorkflowAlreadyStartedError:
            return None
        except TimeoutError as exc:
            if await self._started_within(ticket_id, deadline):
                return workflow_input
            raise ServiceUnavailable(
                f"could not start ticket {ticket_id}: Temporal did not respond "
                f"within {self.start_budget.total_seconds():.0f}s; retry later"
            ) from exc
        except RPCError as exc:
            attribute = _unregistered_search_attribute(exc)
            if attribute is not None:
                raise SearchAttributeNotRegistered(
                    f"could not start ticket {ticket_id}: the Temporal namespace "
                    f"{self.client.namespace!r} has no search attribute "
                    f"{attribute!r}. Register the ticket search attributes once "
                    "with `helpdesk register-search-attributes`; a retry fails "
                    "until then"
                ) from exc
            if await self._started_anyway(ticket_id, exc):
                return workflow_input
            raise _unavailable(f"could not start ticket {ticket_id}", exc) from exc
        log.info(
            "ticket.intake.started",
            ticket_id=ticket_id,
            channel=intake.channel.value,
            priority=intake.priority.value if intake.priority else None,
        )
        return workflow_input

    async def _started_within(self, ticket_id: str, deadline: float) -> bool:
        """Tell whether a start that ran out of time did create the workflow,
        looking it up until the loop time `deadline`."""
        try:
            async with asyncio.timeout_at(deadline):
                description = await self.handle(ticket_id).describe(
                    rpc_timeout=self.rpc_timeout
                )
        except (TimeoutError, RPCError, RuntimeError):
            # NOTE: as in _started_anyway, a start that did land but cannot
            # be confirmed counts as failed and its claims are released.
            return False
        return description.status == WorkflowExecutionStatus.RUNNING

    async def _started_anyway(self, ticket_id: str, exc: RPCError) -> bool:
        """Tell whether a start whose response was lost did create the workflow."""
        if not _is_status(
            exc,
            RPCStatusCode.DEADLINE_EXCEEDED,
            RPCStatusCode.UNAVAILABLE,
            RPCStatusCode.CANCELLED,
        ):
            return False
        try:
            description = await self.handle(ticket_id).describe(
                rpc_timeout=self.rpc_timeout
            )
        except RPCError:
            # NOTE: when Temporal cannot be reached, the start counts as failed
            # and the claim is released. If that start did land, a second
            # ticket with the same ref could then open.
            return False
        return description.status == WorkflowExecutionStatus.RUNNING

    async def _query(self, ticket_id: str, timeout: timedelta) -> TicketSnapshot:
        result = await self.handle(ticket_id).query(
            STATE_QUERY,
            result_type=TicketSnapshot,
            reject_condition=QueryRejectCondition.NOT_OPEN,
            rpc_timeout=timeout,
        )
        assert isinstance(result, TicketSnapshot)
        return result

    async def _report_duplicate(
        self, holder: str, intake: TicketIntake, idempotency_key: str | None
    ) -> TicketSnapshot | None:
        """Record a duplicate on the holder; None when the holder is not open.

        The holder may be an intake that claimed the reference a moment ago
        and is still starting its workflow, so a missing workflow is awaited
        briefly before the claim counts as stale.
        """
        assert intake.external_ref is not None
        report = DuplicateReport(
            external_ref=intake.external_ref,
            channel=intake.channel.value,
            title=intake.title,
            reported_at=datetime.now(UTC),
        )
        update_id = f"duplicate-{idempotency_key or uuid.uuid4()}"
        deadline = asyncio.get_running_loop().time() + (
            CONCURRENT_START_WAIT.total_seconds()
        )
        while True:
            try:
                result = await self._update(
                    holder, REPORT_DUPLICATE_UPDATE, report, update_id
                )
            except RPCError as exc:
                if not _is_status(exc, RPCStatusCode.NOT_FOUND):
                    raise _unavailable(
                        f"could not update ticket {holder}", exc
                    ) from exc
                if await self._is_closed(holder):
                    return None
                if asyncio.get_running_loop().time() >= deadline:
                    return None
                await asyncio.sleep(0.05)
                continue
            except WorkflowUpdateFailedError as exc:
                log.info(
                    "ticket.intake.duplicate_rejected",
                    ticket_id=holder,
                    error=str(exc.cause),
                )
                cause = exc.cause
                if isinstance(cause, ApplicationError) and (
                    cause.type == "IllegalTransition"
                ):
                    # The holder is closed but still finishing its workflow.
                    return None
                raise IllegalTransition(
                    f"ticket {holder} rejected the duplicate report: {cause}"
                ) from exc
            log.info(
                "ticket.intake.duplicate_reported",
                ticket_id=holder,
                external_ref=intake.external_ref,
            )
            return result

    async def _is_closed(self, ticket_id: str) -> bool:
        """True when the ticket's workflow exists and is no longer running."""
        try:
            description = await self.handle(ticket_id).describe(
                rpc_timeout=self.rpc_timeout
            )
        except RPCError as exc:
            if _is_status(exc, RPCStatusCode.NOT_FOUND):
                return False
            raise _unavailable(f"could not look up ticket {ticket_id}", exc) from exc
        return description.status != WorkflowExecutionStatus.RUNNING

    # Reads

    async def get(self, ticket_id: str) -> TicketView:
        """Return the live state, or the stored one for a closed ticket.

        When no worker responds to the query, the stored snapshot is returned
        (marked `database`) if there is one, else 503.
        """
        try:
            snapshot = await self._query(ticket_id, self.rpc_timeout)
            return TicketView(snapshot, "workflow")
        except WorkflowQueryRejectedError:
            stored = await self._stored(ticket_id)
            if stored is None:
                raise ServiceUnavailable(
                    f"ticket {ticket_id} is closed but not stored yet; retry"
                ) from None
            return TicketView(stored, "database")
        except (RPCError, WorkflowQueryFailedError) as exc:
            if _is_status(exc, RPCStatusCode.NOT_FOUND):
                stored = await self._stored(ticket_id)
                if stored is None:
                    raise NotFound(f"ticket {ticket_id} not found") from exc
                return TicketView(stored, "database")
            stored = await self._stored(ticket_id)
            if stored is None:
                raise _unavailable(f"could not read ticket {ticket_id}", exc) from exc
            log.warning(
                "ticket.read.stored_snapshot", ticket_id=ticket_id, error=str(exc)
            )
            return TicketView(stored, "database")

    async def _stored(self, ticket_id: str) -> TicketSnapshot | None:
        async with self.sessions() as session:
            record = await get_ticket(session, ticket_id)
        return record.snapshot if record else None

    # Actions

    async def act(
        self, ticket_id: str, request: ActionRequest, idempotency_key: str | None
    ) -> TicketSnapshot:
        """Run an action as the update of the same name; map refusals to errors.

        The same `idempotency_key` and body act once: the update id is made
        of both, and the workflow returns the current state for an id it has
        seen. The key with another body raises IdempotencyKeyReused. A
        rejected action releases its key; a 503 keeps it, because the
        action may still have been applied.
        """
        if idempotency_key is None:
            return await self._act(ticket_id, request, str(uuid.uuid4()))
        fingerprint = request_fingerprint(request)
        scope = action_scope(ticket_id)
        await self.keys.claim(scope, idempotency_key, fingerprint, ticket_id)
        # The hash in the id keeps an expired key, reused with another body,
        # from matching an id the workflow has already seen.
        update_id = f"{idempotency_key}#{fingerprint[:16]}"
        try:
            return await self._act(ticket_id, request, update_id)
        except ServiceUnavailable:
            raise
        except ApiError:
            await self.keys.release(scope, idempotency_key, fingerprint, ticket_id)
            raise

    async def _act(
        self, ticket_id: str, request: ActionRequest, update_id: str
    ) -> TicketSnapshot:
        try:
            snapshot = await self._update(
                ticket_id, request.action.value, request, update_id
            )
        except WorkflowUpdateFailedError as exc:
            raise _refusal(ticket_id, request, exc.cause) from exc
        except RPCError as exc:
            if not _is_status(exc, RPCStatusCode.NOT_FOUND):
                raise _unavailable(f"could not update ticket {ticket_id}", exc) from exc
            if await self._is_closed(ticket_id):
                raise TicketClosed(f"ticket {ticket_id} is closed") from exc
            raise NotFound(f"ticket {ticket_id} not found") from exc
        log.info(
            "ticket.action.applied",
            ticket_id=ticket_id,
            action=request.action.value,
            actor=request.actor,
            stage=snapshot.stage.value,
        )
        return snapshot

    async def _update(
        self, ticket_id: str, update: str, argument: object, update_id: str
    ) -> TicketSnapshot:
        """Execute an update; no response within `rpc_timeout` becomes 503."""
        try:
            async with asyncio.timeout(self.rpc_timeout.total_seconds() + 1):
                result = await self.handle(ticket_id).execute_update(
                    update,
                    argument,
                    id=update_id,
                    result_type=TicketSnapshot,
                    rpc_timeout=self.rpc_timeout,
                )
        except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError) as exc:
            raise ServiceUnavailable(
                f"ticket {ticket_id} did not respond within "
                f"{self.rpc_timeout.total_seconds():.0f}s: no worker is processing "
                "tickets right now; retry with the same Idempotency-Key",
                retry_after=5,
            ) from exc
        assert isinstance(result, TicketSnapshot)
        return result


def _refusal(ticket_id: str, request: ActionRequest, cause: BaseException) -> ApiError:
    """Map the workflow's refusal of an action to an API error."""
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    kind = cause.type if isinstance(cause, ApplicationError) else None
    log.info(
        "ticket.action.rejected",
        ticket_id=ticket_id,
        action=request.action.value,
        reason=message,
        error_type=kind,
    )
    if kind == "IllegalTransition":
        if message.endswith("ticket is closed"):
            return TicketClosed(f"ticket {ticket_id} is closed")
        return IllegalTransition(message)
    if kind == "InvalidAction":
        return InvalidRequest(message)
    if kind == "NotFound":
        return NotFound(message, field="assignee")
    return IllegalTransition(f"{request.action.value} was rejected: {message}")
