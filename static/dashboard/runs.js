// The runs page: a filterable table of runs, filters kept in the URL, cursor paging, live statuses.
import { ACTIVE, api, badge, duration, h, message, stepsSummary, when } from "./lib.js";
import { formatValue } from "./metrics.js";

const FILTERS = ["status", "pipeline", "stack", "triggered_by", "created_after", "created_before"];
// The metrics shown as columns, remembered in this browser across visits.
const METRIC_COLUMNS_KEY = "flowsite.metricColumns";
const STATUSES = ["queued", "provisioning", "running", "cancelling", "completed", "failed", "cancelled", "dead"];

export async function runsPage(root, me, project) {
  const params = new URLSearchParams(location.search);
  const [pipelines, stacks] = await Promise.all([api("pipelines/"), api("stacks/")]);
  let metricColumns = splitNames(localStorage.getItem(METRIC_COLUMNS_KEY) || "");
  const picked = new Set();
  const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); apply(); } },
    h("fieldset", { class: "statuses" }, h("legend", {}, "Status"),
      STATUSES.map((s) => h("label", { class: "chip" }, h("input", { type: "checkbox", name: "status", value: s, checked: params.getAll("status").includes(s) }), s))),
    h("label", {}, "Pipeline ", h("select", { name: "pipeline" }, h("option", { value: "" }, "any"),
      pipelines.map((p) => h("option", { value: p.name, selected: params.get("pipeline") === p.name }, p.name)))),
    h("label", {}, "Stack ", h("select", { name: "stack" }, h("option", { value: "" }, "any"),
      stacks.map((s) => h("option", { value: s.name, selected: params.get("stack") === s.name }, s.name)))),
    h("label", {}, "Who ", h("input", { name: "triggered_by", value: params.get("triggered_by") || "", placeholder: "username", size: 10 })),
    h("label", {}, "From ", h("input", { name: "created_after", type: "date", value: (params.get("created_after") || "").slice(0, 10) })),
    h("label", {}, "To ", h("input", { name: "created_before", type: "date", value: (params.get("created_before") || "").slice(0, 10) })),
    h("label", {}, "Metric columns ", h("input", { name: "metric_columns", value: metricColumns.join(", "), placeholder: "accuracy, loss", size: 16 })),
    h("button", { type: "submit" }, "Filter"),
    h("button", { type: "button", class: "secondary", onclick: () => { location.search = ""; } }, "Clear"));

  function apply() {
    const next = new URLSearchParams();
    const data = new FormData(form);
    for (const name of FILTERS) for (const value of data.getAll(name)) if (value) next.append(name, value);
    metricColumns = splitNames(data.get("metric_columns") || "");
    localStorage.setItem(METRIC_COLUMNS_KEY, metricColumns.join(","));
    drawHead();
    history.replaceState(null, "", `${location.pathname}?${next}`);
    load();
  }

  const body = h("tbody");
  const headRow = h("tr");
  const table = h("table", { class: "runs" }, h("thead", {}, headRow), body);
  const compareButton = h("button", { type: "button", class: "secondary", id: "compare-runs", onclick: () => {
    location.href = `/runs/compare/?ids=${[...picked].join(",")}`;
  } }, "Compare selected");
  const pager = h("div", { class: "pager" });
  function drawHead() {
    headRow.replaceChildren(...["Run", "Status", "Pipeline", "Stack", "Who", "Started", "Duration", "Steps"].map((c) => h("th", {}, c)),
      ...metricColumns.map((name) => h("th", { class: "metric-column", "data-metric": name }, name)),
      h("th", {}, "Compare"));
  }
  function drawCompare() {
    compareButton.disabled = picked.size < 2 || picked.size > 10;
    compareButton.textContent = picked.size ? `Compare ${picked.size} selected` : "Compare selected";
  }
  drawHead();
  drawCompare();
  const notice = h("div");
  root.replaceChildren(h("h1", {}, "Runs", project ? h("span", { class: "sub" }, ` · ${project.name}`) : ""), form, notice, h("div", { class: "scroll" }, table),
    h("div", { class: "compare-bar" }, compareButton, h("span", { class: "muted" }, " tick 2 to 10 runs")), pager);

  let cursorUrl = null;
  let timer = null;
  let loads = 0;

  async function load(url = null) {
    cursorUrl = url;
    clearTimeout(timer);
    const query = {};
    const current = new URLSearchParams(location.search);
    for (const name of FILTERS) query[name] = current.getAll(name);
    // The dates are days in the reader's time zone, and the range includes the day it ends on.
    if (query.created_after.length) query.created_after = localMidnight(query.created_after[0], 0);
    if (query.created_before.length) query.created_before = localMidnight(query.created_before[0], 1);
    if (project) query.project = project.slug;
    if (metricColumns.length) query.metrics = metricColumns.join(",");
    const generation = ++loads;
    let page;
    try {
      page = await api(url || "runs/", { query: url ? {} : { ...query, page_size: 50 } });
    } catch (error) {
      notice.replaceChildren(message("error", `Could not load the runs: ${error.message}`));
      return;
    }
    if (generation !== loads) return; // a newer request (paging, filters) has been made since
    notice.replaceChildren();
    body.replaceChildren(...page.results.map(row));
    if (!page.results.length) {
      notice.replaceChildren(message("info", "No runs match. Start one from a pipeline's page, or clear the filters."));
    }
    pager.replaceChildren(
      h("button", { type: "button", class: "secondary", disabled: !page.previous, onclick: () => load(page.previous) }, "← Newer"),
      h("button", { type: "button", class: "secondary", disabled: !page.next, onclick: () => load(page.next) }, "Older →"));
    if (page.results.some((r) => ACTIVE.has(r.status))) timer = setTimeout(() => root.isConnected && load(cursorUrl), 2000);
  }

  function row(run) {
    return h("tr", { "data-run": run.id },
      h("td", {}, h("a", { href: `/runs/${run.id}/` }, `#${run.id}`)),
      h("td", {}, badge(run.status)),
      h("td", {}, h("a", { href: `/pipelines/${encodeURIComponent(run.pipeline)}/` }, run.pipeline)),
      h("td", {}, run.stack || "–"),
      h("td", {}, run.triggered_by || "–"),
      h("td", {}, when(run.started_at || run.created_at)),
      h("td", {}, duration(run.duration_seconds)),
      h("td", { class: "progress" }, stepsSummary(run)),
      ...metricColumns.map((name) => h("td", { class: "num", "data-metric": name }, formatValue((run.metrics || {})[name]))),
      h("td", {}, h("input", { type: "checkbox", class: "compare-pick", value: run.id, "aria-label": `Compare run #${run.id}`,
        checked: picked.has(run.id), onchange: (e) => { e.target.checked ? picked.add(run.id) : picked.delete(run.id); drawCompare(); } })));
  }

  await load();
}

function splitNames(text) {
  return [...new Set(text.split(",").map((name) => name.trim()).filter(Boolean))];
}

function localMidnight(day, plusDays) {
  const date = new Date(`${day}T00:00:00`);
  date.setDate(date.getDate() + plusDays);
  return date.toISOString();
}
