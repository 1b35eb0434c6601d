// The result panel: queue position, progress, failure, the outputs and the comparison.

import { el, formatBytes, formatCost, formatMs } from "./dom.js";

const $ = (id) => document.getElementById(id);

const STATUS_TEXT = {
  queued: (run) => `Queued${run.queue_position ? ` — position ${run.queue_position} in the queue` : ""}.`,
  dispatching: () => "A worker took the run and is checking the pictures…",
  running: () => "Running…",
  succeeded: (run) => `Succeeded in ${formatMs(run.duration_ms)}.`,
  failed: () => "Failed.",
  canceled: () => "Canceled.",
};

export class RunView {
  constructor() {
    this.status = $("run-status");
    this.progressWrap = $("progress-wrap");
    this.progress = $("progress");
    this.progressFill = $("progress-fill");
    this.progressText = $("progress-text");
    this.failure = $("failure");
    this.results = $("results");
    this.facts = $("run-facts");
    this.compare = $("compare");
    this.compareBefore = $("compare-before");
    this.compareAfter = $("compare-after");
    this.compareRange = $("compare-range");
    this.compareRange.addEventListener("input", () => this.clip());
    this.preview = $("live-preview");
    this.previewImage = $("live-preview-image");
    this.previewCaption = $("live-preview-caption");
    this.lastStep = null;
    this.lastPreview = null;
  }

  reset(text = "Submitting…") {
    this.status.textContent = text;
    this.progressWrap.hidden = true;
    this.failure.hidden = true;
    this.results.replaceChildren();
    this.facts.hidden = true;
    this.compare.hidden = true;
    this.hidePreview();
    this.lastStep = null;
  }

  // The image forming, shown while the run computes; the result takes its place.
  showPreview({ step, steps, url }) {
    if (this.lastPreview !== null && step < this.lastPreview) return; // an older event, late
    this.lastPreview = step;
    this.previewImage.src = url;
    this.previewCaption.textContent = `Preview after step ${step} of ${steps}`;
    this.preview.hidden = false;
  }

  hidePreview() {
    this.preview.hidden = true;
    this.previewImage.removeAttribute("src");
    this.lastPreview = null;
  }

  showRun(run) {
    const text = STATUS_TEXT[run.status_code];
    this.status.textContent = text ? text(run) : run.status_code;
    this.status.dataset.status = run.status_code;
    if (run.status_code === "running") {
      this.progressWrap.hidden = false;
      if (run.progress) this.showProgress(run.progress);
    } else {
      this.progressWrap.hidden = true;
    }
  }

  showProgress({ step, steps }) {
    if (!steps) return;
    if (this.lastStep !== null && step < this.lastStep) return; // an older event, late
    this.lastStep = step;
    this.progressWrap.hidden = false;
    this.progress.setAttribute("aria-valuemax", String(steps));
    this.progress.setAttribute("aria-valuenow", String(step));
    this.progress.setAttribute("aria-valuetext", `step ${step} of ${steps}`);
    this.progressFill.style.width = `${(100 * step) / steps}%`;
    this.progressText.textContent = `step ${step}/${steps}`;
  }

  // The terminal run: outputs large with download links, facts, comparison or failure.
  showResult(run, beforeUrl) {
    this.showRun(run);
    this.hidePreview();
    if (run.status_code === "failed") {
      this.failure.hidden = false;
      const stage = run.failure_stage_code ? ` (${run.failure_stage_code})` : "";
      this.failure.textContent = `${run.failure_message || "The run failed."}${stage}`;
    }
    if (run.status_code === "canceled" && run.failure_message) {
      this.failure.hidden = false;
      this.failure.textContent = run.failure_message;
    }
    this.renderOutputs(this.results, run);
    this.renderFacts(run);
    const first = run.output && run.output.outputs && run.output.outputs[0];
    if (first && first.url && beforeUrl) {
      this.compareBefore.src = beforeUrl;
      this.compareAfter.src = first.url;
      // The frame takes the result's shape; Picture 1 is fitted inside it.
      if (first.width && first.height) $("compare").querySelector(".compare-frame").style.aspectRatio = `${first.width} / ${first.height}`;
      this.compareRange.value = "50";
      this.clip();
      this.compare.hidden = false;
    }
  }

  renderOutputs(container, run, label = "Result") {
    container.replaceChildren();
    const outputs = (run.output && run.output.outputs) || [];
    outputs.forEach((output, index) => {
      const name = `${label} ${index + 1}`;
      if (!output.url) {
        // The retention janitor deleted the file (`expired`), or it was never stored.
        container.append(el("p", { class: "hint" }, `${name}: ${output.expired ? "expired (deleted by retention)" : "no file"}.`));
        return;
      }
      const ext = (output.content_type || "image/png").split("/")[1] || "png";
      container.append(
        el(
          "figure",
          { class: "result" },
          el("a", { href: output.url, target: "_blank", rel: "noopener" }, el("img", { src: output.url, alt: name, width: output.width, height: output.height })),
          el(
            "figcaption",
            {},
            el("span", {}, `${output.width}×${output.height} · ${formatBytes(output.file_size)}`),
            el("a", { class: "download", href: output.url, download: `pixelrun-${run.id}-${index + 1}.${ext}` }, `Download ${name}`),
          ),
        ),
      );
    });
  }

  renderFacts(run) {
    const out = run.output || {};
    const timing = out.timing || {};
    const rows = [
      ["Run", run.id],
      ["Seed", out.seed ?? "–"],
      ["Inference", formatMs(timing.inference_ms)],
      ["Queue", formatMs(timing.queue_ms)],
      ["Total", formatMs(run.duration_ms)],
      ["Cost", formatCost(run.cost)],
    ];
    this.facts.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k.toLowerCase() }, String(v))]));
    this.facts.hidden = false;
  }

  clip() {
    const v = Number(this.compareRange.value);
    this.compareBefore.style.clipPath = `inset(0 ${100 - v}% 0 0)`;
    $("compare-divider").style.left = `${v}%`;
    this.compareRange.setAttribute("aria-valuetext", `${v}% before`);
  }
}
