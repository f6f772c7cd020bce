"""Route rules: from the request a gateway forwards to the model and capability it asks for.

A gateway in front of a model API (nginx `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`,
Envoy ext_authz) asks govern about the client's original request. Each gateway passes it its own
way; the rules in `policies/routes.yaml` (or GOVERN_ROUTES_FILE) turn its method and path into a
capability, and take the model from a `{model}` path segment, a header or the JSON body. The first
matching rule wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from govern.config import GATEWAY_KINDS
from govern.errors import ConfigError, Forbidden, InvalidInput
from govern.yaml_input import load_yaml

# `{model}` takes one path segment; `*` any one segment; `**` as the last segment, the rest.
PLACEHOLDER = re.compile(r"\{model\}|\*\*|\*")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SOURCES = ("body", "header")
ANY_GATEWAY = GATEWAY_KINDS[0]
# Which report of the original request each gateway kind makes; with `any`, the first there is, in
# this order. Caddy's forward_auth reports it as Traefik's ForwardAuth does.
REPORTED_IN = {"envoy": "the path", "nginx": "X-Original-URI", "traefik": "X-Forwarded-Uri",
               "caddy": "X-Forwarded-Uri"}
MAX_NAME = 200


class Headers(Protocol):
    def get(self, key: str) -> str | None: ...


class Unroutable(Forbidden):
    """No model or capability can be told for the request: a deny, before any decision."""


class ConflictingRequest(InvalidInput):
    """The original request is reported twice and the reports disagree: a client has added headers
    of another gateway kind to be judged on a request other than the one it makes."""

    code = "conflicting_original_request"


@dataclass(frozen=True)
class OriginalRequest:
    """The client's request as the gateway reported it."""

    method: str
    path: str
    reported_by: str = field(default="", compare=False)  # the gateway kind whose headers told it


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]  # empty: any method
    path: str
    pattern: re.Pattern[str]
    capability: str
    model_from: tuple[tuple[str, str], ...]  # (body|header, field or header name), tried in order

    def matches(self, request: OriginalRequest) -> re.Match[str] | None:
        if self.methods and request.method not in self.methods:
            return None
        return self.pattern.fullmatch(request.path)


def _pattern(path: str) -> re.Pattern[str]:
    parts: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(path):
        parts.append(re.escape(path[last:match.start()]))
        token = match.group()
        parts.append({"{model}": r"(?P<model>[^/]+)", "*": r"[^/]+", "**": r".*"}[token])
        last = match.end()
    parts.append(re.escape(path[last:]))
    return re.compile("".join(parts))


def _route(raw: object, where: str) -> Route:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: a route is a mapping with method, path and capability")
    unknown = set(raw) - {"method", "path", "capability", "model"}
    if unknown:
        raise ConfigError(f"{where}: unknown fields {', '.join(sorted(map(str, unknown)))}")
    path, capability = raw.get("path"), raw.get("capability")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"{where}: path must start with /")
    if not isinstance(capability, str) or not capability:
        raise ConfigError(f"{where}: capability must be a name")
    method = raw.get("method", "*")
    methods = [method] if isinstance(method, str) else method
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise ConfigError(f"{where}: method must be a method name, a list of them, or *")
    upper = {m.upper() for m in methods}
    if "*" in upper:
        upper = set()
    if upper - METHODS:
        raise ConfigError(f"{where}: unknown method {', '.join(sorted(upper - METHODS))}")
    sources_raw = raw.get("model") or []
    sources_list = [sources_raw] if isinstance(sources_raw, Mapping) else sources_raw
    model_from: list[tuple[str, str]] = []
    if not isinstance(sources_list, list):
        raise ConfigError(f"{where}: model must be {{body: field}}, {{header: name}} or a list of them")
    for source in sources_list:
        if (not isinstance(source, Mapping) or len(source) != 1 or next(iter(source)) not in SOURCES
                or not isinstance(next(iter(source.values())), str)):
            raise ConfigError(f"{where}: model must be {{body: field}}, {{header: name}} or a list of them")
        ((kind, name),) = source.items()
        model_from.append((kind, name))
    pattern = _pattern(path)
    if "model" not in pattern.groupindex and not model_from:
        raise ConfigError(f"{where}: say where the model is: a {{model}} path segment or model: …")
    return Route(frozenset(upper), path, pattern, capability, tuple(model_from))


def parse_routes(raw: object, where: str = "routes") -> tuple[Route, ...]:
    """Validate route rules given as plain data; raises ConfigError naming the faulty rule."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("routes"), list):
        raise ConfigError(f"{where}: expected a mapping with a list `routes`")
    return tuple(_route(item, f"{where}: routes[{index}]") for index, item in enumerate(raw["routes"]))


def load_routes(path: Path) -> tuple[Route, ...]:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read the route rules {path}: {error.strerror}") from None
    raw = load_yaml(text, str(path), error=ConfigError)
    return parse_routes(raw, str(path))


def _from_headers(headers: Headers, method_header: str, uri_header: str) -> OriginalRequest | None:
    uri = headers.get(uri_header)
    if not uri:
        return None
    return OriginalRequest((headers.get(method_header) or "GET").upper(),
                           uri.split("?", 1)[0].split("#", 1)[0])


def original_request(method: str, forwarded_path: str | None, headers: Headers,
                     gateway: str = ANY_GATEWAY) -> OriginalRequest | None:
    """The client's request as the configured `gateway` kind reports it.

    - Envoy (ext_authz HTTP service) sends the original method to /v1/authorize<original path>;
    - nginx (`auth_request`) sends the headers X-Original-Method and X-Original-URI (the usual
      names; the snippet in docs/gateways.md sets them);
    - Traefik (ForwardAuth) and Caddy (`forward_auth`) always send a GET, with X-Forwarded-Method
      and X-Forwarded-Uri.
    A gateway passes the client's own headers on, so a client can add another kind's: only the
    configured kind's report is read (with `any`, the first there is, in the order above), and a
    request reported twice, differently, is refused (ConflictingRequest) whatever the setting.
    None when there is nothing to go by (the gateway then has to name model and capability)."""
    reports = {
        "the path": (OriginalRequest(method.upper(), "/" + forwarded_path.lstrip("/"))
                     if forwarded_path is not None else None),
        "X-Original-URI": _from_headers(headers, "X-Original-Method", "X-Original-URI"),
        "X-Forwarded-Uri": _from_headers(headers, "X-Forwarded-Method", "X-Forwarded-Uri"),
    }
    present = {where: report for where, report in reports.items() if report is not None}
    if len(set(present.values())) > 1:
        told = "; ".join(f"{where}: {r.method} {r.path}" for where, r in present.items())
        raise ConflictingRequest(f"the original request is reported more than once, differently ({told})")
    kind = (next((kind for kind, where in REPORTED_IN.items() if where in present), None)
            if gateway == ANY_GATEWAY else gateway)
    if kind is None or (found := reports[REPORTED_IN[kind]]) is None:
        return None
    return replace(found, reported_by=kind)


@dataclass(frozen=True)
class Asked:
    model: str
    capability: str


def resolve(routes: tuple[Route, ...], request: OriginalRequest | None, headers: Headers,
            body: Callable[[], Mapping[str, Any] | None]) -> Asked:
    """The model and capability asked for. X-Govern-Model and X-Govern-Capability, set by the
    gateway, come first; what they leave open comes from the first rule matching the request.

    `body` gives the original JSON body when the gateway forwarded one (read only if a rule needs
    it). Raises Unroutable (a 403) when either cannot be told."""
    model = headers.get("X-Govern-Model") or None
    capability = headers.get("X-Govern-Capability") or None
    if model is None or capability is None:
        route, match = _first_match(routes, request)
        capability = capability or route.capability
        if model is None:
            model = _model(route, match, headers, body)
    if len(model) > MAX_NAME or len(capability) > MAX_NAME:
        raise Unroutable("the model or capability name is too long", code="invalid_route")
    return Asked(model, capability)


def _first_match(routes: tuple[Route, ...], request: OriginalRequest | None) -> tuple[Route, re.Match[str]]:
    if request is None:
        raise Unroutable("name the model and capability (X-Govern-Model, X-Govern-Capability) or pass "
                         "the original request (X-Original-URI, X-Forwarded-Uri, or the path)",
                         code="no_route")
    for route in routes:
        match = route.matches(request)
        if match is not None:
            return route, match
    raise Unroutable(f"no route rule matches {request.method} {request.path}", code="no_route")


def _model(route: Route, match: re.Match[str], headers: Headers,
           body: Callable[[], Mapping[str, Any] | None]) -> str:
    if "model" in route.pattern.groupindex:
        return unquote(match.group("model"))
    for kind, name in route.model_from:
        if kind == "header":
            value = headers.get(name)
        else:
            data = body()
            value = data.get(name) if data is not None else None
        if isinstance(value, str) and value:
            return value
    wanted = " or ".join(f"the {kind} {name!r}" for kind, name in route.model_from)
    raise Unroutable(f"route {route.path} takes the model from {wanted}, and it is missing",
                     code="model_missing")
