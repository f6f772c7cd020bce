"""The ceiling: a Flask app that answers a constant JSON body, served exactly like `govern serve`
(same server, settings, workers, threads and JSON library). govern is measured against it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flask import Flask, Response

from govern.api.json import OrjsonProvider
from govern.serve import serve

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
    # The workers import this file by module name, whichever folder they start in.
    bench = str(Path(__file__).resolve().parent)
    sys.path.insert(0, bench)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [bench, os.environ.get("PYTHONPATH")]))
    serve("ceiling:make_app", host="127.0.0.1", port=args.port, workers=args.workers,
          threads=args.threads)
