"""WSGI entry point for any server: `gunicorn wsgi:app`."""

from govern import create_app

app = create_app()
