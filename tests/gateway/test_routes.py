"""Route rules: which model and capability the request a gateway forwards asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from govern.errors import ConfigError
from govern.gateway.routes import (
    Asked,
    ConflictingRequest,
    OriginalRequest,
    Unroutable,
    load_routes,
    original_request,
    parse_routes,
    resolve,
)
from govern.resources import resource_dir

DEFAULT_ROUTES = load_routes(resource_dir("policies") / "routes.yaml")


def no_body() -> None:
    return None


def ask(method: str, path: str, headers: dict[str, str] | None = None, body: dict | None = None,
        routes=DEFAULT_ROUTES) -> Asked:  # type: ignore[no-untyped-def, type-arg]
    return resolve(routes, OriginalRequest(method, path), headers or {}, lambda: body)


# -- the shipped rules -------------------------------------------------------------------------------
def test_chat_completions_asks_generate_of_the_body_model():
    assert ask("POST", "/v1/chat/completions", body={"model": "frontier-1", "messages": []}) == \
        Asked("frontier-1", "generate")


def test_fine_tuning_jobs_ask_fine_tune_of_the_body_model():
    assert ask("POST", "/v1/fine_tuning/jobs", body={"model": "open-7b"}) == Asked("open-7b", "fine_tune")


def test_deployment_path_gives_the_model_without_a_body():
    assert ask("POST", "/openai/deployments/chat-standard/chat/completions") == \
        Asked("chat-standard", "generate")


def test_percent_encoded_model_segment_is_decoded():
    assert ask("POST", "/openai/deployments/org%2Fmodel-1/completions").model == "org/model-1"


def test_body_route_without_a_body_is_model_missing():
    with pytest.raises(Unroutable) as error:
        ask("POST", "/v1/chat/completions")
    assert error.value.code == "model_missing"
    assert error.value.status == 403


def test_unknown_path_is_no_route():
    with pytest.raises(Unroutable) as error:
        ask("POST", "/v1/images/generations", body={"model": "open-7b"})
    assert error.value.code == "no_route"


def test_method_must_match():
    with pytest.raises(Unroutable) as error:
        ask("GET", "/v1/chat/completions", body={"model": "open-7b"})
    assert error.value.code == "no_route"


# -- explicit headers come first -------------------------------------------------------------------
def test_explicit_headers_need_no_original_request():
    headers = {"X-Govern-Model": "open-7b", "X-Govern-Capability": "tools"}
    assert resolve(DEFAULT_ROUTES, None, headers, no_body) == Asked("open-7b", "tools")


def test_explicit_model_beats_the_path_and_capability_comes_from_the_route():
    asked = ask("POST", "/openai/deployments/chat-standard/chat/completions",
                headers={"X-Govern-Model": "open-7b"})
    assert asked == Asked("open-7b", "generate")


def test_explicit_capability_beats_the_route():
    asked = ask("POST", "/v1/chat/completions", headers={"X-Govern-Capability": "tools"},
                body={"model": "open-7b"})
    assert asked == Asked("open-7b", "tools")


def test_nothing_to_go_by_is_no_route():
    with pytest.raises(Unroutable) as error:
        resolve(DEFAULT_ROUTES, None, {"X-Govern-Model": "open-7b"}, no_body)
    assert error.value.code == "no_route"


# -- each gateway's way of passing the original request --------------------------------------------
def test_envoy_passes_method_and_path_as_the_request_itself():
    assert original_request("post", "v1/chat/completions", {}) == \
        OriginalRequest("POST", "/v1/chat/completions")


def test_nginx_passes_x_original_headers_and_the_query_is_dropped():
    headers = {"X-Original-Method": "POST", "X-Original-URI": "/v1/completions?stream=true"}
    assert original_request("GET", None, headers) == OriginalRequest("POST", "/v1/completions")


def test_traefik_passes_x_forwarded_headers_on_a_get():
    headers = {"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/v1/fine_tuning/jobs"}
    assert original_request("GET", None, headers) == OriginalRequest("POST", "/v1/fine_tuning/jobs")


def test_caddy_passes_x_forwarded_headers_on_a_get_as_traefik_does():
    headers = {"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/v1/completions?stream=true"}

    found = original_request("GET", None, headers, "caddy")

    assert found == OriginalRequest("POST", "/v1/completions")
    assert found.reported_by == "caddy"


def test_two_reports_that_disagree_are_named_by_their_headers():
    headers = {"X-Original-Method": "POST", "X-Original-URI": "/v1/completions",
               "X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/v1/fine_tuning/jobs"}

    with pytest.raises(ConflictingRequest) as error:
        original_request("GET", None, headers, "caddy")

    assert error.value.message == ("the original request is reported more than once, differently "
                                   "(X-Original-URI: POST /v1/completions; "
                                   "X-Forwarded-Uri: POST /v1/fine_tuning/jobs)")


def test_no_original_request_without_any_of_them():
    assert original_request("GET", None, {"X-Forwarded-Method": "POST"}) is None


# -- writing rules -------------------------------------------------------------------------------
CUSTOM = parse_routes({"routes": [
    {"method": ["POST", "PUT"], "path": "/models/{model}/tools/**", "capability": "tools"},
    {"path": "/v1/*/generate", "capability": "generate", "model": [{"header": "X-Model"}, {"body": "model"}]},
]})


def test_double_star_matches_the_rest_of_the_path_and_method_lists_work():
    assert ask("PUT", "/models/open-7b/tools/search/run", routes=CUSTOM) == Asked("open-7b", "tools")


def test_method_star_is_any_method_and_model_sources_are_tried_in_order():
    assert ask("DELETE", "/v1/x/generate", {"X-Model": "a"}, {"model": "b"}, CUSTOM) == Asked("a", "generate")
    assert ask("GET", "/v1/x/generate", {}, {"model": "b"}, CUSTOM) == Asked("b", "generate")


def test_single_star_is_one_segment():
    with pytest.raises(Unroutable):
        ask("GET", "/v1/x/y/generate", {"X-Model": "a"}, routes=CUSTOM)


@pytest.mark.parametrize(("rule", "message"), [
    ({"path": "v1/x", "capability": "generate", "model": {"body": "model"}}, "path must start with /"),
    ({"path": "/v1/x", "capability": "generate"}, "say where the model is"),
    ({"path": "/v1/x", "capability": "generate", "model": {"query": "m"}}, "model must be"),
    ({"path": "/{model}", "capability": "generate", "method": "FETCH"}, "unknown method FETCH"),
    ({"path": "/{model}", "capability": "generate", "timeout": 3}, "unknown fields timeout"),
    ({"path": "/{model}"}, "capability must be a name"),
])
def test_faulty_rules_are_refused_naming_the_rule(rule, message):
    with pytest.raises(ConfigError, match=r"routes\[0\].*" + message):
        parse_routes({"routes": [rule]})


def test_unreadable_route_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read the route rules"):
        load_routes(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("routes: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_routes(tmp_path / "bad.yaml")
