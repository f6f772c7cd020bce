#!/usr/bin/env bash
# The system packages the tests drive for real, installed if absent (Debian, as root; quiet):
# nginx and caddy (gateways; Traefik comes with the [test] extra), redis-server (shared rate
# limits), chromium (browser tests through Playwright), PostgreSQL (the suite's second backend,
# two-node and fault tests), Node.js with the OpenID Connect provider of tests/oidc/provider
# (identity tests) and axe-core of tests/accessibility (the accessibility test).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v caddy >/dev/null || missing+=(caddy)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
(cd tests/oidc/provider && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
(cd tests/accessibility && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
