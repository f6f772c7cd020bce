"""The admin web UI: Flask-Login sessions, WTForms forms, server-side role checks. Layer: web."""

from __future__ import annotations

from flask import Flask

from govern.admin.access import error_page
from govern.admin.formatting import when
from govern.api import ERROR_PAGE


def register_ui(app: Flask) -> None:
    """The governance pages, their HTML errors and the security headers of every UI page."""
    from govern.admin import (
        audit,
        auth,
        dashboard,
        decisions,
        identity_providers,
        models,
        people,
        policy,
        proposals,
        security,
        sso,
    )

    for module in (dashboard, models, audit, identity_providers, proposals, people, policy):
        app.register_blueprint(module.bp)
    app.extensions[ERROR_PAGE] = error_page
    app.add_template_filter(when)
    security.register(app, frozenset({auth.bp.name, dashboard.bp.name, models.bp.name, audit.bp.name,
                                      identity_providers.bp.name, decisions.bp.name, sso.bp.name,
                                      proposals.bp.name, people.bp.name, policy.bp.name}))
