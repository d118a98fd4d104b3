"""The escalation decision for a request, as the HTTP action and the MCP tool both make it: the check through the
service (its cache, shared state and budget: no org call of its own), the history of this hour of the week (no org
call either), then the rules of `escalation`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .checks import BeforeConversationCheck, EscalationRequest
from .escalation import EscalationDecision, decide

if TYPE_CHECKING:
    from .app import App


def decision_for(current: App, request: EscalationRequest, *, deadline: float) -> tuple[EscalationDecision, datetime]:
    """The decision for `request` and the moment it was made (the gateway's clock)."""
    from .besttimes.answer import hour_history

    answer = current.service.check(request.check, deadline=deadline)
    now = datetime.now(UTC)
    # A conversation's workstream is not known before the org answers: its history is the workstream's own.
    check = request.check
    history = hour_history(current.profiles, check.workstream_id, answer, now, deadline=deadline) \
        if isinstance(check, BeforeConversationCheck) else None
    max_wait = request.max_wait(current.settings.escalation_max_wait_seconds)
    return decide(answer, max_wait=max_wait, now=now, history=history), now
