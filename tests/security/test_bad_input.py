"""Input no database can store is a 400 in the API's error shape (a 400 or 404 page elsewhere), never a 500,
on PostgreSQL and SQLite alike; and a run's parameters have a documented size limit at every door."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from runs.models import Run
from stacks.models import Stack
from tests.api.conftest import api, member, outsider, project, staff, viewer  # noqa: F401
from tests.api.helpers import error
from tests.cli.conftest import ROOT, cli, key  # noqa: F401
from tests.runs.helpers import wait_for

pytestmark = pytest.mark.slow

LIMIT = 64 * 1024

BODIES = {
    "NUL in a parameter": '{"project": "ml", "pipeline": "greeting", "params": {"name": "a\\u0000b"}}',
    "lone surrogate": '{"project": "ml", "pipeline": "greeting", "params": {"name": "caf\\udce9"}}',
    "NUL in a key": '{"project": "ml", "pipeline": "greeting", "params": {"na\\u0000me": "x"}}',
    "infinity": '{"project": "ml", "pipeline": "arithmetic", "params": {"n": 1e400}}',
    "NaN": '{"project": "ml", "pipeline": "arithmetic", "params": {"n": NaN}}',
    "nested 5,000 deep": '{"project": "ml", "pipeline": "greeting", "params": {"name": '
    + "[" * 5000
    + "]" * 5000
    + "}}",
    # Parsed by Python, but too near its recursion limit to be encoded again from a deeper stack.
    "nested 900 deep": '{"project": "ml", "pipeline": "greeting", "params": {"name": %s}}' % ("[" * 900 + "]" * 900),
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_a_trigger_with_unstorable_json_is_a_400(api, member, ready, body):
    response = api(member, auth="token").post("/api/runs/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert error(response)["message"].startswith("JSON parse error")
    assert not Run.objects.exists()


def test_a_stack_config_key_with_a_nul_is_a_400(api, staff):
    body = '{"name": "nul", "kind": "local", "config": {"env": {"A\\u0000": "1"}}}'
    response = api(staff, auth="token").post("/api/stacks/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    error(response)


def test_an_idempotency_key_with_a_nul_is_a_400_naming_it(api, member, ready):
    body = {"project": "ml", "pipeline": "greeting"}
    response = api(member, auth="token").post("/api/runs/", body, format="json", HTTP_IDEMPOTENCY_KEY="build\x0042")
    assert response.status_code == 400, response.content
    assert error(response)["fields"] == {"Idempotency-Key": "holds a NUL character (\\u0000)"}
    assert not Run.objects.exists()


# --- addresses --------------------------------------------------------------------------------

NUL = "holds a NUL character (\\u0000)"

# Every route with a slug, a name or an id, and every query a view looks up; {run} is a real run.
API_ADDRESSES = {
    "/api/runs/%00/": "path",
    "/api/runs/{run}%00/steps/": "path",
    "/api/runs/{run}/logs/?step=hel%00lo": "step",
    "/api/runs/{run}/logs/download/?step=hel%00lo": "step",
    "/api/runs/{run}/logs/download/?format=ndjson&step=%00": "step",
    "/api/artifacts/%00/": "path",
    "/api/stacks/%00/": "path",
    "/api/tokens/%00/": "path",
    "/api/projects/m%00l/": "path",
    "/api/projects/m%00l/members/": "path",
    "/api/projects/ml/members/oli%00via/": "path",
    "/api/pipelines/gre%00eting/": "path",
    "/api/pipelines/gre%00eting/runs/": "path",
    "/api/runs/?pipeline=gree%00ting": "pipeline",
    "/api/runs/?project=m%00l": "project",
    "/api/runs/?triggered_by=ol%00ivia": "triggered_by",
    "/api/runs/?cursor=%00": "cursor",
    "/api/runs/?search=%00": "search",
}


def body_of(response: Any) -> bytes:
    """The whole body, streamed or not: a streamed response's query runs only as it is read."""
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("address", API_ADDRESSES, ids=API_ADDRESSES.values())
@pytest.mark.parametrize("method", ["get", "delete"])
def test_a_nul_anywhere_in_an_api_address_is_a_400_naming_where(api, member, ready, address, method):
    run = Run.objects.trigger(project=ready, pipeline="greeting")
    response = getattr(api(member, auth="token"), method)(address.format(run=run.pk))
    body_of(response)
    assert response.status_code == 400, response.content
    assert error(response)["fields"] == {API_ADDRESSES[address]: NUL}
    assert Run.objects.count() == 1


# Lone surrogates cannot arrive in an address: Django keeps undecodable bytes percent-encoded in the path
# and replaces them in the query. Each is then an unknown name: a 404, or nothing found.
SURROGATES = [
    ("get", "/api/runs/%ED%A0%80/"),
    ("get", "/api/artifacts/%ED%B3%A9/"),
    ("get", "/api/projects/m%ED%A0%80l/"),
    ("get", "/api/projects/m%ED%A0%80l/members/"),
    ("patch", "/api/projects/ml/members/oli%ED%B3%A9via/"),
    ("get", "/api/pipelines/gre%ED%A0%80eting/"),
    ("get", "/api/stacks/%ED%A0%80/"),
    ("get", "/api/tokens/%ED%A0%80/"),
    ("get", "/api/pipelines/gre%ED%A0%80eting/runs/"),
]


@pytest.mark.parametrize(("method", "address"), SURROGATES)
def test_a_surrogate_in_an_api_address_names_nothing(api, owner, ready, method, address):
    response = getattr(api(owner, auth="token"), method)(address, {"role": "viewer"}, format="json")
    assert response.status_code == 404, response.content
    error(response)


def test_a_surrogate_in_a_filter_finds_nothing(api, member, ready):
    Run.objects.trigger(project=ready, pipeline="greeting")
    response = api(member, auth="token").get("/api/runs/?pipeline=%ED%A0%80")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


PAGES = ["/runs/%00/", "/pipelines/gre%00eting/", "/login/?next=/runs/%00", "/runs/?status=%00"]
ADMIN_PAGES = [
    "/admin/runs/run/?status=%00",
    "/admin/runs/run/?q=%00",
    "/admin/runs/run/%00/change/",
    "/admin/accounts/project/?q=%00",
    "/admin/autocomplete/?term=%00&app_label=runs&model_name=membership&field_name=user",
    "/admin/auth/user/?is_active__exact=%00",
]


@pytest.fixture
def superuser(db: Any) -> Any:
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


@pytest.mark.parametrize("address", PAGES + ADMIN_PAGES)
def test_a_nul_in_a_page_address_is_the_bad_request_page(client, superuser, ready, address):
    client.force_login(superuser)
    response = client.get(address)
    assert response.status_code == 400
    assert b"<h1>Bad request</h1>" in response.content
    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("page", ["/login/", "/admin/login/"])
@pytest.mark.parametrize(
    ("username", "password"),
    [("ol%00ga", "pw"), ("olga", "p%00w"), ("ol%ED%B3%A9ga", "pw"), ("olga", "p%ED%A0%80w")],
    ids=["NUL in the username", "NUL in the password", "surrogate in the username", "surrogate in the password"],
)
def test_signing_in_with_unstorable_text_is_refused_by_the_form(client, db, page, username, password):
    get_user_model().objects.create_user("olga", password="pw")
    response = client.post(page, f"username={username}&password={password}", "application/x-www-form-urlencoded")
    assert response.status_code == 200  # the form again, with its error
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


TRAVERSALS = [
    "/static/../flowsite/settings.py",
    "/static/%2e%2e/flowsite/settings.py",
    "/static/..%2fflowsite%2fsettings.py",
    "/static/%2e%2e%2f%2e%2e%2fflowsite%2fsettings.py",
    "/static/dashboard/../../flowsite/settings.py",
    "/static/dashboard/..%5c..%5cflowsite%5csettings.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/dashboard/app.js%00",
]


@pytest.mark.parametrize("address", TRAVERSALS)
def test_static_files_never_leave_their_folders(client, db, address):
    # The test profile serves static files from the finders, as the developer profile does.
    assert client.get("/static/dashboard/app.js").status_code == 200
    response = client.get(address)
    assert response.status_code in (400, 404)
    assert b"SECRET_KEY" not in body_of(response) and b"root:" not in body_of(response)


@pytest.mark.parametrize("address", TRAVERSALS)
def test_static_files_never_leave_their_folders_in_production(db, tmp_path: Path, address):
    # Production: whitenoise serves the collected files only, by their exact names.
    root = tmp_path / "static"
    (root / "dashboard").mkdir(parents=True)
    (root / "dashboard" / "app.js").write_text("export {};\n")
    (tmp_path / "flowsite").mkdir()
    (tmp_path / "flowsite" / "settings.py").write_text("SECRET_KEY = 'beside the collected files'\n")
    with override_settings(WHITENOISE_USE_FINDERS=False, STATIC_ROOT=root):
        client = Client()  # a new handler, so whitenoise reads these settings
        assert client.get("/static/dashboard/app.js").status_code == 200
        response = client.get(address)
        assert response.status_code in (400, 404)
        assert b"SECRET_KEY" not in body_of(response)


def raw_status(port: int, address: str) -> int | None:
    """The status of GET `address` sent as written (HTTP clients resolve "../" before sending), or None."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", address)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def test_runserver_leaves_static_files_to_whitenoise_which_refuses_a_climb(tmp_path):
    # Django's own static handler, which runserver uses unless told otherwise, answers a climb with a 500.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flowsite.settings",
        "FLOWSITE_PROFILE": "dev",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
    }
    log = open(tmp_path / "runserver.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: raw_status(port, "/static/dashboard/app.js") == 200, timeout=60, what="runserver")
        statuses = {address: raw_status(port, address) for address in TRAVERSALS}
        assert all(status in (400, 404) for status in statuses.values()), statuses
    finally:
        server.terminate()
        server.wait(30)
        log.close()


# --- the admin's trigger form ------------------------------------------------------------------

ADMIN_PARAMS = {
    "NUL": ('{"name": "a\\u0000b"}', "name: holds a NUL character (\\u0000), which cannot be stored"),
    "lone surrogate": (
        '{"name": "caf\\udce9"}',
        "name: holds a lone surrogate (\\ud800-\\udfff), which cannot be stored",
    ),
    "infinity": ('{"name": 1e400}', "Not JSON that can be stored: number 1e400 is too large"),
    "nested 5,000 deep": (
        "[" * 5000 + "]" * 5000,
        "Not JSON that can be stored: nested too deeply (at most 100 levels)",
    ),
}


def add_run(client: Client, project: Any, stack: Any, params: str) -> Any:
    form = {"project": project.pk, "pipeline_name": "greeting", "stack": stack.pk, "params_json": params}
    return client.post("/admin/runs/run/add/", form)


@pytest.mark.parametrize(("params", "reason"), ADMIN_PARAMS.values(), ids=ADMIN_PARAMS.keys())
def test_the_admin_trigger_form_refuses_unstorable_parameters_on_their_field(
    client, superuser, ready, stack, params, reason
):
    client.force_login(superuser)
    response = add_run(client, ready, stack, params)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors["params_json"]) == [reason]
    assert not Run.objects.exists()


STACK_JSON = {
    "NUL": ('{"project": "a\\u0000b"}', "Not JSON that can be stored: it holds a NUL character (\\u0000)"),
    "infinity": ('{"project": 1e400}', "Not JSON that can be stored: number 1e400 is too large"),
    "nested 5,000 deep": (
        "[" * 5000 + "]" * 5000,
        "Not JSON that can be stored: nested too deeply (at most 100 levels)",
    ),
}


@pytest.mark.parametrize("field", ["config", "new_secrets"])
@pytest.mark.parametrize(("text", "reason"), STACK_JSON.values(), ids=STACK_JSON.keys())
def test_the_admin_stack_form_refuses_unstorable_json_on_its_field(client, superuser, field, text, reason):
    client.force_login(superuser)
    form = {"name": "cloud", "kind": "local", "config": "{}", "new_secrets": "", field: text}
    response = client.post("/admin/stacks/stack/add/", form)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors[field]) == [reason]
    assert not Stack.objects.filter(name="cloud").exists()


# --- the size of a run's parameters ------------------------------------------------------------


def sized(total: int) -> dict[str, str]:
    """Parameters for the greeting pipeline that take exactly `total` bytes of JSON with their defaults."""
    frame = len(json.dumps({"name": "", "ledger": ""}, separators=(",", ":")))
    return {"name": "x" * (total - frame)}


def test_the_limit_is_64_kib_by_default(settings):
    assert settings.FLOWSITE_MAX_PARAMS_BYTES == LIMIT


def test_the_api_takes_parameters_up_to_the_limit_and_refuses_a_byte_more(api, member, ready):
    client = api(member, auth="token")
    fits = client.post("/api/runs/", {"project": "ml", "pipeline": "greeting", "params": sized(LIMIT)}, format="json")
    assert fits.status_code == 201, fits.content
    refused = client.post(
        "/api/runs/", {"project": "ml", "pipeline": "greeting", "params": sized(LIMIT + 1)}, format="json"
    )
    assert refused.status_code == 400, refused.content
    assert error(refused)["fields"] == {
        "params": f"take {LIMIT + 1} bytes of JSON with their defaults; at most {LIMIT} are allowed "
        "(FLOWSITE_MAX_PARAMS_BYTES)"
    }
    assert Run.objects.count() == 1


def test_the_limit_follows_the_setting(api, member, ready, settings):
    settings.FLOWSITE_MAX_PARAMS_BYTES = 1000
    body = {"project": "ml", "pipeline": "greeting", "params": sized(1001)}
    response = api(member).post("/api/runs/", body, format="json")
    assert response.status_code == 400
    assert "at most 1000 are allowed" in error(response)["fields"]["params"]


def test_the_admin_trigger_form_refuses_oversized_parameters(client, superuser, ready, stack):
    client.force_login(superuser)
    params = json.dumps(sized(LIMIT + 1))
    response = add_run(client, ready, stack, params)
    assert response.status_code == 200
    [reason] = response.context["adminform"].form.errors["params_json"]
    assert reason.startswith(f"params: take {LIMIT + 1} bytes of JSON") and f"at most {LIMIT}" in reason
    assert not Run.objects.exists()


def test_run_pipeline_refuses_oversized_parameters(ready):
    with pytest.raises(CommandError) as refused:
        call_command("run_pipeline", "greeting", "--project", "ml", "--param", f"name={sized(LIMIT + 1)['name']}")
    assert f"params: take {LIMIT + 1} bytes of JSON" in str(refused.value)
    assert not Run.objects.exists()


def test_run_pipeline_refuses_infinity_naming_the_parameter(ready):
    with pytest.raises(CommandError) as refused:
        call_command("run_pipeline", "arithmetic", "--project", "ml", "--param", "n=1e400")
    assert str(refused.value) == "--param n: number 1e400 is too large"
    assert not Run.objects.exists()


def test_run_pipeline_refuses_a_parameter_nested_too_deeply_naming_it(ready):
    with pytest.raises(CommandError) as refused:
        call_command("run_pipeline", "greeting", "--project", "ml", "--param", "name=" + "[" * 5000 + "]" * 5000)
    assert str(refused.value) == "--param name: nested too deeply (at most 100 levels)"
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_cli_refuses_a_parameter_nested_too_deeply_and_exits_2(cli, ready):
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--param", "name=" + "[" * 5000 + "]" * 5000)
    assert result.returncode == 2, result.stderr
    assert "--param name: nested too deeply (at most 100 levels)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_cli_reports_oversized_parameters_and_exits_2(cli, ready):
    result = cli("runs", "trigger", "greeting", "--project", "ml", "--param", f"name={sized(LIMIT + 1)['name']}")
    assert result.returncode == 2, result.stderr
    assert f"the server refused (400): params: take {LIMIT + 1} bytes of JSON" in result.stderr
    assert f"at most {LIMIT} are allowed" in result.stderr
    assert not Run.objects.exists()
