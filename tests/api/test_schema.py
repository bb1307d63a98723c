"""/api/schema/ (a valid OpenAPI 3 document naming every route) and /api/docs/ (served from our own files)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote, urlparse

import jsonschema
import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

from flowsite.api_urls import router
from runs.models import Run
from tests.runs.helpers import execute

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture
def schema(api, owner) -> dict:
    response = api(owner, auth="token").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def router_paths() -> set[str]:
    """Every route the API's router serves, written as OpenAPI paths."""
    paths = set()
    for pattern in router.urls:
        regex = pattern.pattern.regex.pattern
        if "(?P<format>" in regex or pattern.name == "api-root":  # format suffixes and the browsable root
            continue
        path = regex.removeprefix("^").removesuffix("$")
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: "{%s}" % ("id" if m[1] == "pk" else m[1]), path)
        paths.add(f"/api/{path}")
    return paths


def test_the_schema_is_a_valid_openapi_3_document(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Flowsite API"
    try:
        from openapi_spec_validator import validate
    except ImportError:  # jsonschema against the OpenAPI 3 meta-schema drf-spectacular ships
        from drf_spectacular.validation import validate_schema as validate
    validate(schema)


def test_generating_the_schema_gives_no_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.")


def test_every_route_of_the_router_is_in_the_schema(schema):
    expected = router_paths()
    assert len(expected) >= 20
    assert "/api/runs/{id}/logs/" in expected and "/api/projects/{project_slug}/members/{username}/" in expected
    missing = sorted(expected - set(schema["paths"]))
    assert missing == []


def test_the_schema_describes_what_clients_rely_on(schema):
    paths = schema["paths"]
    assert set(paths["/api/runs/{id}/cancel/"]) == {"post"}
    assert "202" in paths["/api/runs/{id}/cancel/"]["post"]["responses"]
    assert "201" in paths["/api/runs/{id}/retry/"]["post"]["responses"]
    trigger = paths["/api/runs/"]["post"]
    assert "201" in trigger["responses"]
    assert "Idempotency-Key" in [p["name"] for p in trigger["parameters"] if p["in"] == "header"]
    listing = {p["name"] for p in paths["/api/runs/"]["get"]["parameters"]}
    assert {"project", "pipeline", "status", "stack", "triggered_by", "created_after", "created_before"} <= listing
    assert {"cursor", "page_size", "ordering"} <= listing
    logs = {p["name"] for p in paths["/api/runs/{id}/logs/"]["get"]["parameters"]}
    assert {"after", "step", "limit"} <= logs
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    statuses = schema["components"]["schemas"]["RunStatusEnum"]["enum"]
    assert {"queued", "running", "cancelling", "completed", "failed", "cancelled"} <= set(statuses)
    stack = schema["components"]["schemas"]["Stack"]["properties"]
    assert "secrets" not in stack and "secrets_set" in stack, "the response schema never carries secrets"


def test_the_schema_is_also_served_as_yaml(api, owner):
    response = api(owner).get("/api/schema/")
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])
        if tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])


def test_the_docs_load_from_our_own_static_files(api, owner):
    response = api(owner).get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "<script>" not in html, "the Content-Security-Policy allows no inline script"
    script = api(owner).get("/api/docs/?script=").content.decode()
    assert "SwaggerUIBundle" in script
    assert '"/api/schema/"' in script
    parser = _Assets()
    parser.feed(html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in parser.urls)
    assert any(url.endswith("swagger-ui.css") for url in parser.urls)
    assets = [url for url in parser.urls if url != "/api/docs/?script="]
    for url in assets:
        parsed = urlparse(url)
        assert not parsed.scheme and not parsed.netloc, f"{url} is on another host"
        assert parsed.path.startswith("/static/"), url
        assert finders.find(parsed.path.removeprefix("/static/")), f"{url} is not one of our static files"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "no asset from another host"


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("url", "accept"),
    [("/api/docs/", BROWSER), ("/api/docs/", None), ("/api/docs/?script=", None), ("/api/schema/", BROWSER)],
)
def test_a_signed_out_browser_is_sent_to_sign_in_and_back(client, owner, url, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get(url, **headers)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={quote(url)}"
    signed_in = client.post(response["Location"], {"username": "olivia", "password": "pw"})
    assert signed_in["Location"] == url
    assert client.get(url, **headers).status_code == 200


@pytest.mark.parametrize(
    ("query", "accept", "content_type"),
    [
        ({"format": "json"}, None, "application/vnd.oai.openapi+json"),
        ({}, "application/json", "application/json"),
        ({}, "application/vnd.oai.openapi+json", "application/vnd.oai.openapi+json"),
    ],
)
def test_a_signed_out_api_client_asking_for_the_schema_gets_a_401(client, query, accept, content_type):
    # The issue's rule: every endpoint requires authentication.
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get("/api/schema/", query, **headers)
    assert response.status_code == 401
    assert response["Content-Type"].startswith(content_type)
    assert response.json() == {
        "error": {
            "status": 401,
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "fields": {},
        }
    }


def test_an_invalid_token_gets_a_401_from_the_docs_not_a_sign_in_page(client, db):
    response = client.get("/api/docs/", HTTP_AUTHORIZATION="Token fs_not_a_real_key", HTTP_ACCEPT=BROWSER)
    assert response.status_code == 401


# --- responses conform to the schema ----------------------------------------------------------


def _as_json_schema(node, components: dict, seen: tuple = ()):
    """An OpenAPI 3.0 schema as plain JSON Schema: $refs inlined, `nullable` as a null alternative."""
    if isinstance(node, list):
        return [_as_json_schema(item, components, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        assert name not in seen, f"recursive schema {name}"
        return _as_json_schema(components[name], components, (*seen, name))
    out = {key: _as_json_schema(value, components, seen) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def conforms(schema_doc: dict, path: str, method: str, response) -> None:
    operation = schema_doc["paths"][path][method]
    responses = operation["responses"]
    assert str(response.status_code) in responses, f"{method.upper()} {path}: {response.status_code} is undocumented"
    documented = responses[str(response.status_code)]["content"]["application/json"]["schema"]
    body_schema = _as_json_schema(documented, schema_doc["components"]["schemas"])
    problems = sorted(
        {
            f"at {'/'.join(str(part) for part in error.absolute_path) or 'the top'!r}: {error.message[:120]}"
            for error in jsonschema.Draft4Validator(body_schema).iter_errors(response.json())
        }
    )
    assert not problems, f"{method.upper()} {path}: the response breaks its documented schema\n" + "\n".join(problems)


@pytest.fixture
def executed(transactional_db, ready, owner):
    """A finished run with steps, events, logs and an artifact, and a queued one nobody triggered."""
    done = execute(Run.objects.trigger(project=ready, pipeline="greeting", user=owner, params={"name": "Ada"}))
    queued = Run.objects.trigger(project=ready, pipeline="arithmetic")
    return done, queued


READS = [
    ("/api/me/", "/api/me/"),
    ("/api/projects/", "/api/projects/"),
    ("/api/projects/{slug}/", "/api/projects/ml/"),
    ("/api/projects/{project_slug}/members/", "/api/projects/ml/members/"),
    ("/api/stacks/", "/api/stacks/"),
    ("/api/stacks/{id}/", "/api/stacks/{stack}/"),
    ("/api/pipelines/", "/api/pipelines/"),
    ("/api/pipelines/{name}/", "/api/pipelines/greeting/"),
    ("/api/pipelines/{pipeline_name}/runs/", "/api/pipelines/greeting/runs/"),
    ("/api/runs/", "/api/runs/"),
    ("/api/runs/{id}/", "/api/runs/{done}/"),
    ("/api/runs/{id}/", "/api/runs/{queued}/"),
    ("/api/runs/{id}/steps/", "/api/runs/{done}/steps/"),
    ("/api/runs/{id}/events/", "/api/runs/{done}/events/"),
    ("/api/runs/{id}/artifacts/", "/api/runs/{done}/artifacts/"),
    ("/api/runs/{id}/logs/", "/api/runs/{done}/logs/"),
    ("/api/artifacts/{id}/", "/api/artifacts/{artifact}/"),
    ("/api/tokens/", "/api/tokens/"),
]


@pytest.mark.parametrize(("path", "url"), READS)
def test_each_read_returns_what_the_schema_documents(api, schema, executed, stack, owner, path, url):
    done, queued = executed
    url = url.format(stack=stack.pk, done=done.pk, queued=queued.pk, artifact=done.artifacts.get().pk)
    response = api(owner, auth="token").get(url)
    assert response.status_code == 200, response.content
    conforms(schema, path, "get", response)


WRITES = [
    ("/api/runs/", "/api/runs/", {"project": "ml", "pipeline": "greeting"}),
    ("/api/runs/{id}/cancel/", "/api/runs/{queued}/cancel/", None),
    ("/api/tokens/", "/api/tokens/", {"name": "ci"}),
    ("/api/projects/", "/api/projects/", {"slug": "new", "name": "New"}),
    ("/api/projects/{project_slug}/members/", "/api/projects/ml/members/", {"username": "oscar", "role": "viewer"}),
]


@pytest.mark.parametrize(("path", "url", "body"), WRITES)
def test_each_write_returns_what_the_schema_documents(api, schema, executed, owner, outsider, staff, path, url, body):
    done, queued = executed
    writer = staff if path == "/api/projects/" else owner  # only staff create projects
    response = api(writer).post(url.format(queued=queued.pk), body, format="json")
    assert response.status_code in (201, 202), response.content
    conforms(schema, path, "post", response)


# --- errors: one shape, and only the statuses an operation can answer -------------------------


def test_every_error_response_is_the_error_shape(schema):
    components = schema["components"]["schemas"]
    detail = set(components["ErrorDetail"]["properties"])
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith(("2", "3")):  # successes, and a conditional GET's bodiless 304
                    continue
                assert set(response["content"]) == {"application/json"}, f"{method} {path} {code}"
                ref = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                body = components[ref]
                assert body["required"] == ["error"], f"{method} {path} {code}: {ref}"
                inner = components[body["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
                assert detail <= set(inner["properties"]) and detail <= set(inner["required"]), ref


def test_cancel_and_retry_document_their_409_with_the_runs_status(schema):
    components = schema["components"]["schemas"]
    for action in ("cancel", "retry"):
        conflict = schema["paths"][f"/api/runs/{{id}}/{action}/"]["post"]["responses"]["409"]
        assert conflict["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunConflict"}
    detail = components["RunConflictDetail"]
    assert detail["properties"]["run_status"] == {
        "allOf": [{"$ref": "#/components/schemas/RunStatusEnum"}],
        "description": detail["properties"]["run_status"]["description"],
    }
    assert "run_status" in detail["required"]


@pytest.mark.parametrize(
    ("path", "method", "documented"),
    [
        ("/api/me/", "get", {"200", "401", "429"}),
        ("/api/runs/", "get", {"200", "304", "400", "401", "429"}),
        ("/api/runs/{id}/", "get", {"200", "400", "401", "404", "429"}),
        ("/api/runs/{id}/cancel/", "post", {"202", "400", "401", "403", "404", "409", "429"}),
        ("/api/runs/", "post", {"201", "400", "401", "403", "409", "422", "429"}),
        ("/api/tokens/{id}/", "delete", {"204", "400", "401", "403", "404", "429"}),
        ("/api/remote/runs/{id}/", "get", {"200", "400", "401", "403", "404"}),
    ],
)
def test_an_operation_documents_the_statuses_it_can_answer_and_no_other(schema, path, method, documented):
    assert set(schema["paths"][path][method]["responses"]) == documented


def test_a_409_body_matches_its_documented_schema(api, schema, executed, owner):
    done, _ = executed
    response = api(owner).post(f"/api/runs/{done.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["error"]["run_status"] == "completed"
    conforms(schema, "/api/runs/{id}/cancel/", "post", response)
    queued = Run.objects.trigger(project=done.project, pipeline="greeting")
    response = api(owner).post(f"/api/runs/{queued.pk}/retry/")
    assert (response.status_code, response.json()["error"]["run_status"]) == (409, "queued")
    conforms(schema, "/api/runs/{id}/retry/", "post", response)


# --- typed data -------------------------------------------------------------------------------


def test_parameters_dags_params_and_my_projects_are_typed(schema):
    components = schema["components"]["schemas"]
    pipeline = components["Pipeline"]["properties"]
    assert pipeline["dag"]["allOf"] == [{"$ref": "#/components/schemas/Dag"}]
    assert pipeline["parameters"]["items"] == {"$ref": "#/components/schemas/ParameterSpec"}
    assert components["RunDetail"]["properties"]["dag"]["allOf"] == [{"$ref": "#/components/schemas/Dag"}]
    assert set(components["Dag"]["properties"]) == {"nodes", "edges", "groups"}
    assert components["Dag"]["properties"]["edges"]["items"]["maxItems"] == 2
    spec = components["ParameterSpec"]["properties"]
    assert {"name", "json_type", "required", "default", "steps"} <= set(spec)
    assert spec["type"]["deprecated"] is True, "the older name of json_type, kept for the clients that read it"
    for name in ("Run", "RunDetail", "TriggerRequest"):
        params = components[name]["properties"]["params"]
        assert (params["type"], params["additionalProperties"]) == ("object", {}), name
    projects = components["Me"]["properties"]["projects"]
    assert projects["items"] == {"$ref": "#/components/schemas/MyProject"}
    assert components["MyProject"]["properties"]["role"]["allOf"] == [{"$ref": "#/components/schemas/RoleEnum"}]


def ref_of(field: dict) -> str:
    """The component a field refers to, directly or (with a description beside it) through allOf."""
    return field["$ref"] if "$ref" in field else field["allOf"][0]["$ref"]


def test_closed_values_are_enums_shared_by_every_field_that_holds_them(schema):
    components = schema["components"]["schemas"]
    assert ref_of(components["LogPage"]["properties"]["run_status"]) == "#/components/schemas/RunStatusEnum"
    assert ref_of(components["LogLine"]["properties"]["stream"]) == "#/components/schemas/StreamEnum"
    assert components["StreamEnum"]["enum"] == ["stdout", "stderr", "logging"]
    for name in ("old_status", "new_status"):
        refs = [option.get("$ref") for option in components["RunEvent"]["properties"][name]["anyOf"]]
        assert refs[:2] == ["#/components/schemas/RunStatusEnum", "#/components/schemas/StepStatusEnum"], name
    for path in ("/api/runs/", "/api/pipelines/{pipeline_name}/runs/"):
        [status] = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "status"]
        assert status["schema"]["items"] == {"$ref": "#/components/schemas/RunStatusEnum"}, path
    # A custom logging level keeps its own name: the level is not closed, and the schema does not pretend it is.
    assert "enum" not in components["LogLine"]["properties"]["level"]


# --- names a person would choose ---------------------------------------------------------------


def test_operations_have_chosen_names_a_summary_and_a_description_each(schema):
    operations = [op for ops in schema["paths"].values() for op in ops.values()]
    ids = {op["operationId"] for op in operations}
    assert {
        "list_runs", "get_run", "trigger_run", "cancel_run", "retry_run", "tail_run_logs", "tail_run_logs_text",
        "download_run_log", "download_artifact", "list_run_steps", "list_pipeline_runs", "get_me", "revoke_token",
    } <= ids  # fmt: skip
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)+", op["operationId"]) for op in operations)
    assert all(op.get("summary") for op in operations)
    descriptions = [op["description"] for op in operations]
    assert len(set(descriptions)) == len(descriptions), "one description per operation"


def fields_named(schema: dict, names: set[str]) -> list[str]:
    found = []
    for component, body in schema["components"]["schemas"].items():
        found += [f"{component}.{name}" for name, field in body.get("properties", {}).items() if name in names
                  and not field.get("deprecated")]  # fmt: skip
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            found += [f"{method} {path} ?{p['name']}" for p in operation.get("parameters", [])
                      if p["name"] in names and not p.get("deprecated")]  # fmt: skip
    return found


def test_no_field_a_generator_must_rename_but_the_deprecated_ones_with_a_new_name(schema):
    # `next` is DRF's page link of the cursor-paged lists, beside `next_cursor`, which a client passes back.
    assert fields_named(schema, {"type", "format"}) == []
    assert fields_named(schema, {"next"}) == ["PaginatedDeliveryList.next", "PaginatedRunList.next"]
    artifact = schema["components"]["schemas"]["Artifact"]["properties"]
    assert artifact["type"]["deprecated"] and "value_type" in artifact


def test_who_did_it_fields_say_what_they_are(schema):
    components = schema["components"]["schemas"]
    for component, name in [("Run", "triggered_by"), ("Run", "cancelled_by"), ("RunEvent", "actor")]:
        field = components[component]["properties"][name]
        assert (field["readOnly"], field["nullable"]) == (True, True)
        assert field["description"].startswith("The username of who") and "Required" not in field["description"]


def test_the_docs_show_the_authorization_header_literally(schema):
    assert "`Authorization: Token <key>`" in schema["info"]["description"]
    assert "`Token <key>`" in schema["components"]["securitySchemes"]["tokenAuth"]["description"]


def test_pages_carry_their_cursors_and_a_clean_example(schema):
    page = schema["components"]["schemas"]["PaginatedRunList"]
    assert {"next", "next_cursor", "previous", "previous_cursor", "results"} == set(page["properties"])
    for name in ("next", "previous"):
        example = page["properties"][name]["example"]
        assert '"' not in example and example.startswith("https://")


def test_the_trigger_documents_its_idempotency_key(schema):
    trigger = schema["paths"]["/api/runs/"]["post"]
    [key] = [p for p in trigger["parameters"] if p["name"] == "Idempotency-Key"]
    assert (key["in"], key["schema"]["maxLength"]) == ("header", 200)
    assert "200 characters" in key["description"] and "422" in key["description"]
    replayed = trigger["responses"]["201"]["headers"]["Idempotent-Replayed"]
    assert replayed["schema"] == {"type": "string", "enum": ["true"]}
    unprocessable = trigger["responses"]["422"]["content"]["application/json"]["schema"]
    assert unprocessable == {"$ref": "#/components/schemas/Error"}
