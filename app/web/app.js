// The service's page: plain JS, no build step. Talks to the same /v1 API as every client.
"use strict";

const $ = (selector) => document.querySelector(selector);
const TERMINAL = ["succeeded", "failed", "canceled"];
const state = { key: localStorage.getItem("v2v.key") || "", models: [], samples: {}, watching: null, urls: [] };

function authHeaders() {
  return state.key ? { Authorization: "Bearer " + state.key } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (!response.ok) {
    let error = { code: "http_" + response.status, message: response.statusText };
    try { error = (await response.json()).error || error; } catch (_) { /* not JSON */ }
    throw Object.assign(new Error(error.code + ": " + error.message), error);
  }
  return response;
}

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function currentModel() {
  return state.models.find((m) => m.name === $("#model").value);
}

function objectUrl(blob) {
  const url = URL.createObjectURL(blob);
  state.urls.push(url);
  return url;
}

function clearUrls() {
  for (const url of state.urls) URL.revokeObjectURL(url);
  state.urls = [];
}

// ---- key and models -------------------------------------------------------------------------------------------

function saveKey() {
  state.key = $("#key").value.trim();
  localStorage.setItem("v2v.key", state.key);
  $("#key-state").textContent = state.key ? "saved in this browser" : "";
  refreshJobs();
}

async function loadModels() {
  const [models, samples] = await Promise.all([
    api("/v1/models").then((r) => r.json()),
    fetch("/v1/samples").then((r) => (r.ok ? r.json() : { samples: {} })),
  ]);
  state.models = models.models;
  state.samples = samples.samples;
  const select = $("#model");
  select.replaceChildren(...state.models.map((m) => element("option", { value: m.name, text: `${m.name} (${m.kind})` })));
  renderForm();
}

function renderForm() {
  const model = currentModel();
  if (!model) return;
  const kind = model.kind;
  $("#model-kind").textContent = kind;
  $("#model-description").textContent = model.description;
  $("#model-note").hidden = !model.note;
  $("#model-note").textContent = model.note || "";
  $("#video-field").hidden = kind === "generate";
  $("#video-label").textContent = kind === "predict" ? "Context video or image" : `Label video (${model.inputs.labels ? model.inputs.labels.type : "labels"})`;
  $("#refs-field").hidden = !(kind === "translate" && model.inputs.references);
  $("#truth-field").hidden = kind !== "predict";
  $("#options-help").textContent = optionsHelp(model);
  $("#try-sample").disabled = !(state.samples[model.name] || kind === "generate");
}

// What the options box takes for this model: the shared output options, its kind's options with their ranges and
// defaults (the card's `inputs`), and the family's own options.
function optionsHelp(model) {
  const range = (name, r) => `${name} ${r.min}..${r.max}` + (r.default != null ? ` (default ${r.default})` : "");
  const values = (list) =>
    list.length > 6 ? `${list.length} values: ${list[0]} .. ${list[list.length - 1]}` : list.join(" / ");
  const inputs = model.inputs;
  const help = ["fps", "max_frames", "seed"];
  if (model.kind === "predict") {
    help.push(range("num_samples", inputs.num_samples), range("horizon", inputs.horizon));
    for (const [name, list] of Object.entries(inputs.attributes || {})) help.push(`attributes.${name}: ${values(list)}`);
  } else if (model.kind === "generate") {
    help.push(range("num_samples", inputs.num_samples), range("num_frames", inputs.num_frames));
    if (inputs.classes.length) help.push(`${inputs.class_option || "class"}: ${values(inputs.classes)}`);
    for (const seed of inputs.seeds) help.push(`${seed}_seed`);
    help.push("truncation 0..1 (default 1; lower: steadier, less varied)");
  }
  for (const [name, spec] of Object.entries(model.options || {})) help.push(range(name, spec));
  return help.join(", ");
}

// ---- submit ---------------------------------------------------------------------------------------------------

async function sampleBlob(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error("cannot load the sample " + url);
  return response.blob();
}

async function submit(useSample) {
  $("#form-error").textContent = "";
  const model = currentModel();
  const form = new FormData();
  form.append("model", model.name);
  const options = $("#options").value.trim();
  if (options && options !== "{}") form.append("options", options);
  const inputs = { video: null, references: [], reference_labels: [], truth: null };
  try {
    if (useSample && model.kind !== "generate") {
      const sample = state.samples[model.name];
      for (const field of ["video", "truth", "references", "reference_labels"]) {
        for (const url of [].concat(sample[field] || [])) {
          const blob = await sampleBlob(url);
          form.append(field, blob, url.split("/").pop());
          if (Array.isArray(inputs[field])) inputs[field].push(url); else inputs[field] = url;
        }
      }
    } else if (!useSample) {
      const pick = (id, field) => {
        for (const file of $(id).files) {
          form.append(field, file, file.name);
          const url = objectUrl(file);
          if (Array.isArray(inputs[field])) inputs[field].push(url); else inputs[field] = url;
        }
      };
      if (model.kind !== "generate") pick("#video", "video");
      if (!$("#refs-field").hidden) { pick("#references", "references"); pick("#reference-labels", "reference_labels"); }
      if (model.kind === "predict") pick("#truth", "truth");
    }
    const job = await (await api("/v1/jobs", { method: "POST", body: form })).json();
    showJob(job, inputs);
    refreshJobs();
  } catch (error) {
    $("#form-error").textContent = error.message;
  }
}

// ---- one job: inputs, live progress, results ------------------------------------------------------------------

function showInputs(inputs) {
  const pane = $("#inputs");
  pane.replaceChildren();
  $("#input-pane").hidden = !inputs || !(inputs.video || inputs.references.length);
  if (!inputs) return;
  if (inputs.video) pane.append(element("video", { src: inputs.video, controls: "", muted: "", loop: "", autoplay: "", playsinline: "", class: "input-video" }));
  inputs.references.forEach((url, i) => {
    pane.append(element("img", { src: url, alt: "reference " + i, title: "reference " + i }));
    if (inputs.reference_labels[i]) pane.append(element("img", { src: inputs.reference_labels[i], alt: "its labels" }));
  });
  if (inputs.truth) pane.append(element("p", { text: "true future:" }), element("video", { src: inputs.truth, controls: "", muted: "" }));
}

function showProgress(job) {
  $("#status").textContent = job.status;
  const { frames_done: done, frames_total: total } = job.progress;
  $("#progress").max = Math.max(1, total);
  $("#progress").value = done;
  const eta = job.eta_s ? `, about ${Math.ceil(job.eta_s)} s left` : "";
  $("#progress-text").textContent = `${done} / ${total} frames${eta}`;
  $("#job-error").textContent = job.error ? `${job.error.code}: ${job.error.message}` : "";
}

async function showResults(job) {
  const results = $("#results");
  results.replaceChildren();
  results.classList.toggle("grid", job.samples > 1);
  for (let i = 0; i < job.samples; i++) {
    const blob = await (await api(`/v1/jobs/${job.id}/result?sample=${i}`)).blob();
    const video = element("video", { src: objectUrl(blob), controls: "", muted: "", loop: "", autoplay: "", playsinline: "", class: "result-video", "data-sample": String(i) });
    video.muted = true;
    results.append(video);
    video.play().catch(() => {});
  }
  const report = job.report && Object.keys(job.report).length ? job.report : null;
  $("#report").textContent = report && report.best_sample !== undefined ? `best sample: ${report.best_sample}` : "";
}

function showJob(job, inputs) {
  if (state.watching) state.watching.abort();
  clearUrls();
  $("#job-view").hidden = false;
  $("#job-id").textContent = job.id;
  $("#results").replaceChildren();
  showInputs(inputs);
  showProgress(job);
  if (TERMINAL.includes(job.status)) {
    if (job.status === "succeeded") showResults(job);
  } else {
    watch(job.id);
  }
}

async function watch(jobId) {
  const controller = new AbortController();
  state.watching = controller;
  try {
    const response = await api(`/v1/jobs/${jobId}/events`, { signal: controller.signal, headers: { Accept: "text/event-stream" } });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trim());
        }
        if (!data.length) continue;
        const payload = JSON.parse(data.join("\n"));
        if (event === "error") { $("#job-error").textContent = payload.error.message; return; }
        showProgress(payload);
        if (event === "done") {
          refreshJobs();
          if (payload.status === "succeeded") await showResults(payload);
          return;
        }
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") $("#job-error").textContent = error.message;
  }
}

// ---- the key's jobs -------------------------------------------------------------------------------------------

async function refreshJobs() {
  const body = $("#jobs tbody");
  if (!state.key) { body.replaceChildren(); return; }
  try {
    const { jobs } = await (await api("/v1/jobs?limit=50")).json();
    body.replaceChildren(...jobs.map((job) => element("tr", { "data-job": job.id }, [
      element("td", {}, [element("code", { text: job.id.slice(0, 12) })]),
      element("td", { text: job.model }),
      element("td", { text: job.status }),
      element("td", { text: `${job.progress.frames_done}/${job.progress.frames_total}` }),
      element("td", {}, [
        element("button", { type: "button", class: "secondary", text: "view", onclick: () => showJob(job, null) }),
        element("button", { type: "button", class: "secondary", text: "cancel", onclick: () => act(job.id, "cancel") }),
        element("button", { type: "button", class: "secondary", text: "delete", onclick: () => act(job.id, "delete") }),
      ]),
    ])));
  } catch (error) {
    $("#key-state").textContent = error.code === "unauthorized" ? "this key is not valid" : error.message;
  }
}

async function act(jobId, action) {
  if (action === "cancel") await api(`/v1/jobs/${jobId}/cancel`, { method: "POST" });
  else await api(`/v1/jobs/${jobId}`, { method: "DELETE" });
  if ($("#job-id").textContent === jobId && action === "delete") $("#job-view").hidden = true;
  refreshJobs();
}

// ---- start ----------------------------------------------------------------------------------------------------

$("#key").value = state.key;
$("#key-state").textContent = state.key ? "saved in this browser" : "paste your key";
$("#save-key").addEventListener("click", saveKey);
$("#model").addEventListener("change", renderForm);
$("#try-sample").addEventListener("click", () => submit(true));
$("#submit").addEventListener("click", () => submit(false));
$("#refresh-jobs").addEventListener("click", refreshJobs);
loadModels().catch((error) => { $("#form-error").textContent = error.message; });
refreshJobs();
