"""Security headers on every page of the UI, every HTML answer (error pages included) and the static
files: a CSP without inline scripts or styles, no framing, no MIME sniffing."""

from __future__ import annotations

from flask import Flask, Response, request

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC_HEADERS = {key: value for key, value in HEADERS.items() if key != "Cache-Control"}


def register(app: Flask, ui_blueprints: frozenset[str]) -> None:
    @app.after_request
    def secure(response: Response) -> Response:
        if request.endpoint == "static":
            response.headers.update(STATIC_HEADERS)
        elif request.blueprint in ui_blueprints or response.mimetype == "text/html":
            response.headers.update(HEADERS)
        return response
