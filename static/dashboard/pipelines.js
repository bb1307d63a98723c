// Pipelines: each with its graph, recent outcomes and duration trend; one pipeline's trigger form.
import { drawDag } from "./dag.js";
import { ApiError, api, badge, canRun, duration, h, message, poll, when } from "./lib.js";
import { drawPipelineMetrics, loadPipelineMetrics } from "./metrics.js";
import { schedulesSection } from "./schedules.js";

export async function pipelinesPage(root, me, project) {
  const pipelines = await api("pipelines/");
  root.replaceChildren(h("h1", {}, "Pipelines"));
  if (!pipelines.length) {
    root.append(message("info", "No pipelines are registered. Add modules to FLOWSITE_PIPELINES and run manage.py sync_pipelines."));
    return;
  }
  for (const pipeline of pipelines) {
    const recent = h("div", { class: "recent" }, h("span", { class: "muted" }, "loading recent runs…"));
    root.append(h("section", { class: "card pipeline", "data-pipeline": pipeline.name },
      h("h2", {}, h("a", { href: `/pipelines/${encodeURIComponent(pipeline.name)}/` }, pipeline.name)),
      h("p", {}, pipeline.description || h("span", { class: "muted" }, "No description.")),
      h("p", { class: "muted" }, `code ${pipeline.code_version} · ${pipeline.dag.nodes.length} step${pipeline.dag.nodes.length === 1 ? "" : "s"} · ${pipeline.module}`),
      drawDag(pipeline.dag, new Map(), null, { compact: true }), recent));
    showRecentRuns(recent, pipeline.name, project);
  }
}

function showRecentRuns(box, name, project) {
  poll(async () => {
    const page = await api(`pipelines/${encodeURIComponent(name)}/runs/`, { query: { page_size: 30, project: project && project.slug } });
    box.replaceChildren(...outcomes(page.results));
    return null;
  }, { notice: box, what: `the recent runs of ${name}` });
}

function outcomes(runs) {
  if (!runs.length) return [h("span", { class: "muted" }, "No runs yet.")];
  return [
    h("div", { class: "dots" }, runs.slice(0, 15).map((r) => h("a", { href: `/runs/${r.id}/`, title: `#${r.id} ${r.status}` }, badge(r.status)))),
    trend(runs),
  ];
}

function trend(runs) {
  const points = runs.filter((r) => r.duration_seconds !== null && r.status === "completed").reverse();
  if (points.length < 2) return h("span", { class: "muted" }, "Too few completed runs for a trend.");
  const max = Math.max(...points.map((p) => p.duration_seconds));
  const w = 240, hgt = 48;
  const xy = points.map((p, i) => `${(i / (points.length - 1)) * w},${hgt - (p.duration_seconds / max) * (hgt - 4) - 2}`);
  return h("figure", { class: "trend" },
    h("svg:svg", { viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, role: "img", "aria-label": "Duration of recent completed runs" },
      h("svg:polyline", { points: xy.join(" ") })),
    h("figcaption", {}, `duration of the last ${points.length} completed runs; longest ${duration(max)}`));
}

export async function pipelinePage(root, me, project, name) {
  // Asked for first, beside the pipeline and its stacks: over 1,000 runs it is the page's longest wait.
  const series = loadPipelineMetrics(name, project);
  let pipeline;
  try {
    pipeline = await api(`pipelines/${encodeURIComponent(name)}/`);
  } catch (error) {
    if (error.status !== 404) throw error;
    root.replaceChildren(h("h1", {}, name), message("error", "There is no pipeline with this name."));
    return;
  }
  document.title = `${pipeline.name} · Flowsite`;
  // "Run again" from a run: the form starts from that run, in that run's project.
  const againId = new URLSearchParams(location.search).get("again");
  const previous = againId ? await api(`runs/${encodeURIComponent(againId)}/`) : null;
  if (previous) project = me.projects.find((p) => p.slug === previous.project) || project;
  // Only the stacks the chosen project may run on: staff grant stacks to projects.
  const stacks = project ? await api("stacks/", { query: { project: project.slug } }) : [];
  const recent = h("div", { class: "recent" });
  const charts = h("div", { class: "metric-charts" });
  root.replaceChildren(
    h("h1", {}, pipeline.name),
    h("p", {}, pipeline.description || ""),
    h("p", { class: "muted" }, `code ${pipeline.code_version} · ${pipeline.module} · recorded ${when(pipeline.created_at)}`),
    h("div", { class: "card dag-box" }, drawDag(pipeline.dag)),
    h("h2", {}, previous ? `Run #${previous.id} again` : "Run it"), triggerForm(pipeline, stacks, me, project, previous),
    h("h2", {}, "Schedules"), schedulesSection(pipeline, stacks, me, project),
    h("h2", {}, "Recent runs"), recent,
    h("h2", {}, "Metrics across runs"), charts);
  drawPipelineMetrics(charts, series);
  // Asked for once the chart's data has come (or failed): sent at once, the recent runs competed with it
  // for the server and put the charts off by a tenth of a second over 1,000 runs.
  series.then(() => showRecentRuns(recent, pipeline.name, project));
}

function triggerForm(pipeline, stacks, me, project, previous) {
  if (!project) return message("info", "Choose a project (top right) to run this pipeline in.");
  if (!canRun(me, project.slug)) return message("info", `Your role in ${project.name} lets you read runs, not start them.`);
  if (!stacks.length) return message("info", `No stack is granted to ${project.name}; ask a staff member to grant one.`);
  const errors = new Map();
  const fields = pipeline.parameters.map((p) => {
    const error = h("span", { class: "field-error", role: "alert" });
    errors.set(p.name, error);
    return h("label", { class: "param" }, h("span", { class: "name" }, p.name, p.required ? " *" : ""),
      input(p, previous && p.name in previous.params ? previous.params[p.name] : p.default),
      h("span", { class: "muted" }, p.json_type || "any JSON", p.steps.length ? ` · used by ${p.steps.join(", ")}` : ""), error);
  });
  const stackError = h("span", { class: "field-error", role: "alert" });
  const general = h("div");
  const chosenStack = (s) => (previous && stacks.some((t) => t.name === previous.stack) ? s.name === previous.stack : s.is_default);
  const stackSelect = h("select", { name: "stack", onchange: showWhetherRunnable }, stacks.map((s) => h("option", { value: s.name, selected: chosenStack(s) }, `${s.name} (${s.kind})`)));
  const fresh = h("input", { type: "checkbox", name: "fresh" });
  const changes = previous ? h("div", { class: "changes", "aria-live": "polite" }) : null;
  const runButton = h("button", { type: "submit" }, `Run in ${project.name}`);
  const form = h("form", { class: "trigger card", novalidate: true, onsubmit: submit, oninput: showChanges, onchange: showChanges },
    ...fields, h("label", { class: "param" }, h("span", { class: "name" }, "stack"), stackSelect, stackError),
    h("label", { class: "param fresh" }, h("span", { class: "name" }, "fresh"), fresh,
      h("span", { class: "muted" }, "Execute every step, even those whose result is in the cache.")),
    changes, general, runButton);
  showWhetherRunnable();
  showChanges();

  // What this run would do differently from the one it starts from, as the form is edited.
  function showChanges() {
    if (!previous) return;
    const differences = [];
    for (const p of pipeline.parameters) {
      let now;
      try {
        now = fieldValue(p, form.elements[`param-${p.name}`]);
      } catch {
        differences.push(h("li", { "data-param": p.name }, h("code", {}, p.name), ": not a valid value yet"));
        continue;
      }
      const before = previous.params[p.name];
      if (now !== LEFT_OUT && JSON.stringify(now) !== JSON.stringify(before)) {
        differences.push(h("li", { "data-param": p.name }, h("code", {}, p.name), ": ", h("del", {}, JSON.stringify(before) ?? "not set"), " → ", h("ins", {}, JSON.stringify(now))));
      }
    }
    if (stackSelect.value !== previous.stack) differences.push(h("li", { "data-param": "stack" }, "stack: ", h("del", {}, previous.stack), " → ", h("ins", {}, stackSelect.value)));
    if (fresh.checked && previous.cache) differences.push(h("li", { "data-param": "cache" }, "fresh: the cache is not used"));
    changes.replaceChildren(differences.length
      ? h("div", {}, h("p", {}, `Differs from run #${previous.id}:`), h("ul", {}, differences))
      : h("p", {}, `The same parameters and stack as run #${previous.id}.`));
  }

  // A version no worker has would only be refused by the API: say so before anyone fills the form in.
  function showWhetherRunnable() {
    const problem = pipeline.unavailable_on[stackSelect.value];
    runButton.disabled = Boolean(problem);
    stackError.textContent = problem ? `This version cannot run on ${stackSelect.value}: ${problem}` : "";
  }

  async function submit(event) {
    event.preventDefault();
    for (const el of [...errors.values(), stackError]) el.textContent = "";
    general.replaceChildren();
    const params = {};
    let refused = false;
    for (const p of pipeline.parameters) {
      try {
        const value = fieldValue(p, form.elements[`param-${p.name}`]);
        if (value !== LEFT_OUT) params[p.name] = value;
      } catch (e) {
        errors.get(p.name).textContent = e.message;
        refused = true;
      }
    }
    if (refused) return;
    try {
      const body = { project: project.slug, pipeline: pipeline.name, stack: stackSelect.value, params };
      if (fresh.checked) body.cache = false;
      const run = await api("runs/", { method: "POST", body });
      location.href = `/runs/${run.id}/`;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      let placed = false;
      for (const [field, reason] of Object.entries(error.fields)) {
        const name = field.replace(/^params\./, "");
        const target = field === "stack" ? stackError : errors.get(name);
        if (target) { target.textContent = reason; placed = true; }
      }
      if (!placed) general.replaceChildren(message("error", error.message));
    }
  }
  return form;
}

function input(p, initial) {
  const name = `param-${p.name}`;
  const value = initial === null || initial === undefined ? "" : initial;
  if (p.json_type === "boolean") return h("input", { type: "checkbox", name, checked: value === true });
  if (p.json_type === "integer" || p.json_type === "number") return h("input", { type: "number", name, value, step: p.json_type === "integer" ? 1 : "any" });
  if (p.json_type === "string") return h("input", { type: "text", name, value });
  return h("textarea", { name, rows: 2, placeholder: p.default_repr || "JSON" }, value === "" ? "" : JSON.stringify(value));
}

const LEFT_OUT = Symbol("left out");

// A field left empty is sent only as the API would take it: a required one is refused in the API's
// words; one that showed no default is left out, so the pipeline's own default applies; one whose
// shown default was cleared is parsed like any other value, so a cleared number is refused rather
// than sent as "" or silently replaced by its default.
function fieldValue(p, el) {
  if (el.type === "checkbox") return el.checked;
  // A number field holding what is not a number reads as "": that is no empty field.
  if (el.validity.badInput) throw new Error(p.json_type === "integer" ? "must be a whole number" : "must be a number");
  if (el.value === "") {
    if (p.required) throw new Error("this parameter is required");
    if (p.default === null || p.default === undefined) return LEFT_OUT;
  }
  return parse(p, el.value);
}

function parse(p, raw) {
  if (p.json_type === "boolean") return raw;
  if (p.json_type === "integer") { if (!/^-?\d+$/.test(raw)) throw new Error("must be a whole number"); return Number(raw); }
  if (p.json_type === "number") { if (raw === "" || Number.isNaN(Number(raw))) throw new Error("must be a number"); return Number(raw); }
  if (p.json_type === "string") return raw;
  try { return JSON.parse(raw); } catch { throw new Error("must be valid JSON"); }
}
