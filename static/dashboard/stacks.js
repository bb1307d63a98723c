// Stacks: where runs execute, with their key settings (never secrets) and, for staff, a check.
import { api, h, message } from "./lib.js";

export async function stacksPage(root, me) {
  const stacks = await api("stacks/");
  root.replaceChildren(h("h1", {}, "Stacks"));
  if (!stacks.length) {
    root.append(message("info", me.is_staff ? "No stacks yet. Add one in the admin." : "No stacks yet. Ask a staff member to add one."));
    if (me.is_staff) root.append(h("p", {}, h("a", { href: "/admin/stacks/stack/add/" }, "Add a stack in the admin")));
    return;
  }
  const body = h("tbody");
  root.append(h("div", { class: "scroll" }, h("table", { class: "stacks" },
    h("thead", {}, h("tr", {}, ["Name", "Kind", "Settings", "Secrets set", "Status", ""].map((c) => h("th", {}, c)))), body)));
  for (const stack of stacks) {
    const state = h("td", {}, me.is_staff ? "checking…" : "–");
    body.append(h("tr", { "data-stack": stack.name },
      h("td", {}, stack.name, stack.is_default ? h("span", { class: "pill" }, "default") : ""),
      h("td", {}, stack.kind),
      h("td", {}, h("code", {}, Object.entries(stack.config).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join("  ") || "defaults")),
      h("td", {}, stack.secrets_set.join(", ") || "none"),
      state,
      h("td", {}, me.is_staff ? h("a", { href: `/admin/stacks/stack/${stack.id}/change/` }, "edit in admin") : "")));
    if (me.is_staff) {
      api(`stacks/${stack.id}/validate/`, { method: "POST" })
        .then((r) => state.replaceChildren(r.valid ? h("span", { class: "badge status-completed" }, "ready") : h("span", { class: "badge status-failed", title: r.problem }, r.problem)))
        .catch((e) => state.replaceChildren(e.message));
    }
  }
}
