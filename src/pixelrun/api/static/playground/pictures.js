// The reference images ("Picture 1", "Picture 2", …): added by drop, paste or the file
// picker, uploaded as assets (docs/uploads.md), removable and reorderable with the keyboard.

import { ApiError } from "./api.js";
import { isLocalImage } from "./dom.js";

export const MAX_PICTURES = 4;

let nextId = 1;

// docs/uploads.md: announce, PUT the bytes to the signed URL (no key), confirm. Returns the asset.
async function uploadAsset(api, file) {
  const mimeType = file.type || "application/octet-stream";
  const ticket = await api.post("/v1/asset-uploads", {
    filename: file.name || "pasted-image",
    mime_type: mimeType,
    size_bytes: file.size,
  });
  const put = await fetch(ticket.upload_url, { method: "PUT", headers: { "Content-Type": mimeType }, body: file });
  if (!put.ok) {
    let body = null;
    try {
      body = await put.json();
    } catch {
      body = { message: `Upload failed (HTTP ${put.status}).` };
    }
    throw new ApiError(put.status, body);
  }
  return api.post(`/v1/asset-uploads/${encodeURIComponent(ticket.asset_id)}/confirmations`);
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// A server without the asset routes (404 NOT_FOUND on the route itself) still takes
// images inline as data: URIs (docs/api.md#create-run-request), so the page keeps working against it.
async function referenceFor(api, file) {
  try {
    const asset = await uploadAsset(api, file);
    return { url: asset.url, via: "asset" };
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && error.code === "NOT_FOUND") {
      return { url: await readAsDataUrl(file), via: "inline" };
    }
    throw error;
  }
}

export class Pictures {
  constructor({ api, list, errorSlot, onChange }) {
    this.api = api;
    this.list = list;
    this.errorSlot = errorSlot;
    this.onChange = onChange || (() => {});
    this.items = [];
  }

  get count() {
    return this.items.length;
  }

  // Adds files (images only, up to four in all); returns a message for what was left out.
  add(files) {
    const images = Array.from(files).filter((f) => f.type.startsWith("image/"));
    const skipped = files.length - images.length;
    const room = MAX_PICTURES - this.items.length;
    const taken = images.slice(0, Math.max(room, 0));
    for (const file of taken) {
      const item = { id: nextId++, file, preview: URL.createObjectURL(file), status: "uploading", url: null };
      item.ready = referenceFor(this.api, file).then(
        (ref) => {
          item.url = ref.url;
          item.via = ref.via;
          item.status = "ready";
          this.render();
        },
        (error) => {
          item.status = "error";
          item.error = error.message;
          this.render();
          // Said at once, not only when Run is pressed.
          const position = this.items.indexOf(item);
          if (position >= 0 && this.errorSlot) {
            this.errorSlot.textContent = `Picture ${position + 1} could not be uploaded: ${error.message} Remove it and try again.`;
            this.errorSlot.hidden = false;
          }
        },
      );
      this.items.push(item);
    }
    this.render();
    this.onChange();
    const notes = [];
    if (skipped > 0) notes.push(`${skipped} file(s) skipped: not an image.`);
    if (images.length > taken.length) notes.push(`At most ${MAX_PICTURES} pictures: ${images.length - taken.length} left out.`);
    return notes.join(" ");
  }

  // Pictures from a previous run's input (already uploaded: only their URLs are known).
  loadUrls(urls) {
    this.clear();
    for (const url of urls.slice(0, MAX_PICTURES)) {
      this.items.push({ id: nextId++, file: null, preview: isLocalImage(url) ? url : null, status: "ready", url, ready: Promise.resolve() });
    }
    this.render();
    this.onChange();
  }

  clear() {
    for (const item of this.items) if (item.file) URL.revokeObjectURL(item.preview);
    this.items = [];
    this.render();
  }

  remove(id) {
    const index = this.items.findIndex((i) => i.id === id);
    if (index < 0) return;
    const [item] = this.items.splice(index, 1);
    if (item.file) URL.revokeObjectURL(item.preview);
    this.render();
    this.onChange();
    const buttons = this.list.querySelectorAll("button");
    (buttons[Math.min(index * 3, buttons.length - 1)] || document.getElementById("images")).focus();
  }

  move(id, delta) {
    const index = this.items.findIndex((i) => i.id === id);
    const target = index + delta;
    if (index < 0 || target < 0 || target >= this.items.length) return;
    [this.items[index], this.items[target]] = [this.items[target], this.items[index]];
    this.render();
    const button = this.list.querySelector(`[data-id="${id}"] [data-action="${delta < 0 ? "up" : "down"}"]`);
    const fallback = this.list.querySelector(`[data-id="${id}"] button:not(:disabled)`);
    (button && !button.disabled ? button : fallback).focus();
  }

  // Waits for the uploads; returns the URLs in order or throws with what went wrong.
  async urls() {
    await Promise.all(this.items.map((i) => i.ready));
    const failed = this.items.findIndex((i) => i.status === "error");
    if (failed >= 0) throw new Error(`Picture ${failed + 1} could not be uploaded: ${this.items[failed].error}`);
    return this.items.map((i) => i.url);
  }

  firstPreview() {
    return this.items.length ? this.items[0].preview : null;
  }

  render() {
    this.list.replaceChildren();
    this.items.forEach((item, index) => {
      const name = `Picture ${index + 1}`;
      const li = document.createElement("li");
      li.className = `picture picture-${item.status}`;
      li.dataset.id = String(item.id);
      if (item.preview) {
        const img = document.createElement("img");
        img.src = item.preview;
        img.alt = name;
        li.append(img);
      } else {
        const ph = document.createElement("div");
        ph.className = "picture-placeholder";
        ph.textContent = item.url.startsWith("asset://") ? "stored asset" : "linked image";
        ph.title = item.url;
        li.append(ph);
      }
      const caption = document.createElement("span");
      caption.className = "picture-name";
      const state = item.status === "uploading" ? " (uploading…)" : item.status === "error" ? " (upload failed)" : "";
      caption.textContent = name + state;
      li.append(caption);
      const tools = document.createElement("div");
      tools.className = "picture-tools";
      const button = (action, text, label, disabled, handler) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "icon";
        b.dataset.action = action;
        b.textContent = text;
        b.setAttribute("aria-label", label);
        b.title = label;
        b.disabled = disabled;
        b.addEventListener("click", handler);
        tools.append(b);
      };
      button("up", "↑", `Move ${name} up`, index === 0, () => this.move(item.id, -1));
      button("down", "↓", `Move ${name} down`, index === this.items.length - 1, () => this.move(item.id, 1));
      button("remove", "✕", `Remove ${name}`, false, () => this.remove(item.id));
      li.append(tools);
      this.list.append(li);
    });
  }
}
