// Metrics and previews: a run's scores, an output's preview, charts across a pipeline's runs, runs side by side.
import { api, badge, duration, h, message, when } from "./lib.js";

export function formatValue(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(4).replace(/\.?0+$/, "");
  return typeof value === "string" ? value : JSON.stringify(value);
}

// A run's last value of each metric, as a small table.
export function metricsTable(metrics) {
  const names = Object.keys(metrics || {});
  if (!names.length) return h("p", { class: "empty" }, "This run recorded no metrics.");
  return h("table", { class: "metrics" },
    h("thead", {}, h("tr", {}, h("th", {}, "Metric"), h("th", {}, "Value"))),
    h("tbody", {}, names.map((name) => h("tr", { "data-metric": name }, h("td", {}, name), h("td", { class: "num" }, formatValue(metrics[name]))))));
}

// What the runner saw of an output when it stored it: the web tier never loads the artifact itself.
// Small previews show inline; tables, JSON and long texts open from a one-line summary.
export function previewView(preview) {
  if (!preview) return h("span", { class: "muted" }, "no preview");
  const box = h("div", { class: "preview", "data-kind": preview.kind });
  const folded = (summary, ...content) => box.append(h("details", {}, h("summary", {}, summary), ...content));
  if (preview.kind === "number") box.append(h("code", {}, formatValue(preview.value)));
  else if (preview.kind === "array") box.append(h("code", {}, `shape (${preview.shape.join(", ")}) · ${preview.dtype}`));
  else if (preview.kind === "text" && preview.length <= 80 && !preview.text.includes("\n")) box.append(h("code", {}, preview.text));
  else if (preview.kind === "text") folded(`text · ${preview.length} characters`, h("pre", {}, preview.text));
  else if (preview.kind === "json") folded(`JSON${preview.truncated ? " (truncated)" : ""}`, h("pre", {}, preview.text));
  else if (preview.kind === "table") {
    folded(`table · ${preview.total_rows} rows × ${preview.columns.length} columns`,
      h("div", { class: "scroll" }, h("table", { class: "preview-table" },
        h("thead", {}, h("tr", {}, preview.columns.map((c) => h("th", {}, c)))),
        h("tbody", {}, preview.rows.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell))))))),
      h("span", { class: "muted" }, `first ${preview.rows.length} of ${preview.total_rows} rows`));
  }
  return box;
}

const CHART = { width: 640, height: 180, left: 56, right: 12, top: 12, bottom: 24 };

// One SVG line chart per metric, a point per run (oldest left); each point links to its run.
export function metricCharts(series) {
  const names = Object.keys(series.metrics);
  if (!names.length) return [h("p", { class: "empty" }, "No run of this pipeline recorded metrics yet.")];
  return names.map((name) => h("figure", { class: "card metric-chart", "data-metric": name },
    h("figcaption", {}, name, h("span", { class: "muted" }, ` · ${series.runs.length} runs`)),
    lineChart(series.runs, series.metrics[name], name)));
}

function lineChart(runs, values, name) {
  const { width, height, left, right, top, bottom } = CHART;
  const known = values.filter((v) => v !== null);
  let low = Math.min(...known);
  let high = Math.max(...known);
  if (low === high) { low -= 1; high += 1; }
  const x = (i) => left + (runs.length > 1 ? (i * (width - left - right)) / (runs.length - 1) : (width - left - right) / 2);
  const y = (v) => top + ((high - v) * (height - top - bottom)) / (high - low);
  let path = "";
  values.forEach((v, i) => { if (v !== null) path += `${path ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`; });
  const svg = h("svg:svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": `${name} across ${runs.length} runs` },
    h("svg:line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, class: "axis" }),
    h("svg:line", { x1: left, y1: top, x2: left, y2: height - bottom, class: "axis" }),
    h("svg:text", { x: left - 6, y: top + 4, class: "tick", "text-anchor": "end" }, formatValue(high)),
    h("svg:text", { x: left - 6, y: height - bottom, class: "tick", "text-anchor": "end" }, formatValue(low)),
    h("svg:path", { d: path, class: "line" }));
  // Points only where they can be told apart: past a few hundred runs the line says it all.
  if (runs.length <= 200) {
    values.forEach((v, i) => {
      if (v === null) return;
      svg.append(h("svg:a", { href: `/runs/${runs[i].id}/` }, h("svg:circle", { cx: x(i), cy: y(v), r: 3, class: "point" },
        h("svg:title", {}, `run #${runs[i].id} · ${when(runs[i].created_at)} · ${formatValue(v)}`))));
    });
  }
  return svg;
}

export function loadPipelineMetrics(name, project) {
  return api(`pipelines/${encodeURIComponent(name)}/metrics/`, { query: { limit: 1000, project: project && project.slug } })
    .catch((error) => ({ error }));
}

export async function drawPipelineMetrics(box, request) {
  const series = await request;
  box.replaceChildren(...(series.error
    ? [message("error", `Could not load the metrics: ${series.error.message}`)] : metricCharts(series)));
}

// 2 to 10 runs side by side: parameters, metrics and step durations, rows where they differ marked.
export async function comparePage(root, ids) {
  document.title = "Compare runs · Flowsite";
  let data;
  try {
    data = await api("runs/compare/", { query: { ids: ids.join(",") } });
  } catch (error) {
    root.replaceChildren(h("h1", {}, "Compare runs"), message("error", error.message));
    return;
  }
  const head = h("tr", {}, h("th", {}, ""), data.runs.map((r) => h("th", { "data-run": r.id },
    h("a", { href: `/runs/${r.id}/` }, `#${r.id}`), " ", badge(r.status), h("div", { class: "muted" }, `${r.pipeline} @ ${r.code_version}`),
    h("div", { class: "muted" }, `${when(r.created_at)} · ${duration(r.duration_seconds)}`))));
  const section = (title, rows, show) => [
    h("tr", { class: "section" }, h("th", { colspan: data.runs.length + 1 }, title)),
    rows.length ? rows.map((row) => h("tr", { class: row.differs ? "differs" : "", "data-row": `${title}:${row.name}` },
      h("th", {}, row.name, row.differs ? h("span", { class: "diff-mark", title: "the runs differ" }, " ≠") : ""),
      row.values.map((v, i) => h("td", {}, show(v, row, i)))))
      : h("tr", {}, h("td", { colspan: data.runs.length + 1, class: "empty" }, `No ${title.toLowerCase()}.`)),
  ];
  root.replaceChildren(h("h1", {}, `Compare ${data.runs.length} runs`),
    h("p", { class: "muted" }, "Rows where the runs differ are marked ≠ (step durations: by more than 10%)."),
    h("div", { class: "scroll" }, h("table", { class: "compare" }, h("thead", {}, head), h("tbody", {},
      section("Parameters", data.params, (v) => h("code", {}, formatValue(v))),
      section("Metrics", data.metrics, (v) => formatValue(v)),
      section("Steps", data.steps, (v, row, i) => [duration(v), row.statuses[i] && row.statuses[i] !== "completed" ? [" ", badge(row.statuses[i])] : ""])))));
}
