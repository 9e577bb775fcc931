"""Fuzz the gateway's HTTP API from its own OpenAPI document with schemathesis: a real `aurora gateway` (uvicorn) on a
recorded studio with finished works and a hostile agent's legal extremes in it (non-finite `until`, counts past
int64, control characters), every operation called with requests that fit the document and requests that do not.
No answer is a 5xx; every answer has a status code, a content type and a body that the document states.

Longer, by hand (budget.py): AURORA_FUZZ_SCALE=20 PYTHONPATH=$PWD python -m pytest -q tests/fuzz
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import given
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from services.audio_gateway.app import Settings, create_app
from tests.audio_gateway.support import gateway_process
from tests.fuzz.budget import fuzz
from tests.support.processes import canvas_process

pytestmark = pytest.mark.fuzz

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_operation_answers_as_its_document_says_and_never_with_a_5xx(painted):
    studio, gateway = painted
    schema = schemathesis.openapi.from_url(f"{gateway.base}/openapi.json")
    statuses: Counter[tuple[str, int]] = Counter()
    unbreakable: list[str] = []
    with requests.Session() as session:
        session.trust_env = False  # straight to the gateway on loopback, whatever proxy the environment names
        for result in schema.get_all_operations():
            operation = result.ok()
            # Requests that do not fit the document: only where it has parameters to get wrong.
            negative = [GenerationMode.NEGATIVE] if any(True for _ in operation.iter_parameters()) else []
            for mode in (GenerationMode.POSITIVE, *negative):
                @fuzz(40)
                @given(operation.as_strategy(generation_mode=mode))
                def call(case):
                    response = case.call_and_validate(session=session, checks=CHECKS, timeout=30)
                    statuses[(operation.label, response.status_code)] += 1
                try:
                    call()
                except Unsatisfiable:  # every value fits its parameters (a path's name is any text)
                    assert mode is GenerationMode.NEGATIVE
                    unbreakable.append(operation.label)
    assert gateway.proc.poll() is None and gateway.health()[0] == 200
    assert gateway.metric("aurora_gateway_record_errors_total") == 0  # no request made the record fail
    assert not any(status >= 500 for _, status in statuses)
    operations = {label for label, _ in statuses}
    assert {"GET /api/agents", "GET /api/agents/{name}", "GET /api/works", "GET /healthz"} <= operations
    print(f"HTTP API: {sum(statuses.values())} requests, {len(operations)} operations, "
          f"statuses {dict(Counter(status for _, status in statuses.elements()))}; no request breaks the rules of "
          f"{unbreakable}")


def test_a_page_before_a_seq_past_any_stream_id_is_refused_not_taken_for_a_failed_record(record_url, record_db):
    # Found by the fuzz above: /api/works?before=2**64 made Redis refuse the stream ID, and the gateway logged the
    # record as failed, counted it, and answered from its live counts.
    with canvas_process() as (_, addrs), gateway_process(addrs, redis_url=record_url) as gateway:
        assert gateway.get("/api/works", params={"before": 1 << 64}).status_code == 422
        last = gateway.json("/api/works", params={"before": (1 << 64) - 1})
        assert last["source"] == "record" and last["works"] == []
        assert gateway.metric("aurora_gateway_record_errors_total") == 0


def test_the_document_states_the_404s_the_routes_give():
    # Found by the fuzz above: an agent that is not there, and a report not yet written, answered 404s (and a report
    # file its own content type) that the OpenAPI document did not state.
    doc = create_app(Settings("tcp://127.0.0.1:9", "tcp://127.0.0.1:9")).openapi()
    for path in ("/api/agents/{name}", "/report/", "/report/{name}", "/report/{folder}/{name}"):
        assert "404" in doc["paths"][path]["get"]["responses"], path
    assert set(doc["paths"]["/report/{name}"]["get"]["responses"]["200"]["content"]) == {"text/markdown",
                                                                                         "application/json"}
