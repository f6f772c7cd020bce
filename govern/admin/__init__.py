"""The admin web UI: Flask-Login sessions, WTForms forms, server-side role checks. Layer: web."""

from __future__ import annotations

from flask import Flask

from govern.admin.access import error_page
from govern.admin.formatting import when
from govern.api import ERROR_PAGE


def register_ui(app: Flask) -> None:
    """The governance pages, their HTML errors and the security headers of every UI page."""
    from govern.admin import (
        access_requests,
        audit,
        auth,
        dashboard,
        decisions,
        feedback,
        identity_providers,
        incidents,
        keys,
        models,
        notifications,
        organisations,
        people,
        playground,
        policy,
        proposals,
        red_team,
        security,
        sso,
        webhooks,
    )

    pages = (dashboard, models, audit, identity_providers, proposals, access_requests, people, playground,
             organisations, keys, policy, webhooks, notifications, red_team, incidents, feedback)
    for module in pages:
        app.register_blueprint(module.bp)
    app.extensions[ERROR_PAGE] = error_page
    app.add_template_filter(when)
    security.register(app, frozenset({auth.bp.name, decisions.bp.name, sso.bp.name,
                                      *(module.bp.name for module in pages)}))
