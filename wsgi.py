"""WSGI entry point for any WSGI server: `granian --interface wsgi wsgi:app`, `gunicorn wsgi:app`."""

from govern import create_app

app = create_app()
