// Stacks: where runs execute, with their key settings (never secrets) and, for staff who manage stacks, a check.
import { api, h, message, poll } from "./lib.js";

export async function stacksPage(root, me) {
  const stacks = await api("stacks/");
  root.replaceChildren(h("h1", {}, "Stacks"));
  if (!stacks.length) {
    root.append(message("info", me.manages_stacks ? "No stacks yet. Add one in the admin." : "No stack is granted to your projects yet. Ask a staff member to grant one."));
    if (me.manages_stacks) root.append(h("p", {}, h("a", { href: "/admin/stacks/stack/add/" }, "Add a stack in the admin")));
    return;
  }
  const body = h("tbody");
  root.append(h("div", { class: "scroll" }, h("table", { class: "stacks" },
    h("thead", {}, h("tr", {}, ["Name", "Kind", "Granted to", "Settings", "Secrets set", "Status", ""].map((c) => h("th", {}, c)))), body)));
  for (const stack of stacks) {
    const state = h("td", {}, me.manages_stacks ? "checking…" : "–");
    body.append(h("tr", { "data-stack": stack.name },
      h("td", {}, stack.name, stack.is_default ? h("span", { class: "pill" }, "default") : ""),
      h("td", {}, stack.kind),
      h("td", { class: "grants" }, stack.open_to_all_projects ? "every project" : stack.projects.join(", ") || "no project"),
      h("td", {}, h("code", {}, Object.entries(stack.config).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join("  ") || "defaults")),
      h("td", {}, stack.secrets_set.join(", ") || "none"),
      state,
      h("td", {}, me.manages_stacks ? h("a", { href: `/admin/stacks/stack/${stack.id}/change/` }, "edit in admin") : "")));
    if (me.manages_stacks) {
      poll(async () => {
        const r = await api(`stacks/${stack.id}/validate/`, { method: "POST" });
        state.replaceChildren(r.valid ? h("span", { class: "badge status-completed" }, "ready") : h("span", { class: "badge status-failed", title: r.problem }, r.problem));
        return null;
      }, { notice: state, what: `the state of ${stack.name}` });
    }
  }
}
