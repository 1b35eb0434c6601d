// The API client of the page: every call goes to this server (same origin), with the key.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "HTTP_ERROR";
    this.errors = (body && body.errors) || null;
  }
}

const KEY_STORAGE = "pixelrun.apiKey";

export function savedKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function saveKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage can be off (private mode); the key then lives only in the field.
  }
}

export class Api {
  constructor(getKey) {
    this.getKey = getKey;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.getKey()}`, ...extra };
  }

  async request(method, path, { body, headers, signal } = {}) {
    const init = { method, headers: this.headers(headers), signal };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { message: text.slice(0, 300) };
      }
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  get(path, options) {
    return this.request("GET", path, options);
  }

  post(path, body, options = {}) {
    return this.request("POST", path, { ...options, body });
  }

  listModels() {
    return this.get("/v1/models");
  }

  getModel(id) {
    return this.get(`/v1/models/${id}`);
  }

  createRun(modelId, input) {
    return this.post(`/v1/models/${modelId}/runs`, { input, metadata: { source: "playground" } });
  }

  getRun(id) {
    return this.get(`/v1/runs/${encodeURIComponent(id)}`);
  }

  cancelRun(id) {
    return this.post(`/v1/runs/${encodeURIComponent(id)}/cancellation`);
  }

  listRuns(limit = 20) {
    return this.get(`/v1/runs?limit=${limit}`);
  }
}
