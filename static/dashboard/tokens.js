// Your API tokens: create one (its key is shown once), see when each was last used, revoke it.
import { api, confirmDialog, h, message, poll, when } from "./lib.js";

export async function tokensPage(root) {
  const body = h("tbody");
  const notice = h("div");
  const problems = h("div");
  const issued = h("div", { class: "issued", "aria-live": "polite" });
  root.replaceChildren(h("h1", {}, "API tokens"),
    h("p", { class: "muted" }, "A token lets the CLI and scripts act as you: send it as ", h("code", {}, "Authorization: Bearer <key>"),
      " or set ", h("code", {}, "FLOWSITE_TOKEN"), ". Revoke one you no longer use."),
    createForm(), issued, problems, notice,
    h("div", { class: "scroll" }, h("table", { class: "tokens" },
      h("thead", {}, h("tr", {}, ["Name", "Key", "Created", "Last used", "Expires", "State", ""].map((c) => h("th", {}, c)))), body)));

  const tokens = poll(async () => {
    const list = await api("tokens/");
    body.replaceChildren(...(list.length ? list.map(row) : [h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No tokens yet."))]));
    return null;
  }, { notice: problems, what: "your tokens" });

  function state(t) {
    if (t.revoked_at) return `revoked ${when(t.revoked_at)}`;
    if (t.expires_at && Date.parse(t.expires_at) <= Date.now()) return "expired";
    return "active";
  }

  function row(t) {
    const current = state(t);
    return h("tr", { "data-token": t.id },
      h("td", {}, t.name), h("td", {}, h("code", {}, `fs_${t.prefix}_…`)),
      h("td", {}, when(t.created_at)), h("td", {}, t.last_used_at ? when(t.last_used_at) : "never"),
      h("td", {}, t.expires_at ? when(t.expires_at) : "never"),
      h("td", { class: "state" }, current),
      h("td", {}, current === "active" ? h("button", { type: "button", class: "danger", onclick: () => revoke(t) }, "Revoke") : ""));
  }

  async function revoke(t) {
    if (!(await confirmDialog(`Revoke the token “${t.name}”? Anything using it stops working at once.`, "Revoke"))) return;
    notice.replaceChildren();
    try {
      await api(`tokens/${t.id}/`, { method: "DELETE" });
      notice.replaceChildren(message("info", `The token “${t.name}” is revoked.`));
      tokens.refresh();
    } catch (error) {
      notice.replaceChildren(message("error", `Could not revoke “${t.name}”: ${error.message}`));
    }
  }

  function createForm() {
    const name = h("input", { name: "name", maxlength: 100, required: true, placeholder: "e.g. CI on main", "aria-label": "Token name" });
    const expires = h("input", { name: "expires", type: "date", "aria-label": "Expires on" });
    const nameError = h("span", { class: "field-error", role: "alert" });
    const expiresError = h("span", { class: "field-error", role: "alert" });
    const form = h("form", { class: "new-token card", novalidate: true, onsubmit: create },
      h("h2", {}, "Create a token"),
      h("div", { class: "row" }, h("label", {}, "Name ", name), h("label", {}, "Expires on (optional) ", expires), h("button", { type: "submit" }, "Create")),
      nameError, expiresError);

    async function create(event) {
      event.preventDefault();
      nameError.textContent = expiresError.textContent = "";
      issued.replaceChildren();
      const data = { name: name.value.trim() };
      if (!data.name) { nameError.textContent = "Give the token a name that says where it is used."; return; }
      // The token works through the whole day it names, in the reader's time zone.
      if (expires.value) data.expires_at = endOfDay(expires.value);
      try {
        const token = await api("tokens/", { method: "POST", body: data });
        name.value = expires.value = "";
        showKey(token);
        tokens.refresh();
      } catch (error) {
        nameError.textContent = (error.fields && error.fields.name) || "";
        expiresError.textContent = (error.fields && error.fields.expires_at) || "";
        if (!nameError.textContent && !expiresError.textContent) nameError.textContent = error.message;
      }
    }
    return form;
  }

  function showKey(token) {
    const key = h("code", { class: "key" }, token.key);
    const copied = h("span", { class: "muted", role: "status" });
    const copy = () => navigator.clipboard.writeText(token.key)
      .then(() => { copied.textContent = "Copied."; })
      .catch(() => { copied.textContent = "Could not copy: select the key and copy it yourself."; });
    issued.replaceChildren(h("div", { class: "message info", "data-token": token.id },
      h("p", {}, h("strong", {}, `Your new token “${token.name}”. Copy it now: it is not shown again.`)),
      h("p", {}, key, " ", h("button", { type: "button", class: "secondary", onclick: copy }, "Copy"), " ", copied)));
  }
}

function endOfDay(day) {
  const date = new Date(`${day}T00:00:00`);
  date.setDate(date.getDate() + 1);
  return date.toISOString();
}
