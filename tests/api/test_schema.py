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

pytestmark = pytest.mark.django_db


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
    assert {"after", "step", "limit", "format"} <= logs
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
