"""govern: tiered-access policy and governance for AI model deployments.

`create_app()` holds all wiring: settings, extensions, blueprints, error handlers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from govern.config import load_settings
from govern.database import engine_options, watch_connections
from govern.resources import resource_dir

# Above any single admin request; /v1/check sets its own, lower limit per request.
MAX_BODY_BYTES = 1024 * 1024


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    settings = load_settings(os.environ if environ is None else environ,
                             default_instance_path=Path.cwd() / "instance")
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(settings.instance_path),
                template_folder=str(resource_dir("templates")),
                static_folder=str(resource_dir("static")))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        TESTING=settings.env == "testing",
    )
    app.extensions["govern.settings"] = settings
    from govern.policy.allowed_models import allow_operator_models

    allow_operator_models(settings.allowed_model_sha256)

    from govern.api import register_api
    from govern.api.json import OrjsonProvider
    from govern.extensions import csrf, db, login_manager, migrate

    app.json = OrjsonProvider(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    login_manager.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        watch_connections(db.engine)
    register_api(app, settings)
    from govern.admin import auth, decisions, register_ui, sso

    app.register_blueprint(auth.bp)
    app.register_blueprint(decisions.bp)
    sso.register(app)
    login_manager.login_view = "auth.login"
    register_ui(app)
    return app

