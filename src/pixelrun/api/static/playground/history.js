// The key's recent runs: thumbnails and status; one selected shows its inputs and outputs
// and can load its settings into the form.

import { el, formatCost, formatMs, formatTime, isLocalImage } from "./dom.js";

export class History {
  constructor({ api, list, detail, onLoad, onError }) {
    this.api = api;
    this.list = list;
    this.detail = detail;
    this.onLoad = onLoad;
    this.onError = onError;
    this.runs = [];
    this.selected = null;
  }

  async refresh() {
    let page;
    try {
      page = await this.api.listRuns(20);
    } catch (error) {
      this.onError(error);
      return;
    }
    this.runs = page.items || [];
    this.render();
    if (this.selected) {
      const again = this.runs.find((r) => r.id === this.selected);
      if (again) this.showDetail(again, false);
    }
  }

  render() {
    this.list.replaceChildren();
    if (!this.runs.length) {
      this.list.append(el("li", { class: "empty" }, "No runs yet for this key."));
      return;
    }
    for (const run of this.runs) {
      const first = run.output && run.output.outputs && run.output.outputs[0];
      const thumb = first && first.url
        ? el("img", { src: first.url, alt: "", loading: "lazy", class: "thumb" })
        : el("span", { class: `thumb thumb-${run.status_code}`, "aria-hidden": "true" }, run.status_code.slice(0, 1).toUpperCase());
      const prompt = (run.input && run.input.prompt) || "";
      const button = el(
        "button",
        {
          type: "button",
          class: "history-item",
          "aria-pressed": String(run.id === this.selected),
          "aria-label": `Run ${formatTime(run.created_at)}, ${run.status_code}: ${prompt.slice(0, 60)}`,
          "data-run-id": run.id,
          onclick: () => this.showDetail(run, true),
        },
        thumb,
        el(
          "span",
          { class: "history-text" },
          el("span", { class: `badge badge-${run.status_code}` }, run.status_code),
          el("span", { class: "history-prompt" }, prompt),
          el("span", { class: "hint" }, formatTime(run.created_at)),
        ),
      );
      this.list.append(el("li", {}, button));
    }
  }

  showDetail(run, moveFocus) {
    this.selected = run.id;
    for (const b of this.list.querySelectorAll(".history-item")) b.setAttribute("aria-pressed", String(b.dataset.runId === run.id));
    const input = run.input || {};
    const pictures = (input.image_urls || []).map((url, i) =>
      isLocalImage(url)
        ? el("figure", { class: "mini" }, el("img", { src: url, alt: `Input Picture ${i + 1}` }), el("figcaption", {}, `Picture ${i + 1}`))
        : el("figure", { class: "mini" }, el("figcaption", {}, `Picture ${i + 1}: `, /^https?:/.test(url) ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url) : url)),
    );
    const settings = Object.entries(input)
      .filter(([k]) => k !== "image_urls" && k !== "prompt")
      .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]);
    const outputs = ((run.output && run.output.outputs) || []).map((o, i) =>
      !o.url ? el("figure", { class: "mini" }, el("figcaption", {}, `Output ${i + 1}: ${o.expired ? "expired" : "no file"}`)) :
      el("figure", { class: "mini" }, el("a", { href: o.url, target: "_blank", rel: "noopener" }, el("img", { src: o.url, alt: `Output ${i + 1} of the selected run` })), el("figcaption", {}, `${o.width}×${o.height}`)),
    );
    const heading = el("h3", { tabindex: "-1" }, `Run ${run.id}`);
    this.detail.replaceChildren(
      heading,
      el("p", {}, el("span", { class: `badge badge-${run.status_code}` }, run.status_code), ` ${run.model_id} · ${formatTime(run.created_at)} · ${formatMs(run.duration_ms)} · ${formatCost(run.cost)}`),
      run.failure_message ? el("p", { class: "failure" }, run.failure_message) : null,
      el("p", { class: "detail-prompt" }, el("strong", {}, "Prompt: "), input.prompt || ""),
      el("div", { class: "minis" }, ...pictures),
      el("dl", { class: "facts" }, ...settings),
      outputs.length ? el("h4", {}, "Outputs") : null,
      el("div", { class: "minis" }, ...outputs),
      el("button", { type: "button", class: "primary", onclick: () => this.onLoad(run) }, "Load settings"),
    );
    this.detail.hidden = false;
    if (moveFocus) heading.focus();
  }
}
