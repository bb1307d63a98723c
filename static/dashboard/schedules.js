// A pipeline's schedules in the chosen project: each with its next fire times, pause / resume and delete
// for members, and a form to add one. Times are shown as the API gives them, in the schedule's own zone.
import { ApiError, api, canRun, confirmDialog, h, message } from "./lib.js";

export function schedulesSection(pipeline, stacks, me, project) {
  const box = h("section", { class: "schedules", "aria-label": "Schedules" });
  if (!project) {
    box.append(message("info", "Choose a project (top right) to see its schedules."));
    return box;
  }
  const member = canRun(me, project.slug);
  const list = h("div");
  const notice = h("div");
  box.append(notice, list, member && stacks.length ? scheduleForm(pipeline, stacks, project, refresh) : null);
  refresh();
  return box;

  async function refresh() {
    try {
      const schedules = await api("schedules/", { query: { project: project.slug, pipeline: pipeline.name } });
      list.replaceChildren(schedules.length ? table(schedules) : h("p", { class: "empty" }, `No schedules of ${pipeline.name} in ${project.name}.`));
    } catch (error) {
      notice.replaceChildren(message("error", `Could not load the schedules: ${error.message}`));
    }
  }

  function table(schedules) {
    return h("div", { class: "scroll" }, h("table", { class: "schedules" },
      h("thead", {}, h("tr", {}, ["Schedule", "Stack", "Parameters", "Policies", "Next fire times", "State", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, schedules.map(row))));
  }

  function row(s) {
    return h("tr", { "data-schedule": s.id, id: `schedule-${s.id}` },
      h("td", {}, h("code", { class: "cron" }, s.cron), h("div", { class: "muted" }, s.timezone)),
      h("td", {}, s.stack),
      h("td", {}, h("code", { class: "params" }, JSON.stringify(s.params))),
      h("td", { class: "muted" }, `overlap: ${s.overlap} · catch-up: ${s.catch_up}`),
      h("td", {}, s.paused ? h("span", { class: "muted" }, "none while paused")
        : h("ol", { class: "fire-times" }, s.next_fire_times.map((t) => h("li", {}, h("time", { datetime: t }, shown(t)))))),
      h("td", {}, h("span", { class: `badge ${s.paused ? "status-skipped" : "status-completed"}`, "data-state": s.paused ? "paused" : "active" }, s.paused ? "paused" : "active")),
      h("td", { class: "actions" }, member ? [
        h("button", { type: "button", class: "secondary", "data-action": s.paused ? "resume" : "pause", onclick: () => act(s, s.paused ? "resume" : "pause") }, s.paused ? "Resume" : "Pause"),
        h("button", { type: "button", class: "danger", "data-action": "delete", onclick: () => remove(s) }, "Delete"),
      ] : null));
  }

  async function act(schedule, verb) {
    try {
      await api(`schedules/${schedule.id}/${verb}/`, { method: "POST" });
      notice.replaceChildren();
    } catch (error) {
      notice.replaceChildren(message("error", error.message));
    }
    refresh();
  }

  async function remove(schedule) {
    if (!(await confirmDialog(`Delete the schedule "${schedule.cron}" (${schedule.timezone})? Runs it started are kept.`, "Delete schedule"))) return;
    try {
      await api(`schedules/${schedule.id}/`, { method: "DELETE" });
    } catch (error) {
      notice.replaceChildren(message("error", error.message));
    }
    refresh();
  }
}

// "2026-12-01T09:00:00+01:00" as "2026-12-01 09:00:00 +01:00": the schedule's wall time, with its offset.
function shown(iso) {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  return match ? `${match[1]} ${match[2]} ${match[3] === "Z" ? "UTC" : match[3]}` : iso;
}

function scheduleForm(pipeline, stacks, project, done) {
  const errors = {};
  const field = (name, label, control, hint) => {
    errors[name] = h("span", { class: "field-error", role: "alert" });
    return h("label", { class: "param" }, h("span", { class: "name" }, label), control, hint ? h("span", { class: "muted" }, hint) : null, errors[name]);
  };
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const defaults = Object.fromEntries(pipeline.parameters.filter((p) => !p.required && p.default !== null && p.default !== undefined).map((p) => [p.name, p.default]));
  const general = h("div");
  const form = h("form", { class: "schedule-form card", novalidate: true, onsubmit: submit },
    h("h3", {}, "Add a schedule"),
    field("cron", "cron", h("input", { type: "text", name: "cron", placeholder: "0 9 * * 1-5", required: true }),
      "minute hour day month weekday; a sixth field gives seconds"),
    field("timezone", "time zone", h("input", { type: "text", name: "timezone", value: browserZone }), "an IANA name, such as Europe/Paris or UTC"),
    field("stack", "stack", h("select", { name: "stack" }, stacks.map((s) => h("option", { value: s.name, selected: s.is_default }, `${s.name} (${s.kind})`)))),
    field("params", "parameters", h("textarea", { name: "params", rows: 2, placeholder: JSON.stringify(defaults) }),
      "a JSON object; the pipeline's defaults fill the rest"),
    field("overlap", "overlap", h("select", { name: "overlap" },
      h("option", { value: "skip" }, "skip while the previous run is active"), h("option", { value: "queue" }, "queue behind the previous run"))),
    field("catch_up", "catch-up", h("select", { name: "catch_up" },
      h("option", { value: "skip" }, "skip fire times missed in downtime"), h("option", { value: "once" }, "run once for all missed"))),
    general, h("button", { type: "submit" }, `Schedule in ${project.name}`));

  async function submit(event) {
    event.preventDefault();
    for (const el of Object.values(errors)) el.textContent = "";
    general.replaceChildren();
    const raw = form.elements.params.value.trim();
    let params = {};
    if (raw) {
      try { params = JSON.parse(raw); } catch { errors.params.textContent = "must be valid JSON"; return; }
    }
    const body = {
      project: project.slug, pipeline: pipeline.name, cron: form.elements.cron.value, timezone: form.elements.timezone.value,
      stack: form.elements.stack.value, params, overlap: form.elements.overlap.value, catch_up: form.elements.catch_up.value,
    };
    try {
      await api("schedules/", { method: "POST", body });
      form.reset();
      form.elements.timezone.value = browserZone;
      done();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      let placed = false;
      for (const [name, reason] of Object.entries(error.fields)) {
        const target = errors[name.split(".")[0]];
        if (target) { target.textContent = name.includes(".") ? `${name}: ${reason}` : reason; placed = true; }
      }
      if (!placed) general.replaceChildren(message("error", error.message));
    }
  }
  return form;
}
