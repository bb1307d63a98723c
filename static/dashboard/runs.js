// The runs page: a searchable, filterable table of runs, filters kept in the URL, cursor paging, kept live
// by conditional requests (a 304 while nothing changed), bulk cancel and retry for members, chosen metrics
// as columns, and runs ticked for comparison.
import { NOT_MODIFIED, api, badge, canRun, confirmDialog, duration, h, message, poll, stepsSummary, when } from "./lib.js";
import { formatValue } from "./metrics.js";
import { dayStart, zoneLabel } from "./timezone.js";

const FILTERS = ["search", "status", "pipeline", "stack", "triggered_by", "created_after", "created_before"];
const REFRESH_MS = 1500; // new and changed runs show within 2 s
const CANCELLABLE = new Set(["queued", "provisioning", "running"]);
const RETRYABLE = new Set(["failed", "cancelled", "dead"]);
// The metrics shown as columns, remembered in this browser across visits.
const METRIC_COLUMNS_KEY = "flowsite.metricColumns";
const STATUSES = ["queued", "provisioning", "running", "cancelling", "completed", "failed", "cancelled", "dead"];

export async function runsPage(root, me, project) {
  const params = new URLSearchParams(location.search);
  const [pipelines, stacks] = await Promise.all([api("pipelines/"), api("stacks/")]);
  let metricColumns = splitNames(localStorage.getItem(METRIC_COLUMNS_KEY) || "");
  const picked = new Set();
  const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); apply(); } },
    h("label", { class: "search" }, "Search ", h("input", { type: "search", name: "search", value: params.get("search") || "", placeholder: "run id, pipeline or parameter value", size: 28 })),
    h("fieldset", { class: "statuses" }, h("legend", {}, "Status"),
      STATUSES.map((s) => h("label", { class: "chip" }, h("input", { type: "checkbox", name: "status", value: s, checked: params.getAll("status").includes(s) }), s))),
    h("label", {}, "Pipeline ", h("select", { name: "pipeline" }, h("option", { value: "" }, "any"),
      pipelines.map((p) => h("option", { value: p.name, selected: params.get("pipeline") === p.name }, p.name)))),
    h("label", {}, "Stack ", h("select", { name: "stack" }, h("option", { value: "" }, "any"),
      stacks.map((s) => h("option", { value: s.name, selected: params.get("stack") === s.name }, s.name)))),
    h("label", {}, "Who ", h("input", { name: "triggered_by", value: params.get("triggered_by") || "", placeholder: "username", size: 10 })),
    h("label", {}, "From ", h("input", { name: "created_after", type: "date", value: (params.get("created_after") || "").slice(0, 10) })),
    h("label", {}, "To ", h("input", { name: "created_before", type: "date", value: (params.get("created_before") || "").slice(0, 10) })),
    h("span", { class: "muted zone-note" }, `days in ${zoneLabel()}`),
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
    cursorUrl = null;
    poller.refresh();
  }

  const member = canRun(me, project.slug);
  const selected = new Set();
  let shown = [];
  const body = h("tbody");
  const everyRun = h("input", { type: "checkbox", "aria-label": "Select every run on this page", onchange: (e) => {
    for (const run of shown) if (e.target.checked) selected.add(run.id); else selected.delete(run.id);
    draw();
  } });
  const headRow = h("tr");
  const table = h("table", { class: "runs" }, h("thead", {}, headRow), body);
  function drawHead() {
    headRow.replaceChildren(member ? h("th", { class: "select" }, everyRun) : "",
      ...["Run", "Status", "Pipeline", "Stack", "Who", "Started", "Duration", "Steps"].map((c) => h("th", {}, c)),
      ...metricColumns.map((name) => h("th", { class: "metric-column", "data-metric": name }, name)),
      h("th", {}, "Compare"));
  }
  const compareButton = h("button", { type: "button", class: "secondary", id: "compare-runs", onclick: () => {
    location.href = `/runs/compare/?ids=${[...picked].join(",")}`;
  } }, "Compare selected");
  function drawCompare() {
    compareButton.disabled = picked.size < 2 || picked.size > 10;
    compareButton.textContent = picked.size ? `Compare ${picked.size} selected` : "Compare selected";
  }
  drawHead();
  drawCompare();
  const pager = h("div", { class: "pager" });
  const notice = h("div");
  const problems = h("div");
  const summary = h("div", { class: "bulk-summary" });
  const count = h("span", { class: "muted" });
  const cancelSelected = h("button", { type: "button", class: "danger", onclick: () => bulk("cancel") }, "Cancel selected");
  const retrySelected = h("button", { type: "button", onclick: () => bulk("retry") }, "Retry selected");
  const bulkBar = member ? h("div", { class: "bulk actions" }, count, cancelSelected, retrySelected) : null;
  root.replaceChildren(h("h1", {}, "Runs", project ? h("span", { class: "sub" }, ` · ${project.name}`) : ""), form, problems, bulkBar, summary, notice, h("div", { class: "scroll" }, table),
    h("div", { class: "compare-bar" }, compareButton, h("span", { class: "muted" }, " tick 2 to 10 runs")), pager);

  let cursorUrl = null;
  let drawnFor = null;
  const conditional = { etag: null };

  function page(url) {
    cursorUrl = url;
    poller.refresh();
  }

  async function load() {
    // New metric columns are a new page to draw, though the runs on it have not changed.
    const asked = `${cursorUrl}|${location.search}|${metricColumns}`;
    const query = {};
    const current = new URLSearchParams(location.search);
    for (const name of FILTERS) query[name] = current.getAll(name);
    // The dates are days in the zone the reader chose (local or UTC), and the range includes the day it ends on.
    if (query.created_after.length) query.created_after = dayStart(query.created_after[0], 0);
    if (query.created_before.length) query.created_before = dayStart(query.created_before[0], 1);
    if (project) query.project = project.slug;
    if (metricColumns.length) query.metrics = metricColumns.join(",");
    if (asked !== drawnFor) conditional.etag = null; // another page: nothing to compare with
    const result = await api(cursorUrl || "runs/", { query: cursorUrl ? {} : { ...query, page_size: 50 }, conditional });
    if (asked !== `${cursorUrl}|${location.search}|${metricColumns}`) return 0; // paged or filtered meanwhile: load what is asked now
    if (result === NOT_MODIFIED) return REFRESH_MS;
    drawnFor = asked;
    shown = result.results;
    draw();
    notice.replaceChildren(shown.length ? "" : message("info", "No runs match. Start one from a pipeline's page, or clear the filters."));
    pager.replaceChildren(
      h("button", { type: "button", class: "secondary", disabled: !result.previous, onclick: () => page(result.previous) }, "← Newer"),
      h("button", { type: "button", class: "secondary", disabled: !result.next, onclick: () => page(result.next) }, "Older →"));
    return REFRESH_MS;
  }

  // The rows from what was last loaded, the selection kept across refreshes (of the runs still shown).
  function draw() {
    const ids = new Set(shown.map((r) => r.id));
    for (const id of [...selected]) if (!ids.has(id)) selected.delete(id);
    body.replaceChildren(...shown.map(row));
    if (!member) return;
    everyRun.checked = shown.length > 0 && selected.size === shown.length;
    count.textContent = selected.size ? `${selected.size} selected` : "Select runs to cancel or retry them together.";
    cancelSelected.disabled = retrySelected.disabled = selected.size === 0;
  }

  // Each selected run that can take the action gets it, one request each; the summary says what happened
  // to every one, those skipped and those refused included.
  async function bulk(action) {
    const eligible = action === "cancel" ? CANCELLABLE : RETRYABLE;
    const chosen = shown.filter((r) => selected.has(r.id));
    const acting = chosen.filter((r) => eligible.has(r.status));
    const skipped = chosen.filter((r) => !eligible.has(r.status));
    const verb = action === "cancel" ? "Cancel" : "Retry";
    if (!acting.length) {
      summary.replaceChildren(message("info", `None of the selected runs can be ${action === "cancel" ? "cancelled" : "retried"}: ${describe(skipped)}.`));
      return;
    }
    const question = `${verb} ${acting.length} run${acting.length === 1 ? "" : "s"} (${acting.map((r) => `#${r.id}`).join(", ")})?`;
    if (!(await confirmDialog(question, `${verb} ${acting.length}`))) return;
    const outcomes = await Promise.allSettled(acting.map((r) => api(`runs/${r.id}/${action}/`, { method: "POST" })));
    const done = [], refused = [];
    outcomes.forEach((o, i) => (o.status === "fulfilled" ? done : refused).push([acting[i], o]));
    const lines = [];
    if (done.length) {
      lines.push(action === "cancel"
        ? `Cancelled ${done.length}: ${done.map(([r]) => `#${r.id}`).join(", ")}.`
        : `Retried ${done.length}: ${done.map(([r, o]) => `#${r.id} as #${o.value.id}`).join(", ")}.`);
    }
    if (skipped.length) lines.push(`Skipped ${skipped.length}: ${describe(skipped)}.`);
    for (const [r, o] of refused) lines.push(`#${r.id} was refused: ${o.reason.message}.`);
    summary.replaceChildren(message(refused.length ? "error" : "info", lines.map((l) => h("div", {}, l))));
    selected.clear();
    poller.refresh();
  }

  function row(run) {
    const pick = member ? h("td", { class: "select" }, h("input", {
      type: "checkbox", checked: selected.has(run.id), "aria-label": `Select run #${run.id}`,
      onchange: (e) => { if (e.target.checked) selected.add(run.id); else selected.delete(run.id); draw(); },
    })) : null;
    return h("tr", { "data-run": run.id }, pick,
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
        checked: picked.has(run.id), onchange: (e) => { if (e.target.checked) picked.add(run.id); else picked.delete(run.id); drawCompare(); } })));
  }

  const poller = poll(load, { notice: problems, what: "the runs", live: () => root.isConnected });
}

function splitNames(text) {
  return [...new Set(text.split(",").map((name) => name.trim()).filter(Boolean))];
}

function describe(runs) {
  return runs.map((r) => `#${r.id} is ${r.status}`).join(", ");
}
