"""Activities: every piece of ticket work that does I/O.

`build_activities` returns the callables a worker registers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from activities.assignment import AssignmentActivities
from activities.classification import classify_ticket
from activities.notifications import NotificationActivities
from activities.projection import ProjectionActivities
from helpdesk.db import session_factory
from helpdesk.notify import NotificationChannel, build_channel
from helpdesk.routing import Routing, load_routing
from helpdesk.settings import Settings


def build_activities(
    settings: Settings,
    engine: AsyncEngine,
    *,
    routing: Routing | None = None,
    channel: NotificationChannel | None = None,
) -> list[Callable[..., Any]]:
    """Return the four ticket activities, bound to `engine` and the settings.

    `routing` defaults to `settings.routing_file` (or the built-in
    routing.yaml) and `channel` to `settings.notification_channel`.
    """
    sessions = session_factory(engine)
    routing = routing or load_routing(settings.routing_file)
    channel = channel or build_channel(settings)
    return [
        classify_ticket,
        AssignmentActivities(sessions, routing).assign_specialist,
        NotificationActivities(sessions, channel).send_notification,
        ProjectionActivities(sessions).project_ticket,
    ]
