// Shared helpers: safe DOM building (text is never parsed as HTML), the API client, formatting.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(tag.startsWith("svg:") ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag.replace(/^svg:/, ""));
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    // Styles go through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (key === "style") Object.assign(el.style, value);
    // Links can come from API data: only web addresses and paths become links (never `javascript:`).
    else if (key === "href" && !safeHref(value)) continue;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function safeHref(value) {
  try {
    return ["http:", "https:"].includes(new URL(String(value), location.origin).protocol);
  } catch {
    return false;
  }
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `the server answered ${status}`);
    this.status = status;
    this.fields = (body && body.error && body.error.fields) || {};
    this.body = body;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// What api() answers to a conditional request whose ETag still holds (a 304).
export const NOT_MODIFIED = Symbol("not modified");

// `conditional`: an object whose `etag` is sent as If-None-Match and replaced by the answer's ETag.
export async function api(path, { method = "GET", body, query, conditional } = {}) {
  const url = new URL(path.startsWith("http") ? path : `/api/${path}`, location.origin);
  // Absolute addresses come from API data (a page's `next`): only this site's are followed.
  if (url.origin !== location.origin) throw new ApiError(0, { error: { message: `refused to follow ${url.origin}` } });
  for (const [key, value] of Object.entries(query || {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") url.searchParams.append(key, item);
    }
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (conditional && conditional.etag) headers["If-None-Match"] = conditional.etag;
  let response;
  try {
    response = await fetch(url, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
      // The page keeps its own copy: the browser's cache would only turn the server's 304 back into a 200.
      cache: conditional ? "no-store" : "default",
    });
  } catch {
    // fetch rejects only when no answer came: the network, not our code.
    throw new ApiError(0, { error: { message: "the server could not be reached" } });
  }
  if (response.status === 401) {
    location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new ApiError(401, null);
  }
  if (conditional && response.status === 304) return NOT_MODIFIED;
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  if (conditional) conditional.etag = response.headers.get("ETag");
  return data;
}

// Answers that waiting will not change: signed out, no longer allowed, or gone.
const FINAL_ANSWERS = new Map([
  [401, "you are signed out"],
  [403, "you are no longer allowed to see it"],
  [404, "it no longer exists, or you are no longer in its project"],
]);
const BACKOFF_MS = [1000, 2000, 5000, 10000, 30000];

// The one way the portal fetches and refreshes. `step` loads and draws, and returns how many ms to wait
// before it runs again, or null when there is nothing more to wait for (so a plain load is a step that
// returns null). A failure is shown in `notice` with a Retry button; others are retried with a growing
// wait, and 401, 403 and 404 stop the polling and say why. It stops too once `live()` turns false
// (the page was left). Returns { refresh, stop }: refresh runs the step now.
export function poll(step, { notice, what, live = () => true }) {
  let timer = null, running = false, again = false, stopped = false, failures = 0, shown = null;

  function show(text) {
    shown = message("error", text, " ", h("button", { type: "button", class: "secondary retry", onclick: refresh }, "Retry"));
    notice.replaceChildren(shown);
  }

  async function tick() {
    timer = null;
    if (stopped || !live()) return;
    if (running) { again = true; return; }
    running = true;
    let wait = null;
    try {
      wait = await step();
      failures = 0;
      // Only the message goes: the step may have drawn into the same box since.
      if (shown) { shown.remove(); shown = null; }
    } catch (error) {
      // A fault in the page's own code is no network trouble: retrying would hide it.
      if (!(error instanceof ApiError)) throw error;
      if (FINAL_ANSWERS.has(error.status)) {
        stopped = true;
        show(`Stopped updating ${what}: ${FINAL_ANSWERS.get(error.status)} (the server answered ${error.status}).`);
      } else {
        wait = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)];
        failures += 1;
        show(`Could not load ${what}: ${error.message}. Trying again in ${Math.round(wait / 1000)} s.`);
      }
    } finally {
      running = false;
    }
    if (again) { again = false; wait = 0; }
    if (wait !== null && wait !== undefined && !stopped) timer = setTimeout(tick, wait);
  }

  function refresh() {
    stopped = false;
    clearTimeout(timer);
    tick();
  }

  tick();
  return { refresh, stop() { stopped = true; clearTimeout(timer); } };
}

export const FINAL = new Set(["completed", "failed", "cancelled", "dead"]);

export function badge(status) {
  return h("span", { class: `badge status-${status}`, "data-status": status }, status);
}

// A run's steps by outcome: those that succeeded (ran, or came from the cache) of all, as a bar of
// one segment per outcome and a label naming every outcome but plain success, so that a failed run
// never reads as complete.
const OUTCOMES = ["completed", "cached", "skipped", "failed", "cancelled"];

export function stepsSummary(run) {
  const total = run.steps_total;
  const bar = h("span", { class: "stepbar", "aria-hidden": "true" },
    OUTCOMES.filter((o) => run[`steps_${o}`]).map((o) => h("span", {
      class: `segment outcome-${o}`, "data-outcome": o, style: { width: `${(100 * run[`steps_${o}`]) / total}%` },
    })));
  const others = OUTCOMES.slice(1).filter((o) => run[`steps_${o}`])
    .map((o) => h("span", { class: `outcome outcome-${o}`, "data-outcome": o }, `${run[`steps_${o}`]} ${o}`));
  return h("span", { class: "steps-summary" }, bar,
    h("span", { class: "succeeded" }, `${run.steps_completed + run.steps_cached}/${total}`), ...others);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

// A time with its zone, local or UTC as the reader chose (timezone.js).
export { formatTime as when } from "./timezone.js";

export function message(kind, text, ...extra) {
  return h("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text, ...extra);
}

export function canRun(me, projectSlug) {
  const project = me.projects.find((p) => p.slug === projectSlug);
  return Boolean(project && (project.role === "owner" || project.role === "member"));
}

export function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm" },
      h("p", {}, question),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => { dialog.close(); resolve(false); } }, "Keep it"),
        h("button", { type: "button", class: "danger", onclick: () => { dialog.close(); resolve(true); } }, confirmLabel)));
    document.body.append(dialog);
    dialog.addEventListener("close", () => dialog.remove());
    dialog.showModal();
  });
}
