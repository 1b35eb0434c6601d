// The playground: wires the key, the model picker, the form, the run and the history.

import { Api, ApiError, saveKey, savedKey } from "./api.js";
import { History } from "./history.js";
import { Pictures } from "./pictures.js";
import { RunView } from "./run-view.js";
import { SchemaForm } from "./schema-form.js";
import { followRun, isTerminal } from "./stream.js";

const $ = (id) => document.getElementById(id);
const MODEL_STORAGE = "pixelrun.model";

const keyInput = $("api-key");
const modelSelect = $("model");
const alertBox = $("alert");
const runButton = $("run");
const cancelButton = $("cancel");

const api = new Api(() => keyInput.value.trim());
const form = new SchemaForm($("schema-fields"));
const view = new RunView();
const pictures = new Pictures({ api, list: $("picture-list"), errorSlot: $("err-image_urls"), onChange: () => clearFieldError("image_urls") });
const history = new History({ api, list: $("history"), detail: $("history-detail"), onLoad: loadSettings, onError: showError });

let current = null; // {id, controller} of the run being followed

// The page watches the edit form: a preview after every step unless the field says otherwise
// (a preview costs the run well under 1 % of a step: docs/api.md#previews).
const PREVIEW_EVERY = "1";

function askForPreviews() {
  const field = form.fields.get("preview_every");
  if (field && field.input.value.trim() === "") field.input.value = PREVIEW_EVERY;
}

// ---- messages -------------------------------------------------------------------------

function showAlert(message) {
  alertBox.textContent = message;
  alertBox.hidden = false;
}

function clearAlert() {
  alertBox.textContent = "";
  alertBox.hidden = true;
}

function errorSlot(name) {
  return document.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
}

function controlFor(name) {
  return name === "image_urls" ? $("images") : $(name) || $(`field-${name}`);
}

function setFieldError(name, message) {
  const slot = errorSlot(name);
  if (!slot) return false;
  slot.textContent = slot.hidden ? message : `${slot.textContent} ${message}`;
  slot.hidden = false;
  const control = controlFor(name);
  if (control) control.setAttribute("aria-invalid", "true");
  return true;
}

function clearFieldError(name) {
  const slot = errorSlot(name);
  if (slot) {
    slot.hidden = true;
    slot.textContent = "";
  }
  const control = controlFor(name);
  if (control) control.removeAttribute("aria-invalid");
}

function clearFieldErrors() {
  for (const slot of document.querySelectorAll("[data-error-for]")) clearFieldError(slot.dataset.errorFor);
}

// A field name from a 422 `loc`: the first part after "input" that has a place on the page.
function fieldOf(loc) {
  const parts = loc.map(String);
  const start = parts.indexOf("input");
  for (const part of parts.slice(start + 1)) if (errorSlot(part)) return part;
  return null;
}

// 422: each message next to its field, what has no field goes to the alert; others: alert.
function showError(error) {
  if (error instanceof ApiError && error.status === 422 && Array.isArray(error.errors)) {
    const unplaced = [];
    let first = null;
    for (const item of error.errors) {
      const field = fieldOf(item.loc || []);
      if (field && setFieldError(field, item.msg)) first = first || field;
      else unplaced.push(`${(item.loc || []).join(".")}: ${item.msg}`);
    }
    if (unplaced.length) showAlert(unplaced.join("\n"));
    else if (first) showAlert("Some fields need a change: see the messages next to them.");
    if (first) controlFor(first)?.focus();
    return;
  }
  if (error instanceof ApiError && error.status === 401) {
    showAlert(`${error.message} Paste the key that \`pixelrun serve\` printed.`);
    keyInput.setAttribute("aria-invalid", "true");
    return;
  }
  showAlert(error.message || String(error));
}

// ---- key and models -------------------------------------------------------------------

// localStorage can be off (private mode, policies): the page then just forgets.
function remembered(name) {
  try {
    return localStorage.getItem(name);
  } catch {
    return null;
  }
}

function remember(name, value) {
  try {
    localStorage.setItem(name, value);
  } catch {
    // Nothing to do: the choice lasts until the page is closed.
  }
}

async function loadModels() {
  clearAlert();
  keyInput.removeAttribute("aria-invalid");
  if (!keyInput.value.trim()) {
    modelSelect.replaceChildren(new Option("Enter a key to load the models", ""));
    modelSelect.disabled = true;
    return;
  }
  let models;
  try {
    models = await api.listModels();
  } catch (error) {
    showError(error);
    return;
  }
  const wanted = remembered(MODEL_STORAGE);
  modelSelect.replaceChildren(
    ...models.map((m) => new Option(`${m.name}${m.availability && !m.availability.available ? " (no worker)" : ""}`, m.id)),
  );
  modelSelect.disabled = false;
  if (wanted && models.some((m) => m.id === wanted)) modelSelect.value = wanted;
  await loadModel();
  await history.refresh();
}

async function loadModel() {
  const id = modelSelect.value;
  if (!id) return;
  remember(MODEL_STORAGE, id);
  try {
    const model = await api.getModel(id);
    form.render(model.input_schema);
    askForPreviews();
    modelSelect.title = model.description || "";
  } catch (error) {
    showError(error);
  }
}

keyInput.value = savedKey();
keyInput.addEventListener("change", () => {
  saveKey(keyInput.value.trim());
  // On a phone the settings start folded, so the prompt and Run are a short scroll away.
if (window.matchMedia("(max-width: 860px)").matches) $("settings").open = false;

loadModels();
});
$("key-toggle").addEventListener("click", (event) => {
  const show = keyInput.type === "password";
  keyInput.type = show ? "text" : "password";
  event.currentTarget.setAttribute("aria-pressed", String(show));
  event.currentTarget.textContent = show ? "Hide" : "Show";
});
modelSelect.addEventListener("change", loadModel);

// ---- pictures ---------------------------------------------------------------------------

function addFiles(files) {
  if (!files || !files.length) return;
  if (!keyInput.value.trim()) {
    showAlert("Enter the API key first: pictures are uploaded to this server.");
    return;
  }
  clearAlert();
  const note = pictures.add(files);
  if (note) setFieldError("image_urls", note);
}

const dropzone = $("dropzone");
const fileInput = $("images");
fileInput.addEventListener("change", () => {
  addFiles(Array.from(fileInput.files));
  fileInput.value = "";
});
dropzone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropzone.classList.add("dragging");
});
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("dragging"));
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropzone.classList.remove("dragging");
  addFiles(Array.from(event.dataTransfer.files));
});
document.addEventListener("paste", (event) => {
  const files = Array.from(event.clipboardData?.files || []).filter((f) => f.type.startsWith("image/"));
  if (files.length) {
    event.preventDefault();
    addFiles(files);
  }
});

// ---- run --------------------------------------------------------------------------------

function readForm() {
  const problems = [];
  const prompt = $("prompt").value.trim();
  if (!prompt) problems.push({ loc: ["prompt"], msg: "Enter a prompt: say what should change." });
  if (!pictures.count) problems.push({ loc: ["image_urls"], msg: "Add at least one picture (drop, paste or choose a file)." });
  const input = { prompt, ...form.values(problems) };
  const negative = $("negative_prompt").value.trim();
  if (negative) input.negative_prompt = negative;
  return { input, problems };
}

function setRunning(running) {
  runButton.disabled = running;
  cancelButton.disabled = !running;
  runButton.setAttribute("aria-busy", String(running));
}

async function submit(event) {
  event.preventDefault();
  clearAlert();
  clearFieldErrors();
  if (!keyInput.value.trim()) {
    showAlert("Enter the API key first.");
    keyInput.focus();
    return;
  }
  const { input, problems } = readForm();
  if (problems.length) {
    showError(new ApiError(422, { message: "invalid", errors: problems.map((p) => ({ ...p, loc: ["input", ...p.loc] })) }));
    return;
  }
  setRunning(true);
  view.reset("Uploading the pictures…");
  const beforeUrl = pictures.firstPreview();
  let run;
  try {
    input.image_urls = await pictures.urls();
    view.reset();
    run = await api.createRun(modelSelect.value, input);
  } catch (error) {
    view.reset("No run.");
    setRunning(false);
    if (error instanceof ApiError) showError(error);
    else setFieldError("image_urls", error.message);
    return;
  }
  await follow(run, beforeUrl);
}

async function follow(run, beforeUrl) {
  const controller = new AbortController();
  current = { id: run.id, controller };
  view.showRun(run);
  history.refresh();
  let final = run;
  try {
    if (!isTerminal(run)) {
      final = await followRun(api, run.id, {
        // A response that was in flight when Cancel took over is stale: dropped.
        onRun: (r) => {
          if (controller.signal.aborted) return;
          final = r;
          if (!isTerminal(r)) view.showRun(r);
        },
        onProgress: (p) => {
          if (!controller.signal.aborted) view.showProgress(p);
        },
        onPreview: (p) => {
          if (!controller.signal.aborted) view.showPreview(p);
        },
        signal: controller.signal,
      });
    }
  } catch (error) {
    showError(error);
  }
  if (current && current.id === run.id) {
    current = null;
    setRunning(false);
    if (final) view.showResult(final, beforeUrl);
    history.refresh();
  }
}

async function cancel() {
  if (!current) return;
  cancelButton.disabled = true;
  try {
    const run = await api.cancelRun(current.id);
    // The stream delivers the canceled run and ends; a run that finished first shows as is.
    if (isTerminal(run) && current) {
      current.controller.abort();
      current = null;
      setRunning(false);
      view.showResult(run, pictures.firstPreview());
      history.refresh();
    }
  } catch (error) {
    cancelButton.disabled = false;
    showError(error);
  }
}

$("run-form").addEventListener("submit", submit);
cancelButton.addEventListener("click", cancel);
$("prompt").addEventListener("input", () => clearFieldError("prompt"));
$("history-refresh").addEventListener("click", () => history.refresh());
for (const name of ["prompt", "negative_prompt"]) $(name).addEventListener("keydown", (event) => {
  // Ctrl/Cmd+Enter runs from the text boxes.
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("run-form").requestSubmit();
});

// ---- history → form ---------------------------------------------------------------------

async function loadSettings(run) {
  if (modelSelect.value !== run.model_id && [...modelSelect.options].some((o) => o.value === run.model_id)) {
    modelSelect.value = run.model_id;
    await loadModel();
  }
  const input = run.input || {};
  $("prompt").value = input.prompt || "";
  $("negative_prompt").value = input.negative_prompt || "";
  form.load(input);
  askForPreviews();
  pictures.loadUrls(input.image_urls || []);
  clearFieldErrors();
  $("prompt").focus();
}

// On a phone the settings start folded, so the prompt and Run are a short scroll away.
if (window.matchMedia("(max-width: 860px)").matches) $("settings").open = false;

loadModels();
