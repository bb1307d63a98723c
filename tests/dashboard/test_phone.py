"""The run page on a 390 px wide phone: everything fits, nothing scrolls sideways."""

from __future__ import annotations

from playwright.sync_api import expect

from flowsite.engine import Pipeline, step
from runs import registry
from runs.models import RunStatus
from tests.runs.helpers import execute

from .helpers import open_run, screenshot, sign_in, trigger

PHONE = {"width": 390, "height": 844}
LONG = "prepare_the_extraordinarily_long_named_training_dataset_for_the_quarterly_evaluation"


@step(name=LONG, outputs=["rows"])
def prepare(label: str = "x" * 120) -> list[int]:
    print("an unbroken log line: " + "abcdefghij" * 40)
    print(f"label={label}")
    return [1, 2, 3]


@step(
    name=f"{LONG}_then_score_every_single_row",
    inputs=["rows"],
    outputs=["score"],
    execution_group="scoring-with-a-long-group-name",
)
def score(rows: list[int]) -> int:
    return sum(rows)


@step(
    name=f"{LONG}_and_write_the_report",
    inputs=["rows"],
    outputs=["report"],
    execution_group="scoring-with-a-long-group-name",
)
def report(rows: list[int]) -> str:
    return "ok"


# Joins the registry only for the test that registers this module.
wide = Pipeline("a-pipeline-whose-name-alone-is-wider-than-a-phone-screen-is", [prepare, score, report])


def test_the_run_page_fits_a_390_px_phone(new_page, ready, owner, settings, monkeypatch):
    settings.FLOWSITE_PIPELINES = [*settings.FLOWSITE_PIPELINES, __name__]
    monkeypatch.setattr(registry, "_loaded", None)
    registry.sync_pipelines()
    run = execute(trigger(ready, wide.name, user=owner, label="y" * 200))
    assert run.status == RunStatus.COMPLETED, run.failure_message

    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, "olivia")
    open_run(page, run)
    expect(page.locator("svg.dag .node")).to_have_count(3)
    expect(page.locator(".log-panel .count")).to_have_text("2 of 2 lines")
    expect(page.locator("table.artifacts")).to_be_visible()
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    screenshot(page, "run-phone")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px screen"
