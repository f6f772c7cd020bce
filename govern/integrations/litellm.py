"""govern in front of a LiteLLM proxy: a custom auth hook that asks govern about every request, and
a success callback that reports each call's tokens and cost back to govern.

In the proxy's config.yaml (docs/litellm.md has the whole file):

    general_settings:
      custom_auth: govern.integrations.litellm.user_api_key_auth
    litellm_settings:
      callbacks: govern.integrations.litellm.usage_reporter

and in the proxy's environment `GOVERN_URL` (where govern serves, e.g. http://127.0.0.1:8000),
`GOVERN_PEP_KEY` (an enforcement-point key: the usage reports are sent with it) and optionally
`GOVERN_TIMEOUT` (seconds for each call to govern, default 2).

Clients call the proxy with their own govern client key (`Authorization: Bearer gvk_…`); the model
they name is the model govern decides on, so name LiteLLM's `model_name`s as govern names its
models. A request is passed on only when govern answers allow; every other answer, and a govern
that cannot be reached, refuses it (fail closed).

This module runs inside the proxy and needs LiteLLM; govern never imports it, so LiteLLM stays
optional for govern itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
from fastapi import Request
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyErrorTypes, ProxyException, UserAPIKeyAuth
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

from govern.identity.tokens import prefix_of
from govern.types import REASON_TEXT, Reason

log = logging.getLogger(__name__)

DECISION_ID = "govern_decision_id"  # in the metadata of the UserAPIKeyAuth an allow returns
DEFAULT_TIMEOUT = 2.0
REPORT_ATTEMPTS = 3  # a repeated report is answered as the first was, so retrying is safe
# LiteLLM's routes, with or without their /v1, by what they do with the model: the capability
# govern is asked about. Any other route is refused (govern decides only on what it knows).
CAPABILITIES = (
    ("/chat/completions", "generate"),
    ("/completions", "generate"),  # also /openai/deployments/{model}/completions, /engines/{model}/…
    ("/responses", "generate"),
    ("/fine_tuning/jobs", "fine_tune"),
)


class GovernSettings:
    """Where govern is and the key usage is reported with, read from the proxy's environment."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.url = environ.get("GOVERN_URL", "").rstrip("/")
        self.pep_key = environ.get("GOVERN_PEP_KEY", "")
        self.timeout = float(environ.get("GOVERN_TIMEOUT") or DEFAULT_TIMEOUT)
        if not self.url:
            raise RuntimeError("GOVERN_URL must name where govern serves, e.g. http://127.0.0.1:8000")


_connection: tuple[asyncio.AbstractEventLoop, GovernSettings, httpx.AsyncClient] | None = None


def _client() -> tuple[GovernSettings, httpx.AsyncClient]:
    """The settings and the HTTP client of the running event loop (a client must not cross loops)."""
    global _connection
    loop = asyncio.get_running_loop()
    if _connection is None or _connection[0] is not loop:
        settings = GovernSettings(os.environ)
        _connection = loop, settings, httpx.AsyncClient(base_url=settings.url, timeout=settings.timeout)
    return _connection[1], _connection[2]


def capability_of(path: str) -> str | None:
    route = path.removeprefix("/v1")
    for suffix, capability in CAPABILITIES:
        if route.endswith(suffix):
            return capability
    return None


def _refuse(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> ProxyException:
    return ProxyException(message=f"govern: {message} ({code})", type=ProxyErrorTypes.auth_error,
                          param=None, code=status, headers=headers, openai_code=code)


def _problem(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
        return str(body["code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        return "govern_unavailable", f"govern answered {response.status_code}"


def _reason_text(reason: str) -> str:
    try:
        return REASON_TEXT[Reason(reason)]
    except ValueError:  # a reason of a newer govern
        return "denied"


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """LiteLLM's custom auth: ask govern's /v1/check whether the caller's key may use the model it
    names for what the route does. Allow: the caller, with the decision id in its metadata (the
    usage report names it). Deny: a ProxyException with govern's reason (403; 429 with Retry-After
    when rate-limited); unknown key 401; govern unreachable 503."""
    settings, client = _client()
    capability = capability_of(request.url.path)
    if capability is None:
        raise _refuse(403, "no_route", f"no capability is known for {request.url.path}")
    # A model in the path (/openai/deployments/{model}/…) is the one LiteLLM calls, whatever the
    # body says: ask about that one.
    model = request.path_params.get("model") or (await _read_request_body(request)).get("model")
    if not isinstance(model, str) or not model:
        raise _refuse(400, "model_missing", "the request names no model")
    headers = {"Authorization": f"Bearer {api_key}"}
    if "x-request-id" in request.headers:
        headers["X-Request-ID"] = request.headers["x-request-id"]
    try:
        response = await client.post("/v1/check", json={"model": model, "capability": capability},
                                     headers=headers)
    except httpx.HTTPError as error:
        log.error("govern could not be asked: %s", error)
        raise _refuse(503, "govern_unavailable", "govern could not be reached; the request is refused"
                      ) from None
    if response.status_code != 200:
        # The caller's credential (401) or what it asked (400, e.g. a model name over 200 characters);
        # anything else is govern failing to decide.
        status = response.status_code if response.status_code in (400, 401) else 503
        raise _refuse(status, *_problem(response))
    answer = response.json()
    if not answer["allow"]:
        reason = answer["reason"]
        why = f"{_reason_text(reason)}: {model} for {capability}, decision {answer['decision_id']}"
        if reason == Reason.RATE_LIMITED:
            raise _refuse(429, reason, why, {"Retry-After": str(answer.get("retry_after", 60))})
        raise _refuse(403, reason, why)
    # The visible prefix names the caller in LiteLLM's logs; the secret itself is never kept there
    # (None for a bearer token of an identity provider, which /v1/check takes as well).
    prefix = prefix_of(api_key)
    return UserAPIKeyAuth(api_key=prefix, key_alias=prefix,
                          metadata={DECISION_ID: answer["decision_id"], "govern_tier": answer["tier"]})


def decision_of(kwargs: Mapping[str, Any]) -> str | None:
    """The govern decision id of a logged call, from the auth metadata LiteLLM carries along."""
    metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
    decision = (metadata.get("user_api_key_metadata") or {}).get(DECISION_ID)
    return decision if isinstance(decision, str) else None


def usage_of(kwargs: Mapping[str, Any], response_obj: Any) -> dict[str, Any]:
    """The report body of a logged call (without its decision id): tokens, cost, model asked for."""
    logged = kwargs.get("standard_logging_object") or {}
    usage = getattr(response_obj, "usage", None)
    report: dict[str, Any] = {
        "input_tokens": int(logged.get("prompt_tokens") or getattr(usage, "prompt_tokens", 0) or 0),
        "output_tokens": int(logged.get("completion_tokens") or getattr(usage, "completion_tokens", 0) or 0),
    }
    cost = logged.get("response_cost", kwargs.get("response_cost"))
    if cost is not None:
        report["cost"] = format(Decimal(repr(float(cost))), "f")  # plain digits: 1.35e-05 as 0.0000135
    if logged.get("model_group"):
        report["model"] = logged["model_group"]  # the name asked for: the model govern decided on
    return report


class UsageReporter(CustomLogger):  # type: ignore[misc]  # LiteLLM's class, untyped here
    """LiteLLM success callback: POST each call's tokens and cost to govern's /v1/usage with the
    enforcement-point key. A report that cannot be delivered is logged; the call has been answered."""

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any,
                                      start_time: Any, end_time: Any) -> None:
        decision = decision_of(kwargs)
        if decision is None:
            return  # not a call govern allowed through this proxy's auth (a health check, say)
        settings, client = _client()
        body = {"decision_id": decision, **usage_of(kwargs, response_obj)}
        headers = {"Authorization": f"Bearer {settings.pep_key}"}
        for attempt in range(1, REPORT_ATTEMPTS + 1):
            try:
                response = await client.post("/v1/usage", json=body, headers=headers)
            except httpx.HTTPError as error:
                outcome = str(error)
            else:
                if response.status_code in (200, 201):
                    return
                outcome = f"{response.status_code} {response.text[:200]}"
                if response.status_code < 500:
                    break  # refused: sending it again changes nothing
            if attempt < REPORT_ATTEMPTS:
                await asyncio.sleep(0.2 * attempt)
        log.error("usage of govern decision %s not reported: %s", decision, outcome)


usage_reporter = UsageReporter()
