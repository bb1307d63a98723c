"""Who may use a stack: staff grant stacks to projects, and a project runs only on its granted stacks.

Anyone may create a project, so a stack holding production credentials must not be open to whoever
asks. And the two doors staff use, the admin and the API, let in the same people: staff with the
stacks model permissions.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from runs.models import FailureReason, LogLine, Run, RunStatus, StepStatus
from runs.triggering import StackNotGranted
from stacks.models import Stack
from tests.api.conftest import api, member, other_project, outsider, project, staff, viewer  # noqa: F401
from tests.api.helpers import error
from tests.factories import give_stack_permissions, make_project, make_run, make_stack, make_user
from tests.runs.helpers import execute

pytestmark = pytest.mark.django_db

NOT_GRANTED = "stack 'prod' is not granted to project 'ml'; staff grant stacks to projects"


@pytest.fixture
def prod(db):
    """A stack with production credentials, granted to no project yet."""
    return make_stack("prod", is_default=False, open_to_all_projects=False, secrets={"DEPLOY_KEY": "k-live"})


def start(client, stack: str | None = None, project: str = "ml"):
    body = {"project": project, "pipeline": "greeting", **({"stack": stack} if stack is not None else {})}
    return client.post("/api/runs/", body, format="json")


def failed_run(project, stack) -> Run:
    return make_run(project, "greeting", RunStatus.FAILED, stack=stack)


# Triggering


def test_a_stack_not_granted_to_the_project_is_a_403_naming_both(api, member, ready, prod):
    response = start(api(member), "prod")
    assert response.status_code == 403
    err = error(response)
    assert (err["code"], err["message"]) == ("permission_denied", NOT_GRANTED)
    assert err["fields"] == {"stack": NOT_GRANTED}
    assert not Run.objects.exists()


def test_a_granted_stack_runs_and_a_withdrawn_grant_stops_the_next_trigger(api, member, ready, prod):
    prod.projects.add(ready)
    response = start(api(member), "prod")
    assert response.status_code == 201, response.content
    assert response.json()["stack"] == "prod"
    prod.projects.remove(ready)
    assert start(api(member), "prod").status_code == 403
    assert Run.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_queued_run_whose_grant_was_withdrawn_does_not_start(api, member, ready, prod):
    prod.projects.add(ready)
    run = Run.objects.get(pk=start(api(member), "prod").json()["id"])
    prod.projects.remove(ready)
    run = execute(run)
    assert (run.status, run.failure_reason) == (RunStatus.FAILED, FailureReason.STACK_ERROR)
    assert run.failure_message == (
        "stack 'prod' is no longer granted to project 'ml'; the grant was withdrawn after the run was queued"
    )
    step = run.steps.get()
    assert (step.status, step.error) == (StepStatus.SKIPPED, f"Not run: {run.failure_message}")
    assert not LogLine.objects.filter(run=run).exists(), "nothing of it ran"


def test_superusers_too_run_a_project_only_on_its_stacks(api, ready, prod):
    root = make_user("root", is_staff=True, is_superuser=True)
    response = start(api(root), "prod")
    assert response.status_code == 403
    assert error(response)["message"] == NOT_GRANTED


def test_a_stack_open_to_all_projects_serves_a_project_made_later(api, ready, prod):
    prod.open_to_all_projects = True
    prod.save()
    newcomer = make_user("nina")
    make_project("fresh", members={"owner": newcomer})
    response = start(api(newcomer), "prod", project="fresh")
    assert response.status_code == 201, response.content


def test_the_default_stack_is_used_only_when_granted(api, member, ready, stack, prod):
    stack.open_to_all_projects = False
    stack.save()
    response = start(api(member))
    assert response.status_code == 403
    assert error(response)["message"] == (
        "no stack given, and the default stack 'local' is not granted to project 'ml'; staff grant stacks to projects"
    )
    stack.projects.add(ready)
    response = start(api(member))
    assert response.status_code == 201, response.content
    assert response.json()["stack"] == "local"


def test_an_unknown_stack_is_named_beside_the_projects_own_stacks_only(api, member, ready, stack, prod):
    response = start(api(member), "moon")
    assert response.status_code == 400
    assert error(response)["fields"] == {"stack": "unknown stack 'moon' (stacks: local)"}


def test_a_retry_after_the_grant_was_withdrawn_is_refused(api, member, ready, prod):
    prod.projects.add(ready)
    failed = failed_run(ready, prod)
    prod.projects.remove(ready)
    response = api(member).post(f"/api/runs/{failed.pk}/retry/")
    assert response.status_code == 403
    assert error(response)["message"] == f"run {failed.pk} cannot be retried: {NOT_GRANTED}"
    with pytest.raises(StackNotGranted):
        failed.retry()
    assert Run.objects.count() == 1


def test_a_replayed_trigger_after_the_grant_was_withdrawn_is_refused(api, member, ready, prod):
    prod.projects.add(ready)
    client = api(member)
    first = client.post(
        "/api/runs/",
        {"project": "ml", "pipeline": "greeting", "stack": "prod"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert first.status_code == 201, first.content
    prod.projects.remove(ready)
    again = client.post(
        "/api/runs/",
        {"project": "ml", "pipeline": "greeting", "stack": "prod"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert again.status_code == 403
    assert error(again)["message"] == NOT_GRANTED
    assert Run.objects.count() == 1


def test_the_admin_retry_action_says_why_it_refuses(client, ready, prod):
    prod.projects.add(ready)
    failed = failed_run(ready, prod)
    prod.projects.remove(ready)
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    response = client.post("/admin/runs/run/", {"action": "retry_runs", "_selected_action": [failed.pk]}, follow=True)
    assert [m.message for m in response.context["messages"]] == [f"stack: {NOT_GRANTED}"]
    assert Run.objects.count() == 1


def test_the_admin_add_run_form_refuses_a_stack_not_granted_on_its_field(client, ready, prod):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    response = client.post(
        "/admin/runs/run/add/",
        {"project": ready.pk, "pipeline_name": "greeting", "stack": prod.pk, "params_json": "{}"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"stack": [NOT_GRANTED]}
    assert not Run.objects.exists()


def test_run_pipeline_refuses_a_stack_not_granted(ready, prod):
    with pytest.raises(CommandError) as refused:
        call_command("run_pipeline", "greeting", "--project", "ml", "--stack", "prod", stdout=io.StringIO())
    assert str(refused.value) == f"stack: {NOT_GRANTED}"
    assert not Run.objects.exists()
    prod.projects.add(ready)
    out = io.StringIO()
    call_command("run_pipeline", "greeting", "--project", "ml", "--stack", "prod", stdout=out)
    assert Run.objects.get().pk == int(out.getvalue())


# Who sees which stack


def test_a_user_sees_only_the_stacks_their_projects_may_use_and_only_their_grants(
    api, member, outsider, ready, other_project, stack, prod
):
    prod.projects.add(ready, other_project)
    mine = api(member).get("/api/stacks/").json()
    assert [(s["name"], s["projects"], s["open_to_all_projects"]) for s in mine] == [
        ("local", [], True),
        ("prod", ["ml"], False),
    ]
    prod.projects.remove(ready)
    assert [s["name"] for s in api(member).get("/api/stacks/").json()] == ["local"]
    assert api(member).get(f"/api/stacks/{prod.pk}/").status_code == 404
    assert [s["projects"] for s in api(outsider).get("/api/stacks/").json()] == [[], ["lab"]]


def test_the_stacks_a_project_may_use(api, member, staff, ready, other_project, stack, prod):
    prod.projects.add(other_project)
    response = api(member).get("/api/stacks/?project=ml")
    assert [s["name"] for s in response.json()] == ["local"]
    refused = api(member).get("/api/stacks/?project=lab")
    assert refused.status_code == 400
    assert error(refused)["fields"] == {"project": "no project 'lab' that you belong to"}
    assert [s["name"] for s in api(staff).get("/api/stacks/?project=lab").json()] == ["local", "prod"]


def test_staff_who_manage_stacks_see_every_stack_and_grant(api, staff, ready, other_project, prod):
    prod.projects.add(other_project)
    listed = api(staff).get("/api/stacks/").json()
    assert [(s["name"], s["projects"]) for s in listed] == [("local", []), ("prod", ["lab"])]
    me = api(staff).get("/api/me/").json()
    assert me["manages_stacks"] is True


# Staff: the admin and the API agree


@pytest.fixture
def bare_staff(db):
    """Staff, but with no stacks permission."""
    return make_user("sam", is_staff=True)


def test_staff_without_the_stacks_permissions_are_refused_in_both_doors(client, api, bare_staff, ready, prod):
    client.force_login(bare_staff)
    assert client.get("/admin/stacks/stack/").status_code == 403
    assert client.get("/admin/stacks/stack/add/").status_code == 403
    assert client.get(f"/admin/stacks/stack/{prod.pk}/change/").status_code == 403

    rest = api(bare_staff)
    assert rest.post("/api/stacks/", {"name": "mine", "kind": "local"}, format="json").status_code == 403
    assert rest.patch(f"/api/stacks/{prod.pk}/", {"projects": ["ml"]}, format="json").status_code == 403
    assert rest.delete(f"/api/stacks/{prod.pk}/").status_code == 403
    assert rest.post(f"/api/stacks/{prod.pk}/validate/").status_code == 403
    assert [s["name"] for s in rest.get("/api/stacks/").json()] == ["local"], "only the stack open to all"
    assert rest.get("/api/me/").json()["manages_stacks"] is False
    prod.refresh_from_db()
    assert list(prod.projects.all()) == [] and Stack.objects.count() == 2


def test_staff_with_the_stacks_permissions_manage_and_grant_in_both_doors(client, api, bare_staff, ready, prod):
    give_stack_permissions(bare_staff)
    client.force_login(bare_staff)
    assert client.get("/admin/stacks/stack/").status_code == 200
    response = client.post(
        f"/admin/stacks/stack/{prod.pk}/change/",
        {"name": "prod", "kind": "local", "description": "", "config": "{}", "new_secrets": "", "projects": [ready.pk]},
    )
    assert response.status_code == 302
    assert list(prod.projects.all()) == [ready]
    assert prod.secrets == {"DEPLOY_KEY": "k-live"}

    rest = api(bare_staff, auth="token")
    response = rest.patch(f"/api/stacks/{prod.pk}/", {"projects": []}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["projects"] == []
    response = rest.post("/api/stacks/", {"name": "gpu", "kind": "local", "projects": ["ml"]}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["projects"], response.json()["open_to_all_projects"]) == (["ml"], False)
    assert rest.post(f"/api/stacks/{prod.pk}/validate/").json()["valid"] is True
    assert rest.delete(f"/api/stacks/{prod.pk}/").status_code == 204


def test_each_write_takes_its_own_permission_in_both_doors(client, api, bare_staff, ready, prod):
    give_stack_permissions(bare_staff, "view")
    client.force_login(bare_staff)
    assert client.get("/admin/stacks/stack/").status_code == 200
    assert client.get("/admin/stacks/stack/add/").status_code == 403
    change = {"name": "prod", "kind": "local", "config": "{}", "projects": [ready.pk]}
    assert client.post(f"/admin/stacks/stack/{prod.pk}/change/", change).status_code == 403

    rest = api(bare_staff)
    response = rest.patch(f"/api/stacks/{prod.pk}/", {"projects": ["ml"]}, format="json")
    assert response.status_code == 403
    assert error(response)["message"] == "managing stacks takes staff status and the permission stacks.change_stack"
    assert rest.post("/api/stacks/", {"name": "gpu", "kind": "local"}, format="json").status_code == 403
    assert rest.post(f"/api/stacks/{prod.pk}/validate/").status_code == 200
    assert list(prod.projects.all()) == []


def test_a_grant_to_an_unknown_project_is_a_400_naming_the_field(api, staff, prod):
    response = api(staff).patch(f"/api/stacks/{prod.pk}/", {"projects": ["nowhere"]}, format="json")
    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["projects"]


def test_users_with_the_permissions_but_not_staff_are_refused_in_both_doors(client, api, prod):
    clerk = give_stack_permissions(make_user("carl"))
    client.force_login(clerk)
    assert client.get("/admin/stacks/stack/").status_code == 302, "the admin sends non-staff to its sign-in"
    response = api(clerk).patch(f"/api/stacks/{prod.pk}/", {"description": "mine"}, format="json")
    assert response.status_code == 403


# Upgrading


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_migration_grants_every_existing_stack_to_every_existing_project():
    executor = MigrationExecutor(connection)
    after = executor.loader.graph.leaf_nodes()
    # Back to before the grants; the apps whose migrations came after them are taken back with them.
    after_grants = set(executor.loader.graph.backwards_plan(("stacks", "0004_stack_grants")))
    before = [("stacks", "0003_encrypt_secrets")] + [node for node in after if node not in after_grants]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    stacks = [old.get_model("stacks", "Stack").objects.create(name=name, kind="local") for name in ("a", "b")]
    projects = [old.get_model("runs", "Project").objects.create(slug=slug, name=slug) for slug in ("x", "y")]
    MigrationExecutor(connection).migrate(after)

    for made in stacks:
        stack = Stack.objects.get(pk=made.pk)
        assert sorted(stack.projects.values_list("slug", flat=True)) == ["x", "y"]
        assert stack.open_to_all_projects is False
    later = make_project("later")
    assert not Stack.objects.granted_to(later).exists()
    assert all(Stack.objects.get(pk=s.pk).is_granted_to(p) for s in stacks for p in projects)
