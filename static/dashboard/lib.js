// Shared helpers: safe DOM building (text is never parsed as HTML), the API client, formatting.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(tag.startsWith("svg:") ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag.replace(/^svg:/, ""));
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    // Styles go through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (key === "style") Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
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

export async function api(path, { method = "GET", body, query } = {}) {
  const url = new URL(path.startsWith("http") ? path : `/api/${path}`, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") url.searchParams.append(key, item);
    }
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(url, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new ApiError(401, null);
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const FINAL = new Set(["completed", "failed", "cancelled", "dead"]);
export const ACTIVE = new Set(["queued", "provisioning", "running", "cancelling"]);

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
