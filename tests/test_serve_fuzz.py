"""A bounded schemathesis run against a real server's own OpenAPI schema: no 500s, and the server stays up."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from colorgan import Colorizer  # noqa: E402
from colorgan.serve import ServeLimits, create_app, serve_in_thread  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES = 300  # per operation and mode: about 15 s in all on 2 busy cores
BUDGET_S = 60.0  # per mode: past this, the remaining cases are skipped rather than sent (a hard bound for CI)
# Not negative_data_rejection: in multipart, schemathesis "negates" e.g. size into an empty array, which is sent
# as no field at all, a valid request; the server rightly answers 200 and the check calls that a failure.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_server(tiny_model):
    colorizer = Colorizer.load(tiny_model, device="cpu")
    limits = ServeLimits(
        max_upload_bytes=200_000, max_pixels=1_000_000, workers=1, queue=8, body_timeout=5.0, max_size=128
    )
    with serve_in_thread(create_app(colorizer, limits)) as base:
        yield base


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    return schemathesis.openapi.from_url(f"{fuzz_server}/openapi.json")


# schemathesis.pytest.from_fixture (its lazy loader) fails under pytest 9 (it sets `node._nodeid`), so the
# cases are drawn with Hypothesis directly from each operation's strategy: the same generators and checks.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_api_fuzz(api_schema, fuzz_server, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /api/colorize",
        "GET /api/info",
        "GET /healthz",
    }
    started = time.monotonic()
    seen: dict[int, int] = {}
    with httpx.Client(timeout=30) as http:
        for operation in operations:
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception as exc:  # e.g. an operation with nothing to negate
                if mode is GenerationMode.NEGATIVE:
                    continue
                raise AssertionError(f"{operation.method} {operation.path}: {exc}") from exc

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case):
                if time.monotonic() - started > BUDGET_S:
                    return
                response = case.call(base_url=fuzz_server, timeout=30)
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                case.validate_response(response, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:  # nothing to negate (an operation without parameters or body)
                assert mode is GenerationMode.NEGATIVE
            print(f"{mode.value} {operation.method.upper()} {operation.path}: statuses so far {seen}")
        assert http.get(f"{fuzz_server}/healthz").status_code == 200
    assert seen and not any(status >= 500 for status in seen), seen


def test_server_still_up_after_fuzzing(fuzz_server):
    with httpx.Client(base_url=fuzz_server, timeout=30) as http:
        health = http.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert health.json()["running"] == 0 and health.json()["waiting"] == 0
        assert http.get("/api/info").status_code == 200
