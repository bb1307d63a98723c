// The pipeline's DAG as SVG, laid out in layers by dagre (vendored, MIT; see vendor/dagre/) so that edges
// cross as little as it can manage and are routed around the steps rather than under them; execution
// groups are boxes around their steps; a wide graph zooms with the + / − buttons and scrolls in its box.
import dagre from "./vendor/dagre/dagre.esm.js";
import { h } from "./lib.js";

const NODE_W = 150, NODE_H = 34, PAD = 8;
const ZOOMS = [0.5, 0.67, 0.8, 1, 1.25, 1.5, 2];
// The zoom chosen per graph, kept across the run page's redraws.
const zoomOf = new Map();

export function layout(dag) {
  const graph = new dagre.graphlib.Graph({ compound: true, multigraph: false });
  graph.setGraph({ rankdir: "LR", nodesep: 16, ranksep: 56, edgesep: 12, marginx: 0, marginy: 0 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of dag.nodes) {
    graph.setNode(node.name, { width: NODE_W, height: NODE_H });
    if (node.group) {
      const box = `group:${node.group}`;
      if (!graph.hasNode(box)) graph.setNode(box, { label: node.group, paddingTop: 18 });
      graph.setParent(node.name, box);
    }
  }
  for (const [from, to] of dag.edges || []) if (graph.hasNode(from) && graph.hasNode(to)) graph.setEdge(from, to);
  dagre.layout(graph);
  const box = (n) => ({ x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height });
  return {
    nodes: new Map(dag.nodes.map((n) => [n.name, box(graph.node(n.name))])),
    groups: graph.nodes().filter((id) => id.startsWith("group:")).map((id) => ({ name: id.slice(6), ...box(graph.node(id)) })),
    edges: graph.edges().map((e) => ({ from: e.v, to: e.w, points: graph.edge(e).points })),
    width: Math.max(graph.graph().width || 0, NODE_W),
    height: Math.max(graph.graph().height || 0, NODE_H),
  };
}

// A smooth path through dagre's points (a Catmull-Rom spline as cubic Béziers): it passes through every
// point dagre chose, so it keeps to the channel dagre routed between the steps.
function curve(points) {
  const p = points;
  let d = `M${p[0].x},${p[0].y}`;
  for (let i = 0; i < p.length - 1; i++) {
    const a = p[i - 1] || p[i], b = p[i], c = p[i + 1], e = p[i + 2] || c;
    d += ` C${b.x + (c.x - a.x) / 6},${b.y + (c.y - a.y) / 6} ${c.x - (e.x - b.x) / 6},${c.y - (e.y - b.y) / 6} ${c.x},${c.y}`;
  }
  return d;
}

// statuses: Map of step name -> {status, cached, skipped}; onSelect(name) when a step is clicked.
export function drawDag(dag, statuses = new Map(), onSelect = null, { compact = false, selected = null } = {}) {
  const nodes = dag.nodes || [];
  if (!nodes.length) return h("p", { class: "empty" }, "This pipeline has no steps.");
  const { nodes: boxes, groups, edges, width, height } = layout({ ...dag, nodes });
  const key = nodes.map((n) => n.name).join("\n");
  const svg = h("svg:svg", {
    // A picture, unless its steps are buttons: then a group of them (an image's parts cannot be focused).
    class: compact ? "dag compact" : "dag", role: onSelect ? "group" : "img", "aria-label": "Pipeline graph",
    viewBox: `${-PAD} ${-PAD} ${width + 2 * PAD} ${height + 2 * PAD}`,
  });
  const zoomTo = (zoom) => {
    zoomOf.set(key, zoom);
    svg.setAttribute("width", Math.round((width + 2 * PAD) * zoom));
    svg.dataset.zoom = zoom;
  };
  zoomTo(compact ? 1 : zoomOf.get(key) || 1);
  for (const group of groups) {
    svg.append(h("svg:g", { class: "group", "data-group": group.name },
      h("svg:rect", { x: group.x, y: group.y, width: group.width, height: group.height, rx: 8 }),
      h("svg:text", { x: group.x + 8, y: group.y + 13 }, group.name)));
  }
  for (const edge of edges) {
    svg.append(h("svg:path", { class: "edge", d: curve(edge.points), "data-from": edge.from, "data-to": edge.to }));
  }
  for (const node of nodes) {
    const p = boxes.get(node.name);
    const info = statuses.get(node.name) || {};
    const status = info.status || "pending";
    const group = h("svg:g", {
      class: `node status-${status}${info.cached ? " cached" : ""}${info.skipped ? " skipped" : ""}${onSelect ? " clickable" : ""}${node.name === selected ? " selected" : ""}`,
      transform: `translate(${p.x},${p.y})`, "data-step": node.name, "data-status": status, tabindex: onSelect ? 0 : null,
      role: onSelect ? "button" : null, "aria-label": onSelect ? `${node.name}: ${status}` : null,
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
  if (compact) return svg;
  const step = (direction) => () => {
    const index = ZOOMS.indexOf(Number(svg.dataset.zoom));
    zoomTo(ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, index + direction))]);
  };
  return h("div", { class: "dag-zoomable" },
    h("div", { class: "zoom", role: "group", "aria-label": "Zoom the graph" },
      h("button", { type: "button", class: "secondary", "aria-label": "Zoom out", "data-zoom": "out", onclick: step(-1) }, "−"),
      h("button", { type: "button", class: "secondary", "aria-label": "Zoom in", "data-zoom": "in", onclick: step(1) }, "+")),
    h("div", { class: "dag-scroll", tabindex: 0, role: "region", "aria-label": "Pipeline graph, scrollable" }, svg));
}
