// A project's team: everyone in it sees who is in it and with which role; owners add and remove
// members and change roles. Adding takes an exact username: the portal never lists or suggests users.
import { api, confirmDialog, h, message, poll } from "./lib.js";

const ROLES = ["owner", "member", "viewer"];
const WHAT_ROLES_DO = "Viewers read runs; members also start, cancel and retry them; owners also manage the team.";

export async function teamPage(root, me, project) {
  if (!project) {
    root.replaceChildren(h("h1", {}, "Team"), message("info", "You are not in any project yet. Ask a project owner to add you."));
    return;
  }
  const owner = project.role === "owner";
  const base = `projects/${encodeURIComponent(project.slug)}/members/`;
  const body = h("tbody");
  const notice = h("div");
  const problems = h("div");
  root.replaceChildren(h("h1", {}, "Team", h("span", { class: "sub" }, ` · ${project.name}`)),
    h("p", { class: "muted" }, WHAT_ROLES_DO), problems, notice,
    h("div", { class: "scroll" }, h("table", { class: "members" },
      h("thead", {}, h("tr", {}, ["Member", "Role", ""].map((c) => h("th", {}, c)))), body)),
    owner ? addForm() : message("info", `Only the owners of ${project.name} add and remove members and change roles.`));

  const members = poll(async () => {
    const list = await api(base);
    body.replaceChildren(...list.map(row));
    return null;
  }, { notice: problems, what: "the members" });

  function row(m) {
    const you = m.username === me.username;
    const role = owner
      ? h("select", { "aria-label": `Role of ${m.username}`, onchange: (e) => changeRole(m, e.target) },
        ROLES.map((r) => h("option", { value: r, selected: r === m.role }, r)))
      : m.role;
    return h("tr", { "data-member": m.username },
      h("td", {}, m.username, you ? h("span", { class: "muted" }, " (you)") : ""),
      h("td", {}, role),
      h("td", {}, owner ? h("button", { type: "button", class: "secondary", onclick: () => remove(m) }, you ? "Leave" : "Remove") : ""));
  }

  // After a change to one's own membership the page starts again: what one may do has changed.
  function afterChange(m) {
    if (m.username === me.username) location.reload();
    else members.refresh();
  }

  async function changeRole(m, select) {
    notice.replaceChildren();
    try {
      await api(`${base}${encodeURIComponent(m.username)}/`, { method: "PATCH", body: { role: select.value } });
      notice.replaceChildren(message("info", `${m.username} is now ${select.value === "owner" ? "an" : "a"} ${select.value}.`));
      afterChange(m);
    } catch (error) {
      select.value = m.role;
      notice.replaceChildren(message("error", `Could not change the role of ${m.username}: ${error.message}`));
    }
  }

  async function remove(m) {
    const question = m.username === me.username
      ? `Leave ${project.name}? You will no longer see its runs.`
      : `Remove ${m.username} from ${project.name}? They will no longer see its runs.`;
    if (!(await confirmDialog(question, m.username === me.username ? "Leave" : "Remove"))) return;
    notice.replaceChildren();
    try {
      await api(`${base}${encodeURIComponent(m.username)}/`, { method: "DELETE" });
      notice.replaceChildren(message("info", `${m.username} was removed from ${project.name}.`));
      afterChange(m);
    } catch (error) {
      notice.replaceChildren(message("error", `Could not remove ${m.username}: ${error.message}`));
    }
  }

  function addForm() {
    const username = h("input", { name: "username", required: true, autocomplete: "off", maxlength: 150, "aria-label": "Username" });
    const role = h("select", { name: "role", "aria-label": "Role" }, ROLES.map((r) => h("option", { value: r, selected: r === "member" }, r)));
    const fieldError = h("span", { class: "field-error", role: "alert" });
    const form = h("form", { class: "add-member card", novalidate: true, onsubmit: add },
      h("h2", {}, "Add a member"),
      h("p", { class: "muted" }, "They need an account on this Flowsite already; type their exact username."),
      h("div", { class: "row" }, h("label", {}, "Username ", username), h("label", {}, "Role ", role), h("button", { type: "submit" }, "Add")),
      fieldError);

    async function add(event) {
      event.preventDefault();
      fieldError.textContent = "";
      notice.replaceChildren();
      const name = username.value.trim();
      if (!name) { fieldError.textContent = "Type a username."; return; }
      try {
        const added = await api(base, { method: "POST", body: { username: name, role: role.value } });
        username.value = "";
        notice.replaceChildren(message("info", `${added.username} was added as ${added.role === "owner" ? "an" : "a"} ${added.role}.`));
        members.refresh();
      } catch (error) {
        fieldError.textContent = (error.fields && (error.fields.username || error.fields.role)) || error.message;
      }
    }
    return form;
  }
}
