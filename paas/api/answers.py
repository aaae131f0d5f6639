"""The error answers of the API, documented in `/openapi.json` where they really happen.

Every error body is Heroku's `{"id": ..., "message": ...}` (the `Error` schema). What holds by
construction (the guard and handlers in `paas.api.app`):

* 401 on every operation outside the public prefixes (the bearer-token guard);
* 400 where a JSON body is read (not JSON) or a path names something (a control character);
* 413 where a JSON body is read (over the 1 MiB limit);
* 404 where a path names an app, an add-on, a dyno, ... that may not exist;
* 422 where anything is validated (in our shape, not FastAPI's `HTTPValidationError`);

plus the answers only some operations give: 409 (the thing exists already, or is busy) and 503
(a part this daemon runs without: the router, Kafka, a dyno runtime, PostgreSQL), listed below by
path. `tests/integration/test_api_schema_fuzz.py` runs schemathesis against this document: an
answer the API gives that is not documented here fails it.

A 405 answers with `Allow`, naming every method the path takes (`allowed_methods`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["id", "message"],
    "properties": {"id": {"type": "string"}, "message": {"type": "string"}},
}
DESCRIPTIONS = {
    "400": "Bad request: the body is not JSON, or the path holds a control character",
    "401": "Invalid credentials: no bearer token, or not the daemon's",
    "404": "Not found: the path names something that does not exist",
    "403": "Forbidden: the link's signature does not match, or the link has expired",
    "409": "Conflict: it exists already, or it is busy",
    "410": "Gone: the record is there, its file is not",
    "413": "Request entity too large",
    "422": "Invalid parameters: the message names the first problem",
    "429": "Too many requests: the queue this joins is full",
    "503": "Unavailable: this daemon runs without the part it needs",
}
# (method or "*", path regex) -> extra answers
EXTRA: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("POST", r"/apps/\{app\}/kafka/\{addon\}/(topics|consumer_groups)", ("409",)),
    ("DELETE", r"/apps/\{app\}/kafka/\{addon\}/consumer_groups/\{group\}", ("409",)),
    ("POST", r"/apps/\{app\}/addons", ("409", "503")),
    ("POST", r"/apps/\{app\}/dynos(/\{dyno\}/actions/(kill|stop))?", ("409",)),
    ("*", r"/apps/\{app\}/(dynos|formations)(/.*)?", ("503",)),
    ("*", r"/(apps/\{app\}/)?kafka(/.*)?", ("503",)),
    ("*", r"/apps/\{app\}/pg(/.*)?", ("503",)),
    ("*", r"/apps/\{app\}/container-releases", ("503",)),
    ("*", r"/router/.*", ("503",)),
    ("*", r"/dataclips/api/(schema|clips/\{clip_id\}/run)", ("503",)),
    ("POST", r"/apps/\{app\}/sources", ("413",)),
    ("POST", r"/stack/builds", ("409",)),  # one stack build at a time
    ("GET", r"/pgbackups/\{name\}", ("403", "410")),
    ("POST", r"/client/v11/databases/\{database\}/backups", ("409", "429", "503")),
    ("POST", r"/client/v11/databases/\{database\}/restores", ("403", "409", "410", "429", "503")),
    ("DELETE", r"/client/v11/apps/\{app\}/transfers/\{num\}", ("409",)),
    # a query or body that names an app, a pipeline, an add-on
    ("GET", r"/router/metrics", ("404",)),
    ("POST", r"/pipeline-(couplings|promotions)", ("404",)),
    ("POST", r"/actions/(addons|addon-attachments)/resolve", ("404",)),  # nothing by that name
    ("POST", r"/addon-attachments", ("422",)),  # attach elsewhere: one attachment per add-on
    ("DELETE", r"/addon-attachments/\{attachment\}", ("422",)),
)
_EXTRA = tuple((method, re.compile(path), answers) for method, path, answers in EXTRA)


def document_errors(spec: dict[str, Any], public_prefixes: tuple[str, ...]) -> dict[str, Any]:
    """Add the error answers to every operation of `spec` (in place, idempotent)."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "The daemon's token, kept in `PAAS_HOME/token` (0600)",
    }
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            if not path.startswith(public_prefixes):
                operation["security"] = [{"bearer": []}]
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in sorted(_answers(method.upper(), path, operation, public_prefixes)):
                responses[status] = {
                    "description": DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
    spec["components"]["schemas"].pop("HTTPValidationError", None)
    spec["components"]["schemas"].pop("ValidationError", None)
    return spec


def _answers(method: str, path: str, operation: dict[str, Any], public: tuple[str, ...]) -> set[str]:
    named = "{" in path
    takes_body = "requestBody" in operation
    answers = set()
    if not path.startswith(public):
        answers.add("401")
    if named or takes_body:
        answers |= {"400", "422"}
    if takes_body:
        answers.add("413")
    if named:
        answers.add("404")
    if operation.get("parameters"):
        answers.add("422")
    for wanted, pattern, extra in _EXTRA:
        if wanted in ("*", method) and pattern.fullmatch(path):
            answers.update(extra)
    return answers


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> str:
    """Every method some route takes for the path of `scope`: Starlette's own 405 names only the
    first route's (`GET` for `/apps`, which also takes `POST`)."""
    routes = list(routes)
    return ", ".join(
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in routes)
    )
