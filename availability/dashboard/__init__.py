"""The supervisor dashboard: availability now, over the last 24 hours and by hour of the week, as one page."""

from .page import content_security_policy, dashboard_page

__all__ = ["content_security_policy", "dashboard_page"]
