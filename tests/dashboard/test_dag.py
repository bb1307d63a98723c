"""The graph: a layered layout whose edges never pass under a step, execution groups drawn as boxes, zoom, and
addresses for a step or a log line that open the run's page there."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from flowsite.engine import Pipeline, step
from runs import registry
from runs.models import LogLine, RunStatus
from tests.runs.helpers import execute

from .helpers import open_run, screenshot, sign_in, trigger


@step(outputs=["raw"])
def load() -> list[int]:
    for i in range(300):
        print(f"loaded row {i}")
    return [1, 2, 3]


@step(inputs=["raw"], outputs=["clean"], execution_group="training")
def clean(raw: list[int]) -> list[int]:
    print("cleaning")
    return raw


@step(inputs=["clean"], outputs=["model"], execution_group="training")
def fit(clean: list[int]) -> int:
    print("fitting")
    return sum(clean)


@step(inputs=["raw", "model"], outputs=["report"])
def evaluate(raw: list[int], model: int) -> str:  # `raw` skips two layers: its edge must go around them
    return f"{model} over {len(raw)}"


@step(inputs=["raw"], outputs=["stats"])
def describe(raw: list[int]) -> int:
    return len(raw)


# Joins the registry only for the tests that register this module.
layered = Pipeline("layered", [load, clean, fit, evaluate, describe])

# Every edge sampled along its length: how many samples fall inside a step that is not one of its two ends.
EDGES_UNDER_STEPS = """() => {
  const svg = document.querySelector('svg.dag');
  const boxes = [...svg.querySelectorAll('.node')].map((g) => {
    const m = g.transform.baseVal.consolidate().matrix, r = g.querySelector('rect');
    return { name: g.dataset.step, x: m.e, y: m.f, w: r.width.baseVal.value, h: r.height.baseVal.value };
  });
  const hidden = [];
  for (const path of svg.querySelectorAll('path.edge')) {
    const length = path.getTotalLength();
    for (let at = 0; at <= length; at += 2) {
      const p = path.getPointAtLength(at);
      for (const b of boxes) {
        if (b.name === path.dataset.from || b.name === path.dataset.to) continue;
        if (p.x > b.x && p.x < b.x + b.w && p.y > b.y && p.y < b.y + b.h) hidden.push(`${path.dataset.from}->${path.dataset.to} under ${b.name}`);
      }
    }
  }
  return [...new Set(hidden)];
}"""

GROUP_HOLDS = """(group) => {
  const g = document.querySelector(`svg.dag .group[data-group="${group}"] rect`).getBBox();
  return [...document.querySelectorAll('svg.dag .node')].filter((n) => {
    const m = n.transform.baseVal.consolidate().matrix, r = n.querySelector('rect');
    return m.e >= g.x && m.f >= g.y && m.e + r.width.baseVal.value <= g.x + g.width && m.f + r.height.baseVal.value <= g.y + g.height;
  }).map((n) => n.dataset.step).sort();
}"""


def register(settings, monkeypatch) -> None:
    settings.FLOWSITE_PIPELINES = [*settings.FLOWSITE_PIPELINES, __name__]
    monkeypatch.setattr(registry, "_loaded", None)
    registry.sync_pipelines()


def test_the_graph_is_layered_with_groups_boxed_edges_in_view_and_zoom(page, ready, owner, settings, monkeypatch):
    register(settings, monkeypatch)
    sign_in(page, "olivia")
    page.goto("/pipelines/layered/")
    expect(page.locator("svg.dag .node")).to_have_count(5)
    expect(page.locator("svg.dag path.edge")).to_have_count(5)
    assert page.evaluate(EDGES_UNDER_STEPS) == []
    expect(page.locator("svg.dag .group[data-group=training] text")).to_have_text("training")
    assert page.evaluate(GROUP_HOLDS, "training") == ["clean", "fit"]
    screenshot(page, "pipeline-graph")

    # In layers from left to right: each step right of those it needs.
    x = {
        name: page.locator(f"svg.dag .node[data-step={name}]").bounding_box()["x"]
        for name in ("load", "clean", "fit", "evaluate")
    }
    assert x["load"] < x["clean"] < x["fit"] < x["evaluate"], x

    svg = page.locator("svg.dag")
    before = svg.bounding_box()["width"]
    page.click(".dag-zoomable button[data-zoom=in]")
    expect(svg).to_have_attribute("data-zoom", "1.25")
    assert svg.bounding_box()["width"] > before * 1.2
    page.click(".dag-zoomable button[data-zoom=out]")
    page.click(".dag-zoomable button[data-zoom=out]")
    expect(svg).to_have_attribute("data-zoom", "0.8")
    assert svg.bounding_box()["width"] < before


def test_a_step_or_a_log_line_has_an_address_that_opens_there(new_page, ready, owner, settings, monkeypatch):
    register(settings, monkeypatch)
    run = execute(trigger(ready, "layered", user=owner))
    assert run.status == RunStatus.COMPLETED, run.failure_message
    page = new_page()
    sign_in(page, "olivia")
    open_run(page, run)
    page.click("svg.dag .node[data-step=fit]")
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/#step=fit$"))
    expect(page.locator(".log-panel select[aria-label=Step]")).to_have_value("fit")
    step_url = page.url

    # A line far down the log, off screen at first: clicked, its address opens with it in view and marked.
    seq = LogLine.objects.get(run=run, text="loaded row 250").seq
    page.goto(f"/runs/{run.pk}/")
    expect(page.locator(".log-panel .count")).to_contain_text("lines")
    page.locator(".log-panel input[type=search]").fill("loaded row 250")
    page.click(f".log-viewport .line[data-seq='{seq}']")
    expect(page).to_have_url(re.compile(rf"#line={seq}$"))
    line_url = page.url

    fresh = new_page()
    sign_in(fresh, "olivia")
    fresh.goto(step_url)
    expect(fresh.locator(".log-panel select[aria-label=Step]")).to_have_value("fit")
    expect(fresh.locator("svg.dag .node.selected")).to_have_attribute("data-step", "fit")
    expect(fresh.locator(".log-viewport .line .text")).to_have_text(["fitting"])
    fresh.goto("/runs/")
    fresh.goto(line_url)  # from another page: a change of fragment alone would not load the page again
    line = fresh.locator(f".log-viewport .line.linked[data-seq='{seq}']")
    expect(line).to_have_text(re.compile("loaded row 250"))
    expect(line).to_be_in_viewport()
