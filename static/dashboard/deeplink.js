// Addresses inside a run's page, in the URL's fragment so they can be shared: #step=NAME opens with that
// step picked in the graph and the log filtered to it, #line=SEQ (with or without a step) with that log
// line in view and marked.
export function linked() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { step: params.get("step") || "", line: Number(params.get("line")) || null };
}

export function link({ step = "", line = null }) {
  const params = new URLSearchParams();
  if (step) params.set("step", step);
  if (line) params.set("line", line);
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
}
