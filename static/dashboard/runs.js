// The runs page: a filterable table of runs, filters kept in the URL, cursor paging, live statuses.
import { ACTIVE, api, badge, duration, h, message, poll, stepsSummary, when } from "./lib.js";

const FILTERS = ["status", "pipeline", "stack", "triggered_by", "created_after", "created_before"];
const STATUSES = ["queued", "provisioning", "running", "cancelling", "completed", "failed", "cancelled", "dead"];

export async function runsPage(root, me, project) {
  const params = new URLSearchParams(location.search);
  const [pipelines, stacks] = await Promise.all([api("pipelines/"), api("stacks/")]);
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
    h("button", { type: "submit" }, "Filter"),
    h("button", { type: "button", class: "secondary", onclick: () => { location.search = ""; } }, "Clear"));

  function apply() {
    const next = new URLSearchParams();
    const data = new FormData(form);
    for (const name of FILTERS) for (const value of data.getAll(name)) if (value) next.append(name, value);
    history.replaceState(null, "", `${location.pathname}?${next}`);
    cursorUrl = null;
    poller.refresh();
  }

  const body = h("tbody");
  const table = h("table", { class: "runs" },
    h("thead", {}, h("tr", {}, ["Run", "Status", "Pipeline", "Stack", "Who", "Started", "Duration", "Steps"].map((c) => h("th", {}, c)))), body);
  const pager = h("div", { class: "pager" });
  const notice = h("div");
  const problems = h("div");
  root.replaceChildren(h("h1", {}, "Runs", project ? h("span", { class: "sub" }, ` · ${project.name}`) : ""), form, problems, notice, h("div", { class: "scroll" }, table), pager);

  let cursorUrl = null;

  function page(url) {
    cursorUrl = url;
    poller.refresh();
  }

  async function load() {
    const asked = `${cursorUrl}|${location.search}`;
    const query = {};
    const current = new URLSearchParams(location.search);
    for (const name of FILTERS) query[name] = current.getAll(name);
    // The dates are days in the reader's time zone, and the range includes the day it ends on.
    if (query.created_after.length) query.created_after = localMidnight(query.created_after[0], 0);
    if (query.created_before.length) query.created_before = localMidnight(query.created_before[0], 1);
    if (project) query.project = project.slug;
    const result = await api(cursorUrl || "runs/", { query: cursorUrl ? {} : { ...query, page_size: 50 } });
    if (asked !== `${cursorUrl}|${location.search}`) return 0; // paged or filtered meanwhile: load what is asked now
    body.replaceChildren(...result.results.map(row));
    notice.replaceChildren(result.results.length ? "" : message("info", "No runs match. Start one from a pipeline's page, or clear the filters."));
    pager.replaceChildren(
      h("button", { type: "button", class: "secondary", disabled: !result.previous, onclick: () => page(result.previous) }, "← Newer"),
      h("button", { type: "button", class: "secondary", disabled: !result.next, onclick: () => page(result.next) }, "Older →"));
    return result.results.some((r) => ACTIVE.has(r.status)) ? 2000 : null;
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
      h("td", { class: "progress" }, stepsSummary(run)));
  }

  const poller = poll(load, { notice: problems, what: "the runs", live: () => root.isConnected });
}

function localMidnight(day, plusDays) {
  const date = new Date(`${day}T00:00:00`);
  date.setDate(date.getDate() + plusDays);
  return date.toISOString();
}
