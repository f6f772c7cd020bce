"""The admin web UI: Flask-Login sessions, WTForms forms, server-side role checks. Layer: web."""
