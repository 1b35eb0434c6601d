"""The playground shows the edit forming (docs/playground.md, docs/api.md#previews): previews
in place of a spinner while the run computes, then the result."""

from __future__ import annotations

from .conftest import Playground
from .test_playground import created_runs, expect, result_image_loaded

# Records, in order, each preview the page showed once its image had decoded, and the
# moment the result image appeared.
WATCH = """() => {
  window.__seen = [];
  const preview = document.getElementById("live-preview-image");
  preview.addEventListener("load", () => {
    if (!document.getElementById("live-preview").hidden && preview.naturalWidth > 0) {
      window.__seen.push(`preview ${preview.naturalWidth}x${preview.naturalHeight}`);
    }
  });
  new MutationObserver(() => {
    if (document.querySelector('img[alt="Result 1"]') && !window.__seen.includes("result")) {
      window.__seen.push("result");
    }
  }).observe(document.body, { subtree: true, childList: true });
}"""


def test_a_30_step_run_shows_previews_before_the_result(playground: Playground) -> None:
    page = playground.page
    bodies = created_runs(playground)
    playground.open()
    expect(page.locator("#field-preview_every")).to_have_value("1")  # the page asks for previews
    playground.add_pictures((60, 120, 220))
    page.get_by_role("textbox", name="Prompt", exact=True).fill("watch it form")
    playground.set_field("num_inference_steps", "30")
    playground.set_field("image_size", "512x512")
    page.evaluate(WATCH)
    page.get_by_role("button", name="Run", exact=True).click()
    result_image_loaded(playground, "Result 1")
    expect(page.locator("#run-status")).to_contain_text("Succeeded")
    expect(page.locator("#live-preview")).to_be_hidden()  # the result took its place
    seen = page.evaluate("window.__seen")
    previews = [entry for entry in seen if entry.startswith("preview")]
    assert previews and seen.index(previews[0]) < seen.index("result"), seen
    assert all(entry == "preview 64x64" for entry in previews), seen  # 512 px / 8
    assert bodies[0]["input"]["preview_every"] == 1
