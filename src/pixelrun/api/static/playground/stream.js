// Following a run: the SSE stream (docs/api.md#streaming) read with fetch(), because EventSource
// cannot send the Authorization header; polling GET /v1/runs/{id} where there is no stream.

import { ApiError } from "./api.js";

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

export function isTerminal(run) {
  return TERMINAL.has(run.status_code);
}

// Yields {id, event, data} from a text/event-stream body.
export async function* parseEventStream(body, signal) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = { id: null, event: "message", data: [] };
  try {
    while (true) {
      if (signal && signal.aborted) return;
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        const width = buffer.startsWith("\r\n", newline) ? 2 : 1;
        buffer = buffer.slice(newline + width);
        if (line === "") {
          if (event.data.length) yield { id: event.id, event: event.event, data: event.data.join("\n") };
          event = { id: event.id, event: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) continue; // keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") event.data.push(value);
        else if (field === "event") event.event = value;
        else if (field === "id") event.id = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });

async function pollRun(api, runId, { onRun, onProgress, signal }) {
  while (!(signal && signal.aborted)) {
    const run = await api.getRun(runId);
    onRun(run);
    if (run.progress) onProgress(run.progress);
    if (isTerminal(run)) return run;
    await sleep(400, signal);
  }
  return null;
}

// Follows a run to its end; calls onRun with each run object, onProgress with {step, steps}
// and onPreview with {step, steps, url} (docs/api.md#previews). Resumes a dropped stream with
// Last-Event-ID. Returns the terminal run.
export async function followRun(api, runId, { onRun, onProgress, onPreview, signal }) {
  let lastId = null;
  for (let attempt = 0; attempt < 20 && !(signal && signal.aborted); attempt++) {
    const headers = api.headers({ Accept: "text/event-stream" });
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    let response;
    try {
      response = await fetch(`/v1/runs/${encodeURIComponent(runId)}/stream`, { headers, signal });
    } catch (error) {
      if (signal && signal.aborted) return null;
      await sleep(500, signal);
      continue;
    }
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch {
        body = null;
      }
      const error = new ApiError(response.status, body);
      // No stream route on this server: the run object carries progress and queue position.
      if (response.status === 404 && error.code === "NOT_FOUND") return pollRun(api, runId, { onRun, onProgress, signal });
      throw error;
    }
    try {
      for await (const message of parseEventStream(response.body, signal)) {
        if (message.id !== null) lastId = message.id;
        const data = JSON.parse(message.data);
        if (message.event === "status") onRun(data);
        else if (message.event === "progress") onProgress(data);
        else if (message.event === "preview" && onPreview) onPreview(data);
        else if (message.event === "done") {
          onRun(data);
          return data;
        }
      }
    } catch (error) {
      if (signal && signal.aborted) return null;
    }
    // The stream ended without `done` (a proxy or a restart): check, then resume.
    const run = await api.getRun(runId);
    onRun(run);
    if (isTerminal(run)) return run;
    await sleep(300, signal);
  }
  return signal && signal.aborted ? null : pollRun(api, runId, { onRun, onProgress, signal });
}
