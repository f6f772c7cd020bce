"""govern: tiered-access policy and governance for AI model deployments.

`create_app()` holds all wiring: settings, extensions, blueprints, error handlers, and the decision
plane in front of the Flask app.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from govern.config import load_settings
from govern.database import engine_options, private_database, private_folder, watch_connections
from govern.resources import resource_dir


def create_app(environ: Mapping[str, str] | None = None, *, decisions_only: bool = False) -> Flask:
    """The Flask app of the admin UI and admin API, whose WSGI callable serves the decision
    endpoints first through the lean decision plane (govern.api.plane). `decisions_only` leaves
    out the admin UI and admin API: the node answers decisions and operations, anything else 404."""
    settings = load_settings(os.environ if environ is None else environ,
                             default_instance_path=Path.cwd() / "instance")
    private_folder(settings.instance_path)
    private_database(settings.database_url)
    from govern.api.body import MAX_BODY_BYTES, MeasuredBody

    app = Flask(__name__, instance_path=str(settings.instance_path),
                template_folder=str(resource_dir("templates")),
                static_folder=None if decisions_only else str(resource_dir("static")))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,  # each decision endpoint lowers it for its own body
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        TESTING=settings.env == "testing",
    )
    app.extensions["govern.settings"] = settings
    from govern.policy.allowed_models import allow_operator_models

    allow_operator_models(settings.allowed_model_sha256)

    from govern.api import RuntimeHolder, mount, register_api
    from govern.api.json import OrjsonProvider
    from govern.api.plane import Plane
    from govern.extensions import csrf, db, login_manager, migrate
    from govern.gateway.routes import load_routes

    app.json = OrjsonProvider(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    login_manager.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        engine = db.engine
        watch_connections(engine)
    holder = RuntimeHolder(settings, engine)
    app.extensions["govern.runtime"] = holder
    register_api(app, settings, decisions_only=decisions_only)
    if not decisions_only:
        from govern.admin import auth, decisions, register_ui, sso

        app.register_blueprint(auth.bp)
        app.register_blueprint(decisions.bp)
        sso.register(app)
        login_manager.login_view = "auth.login"
        register_ui(app)
    routes = load_routes(settings.routes_file or resource_dir("policies") / "routes.yaml")
    plane = Plane(holder, settings, routes, behind=app.wsgi_app)
    mount(app, plane)
    app.wsgi_app = MeasuredBody(plane, MAX_BODY_BYTES)  # type: ignore[method-assign]
    return app

