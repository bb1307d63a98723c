// The portal: find out who is signed in, keep the chosen project, and draw the page for the URL.
import { api, h, message, poll } from "./lib.js";
import { comparePage } from "./metrics.js";
import { pipelinePage, pipelinesPage } from "./pipelines.js";
import { runPage } from "./run.js";
import { notificationsPage } from "./notifications.js";
import { runsPage } from "./runs.js";
import { stacksPage } from "./stacks.js";
import { teamPage } from "./team.js";
import { tokensPage } from "./tokens.js";
import { mountZoneSwitch } from "./timezone.js";

const PROJECT_KEY = "flowsite.project";

async function draw(root) {
  const me = await api("me/");
  const switcher = document.getElementById("project-switcher");
  const stored = localStorage.getItem(PROJECT_KEY);
  const project = me.projects.find((p) => p.slug === stored) || me.projects[0] || null;
  switcher.replaceChildren(...(me.projects.length ? me.projects : [{ slug: "", name: "no projects" }])
    .map((p) => h("option", { value: p.slug, selected: project && p.slug === project.slug }, p.name)));
  switcher.onchange = () => {
    localStorage.setItem(PROJECT_KEY, switcher.value);
    location.reload();
  };
  if (project) localStorage.setItem(PROJECT_KEY, project.slug);

  const path = location.pathname;
  const section = path.split("/")[1] || "runs";
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === section));
  if (path === "/" || path === "/runs/") {
    if (path === "/") history.replaceState(null, "", `/runs/${location.search}`);
    if (!project) {
      root.replaceChildren(h("h1", {}, "Runs"), message("info", "You are not in any project yet. Ask a project owner to add you, or create one through the API."));
      return;
    }
    await runsPage(root, me, project);
  } else if (path === "/runs/compare/") {
    await comparePage(root, (new URLSearchParams(location.search).get("ids") || "").split(",").filter(Boolean));
  } else if (/^\/runs\/\d+\/$/.test(path)) {
    await runPage(root, me, Number(path.split("/")[2]));
  } else if (path === "/pipelines/") {
    await pipelinesPage(root, me, project);
  } else if (path.startsWith("/pipelines/")) {
    await pipelinePage(root, me, project, decodeURIComponent(path.split("/")[2]));
  } else if (path === "/notifications/") {
    if (!project) {
      root.replaceChildren(h("h1", {}, "Notifications"), message("info", "You are not in any project yet."));
      return;
    }
    await notificationsPage(root, me, project);
  } else if (path === "/stacks/") {
    await stacksPage(root, me);
  } else if (path === "/team/") {
    await teamPage(root, me, project);
  } else if (path === "/tokens/") {
    await tokensPage(root);
  } else {
    root.replaceChildren(h("h1", {}, "Nothing here"), message("info", "There is no page at this address."));
  }
}

const root = document.getElementById("app");
mountZoneSwitch(document.getElementById("zone-switcher"));
// A page that could not load says why in place of itself, with a Retry.
poll(async () => { await draw(root); return null; }, { notice: root, what: "the page" });
