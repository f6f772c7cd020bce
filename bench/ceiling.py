"""The ceiling: a Flask app that answers a constant JSON body, served exactly like `govern serve`
(same gunicorn settings, workers, threads and JSON library). govern is measured against it."""

from __future__ import annotations

import argparse

from flask import Flask, Response

from govern.api.json import OrjsonProvider
from govern.serve import WsgiServer, server_options

ANSWER = {"allow": True, "decision_id": "0" * 26, "tier": "free", "reason": "granted_by_tier",
          "rule": "p, free, open, generate, allow", "policy_version": 1}


def make_app() -> Flask:
    app = Flask(__name__)
    app.json = OrjsonProvider(app)

    @app.post("/v1/check")
    def check() -> Response:
        return app.json.response(ANSWER)

    @app.get("/healthz")
    def healthz() -> Response:
        return app.json.response({"status": "ok"})

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    WsgiServer(make_app, server_options(host="127.0.0.1", port=args.port, workers=args.workers,
                                        threads=args.threads)).run()
