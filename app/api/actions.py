"""`POST /project/action` with Chainlit's missing checks: a live session and a real action.

Chainlit's route looks the session up without checking it exists and builds the action from
whatever the client sent, so a made-up session id or a malformed action is a 500. This route
takes the path first (the parent app's routes win over the mount), answers those with 404
and 400, refuses actions restricted to a role (`restrict_action`) to anyone without it
with 403, and hands everything else to Chainlit's own handler.
"""

from __future__ import annotations

import logging
from typing import Any

from chainlit.action import Action
from chainlit.auth import get_current_user
from chainlit.server import call_action
from chainlit.session import WebsocketSession
from chainlit.types import CallActionRequest
from fastapi import APIRouter, Depends, HTTPException

from app import services
from app.auth.roles import action_role, has_role
from app.auth.users import UserDirectory

log = logging.getLogger(__name__)


def action_router() -> APIRouter:
    """The guarded action route."""
    router = APIRouter()
    requester = Depends(get_current_user)

    @router.post("/project/action", include_in_schema=False)
    async def guarded_action(payload: CallActionRequest, current_user: Any = requester) -> Any:
        if WebsocketSession.get_by_id(payload.sessionId) is None:
            raise HTTPException(404, "That chat session has ended: reload the page.")
        try:
            action = Action(**payload.action)
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, "That is not an action this chat offers.") from exc
        role = action_role(action.name)
        if role is not None:
            identifier = getattr(current_user, "identifier", None)
            users = UserDirectory(services.current().data_layer)
            if not await has_role(users, identifier, role):
                log.warning("refused action %s to %r: needs role %s", action.name, identifier, role)
                raise HTTPException(403, f"This needs the {role} role.")
        return await call_action(payload, current_user)

    return router
