// One run: header, DAG, timeline, steps, live log, artifacts, history, and cancel / retry.
import { drawDag } from "./dag.js";
import { link, linked } from "./deeplink.js";
import { drawGantt } from "./gantt.js";
import { FINAL, api, badge, canRun, confirmDialog, duration, h, message, poll, stepsSummary, when } from "./lib.js";
import { LogPanel } from "./logs.js";
import { metricsTable, previewView } from "./metrics.js";

const CANCELLABLE = new Set(["queued", "provisioning", "running"]);
const RETRYABLE = new Set(["failed", "cancelled", "dead"]);

export async function runPage(root, me, runId) {
  let run;
  try {
    run = await api(`runs/${runId}/`);
  } catch (error) {
    if (error.status !== 404) throw error;
    root.replaceChildren(h("h1", {}, `Run #${runId}`), message("error", "There is no such run, or it belongs to a project you are not in."));
    return;
  }
  const header = h("section", { class: "run-header" });
  const actions = h("div", { class: "actions" });
  const notice = h("div");
  const problems = h("div");
  const dagBox = h("div", { class: "card dag-box" });
  const ganttBox = h("div", { class: "card" });
  const stepsBody = h("tbody");
  const artifactsBox = h("div");
  const metricsBox = h("div", { class: "metrics-box" });
  const eventsBody = h("tbody");
  const logs = new LogPanel(run.id);
  const start = linked();
  if (start.step) logs.setFilter({ step: start.step });
  if (start.line) logs.reveal(start.line);
  root.replaceChildren(
    h("h1", {}, `Run #${run.id} `, h("span", { id: "run-status" }, badge(run.status))), header, actions, notice, problems,
    h("h2", {}, "Graph"), dagBox,
    h("h2", {}, "Timeline"), ganttBox,
    h("h2", {}, "Steps"), h("div", { class: "scroll" }, h("table", { class: "steps" },
      h("thead", {}, h("tr", {}, ["Step", "Status", "Attempts", "Started", "Duration", "Details"].map((c) => h("th", {}, c)))), stepsBody)),
    h("h2", {}, "Metrics"), metricsBox,
    h("h2", {}, "Log"), logDownloads(run.id), logs.element,
    h("h2", {}, "Artifacts"), artifactsBox,
    h("h2", {}, "History"), h("div", { class: "scroll" }, h("table", { class: "events" },
      h("thead", {}, h("tr", {}, ["When", "Step", "Change", "Why", "Who"].map((c) => h("th", {}, c)))), eventsBody)));

  function draw() {
    document.title = `Run #${run.id} · ${run.pipeline} · Flowsite`;
    document.getElementById("run-status").replaceChildren(badge(run.status));
    const stack = run.remote_console_url
      ? h("span", {}, run.stack, " · ", h("a", { href: run.remote_console_url, target: "_blank", rel: "noopener" }, "Vertex AI console"))
      : run.stack;
    header.replaceChildren(h("dl", { class: "facts" },
      fact("Pipeline", h("a", { href: `/pipelines/${encodeURIComponent(run.pipeline)}/` }, run.pipeline), ` @ ${run.code_version}`),
      fact("Project", run.project), fact("Stack", stack),
      fact("Triggered by", run.triggered_by || "–"), fact("Created", when(run.created_at)),
      fact("Started", when(run.started_at)), fact("Finished", when(run.finished_at)),
      fact("Duration", duration(run.duration_seconds)), fact("Steps", stepsSummary(run)),
      run.cancelled_by || run.cancel_requested_at ? fact("Cancelled by", run.cancelled_by || "–", ` at ${when(run.cancel_requested_at)}`) : null,
      run.retry_of ? fact("Retry of", h("a", { href: `/runs/${run.retry_of}/` }, `#${run.retry_of}`)) : null,
      run.schedule ? fact("Schedule", h("a", { href: `/pipelines/${encodeURIComponent(run.pipeline)}/#schedule-${run.schedule.id}`, id: "run-schedule" },
        `schedule #${run.schedule.id}`), ` for ${when(run.schedule.fire_at)}`) : null,
      fact("Cache", run.cache ? "used where a step's code, inputs and parameters match" : "not used: a fresh run, every step executed"),
      fact("Parameters", h("code", { class: "params" }, JSON.stringify(run.params)))));
    notice.replaceChildren(run.failure_message ? message(run.status === "cancelled" ? "info" : "error", run.failure_message) : "");
    const allowed = canRun(me, run.project);
    // Rebuilt only when they change, so a click is never lost to a refresh.
    const actionsKey = `${allowed}:${run.status}`;
    if (actions.dataset.key !== actionsKey) {
      actions.dataset.key = actionsKey;
      actions.replaceChildren(...[
        allowed && CANCELLABLE.has(run.status) ? h("button", { type: "button", class: "danger", id: "cancel-run", onclick: cancel }, "Cancel run") : null,
        allowed && RETRYABLE.has(run.status) ? h("button", { type: "button", id: "retry-run", onclick: retry }, "Retry from failure") : null,
        allowed ? h("button", { type: "button", class: "secondary", id: "run-again", onclick: runAgain }, "Run again…") : null,
      ].filter(Boolean));
    }
    const statuses = new Map(run.steps.map((s) => [s.name, s]));
    dagBox.replaceChildren(drawDag(run.dag, statuses, (name) => {
      link({ step: name });
      logs.setFilter({ step: name });
      draw();
    }, { selected: logs.filter.step }));
    ganttBox.replaceChildren(drawGantt(run, run.steps));
    stepsBody.replaceChildren(...run.steps.map((s) => h("tr", { "data-step": s.name },
      h("td", {}, s.name), h("td", {}, badge(s.cached ? "cached" : s.status)), h("td", {}, s.attempts || "–"),
      h("td", {}, when(s.started_at)), h("td", {}, duration(s.duration_seconds)),
      stepDetails(s))));
    metricsBox.replaceChildren(metricsTable(run.metrics));
  }

  async function refreshExtras() {
    const [events, artifacts] = await Promise.all([api(`runs/${run.id}/events/`), api(`runs/${run.id}/artifacts/`)]);
    eventsBody.replaceChildren(...events.map((e) => h("tr", {},
      h("td", {}, when(e.at)), h("td", {}, e.step || "run"), h("td", {}, `${e.old_status || "–"} → ${e.new_status}`),
      h("td", {}, e.reason), h("td", {}, e.actor || ""))));
    artifactsBox.replaceChildren(artifacts.length
      ? h("div", { class: "scroll" }, h("table", { class: "artifacts" }, h("thead", {}, h("tr", {}, ["Step", "Name", "Type", "Size", "From", "Preview", ""].map((c) => h("th", {}, c)))),
        h("tbody", {}, artifacts.map((a) => h("tr", { "data-artifact": a.id }, h("td", {}, a.step), h("td", {}, a.name), h("td", {}, a.value_type),
          h("td", {}, size(a.size)),
          h("td", { class: "from" }, a.run === run.id ? "this run" : h("a", { href: `/runs/${a.run}/` }, `run #${a.run} (cached)`)),
          h("td", { class: "preview-cell" }, previewView(a.preview)),
          h("td", {}, h("a", { href: a.download_url, download: "" }, "download")))))))
      : h("p", { class: "empty" }, "No artifacts yet."));
  }

  async function cancel() {
    if (!(await confirmDialog(`Cancel run #${run.id} of ${run.pipeline}? Running steps are stopped.`, "Cancel run"))) return;
    try {
      run = { ...run, ...(await api(`runs/${run.id}/cancel/`, { method: "POST" })) };
      draw();
    } catch (error) {
      notice.replaceChildren(message("error", error.message));
    }
  }

  // The trigger form, filled in with this run's parameters and stack, to change before starting.
  function runAgain() {
    location.href = `/pipelines/${encodeURIComponent(run.pipeline)}/?again=${run.id}`;
  }

  async function retry() {
    if (!(await confirmDialog(`Retry run #${run.id}? Steps that completed are reused.`, "Retry"))) return;
    try {
      const created = await api(`runs/${run.id}/retry/`, { method: "POST" });
      location.href = `/runs/${created.id}/`;
    } catch (error) {
      notice.replaceChildren(message("error", error.message));
    }
  }

  draw();
  logs.start();
  let first = true;
  poll(async () => {
    if (!first) run = await api(`runs/${run.id}/`);
    first = false;
    draw();
    await refreshExtras();
    return FINAL.has(run.status) ? null : 1000;
  }, { notice: problems, what: "the run", live: () => root.isConnected });
}

function logDownloads(runId) {
  const link = (format, label) => h("a", { href: `/api/runs/${runId}/logs/download/?file_format=${format}`, download: "", "data-format": format }, label);
  return h("p", { class: "log-downloads" }, link("text", "Download log"), " · ", link("ndjson", "as NDJSON"));
}

// What a step's last column says: a failure's traceback, the run a cached output came from, or why
// a step was skipped or not run (a reason, not an error).
function stepDetails(step) {
  if (step.status === "failed" && step.error) {
    return h("td", { class: "error-cell" }, h("details", {}, h("summary", {}, lastLine(step.error)), h("pre", {}, step.error)));
  }
  if (step.status === "cached") {
    return h("td", { class: "note-cell" }, "served from cache",
      step.cached_from_run ? [" — ", h("a", { href: `/runs/${step.cached_from_run}/` }, `run #${step.cached_from_run}`)] : "");
  }
  const note = (step.error || "").trim();
  return h("td", { class: "note-cell" }, note.includes("\n") ? h("details", {}, h("summary", {}, lastLine(note)), h("pre", {}, note)) : note);
}

function fact(label, ...value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, ...value));
}

function lastLine(text) {
  const lines = text.trim().split("\n");
  return lines[lines.length - 1].slice(0, 160);
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
