// Pipelines: each with its graph, recent outcomes and duration trend; one pipeline's trigger form.
import { drawDag } from "./dag.js";
import { drawPipelineMetrics, loadPipelineMetrics } from "./metrics.js";
import { ApiError, api, badge, canRun, duration, h, message, when } from "./lib.js";

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
    recentRuns(pipeline.name, project).then((runs) => recent.replaceChildren(...outcomes(runs))).catch((e) => recent.replaceChildren(message("error", e.message)));
  }
}

async function recentRuns(name, project) {
  const page = await api(`pipelines/${encodeURIComponent(name)}/runs/`, { query: { page_size: 30, project: project && project.slug } });
  return page.results;
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
    root.replaceChildren(h("h1", {}, name), message("error", error.status === 404 ? "There is no pipeline with this name." : error.message));
    return;
  }
  document.title = `${pipeline.name} · Flowsite`;
  // Only the stacks the chosen project may run on: staff grant stacks to projects.
  const stacks = project ? await api("stacks/", { query: { project: project.slug } }) : [];
  const recent = h("div", { class: "recent" });
  const charts = h("div", { class: "metric-charts" });
  root.replaceChildren(
    h("h1", {}, pipeline.name),
    h("p", {}, pipeline.description || ""),
    h("p", { class: "muted" }, `code ${pipeline.code_version} · ${pipeline.module} · recorded ${when(pipeline.created_at)}`),
    h("div", { class: "card dag-box" }, drawDag(pipeline.dag)),
    h("h2", {}, "Run it"), triggerForm(pipeline, stacks, me, project),
    h("h2", {}, "Recent runs"), recent,
    h("h2", {}, "Metrics across runs"), charts);
  drawPipelineMetrics(charts, series);
  recentRuns(pipeline.name, project).then((runs) => recent.replaceChildren(...outcomes(runs)));
}

function triggerForm(pipeline, stacks, me, project) {
  if (!project) return message("info", "Choose a project (top right) to run this pipeline in.");
  if (!canRun(me, project.slug)) return message("info", `Your role in ${project.name} lets you read runs, not start them.`);
  if (!stacks.length) return message("info", `No stack is granted to ${project.name}; ask a staff member to grant one.`);
  const errors = new Map();
  const fields = pipeline.parameters.map((p) => {
    const error = h("span", { class: "field-error", role: "alert" });
    errors.set(p.name, error);
    return h("label", { class: "param" }, h("span", { class: "name" }, p.name, p.required ? " *" : ""),
      input(p), h("span", { class: "muted" }, p.type || "any JSON", p.steps.length ? ` · used by ${p.steps.join(", ")}` : ""), error);
  });
  const stackError = h("span", { class: "field-error", role: "alert" });
  const general = h("div");
  const stackSelect = h("select", { name: "stack", onchange: showWhetherRunnable }, stacks.map((s) => h("option", { value: s.name, selected: s.is_default }, `${s.name} (${s.kind})`)));
  const runButton = h("button", { type: "submit" }, `Run in ${project.name}`);
  const form = h("form", { class: "trigger card", novalidate: true, onsubmit: submit },
    ...fields, h("label", { class: "param" }, h("span", { class: "name" }, "stack"), stackSelect, stackError),
    general, runButton);
  showWhetherRunnable();

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
      const run = await api("runs/", { method: "POST", body: { project: project.slug, pipeline: pipeline.name, stack: stackSelect.value, params } });
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

function input(p) {
  const name = `param-${p.name}`;
  const value = p.default === null || p.default === undefined ? "" : p.default;
  if (p.type === "boolean") return h("input", { type: "checkbox", name, checked: value === true });
  if (p.type === "integer" || p.type === "number") return h("input", { type: "number", name, value, step: p.type === "integer" ? 1 : "any" });
  if (p.type === "string") return h("input", { type: "text", name, value });
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
  if (el.validity.badInput) throw new Error(p.type === "integer" ? "must be a whole number" : "must be a number");
  if (el.value === "") {
    if (p.required) throw new Error("this parameter is required");
    if (p.default === null || p.default === undefined) return LEFT_OUT;
  }
  return parse(p, el.value);
}

function parse(p, raw) {
  if (p.type === "boolean") return raw;
  if (p.type === "integer") { if (!/^-?\d+$/.test(raw)) throw new Error("must be a whole number"); return Number(raw); }
  if (p.type === "number") { if (raw === "" || Number.isNaN(Number(raw))) throw new Error("must be a number"); return Number(raw); }
  if (p.type === "string") return raw;
  try { return JSON.parse(raw); } catch { throw new Error("must be valid JSON"); }
}
