// The pipeline's DAG as SVG: steps in columns by depth, coloured by their status in a run.
import { h } from "./lib.js";

const NODE_W = 150, NODE_H = 34, GAP_X = 56, GAP_Y = 16;

export function layout(nodes) {
  const depth = new Map();
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const visit = (name, seen = new Set()) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const node = byName.get(name);
    const d = node && node.upstream.length ? 1 + Math.max(...node.upstream.map((u) => visit(u, seen))) : 0;
    depth.set(name, d);
    return d;
  };
  nodes.forEach((n) => visit(n.name));
  const columns = [];
  for (const node of nodes) (columns[depth.get(node.name)] ||= []).push(node.name);
  const position = new Map();
  columns.forEach((names, col) => names.forEach((name, row) => position.set(name, { x: col * (NODE_W + GAP_X), y: row * (NODE_H + GAP_Y) })));
  const width = columns.length * (NODE_W + GAP_X) - GAP_X;
  const height = Math.max(...columns.map((c) => c.length)) * (NODE_H + GAP_Y) - GAP_Y;
  return { position, width: Math.max(width, NODE_W), height: Math.max(height, NODE_H) };
}

// statuses: Map of step name -> {status, cached, skipped}; onSelect(name) when a step is clicked.
export function drawDag(dag, statuses = new Map(), onSelect = null, { compact = false } = {}) {
  const nodes = dag.nodes || [];
  if (!nodes.length) return h("p", { class: "empty" }, "This pipeline has no steps.");
  const { position, width, height } = layout(nodes);
  const pad = 8;
  const svg = h("svg:svg", {
    class: compact ? "dag compact" : "dag", role: "img", "aria-label": "Pipeline graph",
    viewBox: `${-pad} ${-pad} ${width + 2 * pad} ${height + 2 * pad}`,
    width: width + 2 * pad,
  });
  for (const [from, to] of dag.edges || []) {
    const a = position.get(from), b = position.get(to);
    if (!a || !b) continue;
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mid = (x1 + x2) / 2;
    svg.append(h("svg:path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` }));
  }
  for (const node of nodes) {
    const p = position.get(node.name);
    const info = statuses.get(node.name) || {};
    const status = info.status || "pending";
    const group = h("svg:g", {
      class: `node status-${status}${info.cached ? " cached" : ""}${info.skipped ? " skipped" : ""}${onSelect ? " clickable" : ""}`,
      transform: `translate(${p.x},${p.y})`, "data-step": node.name, "data-status": status, tabindex: onSelect ? 0 : null,
    });
    group.append(
      h("svg:rect", { width: NODE_W, height: NODE_H, rx: 6 }),
      h("svg:text", { x: 10, y: NODE_H / 2 + 4 }, node.name.length > 19 ? `${node.name.slice(0, 18)}…` : node.name),
      h("svg:title", {}, `${node.name}: ${status}${info.cached ? " (cached)" : ""}${node.group ? ` · group ${node.group}` : ""}`),
    );
    if (onSelect) {
      group.addEventListener("click", () => onSelect(node.name));
      group.addEventListener("keydown", (e) => { if (e.key === "Enter") onSelect(node.name); });
    }
    svg.append(group);
  }
  return svg;
}
