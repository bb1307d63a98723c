// Notifications: the project's rules, and its recent deliveries with their answers; members resend one.
import { api, badge, canRun, h, message, poll, when } from "./lib.js";

const REFRESH_MS = 3000;

function sendsTo(rule) {
  if (rule.channel === "webhook") return rule.url;
  if (rule.channel === "email") return rule.recipients.join(", ");
  return rule.secrets_set.includes("slack_url") ? "Slack incoming webhook (URL set)" : "Slack (no URL set)";
}

function answer(delivery) {
  if (delivery.response_code !== null) return String(delivery.response_code);
  return delivery.error || delivery.response_excerpt || "–";
}

export async function notificationsPage(root, me, project) {
  root.replaceChildren(h("h1", {}, "Notifications", h("span", { class: "sub" }, ` · ${project.name}`)));
  const rules = await api(`projects/${encodeURIComponent(project.slug)}/notification-rules/`);
  const ruleRows = rules.map((rule) => h("tr", { "data-rule": rule.id },
    h("td", {}, rule.name),
    h("td", {}, rule.events.map((e) => (e === "running_long" ? `running > ${rule.running_minutes} min` : e)).join(", ")),
    h("td", {}, rule.channel),
    h("td", { class: "sends-to" }, sendsTo(rule)),
    h("td", {}, rule.enabled ? "on" : "off")));
  root.append(h("h2", {}, "Rules"),
    rules.length
      ? h("div", { class: "scroll" }, h("table", { class: "rules" },
        h("thead", {}, h("tr", {}, ["Name", "On", "Channel", "Sends to", "Enabled"].map((c) => h("th", {}, c)))), h("tbody", {}, ruleRows)))
      : message("info", "No notification rules yet."),
    h("p", { class: "hint" }, "Project owners add and change rules through the API (",
      h("code", {}, `POST /api/projects/${project.slug}/notification-rules/`), ") or, as staff, in the admin."));

  const body = h("tbody");
  const notice = h("div");
  root.append(h("h2", {}, "Recent deliveries"), notice, h("div", { class: "scroll" }, h("table", { class: "deliveries" },
    h("thead", {}, h("tr", {}, ["Created", "Run", "Event", "Rule", "Status", "Attempts", "Last answer", "Next attempt", ""].map((c) => h("th", {}, c)))), body)));
  const mayResend = canRun(me, project.slug);
  let poller = null;

  async function resend(delivery, button) {
    button.disabled = true;
    try {
      await api(`projects/${encodeURIComponent(project.slug)}/deliveries/${delivery.id}/resend/`, { method: "POST" });
      notice.replaceChildren(message("info", `Delivery ${delivery.id} will be sent again.`));
    } catch (error) {
      notice.replaceChildren(message("error", `Could not resend delivery ${delivery.id}: ${error.message}`));
    }
    poller.refresh();
  }

  async function load() {
    const page = await api(`projects/${encodeURIComponent(project.slug)}/deliveries/`, { query: { page_size: 50 } });
    body.replaceChildren(...page.results.map((d) => {
      const button = mayResend ? h("button", { type: "button", class: "secondary" }, "Resend") : "";
      if (button) button.addEventListener("click", () => resend(d, button));
      return h("tr", { "data-delivery": d.id },
        h("td", {}, when(d.created_at)),
        h("td", {}, h("a", { href: `/runs/${d.run}/` }, `#${d.run}`)),
        h("td", {}, d.event.replace("_", " ")),
        h("td", {}, d.rule_name, h("span", { class: "pill" }, d.channel)),
        h("td", { class: "status" }, badge(d.status)),
        h("td", { class: "attempts" }, String(d.attempts)),
        h("td", { class: "answer", title: d.response_excerpt }, answer(d)),
        h("td", {}, d.status === "pending" ? when(d.next_attempt_at) : "–"),
        h("td", {}, button));
    }));
    if (!page.results.length) body.replaceChildren(h("tr", {}, h("td", { colspan: 9 }, "No deliveries yet: they appear when a run ends as a rule asks.")));
    // While something is on its way, follow it.
    return page.results.some((d) => d.status === "pending") ? REFRESH_MS : null;
  }
  poller = poll(load, { notice, what: "the deliveries", live: () => root.isConnected });
}
