// The log panel: tails a run's log through the API and shows only the rows in view, so a log of
// 200,000 lines scrolls as lightly as one of 20.
import { link } from "./deeplink.js";
import { api, h, poll } from "./lib.js";

const ROW = 18, OVERSCAN = 30, PAGE = 10000;

export class LogPanel {
  constructor(runId) {
    this.runId = runId;
    this.lines = [];
    this.view = [];
    this.after = 0;
    this.complete = false;
    this.filter = { step: "", stream: "", search: "" };
    this.stepSelect = h("select", { "aria-label": "Step", onchange: (e) => this.setFilter({ step: e.target.value }) }, h("option", { value: "" }, "all steps"));
    this.streamSelect = h("select", { "aria-label": "Stream", onchange: (e) => this.setFilter({ stream: e.target.value }) },
      h("option", { value: "" }, "all streams"), ...["stdout", "stderr", "logging"].map((s) => h("option", { value: s }, s)));
    this.search = h("input", { type: "search", placeholder: "Search the log", "aria-label": "Search the log", oninput: (e) => this.setFilter({ search: e.target.value }) });
    this.follow = h("input", { type: "checkbox", checked: true, "aria-label": "Follow the end" });
    this.count = h("span", { class: "count" }, "");
    this.spacer = h("div", { class: "spacer" });
    this.rows = h("div", { class: "rows" });
    this.viewport = h("div", { class: "log-viewport", tabindex: 0, role: "log", "aria-label": "Run log", onscroll: () => this.render() }, this.spacer, this.rows);
    this.notice = h("div", { class: "log-notice" });
    this.element = h("section", { class: "log-panel" },
      h("div", { class: "log-toolbar" }, this.stepSelect, this.streamSelect, this.search, h("label", {}, this.follow, " follow"), this.count),
      this.notice, this.viewport);
    this.steps = new Set();
  }

  setFilter(change) {
    Object.assign(this.filter, change);
    if (change.step && !this.steps.has(change.step)) {
      this.steps.add(change.step);
      this.stepSelect.append(h("option", { value: change.step }, change.step));
    }
    if (change.step !== undefined) this.stepSelect.value = change.step;
    this.view = [];
    this.extendView(0);
    this.render(true);
  }

  matches(line) {
    const f = this.filter;
    return (!f.step || line.step === f.step) && (!f.stream || line.stream === f.stream) &&
      (!f.search || line.text.toLowerCase().includes(f.search.toLowerCase()));
  }

  extendView(from) {
    for (let i = from; i < this.lines.length; i++) if (this.matches(this.lines[i])) this.view.push(i);
  }

  start() {
    poll(() => this.more(), { notice: this.notice, what: "the log", live: () => this.element.isConnected });
  }

  // The next page of lines; returns when to ask again, or null once the run has ended and all is here.
  async more() {
    const page = await api(`runs/${this.runId}/logs/`, { query: { after: this.after, limit: PAGE } });
    const from = this.lines.length;
    for (const line of page.lines) {
      this.lines.push(line);
      if (line.step && !this.steps.has(line.step)) {
        this.steps.add(line.step);
        this.stepSelect.append(h("option", { value: line.step }, line.step));
      }
    }
    this.after = page.next_after;
    this.complete = page.complete;
    this.extendView(from);
    this.render(page.lines.length > 0);
    if (this.revealing) this.scrollToLinked();
    if (page.complete) return null;
    return page.lines.length < PAGE ? 700 : 0;
  }

  // Opened from a #line= address: stop following the end and bring that line into view once loaded.
  reveal(seq) {
    this.linkedSeq = seq;
    this.revealing = true;
    this.follow.checked = false;
  }

  scrollToLinked() {
    const index = this.view.findIndex((i) => this.lines[i].seq === this.linkedSeq);
    if (index < 0) return;
    this.revealing = false;
    this.viewport.scrollTop = Math.max(0, index * ROW - this.viewport.clientHeight / 2);
    this.render();
    this.rows.querySelector(".line.linked")?.scrollIntoView({ block: "center" });  // and the page to the panel
  }

  // A click on a line marks it and puts its address in the URL.
  pick(seq) {
    this.linkedSeq = seq;
    link({ step: this.filter.step, line: seq });
    this.render();
  }

  render(changed = false) {
    const total = this.view.length;
    this.spacer.style.height = `${total * ROW}px`;
    this.count.textContent = `${total.toLocaleString()} of ${this.lines.length.toLocaleString()} lines${this.complete ? "" : " · live"}`;
    if (changed && this.follow.checked) this.viewport.scrollTop = this.viewport.scrollHeight;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(total, first + Math.ceil((this.viewport.clientHeight || 400) / ROW) + 2 * OVERSCAN);
    const fragment = document.createDocumentFragment();
    for (let v = first; v < last; v++) {
      const line = this.lines[this.view[v]];
      fragment.append(h("div", {
        class: `line ${line.stream} level-${line.level.toLowerCase()}${line.seq === this.linkedSeq ? " linked" : ""}`,
        style: { top: `${v * ROW}px` }, "data-seq": line.seq, onclick: () => this.pick(line.seq),
      },
        h("span", { class: "step" }, line.step || "run"), h("span", { class: "text" }, line.text)));
    }
    this.rows.replaceChildren(fragment);
  }
}
