// A timeline of a run's steps: one bar per step from its start to its end (or now), by status.
import { h, duration } from "./lib.js";

const ROW = 24, LABEL = 170, WIDTH = 760;

export function drawGantt(run, steps, attempts = new Map()) {
  const started = steps.filter((s) => s.started_at);
  if (!started.length) return h("p", { class: "empty" }, "No step has started yet.");
  const t0 = Math.min(...started.map((s) => Date.parse(s.started_at)));
  const now = Date.now();
  const end = (s) => (s.finished_at ? Date.parse(s.finished_at) : now);
  const t1 = Math.max(...started.map(end), t0 + 1000);
  const scale = (t) => LABEL + ((t - t0) / (t1 - t0)) * (WIDTH - LABEL - 10);
  const svg = h("svg:svg", { class: "gantt", role: "img", "aria-label": "Step timeline", viewBox: `0 0 ${WIDTH} ${steps.length * ROW + 20}`, width: WIDTH });
  steps.forEach((step, row) => {
    const y = row * ROW;
    svg.append(h("svg:text", { class: "label", x: 0, y: y + 16 }, step.name.length > 22 ? `${step.name.slice(0, 21)}…` : step.name));
    if (!step.started_at) return;
    const x = scale(Date.parse(step.started_at));
    const w = Math.max(2, scale(end(step)) - x);
    const tries = attempts.get(step.name) || step.attempts || 0;
    const bar = h("svg:rect", { class: `bar status-${step.status}${step.cached ? " cached" : ""}`, x, y: y + 4, width: w, height: ROW - 8, rx: 3, "data-step": step.name, "data-status": step.status });
    bar.append(h("svg:title", {}, `${step.name}: ${step.status}, ${duration(step.duration_seconds)}${tries > 1 ? `, ${tries} attempts` : ""}${step.cached ? ", from cache" : ""}`));
    svg.append(bar);
    if (tries > 1) svg.append(h("svg:text", { class: "attempts", x: x + w + 4, y: y + 16 }, `×${tries}`));
  });
  svg.append(h("svg:text", { class: "axis", x: LABEL, y: steps.length * ROW + 14 }, "0 s"));
  svg.append(h("svg:text", { class: "axis", x: WIDTH - 60, y: steps.length * ROW + 14 }, duration((t1 - t0) / 1000)));
  return svg;
}
