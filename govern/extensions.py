"""Flask extensions, created unbound here and bound in create_app().

Layer: data.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from govern.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
oauth = OAuth()  # single sign-on clients of the admin UI (govern.admin.sso)


def current_session() -> Session:
    """The request's (or app context's) database session, typed for the services."""
    return db.session()
