"""The dashboard's answer to `GET /api/dashboard`: the page for a request's query parameters, and the
Content-Security-Policy that goes with it (the page's nonce on its one style and one script, nothing else).

The query is parsed (`query`), the data gathered within the request's deadline (`load`) and the page drawn from
its templates (`view`); the blueprint adds the headers.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import AvailabilityError
from .directory import OrgDirectory
from .load import HistoryReader, load_dashboard
from .query import parse_dashboard_query
from .view import render_dashboard

if TYPE_CHECKING:
    from ..besttimes.cache import ProfileCache
    from ..service import AvailabilityService


def dashboard_page(params: Mapping[str, str], *, now: datetime, store: HistoryReader | AvailabilityError,
                   service: AvailabilityService | AvailabilityError, configured: Sequence[str] | None,
                   directory: OrgDirectory, deadline: float | None = None,
                   profiles: ProfileCache | AvailabilityError | None = None) -> tuple[str, str]:
    """The page for a request's query parameters; a part given as its error is shown as missing. (html, nonce)"""
    query = parse_dashboard_query(params)
    dashboard = load_dashboard(query, now=now, store=store, service=service, directory=directory,
                               configured=configured, deadline=deadline, profiles=profiles)
    nonce = secrets.token_urlsafe(16)
    return render_dashboard(dashboard, nonce=nonce), nonce


def content_security_policy(nonce: str) -> str:
    """Nothing may load from anywhere: the page carries its own style, script and pictures."""
    return (f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src data:; "
            f"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
