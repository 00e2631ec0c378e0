"""Every endpoint of the OpenAPI schema, fuzzed by schemathesis (Hypothesis) on a real
catalog and the real app: whatever the input, never a 5xx and never a traceback."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from serve_helpers import build_library, cuefinder

from cuefinder.serve import create_app

pytestmark = pytest.mark.slow  # not in `make test-fast`
EXAMPLES = 20  # per operation


@pytest.fixture(scope="module")
def schema(tmp_path_factory, music_root):
    folder = build_library(tmp_path_factory.mktemp("fuzz") / "library",
                           sorted((music_root / "scorched3d-data").glob("*.ogg")))  # fmt: skip
    db = folder.parent / "catalog.db"
    cuefinder("--catalog", db, "index", "-q", folder)
    cuefinder("--catalog", db, "brief", "fuzzed", "--new")
    app = create_app(db, allowed_hosts=("*",))  # the ASGI client's host is "testserver"
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


def test_no_input_gives_a_server_error_or_a_traceback(schema):
    tried: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        fuzzer(operation, f"{operation.method.upper()} {operation.path}", tried)()
    print(f"{sum(tried.values())} requests over {len(tried)} operations")
    assert len(tried) >= 20 and all(n >= 1 for n in tried.values()), tried


def fuzzer(operation, name: str, tried: dict[str, int]):
    """A Hypothesis test of one operation: ``EXAMPLES`` generated requests, counted."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def fuzz(case):
        response = case.call()
        tried[name] = tried.get(name, 0) + 1
        body = response.content.decode("utf-8", "replace")  # audio is bytes
        assert response.status_code < 500, (name, case.path_parameters, case.query, body[:300])
        assert "Traceback" not in body

    return fuzz
