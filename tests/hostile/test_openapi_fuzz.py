"""Schemathesis against the OpenAPI description the site itself serves
(/api/openapi.json): every operation, generated and negative data, signed in
with a valid CSRF token; every answer must be documented, well-formed and never
a server error."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.hostile import api_token, register


@pytest.fixture(scope="module")
def signed_in(hostile_app):
    """One signed-in browser: its cookie and CSRF token go with every case."""
    client = hostile_app.test_client()
    register(client)
    return client


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == 11, [f"{o.method} {o.path}" for o in found]
    return found


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_matches_its_description(hostile_app, signed_in, mode):
    tried = []
    # the first melody loads the pronouncing dictionary (seconds on a busy machine): not within a case's deadline
    assert hostile_app.test_client().get("/api/songs/1/melody").status_code == 200
    for operation in operations(hostile_app):
        raw = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not (raw.get("parameters") or raw.get("requestBody")):
            continue  # nothing to make invalid
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=40, deadline=3000, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            headers = dict(case.headers or {})
            if headers.get("X-CSRF-Token") and mode is GenerationMode.POSITIVE:
                headers["X-CSRF-Token"] = api_token(signed_in)  # a valid one: reach the handler
            cookie = signed_in.get_cookie("bs_session")
            if cookie:
                headers["Cookie"] = f"bs_session={cookie.value}"
            case.headers = headers
            response = case.call()
            tried.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                     content_type_conformance, response_schema_conformance])
        try:
            run()
        except Unsatisfiable:
            # only a required header to drop (logout): nothing else can be made invalid
            assert mode is GenerationMode.NEGATIVE and operation.path == "/api/logout", operation.path
    assert len(tried) >= 100
    print(f"\nschemathesis {mode.value}: {len(tried)} calls, statuses {sorted(set(tried))}")
