/* stylize studio: the page. Vanilla JS, no build step, nothing from the internet.
 * The HTTP API it talks to is docs/studio-api.md; every request is same-origin and authenticated by
 * the cookie the server set when the page was opened with ?token=. */
"use strict";

(() => {
  // ---------------------------------------------------------------- helpers
  const $ = (selector, root = document) => root.querySelector(selector);
  const STORE_KEY = "stylize-studio-ui";
  const MAX_COMPARE = 4;
  const DEBOUNCE_MS = 250;
  const UNSTYLED = "~unstyled";
  const MIX = "~mix"; // the grid's row of the selected style mixed with another: shown beside its two parts

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs = {}) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    return node;
  }

  /** A number for a URL or a label: at most 2 decimals, no trailing zeros. */
  const num = (x) => String(Math.round(Number(x) * 100) / 100);
  const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
  const oneLine = (text) => {
    const line = String(text ?? "").replace(/\s+/g, " ").trim();
    return line.length > 400 ? line.slice(0, 397) + "…" : line;
  };

  function humanBytes(bytes) {
    const n = Number(bytes);
    if (!Number.isFinite(n)) return "";
    if (n < 1000) return `${n} B`;
    const units = ["kB", "MB", "GB", "TB"];
    let value = n;
    let unit = -1;
    do {
      value /= 1000;
      unit += 1;
    } while (value >= 1000 && unit < units.length - 1);
    return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "";
    let s = Math.max(0, Math.round(Number(seconds)));
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    const two = (x) => String(x).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
  }

  function roughDuration(seconds) {
    const s = Number(seconds);
    if (!Number.isFinite(s)) return "";
    if (s < 60) return `${Math.max(1, Math.round(s))} s`;
    if (s < 3600) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  function debounce(fn, ms) {
    let timer = 0;
    const wrapped = (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
    wrapped.cancel = () => clearTimeout(timer);
    return wrapped;
  }

  // ---------------------------------------------------------------- the server
  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  /** fetch() JSON; any failure becomes an ApiError whose message is one line for #message. */
  async function api(path, { method = "GET", json, form } = {}) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers["Content-Type"] = "application/json";
    } else if (form) {
      init.body = form;
    }
    const where = path.split("?")[0];
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(`the studio server is not answering (${method} ${where}); is "stylize studio" still running?`, 0);
    }
    const text = await response.text().catch(() => "");
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const said = body && typeof body.error === "string" ? body.error : null;
      let message = said || `${method} ${where}: ${response.status} ${response.statusText}`.trim();
      if (!said && response.status === 403) message = "the studio refused the request (403): open the address that \"stylize studio\" printed, with its ?token=";
      if (!said && response.status === 413) message = "the upload is too large (413): send fewer or smaller images";
      throw new ApiError(message, response.status);
    }
    if (body === null) throw new ApiError(`${method} ${where}: the server's answer is not JSON`, response.status);
    return body;
  }

  // ---------------------------------------------------------------- page state
  const S = {
    server: null, // the last /api/state
    styles: [],
    faces: [], // [{id, label, url, added}]
    source: "game",
    added: [], // uploaded portraits (u.. ids) shown beside the source's faces
    stopped: [], // trainings stopped before their first whole style: [{name, steps, resumable, job}]
    seeds: "",
    count: 8,
    armoured: false,
    compare: [], // style names, 1..4, the grid's rows in order
    selected: null, // the style the reference controls, train and mix work on
    strength: 1,
    keepValues: 1,
    preserve: false,
    scale: 1,
    mix: { on: false, style: null, weight: 0.7 },
    showUnstyled: false,
    cellSize: "fit",
    backdrop: "dark",
    jobs: [],
    started: false,
    serverGone: false, // the last poll found no server: jobs are shown as unknown, the page reconnects
  };
  const defaults = { strength: 1, keepValues: 1, preserve: false, scale: 1 };

  /** The view a link opens (#view=...: the page's choices as base64url JSON), or null. */
  function linkedView() {
    const match = /^#view=([A-Za-z0-9_-]+)$/.exec(location.hash);
    if (!match) return null;
    try {
      const text = new TextDecoder().decode(Uint8Array.from(atob(match[1].replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)));
      const view = JSON.parse(text);
      return view && typeof view === "object" ? view : null;
    } catch {
      return null;
    }
  }

  function loadUI() {
    const linked = linkedView(); // a shared link's view comes before what this browser remembers
    if (linked) return linked;
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch {
      return {};
    }
  }

  function viewState() {
    return {
      source: S.source, seeds: S.seeds, count: S.count, armoured: S.armoured, added: S.added, compare: S.compare,
      selected: S.selected, strength: S.strength, keepValues: S.keepValues, preserve: S.preserve, scale: S.scale, mix: S.mix,
      showUnstyled: S.showUnstyled, cellSize: S.cellSize, backdrop: S.backdrop,
    };
  }

  /** An address that opens this view: the same faces, styles, settings and mix (no token in it). */
  function viewLink() {
    const bytes = new TextEncoder().encode(JSON.stringify(viewState()));
    const text = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    return `${location.origin}${location.pathname}#view=${text}`;
  }

  function saveUI() {
    if (!S.started) return;
    const keep = viewState();
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(keep));
    } catch {
      /* private mode or full: the page works without remembering */
    }
  }

  const styleByName = (name) => S.styles.find((s) => s.name === name) || null;
  const isZero = (name) => styleByName(name)?.kind === "zero";

  // ---------------------------------------------------------------- messages
  const messageBar = $("#message-bar");
  const message = $("#message");
  const notice = $("#notice");
  let messageTimer = 0;
  let noticeTimer = 0;

  function showError(text) {
    const line = oneLine(text);
    if (!line) return;
    message.textContent = line;
    message.title = line;
    messageBar.classList.add("show");
    clearTimeout(messageTimer);
    messageTimer = setTimeout(clearError, 30000);
  }

  function clearError() {
    clearTimeout(messageTimer);
    message.textContent = "";
    message.title = "";
    messageBar.classList.remove("show");
  }

  function showNotice(text) {
    notice.textContent = oneLine(text);
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.textContent = ""), 5000);
  }

  // ---------------------------------------------------------------- undo
  // The page's last actions, newest last: each with a label and what undoes it (a rename renames back and a
  // deletion restores through the API; settings, mixes and faces are put back as they were). Ctrl+Z or the
  // toolbar's Undo takes the newest.
  const MAX_HISTORY = 30;
  const undoStack = []; // (not `history`: that is the browser's)

  function remember(label, undo) {
    const entry = { label, undo };
    undoStack.push(entry);
    if (undoStack.length > MAX_HISTORY) undoStack.shift();
    renderUndo();
    return entry;
  }

  function renderUndo() {
    const button = $("#undo");
    const last = undoStack[undoStack.length - 1];
    button.disabled = !last;
    button.title = last ? `undo: ${last.label} (Ctrl+Z)` : "nothing to undo";
    button.dataset.label = last ? last.label : "";
  }

  async function runUndo(entry) {
    const at = undoStack.indexOf(entry);
    if (at < 0) return; // undone already
    undoStack.splice(at, 1);
    renderUndo();
    try {
      await entry.undo();
      showNotice(`undone: ${entry.label}`);
    } catch (error) {
      showError(`could not undo ${entry.label}: ${error.message}`);
    }
  }

  async function undoLast() {
    commitSettings(); // a slider moved a moment ago is an action of its own
    const entry = undoStack[undoStack.length - 1];
    if (!entry) return showNotice("nothing to undo");
    await runUndo(entry);
  }

  /** A notice with an Undo button (the history's entry), kept for 12 s. */
  function showUndo(text, entry) {
    const button = el("button", { type: "button", class: "undo", text: "Undo" });
    button.addEventListener("click", async () => {
      notice.textContent = "";
      await runUndo(entry);
    });
    notice.replaceChildren(el("span", { text: `${oneLine(text)} ` }), button);
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.textContent = ""), 12000);
  }

  $("#message-close").addEventListener("click", clearError);

  /** Run a POST-like action with its buttons disabled until it settles; errors go to #message. */
  async function inFlight(buttons, action) {
    const list = (Array.isArray(buttons) ? buttons : [buttons]).filter(Boolean);
    if (list.some((b) => b.getAttribute("aria-busy") === "true")) return undefined;
    const before = list.map((b) => b.disabled);
    for (const b of list) {
      b.disabled = true;
      b.setAttribute("aria-busy", "true");
    }
    const shown = message.textContent;
    try {
      const result = await action();
      if (shown && message.textContent === shown) clearError(); // the earlier complaint is stale now
      return result;
    } catch (error) {
      showError(error.message || String(error));
      return undefined;
    } finally {
      list.forEach((b, i) => {
        b.removeAttribute("aria-busy");
        b.disabled = before[i];
      });
      refreshButtons();
    }
  }

  // ---------------------------------------------------------------- faces
  const sourceSelect = $("#face-source");
  const seedsInput = $("#face-seeds");
  const countInput = $("#face-count");
  const armouredBox = $("#face-armoured");
  let facesRequest = 0;

  function faceSources() {
    const f = S.server?.faces || {};
    const out = [];
    if (f.game) out.push(["game", "game faces"]);
    if (f.legacy) out.push(["legacy", "legacy folder"]);
    if (f.uploads) out.push(["uploads", `uploaded portraits (${f.uploads})`]);
    return out;
  }

  function renderSources() {
    const sources = faceSources();
    sourceSelect.replaceChildren(...sources.map(([value, text]) => el("option", { value, text })));
    if (!sources.some(([value]) => value === S.source)) S.source = sources[0]?.[0] || "";
    sourceSelect.value = S.source;
    sourceSelect.disabled = sources.length === 0;
    $("#faces .game-only").hidden = S.source !== "game";
  }

  async function loadFaces() {
    if (!S.source) {
      S.faces = [];
      renderStrip();
      renderGrid();
      showError("no faces to judge on: this studio has no game faces or legacy folder; drop portraits under Faces");
      return;
    }
    const query = new URLSearchParams({ source: S.source });
    if (S.source === "game") {
      query.set("seeds", S.seeds || S.server.faces.default_seeds || "0-7");
      query.set("armoured", S.armoured ? "1" : "0");
    }
    if (S.added.length && S.source !== "uploads") query.set("add", S.added.join(","));
    const mine = ++facesRequest;
    markGridLoading();
    try {
      const answer = await api(`/api/faces?${query}`);
      if (mine !== facesRequest) return;
      S.faces = Array.isArray(answer.faces) ? answer.faces : [];
      if (S.source !== "uploads") S.added = S.added.filter((id) => S.faces.some((f) => f.id === id)); // gone from disk
      saveUI();
      if (Array.isArray(answer.problems) && answer.problems.length) {
        const more = answer.problems.length > 1 ? ` (and ${answer.problems.length - 1} more left out)` : "";
        showError(`left out: ${answer.problems[0]}${more}`);
      }
    } catch (error) {
      if (mine !== facesRequest) return;
      showError(error.message);
    }
    renderStrip();
    renderGrid();
  }

  function renderStrip() {
    $("#face-strip").replaceChildren(
      ...S.faces.map((face, index) => {
        const open = el(
          "button",
          { type: "button", class: "open", title: `${face.label}: full size`, "aria-label": `open ${face.label} full size`, onclick: () => openFace(index, null) },
          el("img", { src: face.url, alt: "", loading: "lazy" }),
        );
        if (!face.added) return open;
        // an uploaded portrait beside the source's faces: named by its file, removable one by one
        return el(
          "span",
          { class: "added", dataset: { face: face.id }, title: face.label },
          open,
          el("span", { class: "added-name", text: face.label }),
          el("button", { type: "button", class: "remove", text: "✕", title: `remove ${face.label} from the faces`, "aria-label": `remove ${face.label}`, onclick: () => removeAdded(face.id) }),
        );
      }),
    );
  }

  /** What the faces panel shows: put back by an undo. */
  const faceView = () => ({ source: S.source, seeds: S.seeds, armoured: S.armoured, added: [...S.added] });

  function restoreFaces(view) {
    Object.assign(S, { source: view.source, seeds: view.seeds, armoured: view.armoured, added: [...view.added] });
    seedsInput.value = S.seeds;
    armouredBox.checked = S.armoured;
    renderSources();
    return loadFaces();
  }

  /** Change the faces (``change`` mutates S), remembered for undo as ``label``. */
  function changeFaces(label, change) {
    const before = faceView();
    change();
    if (JSON.stringify(before) !== JSON.stringify(faceView())) remember(label, () => restoreFaces(before));
    return loadFaces();
  }

  function removeAdded(id) {
    const face = S.faces.find((f) => f.id === id);
    changeFaces(`remove ${face ? face.label : "a portrait"}`, () => (S.added = S.added.filter((a) => a !== id)));
  }

  function randomSeeds(count) {
    const seeds = new Set();
    while (seeds.size < count) seeds.add(Math.floor(Math.random() * 100000));
    return [...seeds].join(",");
  }

  function faceLimits() {
    const f = S.server?.faces || {};
    return { min: Number(f.min) || 4, max: Number(f.max) || 16 };
  }

  sourceSelect.addEventListener("change", () => {
    changeFaces(`faces from ${sourceSelect.value}`, () => (S.source = sourceSelect.value));
    $("#faces .game-only").hidden = S.source !== "game";
  });
  seedsInput.addEventListener("change", () => {
    changeFaces(`seeds ${seedsInput.value.trim()}`, () => (S.seeds = seedsInput.value.trim()));
  });
  seedsInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") seedsInput.dispatchEvent(new Event("change"));
  });
  armouredBox.addEventListener("change", () => {
    changeFaces(armouredBox.checked ? "armoured faces" : "faces without armour", () => (S.armoured = armouredBox.checked));
  });
  countInput.addEventListener("change", () => {
    const { min, max } = faceLimits();
    S.count = clamp(Math.round(Number(countInput.value) || 8), min, max);
    countInput.value = S.count;
    saveUI();
  });
  $("#face-random").addEventListener("click", () => {
    const { min, max } = faceLimits();
    S.count = clamp(Math.round(Number(countInput.value) || 8), min, max);
    countInput.value = S.count;
    const seeds = randomSeeds(S.count);
    seedsInput.value = seeds;
    changeFaces(`random faces ${seeds}`, () => (S.seeds = seeds));
  });

  async function uploadFaces(files) {
    const list = checkFiles(files, "portraits");
    if (!list) return;
    const zone = $("#face-drop");
    const form = new FormData();
    for (const file of list) form.append("files", file, file.name);
    zone.classList.add("busy");
    $(".drop-text", zone).textContent = `sending ${list.length} portrait${list.length > 1 ? "s" : ""}…`;
    await inFlight([$("#face-choose")], async () => {
      const answer = await api("/api/faces", { method: "POST", form });
      const faces = Array.isArray(answer.faces) ? answer.faces : [];
      const dropped = Array.isArray(answer.added) ? answer.added : [];
      S.server.faces.uploads = Math.max(faces.length, Number(S.server.faces.uploads) || 0);
      const many = `${list.length} portrait${list.length > 1 ? "s" : ""}`;
      if (!S.source || S.source === "uploads") {
        S.source = "uploads"; // no game faces or legacy folder to put them beside: the uploads are the faces
        renderSources();
        S.faces = faces.slice(0, faceLimits().max);
        saveUI();
        renderStrip();
        renderGrid();
        showNotice(`${many} added: the grid shows the uploaded portraits`);
        return;
      }
      // beside the faces already chosen (the game's seeds, the legacy folder), each named by its file
      const most = Number(S.server.faces.max_added) || 8;
      await changeFaces(`add ${many}`, () => (S.added = [...new Set([...S.added, ...dropped])].slice(-most)));
      showNotice(`${many} added beside the faces (✕ under a portrait takes it out)`);
    });
    zone.classList.remove("busy");
    $(".drop-text", zone).textContent = "Drop portraits here";
  }

  // ---------------------------------------------------------------- drop zones
  /** The files to send, or null (with a message) when the browser can already tell they will be refused. */
  function checkFiles(files, what) {
    const list = [...(files || [])].filter((f) => f && f.size !== undefined);
    if (!list.length) return null;
    const limits = S.server?.limits || {};
    const most = Number(limits.upload_files) || 8;
    if (list.length > most) {
      showError(`${list.length} ${what}: send at most ${most} at once`);
      return null;
    }
    const bytes = Number(limits.upload_bytes) || 0;
    const big = bytes ? list.find((f) => f.size > bytes) : null;
    if (big) {
      showError(`${big.name}: ${humanBytes(big.size)} is over the ${humanBytes(bytes)} limit for one image; use a smaller file`);
      return null;
    }
    return list;
  }

  function dropZone(zone, onFiles) {
    let depth = 0;
    const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
    zone.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth += 1;
      zone.classList.add("over");
    });
    zone.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = zone.classList.contains("busy") ? "none" : "copy";
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("over");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      depth = 0;
      zone.classList.remove("over");
      if (zone.classList.contains("busy")) return;
      onFiles(event.dataTransfer?.files);
    });
  }

  // A file dropped anywhere else must not navigate away from the studio.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  dropZone($("#face-drop"), uploadFaces);
  $("#face-choose").addEventListener("click", () => $("#face-files").click());
  $("#face-files").addEventListener("change", (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    uploadFaces(files);
  });

  // ---------------------------------------------------------------- references
  const refDrop = $("#drop");
  const refName = $("#ref-name");

  async function uploadReferences(files) {
    const list = checkFiles(files, "reference images");
    if (!list) return;
    const form = new FormData();
    for (const file of list) form.append("files", file, file.name);
    const name = refName.value.trim();
    if (name) form.append("name", name);
    refDrop.classList.add("busy");
    $("#drop-text").textContent = `reading ${list.length} image${list.length > 1 ? "s" : ""}…`;
    await inFlight([$("#ref-choose")], async () => {
      const answer = await api("/api/references", { method: "POST", form });
      const style = answer.style;
      if (!style || !style.name) throw new ApiError("POST /api/references: the answer names no style", 200);
      upsertStyle(style);
      selectStyle(style.name);
      refName.value = "";
      showNotice(`style ${style.name} made from ${list.length} image${list.length > 1 ? "s" : ""}`);
    });
    refDrop.classList.remove("busy");
    renderDropZone();
  }

  function renderDropZone() {
    const style = styleByName(S.selected);
    const thumbs = $("#drop-thumbs");
    if (style && style.kind === "zero" && style.refs?.length) {
      thumbs.replaceChildren(...style.refs.slice(0, 6).map((src) => el("img", { src, alt: "" })));
      $("#drop-text").textContent = `${style.name} · drop more images for a new style`;
    } else {
      thumbs.replaceChildren();
      $("#drop-text").textContent = "Drop reference images here";
    }
  }

  dropZone(refDrop, uploadReferences);
  $("#ref-choose").addEventListener("click", () => $("#ref-files").click());
  $("#ref-files").addEventListener("change", (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    uploadReferences(files);
  });

  // ---------------------------------------------------------------- render controls
  const strengthInput = $("#strength");
  const keepValuesInput = $("#keep-values");
  const preserveBox = $("#preserve");
  const scaleInput = $("#scale");
  const mixOn = $("#mix-on");
  const mixStyle = $("#mix-style");
  const mixWeight = $("#mix-weight");
  const liveRender = debounce(() => renderGrid(), DEBOUNCE_MS);

  function controlsChanged() {
    renderControlValues();
    saveUI();
    markGridLoading();
    liveRender();
    clearTimeout(settingsTimer);
    settingsTimer = setTimeout(commitSettings, 600); // a slider's drag is one action, taken when it rests
  }

  // The settings as last remembered: a change of them (a slider at rest, a tick, the mix) is one undo step.
  const settingsOf = () => ({ strength: S.strength, keepValues: S.keepValues, preserve: S.preserve, scale: S.scale, mix: { ...S.mix } });
  let committed = null;
  let settingsTimer = 0;

  function describeSettings(a, b) {
    const out = [];
    if (a.strength !== b.strength) out.push(`strength ${Number(b.strength).toFixed(2)}`);
    if (a.keepValues !== b.keepValues) out.push(`keep values ${Number(b.keepValues).toFixed(2)}`);
    if (a.preserve !== b.preserve) out.push(b.preserve ? "preserve colour" : "own colours");
    if (a.scale !== b.scale) out.push(`stroke scale ${Number(b.scale).toFixed(2)}×`);
    if (a.mix.on !== b.mix.on) out.push(b.mix.on ? "mix on" : "mix off");
    else if (b.mix.on && a.mix.style !== b.mix.style) out.push(`mix with ${b.mix.style}`);
    if (a.mix.weight !== b.mix.weight) out.push(`mix weight ${Math.round(b.mix.weight * 100)}%`);
    return out.join(", ") || "settings";
  }

  function commitSettings() {
    clearTimeout(settingsTimer);
    if (!committed) return;
    const now = settingsOf();
    if (JSON.stringify(now) === JSON.stringify(committed)) return;
    const before = committed;
    committed = now;
    remember(describeSettings(before, now), () => restoreSettings(before));
  }

  function restoreSettings(value) {
    Object.assign(S, { strength: value.strength, keepValues: value.keepValues, preserve: value.preserve, scale: value.scale });
    S.mix = { ...value.mix };
    committed = settingsOf();
    renderControls();
    saveUI();
    markGridLoading();
    renderGrid();
  }

  function renderControlValues() {
    $("#strength-value").textContent = Number(S.strength).toFixed(2);
    $("#keep-values-value").textContent = Number(S.keepValues).toFixed(2);
    $("#scale-value").textContent = `${Number(S.scale).toFixed(2)}×`;
    const a = S.selected || "the selected style";
    const b = S.mix.style || "—";
    const w = Math.round(S.mix.weight * 100);
    $("#mix-a").textContent = a;
    $("#mix-value").textContent = `${w}% ${a} · ${100 - w}% ${b}`;
  }

  function renderControls() {
    strengthInput.value = S.strength;
    keepValuesInput.value = S.keepValues;
    preserveBox.checked = S.preserve;
    scaleInput.value = S.scale;
    renderMix();
    renderControlValues();
  }

  // Why a style cannot be mixed, in words: a reference style is a code the one engine paints from, and
  // codes mix; a trained style is a network of its own, with no code to mix (the engine refuses it).
  const CANNOT_MIX = "a trained network has no style code to mix: only styles made from reference images mix (their codes are blended in one engine)";

  function renderMix() {
    const zeroSelected = isZero(S.selected);
    const others = S.styles.filter((s) => s.name !== S.selected);
    const mixable = others.filter((s) => s.kind === "zero");
    if (!mixable.some((s) => s.name === S.mix.style)) {
      S.mix.style = mixable[0]?.name || null;
      if (committed) committed.mix.style = S.mix.style; // the list changed, not the artist: no undo step
    }
    mixStyle.replaceChildren(
      ...mixable.map((s) => el("option", { value: s.name, text: s.name })),
      ...others
        .filter((s) => s.kind !== "zero")
        .map((s) => el("option", { value: s.name, text: `${s.name} (trained: cannot mix)`, disabled: true, title: CANNOT_MIX })),
    );
    if (S.mix.style) mixStyle.value = S.mix.style;
    const usable = zeroSelected && mixable.length > 0;
    $("#mix").disabled = !usable;
    mixOn.checked = S.mix.on && usable;
    mixStyle.disabled = !usable || !S.mix.on;
    mixWeight.disabled = !usable || !S.mix.on;
    mixWeight.value = S.mix.weight;
    $("#mix-hint").textContent = !S.selected
      ? "Select a style first."
      : !zeroSelected
        ? `${S.selected} cannot be mixed: ${CANNOT_MIX}. Compare it beside other styles in the grid instead.`
        : !mixable.length
          ? "Mixing needs a second reference style: drop more images."
          : others.length > mixable.length
            ? "Trained styles are listed but cannot be mixed: a trained network has no style code to mix."
            : "";
  }

  /** The style spec of a compare row: its name, or the mix when it is the selected style and mix is on. */
  function specFor(name) {
    if (name !== MIX) return name;
    if (!mixActive()) return S.selected;
    const w = Math.round(S.mix.weight * 100) / 100;
    if (w >= 1) return S.selected;
    if (w <= 0) return S.mix.style;
    return `${S.selected}:${num(w)},${S.mix.style}:${num(1 - w)}`;
  }

  function mixActive() {
    return Boolean(S.mix.on && S.mix.style && S.mix.style !== S.selected && isZero(S.selected) && isZero(S.mix.style));
  }

  function rowLabel(name) {
    if (name === UNSTYLED) return "unstyled";
    if (name !== MIX) return name;
    const w = Math.round(S.mix.weight * 100);
    return `${S.selected} ${w}% + ${S.mix.style} ${100 - w}%`;
  }

  strengthInput.addEventListener("input", () => {
    S.strength = Number(strengthInput.value);
    controlsChanged();
  });
  keepValuesInput.addEventListener("input", () => {
    S.keepValues = Number(keepValuesInput.value);
    controlsChanged();
  });
  preserveBox.addEventListener("change", () => {
    S.preserve = preserveBox.checked;
    controlsChanged();
  });
  scaleInput.addEventListener("input", () => {
    S.scale = Number(scaleInput.value);
    controlsChanged();
  });
  mixOn.addEventListener("change", () => {
    S.mix.on = mixOn.checked;
    renderMix();
    controlsChanged();
  });
  mixStyle.addEventListener("change", () => {
    S.mix.style = mixStyle.value;
    controlsChanged();
  });
  mixWeight.addEventListener("input", () => {
    S.mix.weight = Number(mixWeight.value);
    controlsChanged();
  });
  $("#settings-reset").addEventListener("click", () => {
    Object.assign(S, {
      strength: defaults.strength, keepValues: defaults.keepValues, preserve: defaults.preserve, scale: defaults.scale,
    });
    S.mix.on = false;
    S.mix.weight = 0.7;
    renderControls();
    controlsChanged();
  });

  // ---------------------------------------------------------------- styles
  function upsertStyle(style) {
    const index = S.styles.findIndex((s) => s.name === style.name);
    if (index >= 0) S.styles[index] = style;
    else S.styles.push(style);
  }

  function thumbsOf(style, count) {
    const refs = (style?.refs || []).slice(0, count);
    if (!refs.length) return el("span", { class: "thumbs" }, el("span", { class: "none", text: (style?.name || "?")[0].toUpperCase() }));
    return el("span", { class: "thumbs" }, refs.map((src) => el("img", { src, alt: "", loading: "lazy" })));
  }

  // Networks in an artist's words (the method names stay in the tooltip)
  const SIZES = {
    nano: ["game-size", "a tiny network for the game itself (distilled from its teacher)"],
    tiny: ["small", "a small network"],
    magenta: ["full", "the full network"],
    johnson: ["full", "the full network"],
  };

  function sizeBadge(style) {
    if (style.kind === "zero" || !style.arch) return null;
    const [text, title] = SIZES[style.arch] || [style.arch, style.arch];
    return el("span", { class: "badge", text, title: `${title} (${style.arch})` });
  }

  function sizeWord(style) {
    return style.kind === "zero" ? "reference" : (SIZES[style.arch] || [style.arch || "trained"])[0];
  }

  function styleMeta(style) {
    return [
      el("span", { class: `badge ${style.kind}`, text: style.kind === "zero" ? "reference" : "trained" }),
      el("span", { class: "badge", text: style.origin === "bundled" ? "built in" : "yours" }),
      sizeBadge(style),
    ];
  }

  /** A training stopped before it wrote its first whole style: its folder, listed with its steps, to resume
   * (through the job that made it) or delete (to the trash, with undo). */
  function stoppedItem(item) {
    const steps = Number(item.steps) || 0;
    const what = steps ? `interrupted: ${steps} step${steps === 1 ? "" : "s"}` : "interrupted before its first checkpoint";
    const resume = item.job
      ? el("button", { type: "button", class: "resume", text: "Resume", title: `continue training ${item.name} from step ${steps}`, "aria-label": `resume ${item.name}`, onclick: (event) => resumeStopped(item, event.target) })
      : null;
    const hint = item.job
      ? ""
      : item.resumable
        ? `resume it with: stylize train --name ${item.name} --refs <its references> --resume`
        : "nothing to resume: delete it, or train again under this name once deleted";
    return el(
      "li",
      { class: "style-item stopped-item", dataset: { name: item.name, stopped: "1" }, title: hint || null },
      el("span", { class: "cmp" }),
      el(
        "div",
        { class: "pick" },
        el("span", { class: "thumbs" }, el("span", { class: "none" }, el("span", { class: "pause", "aria-hidden": "true" }))),
        el("span", {}, el("span", { class: "style-name", text: item.name }), el("br"), el("span", { class: "style-meta stopped-note", text: what })),
      ),
      el(
        "span",
        { class: "style-actions" },
        resume,
        el("button", { type: "button", class: "delete", title: `delete the folder of ${item.name} (Undo puts it back)`, "aria-label": `delete ${item.name}`, text: "✕", onclick: () => deleteStopped(item.name) }),
      ),
    );
  }

  async function resumeStopped(item, button) {
    await inFlight(button, async () => {
      const answer = await api(`/api/jobs/${encodeURIComponent(item.job)}/resume`, { method: "POST" });
      if (answer.job) upsertJob(answer.job);
      showNotice(`${item.name} resumes from step ${item.steps}`);
      await refreshStyles();
      pollSoon();
    });
  }

  async function deleteStopped(name) {
    try {
      const answer = await api(`/api/stopped/${encodeURIComponent(name)}/delete`, { method: "POST" });
      await refreshStyles();
      const entry = remember(`delete ${name}`, async () => {
        await api(`/api/trash/${encodeURIComponent(answer.undo)}/restore`, { method: "POST" });
        await refreshStyles();
      });
      showUndo(`deleted the stopped training ${name}`, entry);
    } catch (error) {
      showError(error.message);
    }
  }

  function renderStyles() {
    const list = $("#style-list");
    if (!S.styles.length) {
      list.replaceChildren(el("li", { class: "hint", text: "No styles yet: drop reference images above." }));
    } else {
      list.replaceChildren(
        ...S.styles.map((style) => {
          const compared = S.compare.includes(style.name);
          const box = el("input", {
            type: "checkbox",
            checked: compared,
            "aria-label": `compare ${style.name}`,
            onchange: (event) => toggleCompare(style.name, event.target),
          });
          return el(
            "li",
            { class: "style-item", dataset: { name: style.name, kind: style.kind }, "aria-current": style.name === S.selected ? "true" : null },
            el("label", { class: "cmp", title: "compare in the grid" }, box),
            el(
              "button",
              {
                type: "button",
                class: "pick",
                title: `select ${style.name}: the reference controls, mix, train and export use it`,
                "aria-pressed": style.name === S.selected ? "true" : "false",
                onclick: () => selectStyle(style.name),
              },
              thumbsOf(style, 3),
              el("span", {}, el("span", { class: "style-name", text: style.name }), el("br"), el("span", { class: "style-meta" }, styleMeta(style))),
            ),
            style.origin === "user"
              ? el(
                  "span",
                  { class: "style-actions" },
                  el("button", { type: "button", class: "rename", title: `rename ${style.name}`, "aria-label": `rename ${style.name}`, text: "✎", onclick: () => renameStyle(style.name) }),
                  el("button", { type: "button", class: "delete", title: `delete ${style.name} (undo for 12 s)`, "aria-label": `delete ${style.name}`, text: "✕", onclick: () => deleteStyle(style.name) }),
                )
              : null,
          );
        }),
        ...S.stopped.map(stoppedItem),
      );
    }
    renderExportStyles();
    renderTrainSource();
    renderDropZone();
  }

  function renamed(from, to) {
    S.compare = S.compare.map((n) => (n === from ? to : n));
    if (S.selected === from) S.selected = to;
    saveUI();
  }

  async function renameTo(from, to) {
    const answer = await api(`/api/styles/${encodeURIComponent(from)}/rename`, { method: "POST", json: { to } });
    renamed(from, answer.style.name);
    await refreshStyles();
    return answer.style.name;
  }

  async function renameStyle(name) {
    const to = window.prompt(`A new name for ${name} (letters, digits, '_', '-', '.')`, name);
    if (!to || to.trim() === name) return;
    try {
      const now = await renameTo(name, to.trim());
      remember(`rename ${name} to ${now}`, () => renameTo(now, name)); // renamed back through the API
      showNotice(`${name} is now ${now}`);
    } catch (error) {
      showError(error.message);
    }
  }

  async function deleteStyle(name) {
    try {
      const answer = await api(`/api/styles/${encodeURIComponent(name)}/delete`, { method: "POST" });
      const wasCompared = S.compare.includes(name);
      await refreshStyles();
      const entry = remember(`delete ${name}`, async () => {
        await api(`/api/trash/${encodeURIComponent(answer.undo)}/restore`, { method: "POST" });
        await refreshStyles();
        if (wasCompared && styleByName(name)) {
          addToCompare(name);
          saveUI();
          renderStyles();
          renderGrid();
        }
      });
      showUndo(`deleted ${name}`, entry);
    } catch (error) {
      showError(error.message);
    }
  }

  /** Put the grid's rows back as they were (an undo of a tick, an untick or the unstyled row). */
  function restoreRows(rowsBefore) {
    S.compare = rowsBefore.compare.filter((n) => styleByName(n));
    S.showUnstyled = rowsBefore.showUnstyled;
    saveUI();
    renderStyles();
    renderGrid();
  }

  function rememberRows(label) {
    const before = { compare: [...S.compare], showUnstyled: S.showUnstyled };
    return () => remember(label, () => restoreRows(before));
  }

  function toggleCompare(name, box) {
    const done = rememberRows(box.checked ? `compare ${name}` : `take ${name} out of the grid`);
    if (box.checked) {
      if (S.compare.length >= MAX_COMPARE) {
        box.checked = false;
        showError(`the grid compares up to ${MAX_COMPARE} styles: untick one first`);
        return;
      }
      S.compare.push(name);
    } else {
      if (S.compare.length <= 1) {
        box.checked = true;
        showError("the grid needs at least one style: tick another before unticking this one");
        return;
      }
      S.compare = S.compare.filter((n) => n !== name);
    }
    done();
    saveUI();
    renderGrid();
  }

  /** Put ``name`` in the compare set (dropping the oldest other one when it is full). */
  function addToCompare(name) {
    if (S.compare.includes(name)) return;
    if (S.compare.length >= MAX_COMPARE) {
      const drop = S.compare.find((n) => n !== S.selected) || S.compare[0];
      S.compare = S.compare.filter((n) => n !== drop);
      showNotice(`the grid compares up to ${MAX_COMPARE} styles: ${drop} made room for ${name}`);
    }
    S.compare.push(name);
  }

  function selectStyle(name) {
    if (!styleByName(name)) return;
    S.selected = name;
    addToCompare(name);
    if (!exportTouched) $("#export-style").value = name;
    saveUI();
    renderStyles();
    renderMix();
    renderControlValues();
    renderGrid();
    refreshButtons();
  }

  async function refreshStyles() {
    try {
      const state = await api("/api/state");
      S.server = state;
      S.styles = Array.isArray(state.styles) ? state.styles : S.styles;
      S.stopped = Array.isArray(state.stopped) ? state.stopped : [];
      S.compare = S.compare.filter((n) => styleByName(n));
      if (!styleByName(S.selected)) S.selected = S.compare[0] || S.styles[0]?.name || null;
      if (!S.compare.length && S.selected) S.compare = [S.selected];
      renderSources();
      renderStyles();
      renderMix();
      renderGrid();
    } catch (error) {
      showError(error.message);
    }
  }

  // ---------------------------------------------------------------- the grid
  const grid = $("#grid");
  const gridWrap = $("#grid-wrap");
  let cells = new Map(); // "rowKey|faceId" -> cell button
  let structure = "";
  let pass = 0; // one render error message per pass
  let passReported = false;

  function rows() {
    const out = [];
    if (S.showUnstyled) out.push(UNSTYLED);
    for (const name of S.compare.filter((n) => styleByName(n))) {
      out.push(name);
      if (name === S.selected && mixActive()) {
        out.push(MIX); // the mix right under its first part, its second part under it
        if (!S.compare.includes(S.mix.style)) out.push(S.mix.style);
      }
    }
    return out;
  }

  function renderURL(faceId, spec) {
    const query = new URLSearchParams({
      face: faceId,
      style: spec,
      strength: num(S.strength),
      keep_values: num(S.keepValues),
      preserve: S.preserve ? "1" : "0",
      scale: num(S.scale),
    });
    return `/api/render.png?${query}`;
  }

  const cellURL = (row, face) => (row === UNSTYLED ? face.url : renderURL(face.id, specFor(row)));

  function markGridLoading() {
    grid.dataset.state = "loading";
  }

  function makeCell(row, face) {
    const img = el("img", { alt: "", draggable: "false" });
    img.gen = 0;
    const cell = el("button", { type: "button", class: "cell", dataset: { row, face: face.id, state: "loading" } }, img);
    cell.img = img;
    cell.addEventListener("click", () => {
      // a click (or Enter / Space on a focused cell) opens the face full size; A/B is one button away there
      const index = S.faces.findIndex((f) => f.id === cell.dataset.face);
      if (index >= 0) openFace(index, cell.dataset.row);
    });
    return cell;
  }

  function setCellSource(cell, url) {
    const img = cell.img;
    if (img.dataset.url === url && cell.dataset.state !== "failed") return;
    const gen = ++img.gen;
    img.dataset.url = url;
    cell.dataset.state = "loading";
    img.onload = () => {
      if (gen !== img.gen) return;
      img.decode().then(
        () => settle(cell, gen, "ready"),
        () => settle(cell, gen, "ready"), // loaded yet not decodable off-thread: still shown
      );
    };
    img.onerror = () => {
      if (gen !== img.gen) return;
      settle(cell, gen, "failed");
      reportRenderFailure(url);
    };
    img.src = url; // replacing src drops the stale request
  }

  function settle(cell, gen, state) {
    if (gen !== cell.img.gen) return;
    cell.dataset.state = state;
    updateGridState();
  }

  function stopCell(cell) {
    const img = cell.img;
    img.gen += 1;
    img.onload = img.onerror = null;
    img.removeAttribute("src");
    delete img.dataset.url;
  }

  async function reportRenderFailure(url) {
    if (passReported) return;
    passReported = true;
    const mine = pass;
    let text = "a styled face did not load";
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      const body = await response.json().catch(() => null);
      if (body && typeof body.error === "string") text = body.error;
      else if (!response.ok) text = `render: ${response.status} ${response.statusText}`;
      else return; // it loads now: a passing hiccup
    } catch {
      text = 'the studio server is not answering (GET /api/render.png); is "stylize studio" still running?';
    }
    if (mine !== pass) return;
    console.error(`stylize studio: render failed: ${text}`);
    showError(text);
  }

  function updateGridState() {
    const all = [...cells.values()];
    const done = all.filter((c) => c.dataset.state === "ready").length;
    const failed = all.filter((c) => c.dataset.state === "failed").length;
    const loading = all.length - done - failed;
    grid.dataset.decoded = `${done}/${all.length}`;
    grid.dataset.failed = String(failed);
    grid.dataset.state = loading || !S.started ? "loading" : "ready";
    const status = $("#grid-status");
    if (!all.length) status.textContent = "";
    else if (loading) status.textContent = `rendering ${done + failed} of ${all.length}…`;
    else status.textContent = failed ? `${failed} of ${all.length} failed` : `${S.faces.length} faces × ${rows().length} rows`;
  }

  function rowHead(row) {
    if (row === UNSTYLED) {
      return el("div", { class: "row-head unstyled" }, el("span", { class: "style-name", text: "unstyled" }), el("span", { class: "style-meta", text: "the face as it is" }));
    }
    if (row === MIX) {
      return el(
        "div",
        { class: "row-head mix", dataset: { row }, title: rowLabel(row) },
        thumbsOf(styleByName(S.selected), 2),
        el("span", { class: "style-name", text: "mix" }),
        el("span", { class: "mix-note", text: rowLabel(row) }),
      );
    }
    const style = styleByName(row);
    return el(
      "button",
      {
        type: "button",
        class: "row-head",
        title: `select ${row}`,
        dataset: { row },
        "aria-current": row === S.selected ? "true" : null,
        onclick: () => selectStyle(row),
      },
      thumbsOf(style, 3),
      el("span", { class: "style-name", text: row }),
      el("span", { class: "style-meta" }, styleMeta(style).slice(0, 1), sizeBadge(style)),
    );
  }

  function renderGrid() {
    liveRender.cancel();
    pass += 1;
    passReported = false;
    const rowList = rows();
    const faces = S.faces;
    grid.style.setProperty("--cols", String(Math.max(1, faces.length)));
    const old = cells;
    cells = new Map();
    const parts = [];
    if (!faces.length || !rowList.length) {
      parts.push(
        el("div", {
          class: "grid-empty",
          text: !S.started
            ? "Loading…"
            : !rowList.length
              ? "No style to show: drop reference images under Try a reference, or tick a style."
              : "No faces: pick a face source or drop portraits under Faces.",
        }),
      );
    } else {
      parts.push(el("div", { class: "corner" }));
      for (const face of faces) parts.push(el("div", { class: "col-head", title: face.label, text: face.label }));
      for (const row of rowList) {
        parts.push(rowHead(row));
        for (const face of faces) {
          const key = `${row}|${face.id}`;
          let cell = old.get(key);
          if (cell) old.delete(key);
          else cell = makeCell(row, face);
          const label = `${rowLabel(row)}, ${face.label}`;
          cell.setAttribute("aria-label", `${label}: open full size`);
          cell.title = label;
          cell.img.alt = label;
          cells.set(key, cell);
          parts.push(cell);
        }
      }
    }
    for (const cell of old.values()) stopCell(cell);
    const shape = `${rowList.join("\n")}|${faces.map((f) => f.id).join(",")}|${S.selected}|${mixActive()}`;
    if (shape !== structure || !faces.length) grid.replaceChildren(...parts);
    else {
      // same rows and faces: refresh the row heads (mix notes) in place, keep the cells where they are
      const heads = parts.filter((p) => p.classList.contains("row-head"));
      grid.querySelectorAll(".row-head").forEach((node, i) => heads[i] && node.replaceWith(heads[i]));
    }
    structure = shape;
    // the selected style's row (and its mix) asks first: the server paints one face at a time, in order, so
    // a slider's effect shows on the row being worked on before the others
    const first = rowList.filter((row) => row === S.selected || row === MIX);
    for (const row of [...first, ...rowList.filter((row) => !first.includes(row))]) {
      for (const face of faces) setCellSource(cells.get(`${row}|${face.id}`), cellURL(row, face));
    }
    fitCells();
    updateGridState();
    $("#toggle-unstyled").setAttribute("aria-pressed", String(S.showUnstyled));
    if (ab.open) renderAB();
  }

  /** The grid as shown, each face at full size, with its faces' and styles' names and each style's
   * reference, drawn on a canvas from the images already loaded and downloaded as a PNG. */
  async function saveGridPng() {
    const rowList = rows();
    const faces = S.faces;
    const images = rowList.map((row) => faces.map((face) => cells.get(`${row}|${face.id}`)?.img));
    if (!rowList.length || !faces.length) return showError("nothing to save: the grid is empty");
    if (images.flat().some((img) => !img || !img.complete || !img.naturalWidth)) {
      return showError("the grid is still being painted: save it once every face is drawn");
    }
    const cw = Math.max(...images.flat().map((img) => img.naturalWidth));
    const ch = Math.max(...images.flat().map((img) => img.naturalHeight));
    const label = 220, head = 30, gap = 6;
    const canvas = document.createElement("canvas");
    canvas.width = label + faces.length * (cw + gap);
    canvas.height = head + rowList.length * (ch + gap);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#1b1b1b";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#e4e4e4";
    ctx.font = "14px system-ui, sans-serif";
    faces.forEach((face, i) => ctx.fillText(face.label, label + i * (cw + gap) + 4, 20, cw - 8));
    for (const [r, row] of rowList.entries()) {
      const y = head + r * (ch + gap);
      const reference = row === UNSTYLED ? null : grid.querySelector(`.row-head[data-row="${CSS.escape(row)}"] .thumbs img`);
      if (reference?.complete && reference.naturalWidth) {
        const h = Math.min(ch - 40, (reference.naturalHeight * (label - 16)) / reference.naturalWidth);
        ctx.drawImage(reference, 4, y + 30, label - 16, h);
      }
      ctx.fillStyle = "#e4e4e4";
      ctx.fillText(row === UNSTYLED ? "unstyled" : rowLabel(row), 4, y + 18, label - 12);
      images[r].forEach((img, i) => ctx.drawImage(img, label + i * (cw + gap), y, img.naturalWidth, img.naturalHeight));
    }
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    if (!blob) return showError("the browser could not make the PNG");
    const link = el("a", { href: URL.createObjectURL(blob), download: `stylize-grid-${rowList.length}x${faces.length}.png` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    showNotice(`saved the grid: ${rowList.length} styles × ${faces.length} faces`);
  }

  $("#save-grid").addEventListener("click", () => saveGridPng().catch((error) => showError(error.message)));
  $("#copy-link").addEventListener("click", async () => {
    const link = viewLink();
    $("#copy-link").dataset.link = link;
    try {
      await navigator.clipboard.writeText(link);
      showNotice("copied a link to this view: it opens the same faces, styles and settings");
    } catch {
      showNotice(`a link to this view: ${link}`);
    }
  });

  function fitCells() {
    const n = Math.max(1, S.faces.length);
    let size;
    if (S.cellSize === "actual") size = 295;
    else if (S.cellSize !== "fit") size = Number(S.cellSize) || 150;
    else {
      const head = 136;
      const width = gridWrap.clientWidth - 20 - head - 6 * n; // padding, head column, gaps
      size = clamp(Math.floor(width / n), 64, 295); // 64: a dozen faces and more fit at 1366 without scrolling
    }
    grid.style.setProperty("--cell", `${size}px`);
  }

  function toggleUnstyled() {
    rememberRows(S.showUnstyled ? "hide the unstyled row" : "show the unstyled row")();
    S.showUnstyled = !S.showUnstyled;
    saveUI();
    renderGrid();
  }

  $("#toggle-unstyled").addEventListener("click", toggleUnstyled);
  $("#cell-size").addEventListener("change", (event) => {
    S.cellSize = event.target.value;
    saveUI();
    fitCells();
  });
  $("#grid-bg").addEventListener("change", (event) => {
    S.backdrop = event.target.value;
    applyBackdrop();
    saveUI();
  });
  function applyBackdrop() {
    gridWrap.classList.remove("bg-dark", "bg-mid", "bg-light");
    gridWrap.classList.add(`bg-${S.backdrop}`);
    $("#grid-bg").value = S.backdrop;
    const colour = getComputedStyle(gridWrap).getPropertyValue("--backdrop");
    $("#ab-stage").style.setProperty("--backdrop", colour);
  }
  new ResizeObserver(() => S.cellSize === "fit" && fitCells()).observe(gridWrap);

  // ---------------------------------------------------------------- A/B
  const ab = $("#ab");
  const abStage = $("#ab-stage");
  const abA = $("#ab-a");
  const abB = $("#ab-b");
  const abImgA = $("#ab-img-a");
  const abImgB = $("#ab-img-b");
  const abSplit = $("#ab-split");
  // One dialog, two ways: a face full size in one style ("one": what a click on a cell opens), or two styles
  // of it with a divider between them ("ab").
  const AB = { face: 0, a: UNSTYLED, b: null, split: 50, mode: "one" };

  function abChoices() {
    return [UNSTYLED, ...rows().filter((row) => row !== UNSTYLED)];
  }

  function openFace(faceIndex, row) {
    if (!S.faces.length) return;
    AB.face = clamp(faceIndex, 0, S.faces.length - 1);
    AB.mode = "one";
    AB.b = row || (S.selected && S.compare.includes(S.selected) ? S.selected : S.compare.find((n) => styleByName(n))) || UNSTYLED;
    AB.a = AB.b === UNSTYLED ? S.compare.find((n) => styleByName(n)) || UNSTYLED : UNSTYLED;
    AB.split = 50;
    renderAB();
    if (!ab.open) ab.showModal();
    $("#ab-mode").focus();
  }

  function setMode(mode) {
    AB.mode = mode;
    if (mode === "ab" && AB.a === AB.b) AB.a = AB.b === UNSTYLED ? abChoices()[1] || UNSTYLED : UNSTYLED;
    AB.split = 50;
    renderAB();
    if (mode === "ab") abSplit.focus();
  }

  function renderAB() {
    const face = S.faces[AB.face];
    if (!face) {
      ab.close();
      return;
    }
    const choices = abChoices();
    if (!choices.includes(AB.a)) AB.a = UNSTYLED;
    if (!choices.includes(AB.b)) AB.b = choices[1] || UNSTYLED;
    for (const [select, value] of [[abA, AB.a], [abB, AB.b]]) {
      select.replaceChildren(...choices.map((c) => el("option", { value: c, text: rowLabel(c) })));
      select.value = value;
    }
    $("#ab-title").textContent = `${face.label} (${AB.face + 1} of ${S.faces.length})`;
    const one = AB.mode === "one";
    ab.classList.toggle("one", one);
    ab.dataset.mode = AB.mode;
    $("#ab-b-label").textContent = one ? "Style" : "B";
    $("#ab-mode").textContent = one ? "A/B compare" : "One face";
    $("#ab-mode").title = one ? "compare this face in two styles with a divider" : "this face alone, full size";
    // each side's tag carries its style's reference, so the painting is judged beside what it follows
    for (const [tag, side, row] of [[$("#ab-tag-a"), "A", AB.a], [$("#ab-tag-b"), "B", AB.b]]) {
      const ref = row === UNSTYLED ? null : styleByName(row === MIX ? S.selected : row)?.refs?.[0];
      tag.replaceChildren(
        ...(ref ? [el("img", { class: "ab-ref", src: ref, alt: `${rowLabel(row)} reference` })] : []), // (null would be the text "null")
        el("span", { text: one ? rowLabel(row) : `${side} · ${rowLabel(row)}` }),
      );
    }
    abImgA.alt = `A: ${rowLabel(AB.a)}, ${face.label}`;
    abImgB.alt = `B: ${rowLabel(AB.b)}, ${face.label}`;
    abStage.classList.toggle("pixels", $("#ab-pixels").checked);
    const urlA = cellURL(AB.a, face);
    const urlB = cellURL(AB.b, face);
    let pending = 0;
    for (const [img, url] of [[abImgA, urlA], [abImgB, urlB]]) {
      if (one && img === abImgA) continue; // one face: A is not shown
      if (img.getAttribute("src") === url && img.complete) continue;
      pending += 1;
      img.onload = img.onerror = () => {
        if (img.getAttribute("src") !== url) return;
        pending -= 1;
        if (pending <= 0) abStage.classList.remove("loading");
        sizeStage();
      };
      img.src = url;
    }
    abStage.classList.toggle("loading", pending > 0);
    sizeStage();
    setSplit(AB.split);
  }

  function sizeStage() {
    const shown = AB.mode === "one" ? abImgB : abImgA;
    const w = shown.naturalWidth || abImgB.naturalWidth || 295;
    const h = shown.naturalHeight || abImgB.naturalHeight || 285;
    const fit = Math.min(3, (window.innerWidth - 80) / w, (window.innerHeight - 170) / h);
    // whole multiples when it fits at least 1:1, so every pixel is the same square (crisp with sharp pixels)
    const scale = fit >= 1 ? Math.floor(fit) : fit;
    abStage.style.width = `${Math.round(w * scale)}px`;
    abStage.style.height = `${Math.round(h * scale)}px`;
    abStage.dataset.scale = num(scale);
    const face = S.faces[AB.face];
    if (face && AB.mode === "one") {
      // the style's reference beside its name, under the face (not over it)
      const ref = AB.b === UNSTYLED ? null : styleByName(AB.b === MIX ? S.selected : AB.b)?.refs?.[0];
      $("#ab-caption").replaceChildren(
        ...(ref ? [el("img", { class: "ab-ref", src: ref, alt: `${rowLabel(AB.b)} reference` })] : []),
        el("span", { text: `${rowLabel(AB.b)} · ${face.label} · ${w}×${h}${scale === 1 ? " at 1:1" : ` shown ${num(scale)}×`}` }),
      );
    } else if (face) {
      $("#ab-caption").textContent = `${face.label} · A ${rowLabel(AB.a)} | B ${rowLabel(AB.b)} · ${w}×${h} shown ${num(scale)}×`;
    }
  }

  function setSplit(percent) {
    AB.split = clamp(percent, 0, 100);
    abStage.style.setProperty("--split", `${AB.split}%`);
    abSplit.setAttribute("aria-valuenow", String(Math.round(AB.split)));
    abSplit.setAttribute("aria-valuetext", `${Math.round(AB.split)}% A, ${100 - Math.round(AB.split)}% B`);
  }

  function stepFace(delta) {
    if (!S.faces.length) return;
    AB.face = (AB.face + delta + S.faces.length) % S.faces.length;
    renderAB();
  }

  let dragging = false;
  const splitAt = (event) => {
    const box = abStage.getBoundingClientRect();
    setSplit(((event.clientX - box.left) / box.width) * 100);
  };
  abStage.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || AB.mode === "one") return;
    dragging = true;
    abStage.setPointerCapture(event.pointerId);
    splitAt(event);
    abSplit.focus({ preventScroll: true });
    event.preventDefault();
  });
  abStage.addEventListener("pointermove", (event) => dragging && splitAt(event));
  const stopDrag = () => (dragging = false);
  abStage.addEventListener("pointerup", stopDrag);
  abStage.addEventListener("pointercancel", stopDrag);
  abSplit.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 10 : 2;
    const moves = { ArrowLeft: -step, ArrowRight: step, ArrowDown: -step, ArrowUp: step, Home: -100, End: 100 };
    if (event.key in moves) {
      setSplit(AB.split + moves[event.key]);
      event.preventDefault();
      event.stopPropagation();
    }
  });
  abA.addEventListener("change", () => {
    AB.a = abA.value;
    renderAB();
  });
  abB.addEventListener("change", () => {
    AB.b = abB.value;
    renderAB();
  });
  $("#ab-mode").addEventListener("click", () => setMode(AB.mode === "one" ? "ab" : "one"));
  $("#ab-swap").addEventListener("click", () => {
    [AB.a, AB.b] = [AB.b, AB.a];
    renderAB();
  });
  $("#ab-pixels").addEventListener("change", () => abStage.classList.toggle("pixels", $("#ab-pixels").checked));
  $("#ab-prev").addEventListener("click", () => stepFace(-1));
  $("#ab-next").addEventListener("click", () => stepFace(1));
  $("#ab-close").addEventListener("click", () => ab.close());
  ab.addEventListener("click", (event) => {
    if (event.target === ab) ab.close(); // a click on the backdrop
  });
  window.addEventListener("resize", () => ab.open && sizeStage());

  // ---------------------------------------------------------------- keys
  function typing(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && !["checkbox", "radio", "range", "button"].includes(target.type);
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented) return;
    if ((event.ctrlKey || event.metaKey) && !event.shiftKey && !event.altKey && event.key.toLowerCase() === "z") {
      if (ab.open || typing(event.target)) return; // a text field undoes its own typing
      event.preventDefault();
      undoLast();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (ab.open) {
      if (event.key === "Escape") {
        event.preventDefault();
        ab.close();
      } else if (!typing(event.target) && (event.key === "[" || event.key === "]")) {
        stepFace(event.key === "]" ? 1 : -1);
      }
      return;
    }
    if (typing(event.target)) return;
    if (event.key === "u" || event.key === "U") {
      event.preventDefault();
      toggleUnstyled();
    }
  });

  // ---------------------------------------------------------------- train and export
  const trainGo = $("#train-go");
  const jobButtons = () => [trainGo, $("#export-distill"), $("#export-onnx"), $("#export-parts"), $("#export-cast")];
  let exportTouched = false;

  function renderTrainSource() {
    const p = $("#train-source");
    const style = styleByName(S.selected);
    if (style && style.kind === "zero") {
      const n = style.refs?.length || 0;
      p.textContent = `Trains the ${n || ""} reference image${n === 1 ? "" : "s"} of ${style.name} as a new style.`.replace("the  ", "the ");
    } else if (style) {
      p.textContent = `${style.name} is already trained: select a reference style to train a new one.`;
    } else {
      p.textContent = "Drop reference images, then train them as a new style.";
    }
    trainGo.textContent = style && style.kind === "zero" ? `Train from ${style.name}` : "Train";
  }

  function refreshButtons() {
    if (trainGo.getAttribute("aria-busy") !== "true") trainGo.disabled = !isZero(S.selected);
    const exportable = Boolean(styleByName($("#export-style").value));
    for (const id of ["#export-distill", "#export-onnx", "#export-parts", "#export-cast"]) {
      const b = $(id);
      if (b.getAttribute("aria-busy") !== "true") b.disabled = !exportable;
    }
  }

  function renderExportStyles() {
    const select = $("#export-style");
    const keep = select.value;
    select.replaceChildren(...S.styles.map((s) => el("option", { value: s.name, text: `${s.name} (${sizeWord(s)})` })));
    select.value = exportTouched && styleByName(keep) ? keep : S.selected || "";
    refreshButtons();
  }

  function budgetByMinutes() {
    return $("#train-by-minutes").checked;
  }
  function renderBudget() {
    $("#train-minutes").disabled = !budgetByMinutes();
    $("#train-steps").disabled = budgetByMinutes();
  }
  $("#train-by-minutes").addEventListener("change", renderBudget);
  $("#train-by-steps").addEventListener("change", renderBudget);
  $("#export-style").addEventListener("change", () => {
    exportTouched = true;
    refreshButtons();
  });

  function readMinutes(input, what) {
    const value = Number(input.value);
    const most = Number(S.server?.train?.minutes_max) || 10080;
    if (!Number.isFinite(value) || value <= 0 || value > most) {
      input.focus();
      throw new ApiError(`${what}=${input.value || "(empty)"}: give minutes above 0 and at most ${most}`, 0);
    }
    return Math.round(value * 1000) / 1000;
  }

  function readSteps(input) {
    const value = Number(input.value);
    const most = Number(S.server?.train?.steps_max) || 1000000;
    if (!Number.isInteger(value) || value < 1 || value > most) {
      input.focus();
      throw new ApiError(`steps=${input.value || "(empty)"}: give a whole number of steps from 1 to ${most}`, 0);
    }
    return value;
  }

  async function startJob(body, what) {
    const answer = await api("/api/jobs", { method: "POST", json: body });
    if (answer.job) upsertJob(answer.job);
    showNotice(answer.job?.state === "waiting" ? `${what} waits in line: it starts when the running job ends` : `${what} started`);
    pollSoon();
  }

  trainGo.addEventListener("click", () =>
    inFlight(jobButtons(), async () => {
      const style = S.selected;
      if (!isZero(style)) throw new ApiError("select a reference (zero) style to train: drop images under Try a reference or pick one under Styles", 0);
      const nameInput = $("#train-name");
      const name = nameInput.value.trim();
      if (!name) {
        nameInput.focus();
        throw new ApiError("name the new style first (New style name under Train)", 0);
      }
      const body = { kind: "train", style, name };
      if (budgetByMinutes()) body.minutes = readMinutes($("#train-minutes"), "minutes");
      else body.steps = readSteps($("#train-steps"));
      await startJob(body, `training ${name}`);
      nameInput.value = "";
    }),
  );

  function exportStyle() {
    const style = $("#export-style").value;
    if (!styleByName(style)) throw new ApiError("choose a style to export", 0);
    return style;
  }

  $("#export-distill").addEventListener("click", () =>
    inFlight(jobButtons(), async () => {
      const style = exportStyle();
      const minutes = readMinutes($("#export-minutes"), "minutes");
      await startJob({ kind: "distill", style, minutes }, `distilling ${style}`);
    }),
  );
  $("#export-onnx").addEventListener("click", () =>
    inFlight(jobButtons(), async () => {
      const style = exportStyle();
      await startJob({ kind: "export_onnx", style }, `exporting ${style} to ONNX`);
    }),
  );
  $("#export-parts").addEventListener("click", () =>
    inFlight(jobButtons(), async () => {
      const style = exportStyle();
      await startJob({ kind: "export_parts", style }, `styling the part set with ${style}`);
    }),
  );

  $("#export-cast").addEventListener("click", () =>
    inFlight(jobButtons(), async () => {
      const style = exportStyle();
      if (S.source === "uploads") throw new ApiError("the whole cast is the game's faces or the legacy folder: pick one of those under Faces", 0);
      if (S.source === "legacy") {
        await startJob({ kind: "export_cast", style, source: "legacy" }, `painting the legacy portraits in ${style}`);
      } else {
        const seeds = S.seeds || S.server?.faces?.default_seeds || "0-7";
        await startJob({ kind: "export_cast", style, source: "game", seeds }, `painting faces ${seeds} in ${style}`);
      }
    }),
  );

  // ---------------------------------------------------------------- jobs
  const jobList = $("#job-list");
  const jobCards = new Map(); // id -> {root, parts}
  const ACTIVE = new Set(["waiting", "queued", "running"]);
  const KIND_LABEL = { train: "train", distill: "distil", export_onnx: "ONNX export", export_parts: "part set", export_cast: "whole cast" };
  // The eval summary leads with the style score and the face judge's same person and value spread.
  // [label, format, which way is better (-1 lower, +1 higher, 0 none), what it means]
  const FIGURES = {
    style_score: ["style score", (v) => Number(v).toFixed(2), -1, "how far the strokes are from the reference's: lower is closer"],
    same_person: ["same person", String, 1, "faces an independent face model still finds the same person: higher is better"],
    value_spread: ["value spread", (v) => Number(v).toFixed(2), 1, "how much of the cast's range of skin lightness is kept: 1 keeps it all"],
    rank1: ["rank-1", String, 1, "faces whose nearest unstyled face is their own: higher is better"],
    value_order: ["value order", (v) => Number(v).toFixed(2), 1, "darker faces stay darker (rank correlation): 1 is best"],
    summary: ["summary", (v) => Number(v).toFixed(2), -1, "style score plus a cost for each face lost: lower is better"],
    ms_per_portrait: ["ms / portrait", (v) => Number(v).toFixed(1), -1, "time to paint one portrait here: lower is faster"],
  };

  /** A figure's value as a number for comparing ("15/16" -> 15/16). */
  function figureNumber(value) {
    if (typeof value === "number") return value;
    const match = /^(\d+)\/(\d+)$/.exec(String(value));
    return match && Number(match[2]) ? Number(match[1]) / Number(match[2]) : null;
  }
  let pollTimer = 0;
  let polling = false;
  let pollAgain = false;
  let pollFailed = false;

  function upsertJob(job) {
    const index = S.jobs.findIndex((j) => j.id === job.id);
    const next = S.jobs.slice();
    if (index >= 0) next[index] = job;
    else next.unshift(job);
    renderJobs(next);
  }

  function renderJobs(jobs) {
    const before = new Map(S.jobs.map((j) => [j.id, j]));
    S.jobs = jobs;
    const seen = new Set();
    const nodes = [];
    let newStyle = false;
    for (const job of jobs) {
      if (!job || !job.id) continue;
      seen.add(job.id);
      let card = jobCards.get(job.id);
      if (!card) {
        card = makeJobCard(job);
        jobCards.set(job.id, card);
      }
      updateJobCard(card, job);
      nodes.push(card.root);
      const was = before.get(job.id);
      if (was && was.state !== "done" && job.state === "done" && job.result?.style && !styleByName(job.result.style)) newStyle = true;
      if (was && ACTIVE.has(was.state) && !ACTIVE.has(job.state) && job.kind === "train") newStyle = true; // its folder may be listed
    }
    for (const [id, card] of jobCards) {
      if (!seen.has(id)) {
        card.root.remove();
        jobCards.delete(id);
      }
    }
    if (!nodes.length) jobList.replaceChildren(el("p", { class: "job-empty", text: "No jobs yet. Train a style or export one and it shows here." }));
    else if (nodes.some((node, i) => jobList.children[i] !== node) || jobList.children.length !== nodes.length) jobList.replaceChildren(...nodes);
    renderBusy();
    if (newStyle) refreshStyles();
  }

  function renderBusy() {
    const busy = S.jobs.find((j) => j.state === "running" || j.state === "queued") || S.jobs.find((j) => ACTIVE.has(j.state));
    const node = $("#busy");
    if (!busy) {
      node.hidden = true;
      return;
    }
    const pct = Math.round((Number(busy.progress?.fraction) || 0) * 100);
    node.textContent = `${KIND_LABEL[busy.kind] || busy.kind} ${busy.name || busy.style}: ${busy.state === "running" ? `${pct}%` : busy.state === "waiting" ? "waiting in line" : "starting"}`;
    node.hidden = false;
  }

  function makeJobCard(job) {
    const parts = {
      kind: el("span", { class: "job-kind" }),
      name: el("span", { class: "job-name" }),
      state: el("span", { class: "job-state" }),
      bar: el("span"),
      stats: el("div", { class: "job-stats" }),
      loss: svg("svg", { class: "loss", viewBox: "0 0 200 40", preserveAspectRatio: "none", role: "img" }),
      lossLabel: el("div", { class: "loss-label" }),
      preview: el("img", { class: "job-preview", alt: `training preview of ${job.name || job.style}` }),
      error: el("p", { class: "job-error" }),
      actions: el("div", { class: "job-actions" }),
      result: el("div", { class: "job-result" }),
    };
    parts.line = svg("polyline", { points: "" });
    parts.loss.append(parts.line);
    parts.cancel = el("button", { type: "button", class: "job-cancel", text: "Cancel" });
    parts.resume = el("button", { type: "button", class: "job-resume", text: "Resume" });
    parts.compare = el("button", { type: "button", class: "job-compare", text: "Compare" });
    parts.actions.append(parts.cancel, parts.resume, parts.compare);
    const root = el(
      "article",
      { class: "job", dataset: { id: job.id } },
      el("div", { class: "job-head" }, parts.kind, parts.name, parts.state),
      el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" }, parts.bar),
      parts.stats,
      // the note and Cancel / Resume / Compare above the loss curve and preview, which appear as a training
      // starts: a button that moved down under the pointer as the artist went to click it was missed
      parts.error,
      parts.actions,
      el("div", { class: "job-body" }, parts.loss, parts.lossLabel, parts.preview),
      parts.result,
    );
    const card = { root, parts, job, resultKey: null };
    parts.cancel.addEventListener("click", () =>
      inFlight(parts.cancel, async () => {
        const answer = await api(`/api/jobs/${encodeURIComponent(card.job.id)}/cancel`, { method: "POST" });
        if (answer.job) upsertJob(answer.job);
        pollSoon();
      }),
    );
    parts.resume.addEventListener("click", () =>
      inFlight(parts.resume, async () => {
        const answer = await api(`/api/jobs/${encodeURIComponent(card.job.id)}/resume`, { method: "POST" });
        if (answer.job) upsertJob(answer.job);
        showNotice(`${card.job.name || card.job.style} resumed`);
        pollSoon();
      }),
    );
    parts.compare.addEventListener("click", () =>
      inFlight(parts.compare, async () => {
        const name = card.job.result?.style;
        if (!name) return;
        if (!styleByName(name)) await refreshStyles();
        if (!styleByName(name)) throw new ApiError(`style ${name} is not in the studio's style list`, 0);
        addToCompare(name);
        saveUI();
        renderStyles();
        renderGrid();
        showNotice(`${name} added to the grid`);
      }),
    );
    parts.preview.addEventListener("error", () => {
      parts.preview.hidden = true;
    });
    parts.preview.addEventListener("load", () => {
      parts.preview.hidden = false;
    });
    return card;
  }

  function updateJobCard(card, job) {
    const { parts, root } = card;
    card.job = job;
    const p = job.progress || {};
    root.dataset.state = job.state;
    root.dataset.id = job.id;
    parts.kind.textContent = KIND_LABEL[job.kind] || job.kind;
    parts.name.textContent = job.kind === "train" || job.kind === "distill" ? `${job.name || job.style}` : job.style;
    parts.name.title = job.kind === "train" ? `from ${job.style}` : job.id;
    const unknown = S.serverGone && ACTIVE.has(job.state); // a job whose server is gone is not shown as running
    parts.state.textContent = unknown ? "unknown" : job.state;
    const fraction = job.state === "done" ? 1 : clamp(Number(p.fraction) || 0, 0, 1);
    parts.bar.style.width = `${(fraction * 100).toFixed(1)}%`;
    parts.bar.parentElement.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));

    const stats = [];
    if (job.state === "waiting") stats.push("waiting in line: it starts when the job before it ends");
    if (job.state === "queued") stats.push("starting the worker…");
    // the worker names what it is doing between steps (reading references, saving, scoring, checking)
    const between = p.phase && !["training", "finished", "preparing"].includes(p.phase) ? p.phase : null;
    if (job.state === "running" && between) stats.push(`${between}…`);
    else if (job.state === "running" && !p.step && !p.elapsed) stats.push("starting the worker…");
    if (p.steps) stats.push(`step ${p.step ?? 0} / ${p.steps}`);
    else if (p.step) stats.push(`step ${p.step}`);
    if (p.budget_seconds) stats.push(`${duration(p.elapsed)} / ${duration(p.budget_seconds)}`);
    else if (p.elapsed) stats.push(duration(p.elapsed));
    if (unknown) stats.push("the server is not answering");
    else if (job.state === "running" && !between && p.eta_seconds !== null && p.eta_seconds !== undefined) stats.push(`about ${roughDuration(p.eta_seconds)} left`);
    if (job.state === "done" && job.started && job.finished) stats.push(`took ${duration(job.finished - job.started)}`);
    if (job.kind === "train" && job.style) stats.push(`from ${job.style}`);
    parts.stats.replaceChildren(...stats.map((text) => el("span", { text })));

    const loss = Array.isArray(p.loss) ? p.loss.filter((pt) => Array.isArray(pt) && Number.isFinite(Number(pt[1]))) : [];
    const hasLoss = loss.length >= 2;
    parts.loss.style.display = hasLoss ? "" : "none";
    parts.lossLabel.hidden = !hasLoss;
    if (hasLoss) {
      parts.line.setAttribute("points", lossPoints(loss));
      const last = loss[loss.length - 1];
      parts.lossLabel.textContent = `loss ${Number(last[1]).toPrecision(3)} at step ${last[0]}`;
      parts.loss.setAttribute("aria-label", `loss curve, now ${Number(last[1]).toPrecision(3)}`);
    }

    if (job.preview) {
      if (parts.preview.getAttribute("src") !== job.preview) parts.preview.src = job.preview;
    } else {
      parts.preview.removeAttribute("src");
      parts.preview.hidden = true;
    }

    parts.error.textContent = job.state === "failed" || job.error ? oneLine(job.error || "failed") : "";
    parts.error.hidden = !parts.error.textContent;
    // a stopped or interrupted job is a note, not a crash: only a failure is shown in red
    parts.error.classList.toggle("note", job.state === "cancelled" || job.state === "interrupted");
    parts.cancel.hidden = !ACTIVE.has(job.state);
    parts.resume.hidden = !(job.resumable && (job.state === "cancelled" || job.state === "interrupted"));
    const newStyle = job.state === "done" && (job.kind === "train" || job.kind === "distill") && job.result?.style;
    parts.compare.hidden = !newStyle;
    if (newStyle) parts.compare.textContent = `Compare ${job.result.style}`;

    const key = job.state === "done" ? JSON.stringify(job.result) : "";
    if (key !== card.resultKey) {
      card.resultKey = key;
      parts.result.replaceChildren(...(job.state === "done" && job.result ? resultParts(job.result) : []));
    }
  }

  function lossPoints(loss) {
    const xs = loss.map((pt) => Number(pt[0]));
    let ys = loss.map((pt) => Number(pt[1]));
    const positive = ys.every((y) => y > 0);
    if (positive && Math.max(...ys) / Math.min(...ys) > 20) ys = ys.map(Math.log10); // wide range: log scale
    const x0 = Math.min(...xs);
    const x1 = Math.max(...xs);
    const y0 = Math.min(...ys);
    const y1 = Math.max(...ys);
    return xs
      .map((x, i) => {
        const px = x1 > x0 ? ((x - x0) / (x1 - x0)) * 200 : (i / (xs.length - 1)) * 200;
        const py = y1 > y0 ? 37 - ((ys[i] - y0) / (y1 - y0)) * 34 : 20;
        return `${px.toFixed(1)},${py.toFixed(1)}`;
      })
      .join(" ");
  }

  function resultParts(result) {
    const out = [];
    const files = Array.isArray(result.files) ? result.files : [];
    if (files.length) {
      out.push(
        el(
          "ul",
          { class: "files" },
          files.map((f) =>
            el("li", {}, el("a", { href: f.url, download: f.name, text: `⤓ ${f.name}` }), el("span", { class: "size", text: humanBytes(f.bytes) })),
          ),
        ),
      );
    }
    const before = result.figures?.before && typeof result.figures.before === "object" ? result.figures.before : null;
    const figures = result.figures && typeof result.figures === "object" ? Object.entries(result.figures) : [];
    const shown = figures.filter(([k, v]) => k !== "before" && v !== null && v !== undefined && v !== "");
    if (shown.length) {
      out.push(
        el(
          "dl",
          { class: "figures" },
          shown.map(([key, value]) => {
            const [label, format, better, meaning] = FIGURES[key] || [key.replace(/_/g, " "), (v) => (typeof v === "number" ? num(v) : String(v)), 0, ""];
            const shownValue = (v) => {
              try {
                return typeof v === "number" ? format(v) : String(v);
              } catch {
                return String(v);
              }
            };
            let text = shownValue(value);
            let title = meaning;
            const now = figureNumber(value), then = before ? figureNumber(before[key]) : null;
            if (better && now !== null && then !== null) {
              const moved = Math.sign(now - then) * better;
              text += moved > 0 ? " ▲ better" : moved < 0 ? " ▼ worse" : " = same";
              title += `; ${before.style}: ${shownValue(before[key])}`;
            }
            return el("div", { title }, el("dt", { text: label }), el("dd", { text }));
          }),
        ),
      );
    }
    if (before && shown.length) out.push(el("p", { class: "hint", text: `▲ ▼ against ${before.style}, the style it started from (hover a figure for both)` }));
    const lines = Array.isArray(result.lines) ? result.lines.filter(Boolean) : [];
    if (lines.length) {
      out.push(el("details", { class: "report" }, el("summary", { text: "report" }), el("pre", { class: "lines", text: lines.join("\n") })));
    }
    return out;
  }

  async function poll() {
    clearTimeout(pollTimer);
    if (polling) {
      pollAgain = true;
      return;
    }
    polling = true;
    try {
      const answer = await api("/api/jobs");
      const back = S.serverGone;
      S.serverGone = false;
      document.body.dataset.server = "up";
      renderJobs(Array.isArray(answer.jobs) ? answer.jobs : []);
      if (pollFailed) {
        pollFailed = false;
        if (message.textContent.includes("not answering")) clearError();
      }
      if (back) {
        // the server came back (restarted in the same folder: the same token): everything is fetched again,
        // and the faces that broke while it was gone are painted again
        await refreshStyles();
        await loadFaces();
        showNotice("reconnected to the studio");
      }
    } catch (error) {
      if (!pollFailed) {
        const gone = error.status === 0;
        if (gone) {
          S.serverGone = true;
          document.body.dataset.server = "gone";
          renderJobs(S.jobs);
          showError("the studio server is not answering; this page reconnects by itself when it is back (run \"stylize studio\" again in the same folder)");
        } else showError(error.message);
      }
      pollFailed = true;
    } finally {
      polling = false;
    }
    if (pollAgain) {
      pollAgain = false;
      poll();
      return;
    }
    const active = S.jobs.some((j) => ACTIVE.has(j.state));
    pollTimer = setTimeout(poll, S.serverGone ? 2000 : active && !pollFailed ? 1000 : 5000);
  }

  function pollSoon() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, 150);
  }

  // ---------------------------------------------------------------- start
  function dropTokenFromAddress() {
    const url = new URL(window.location.href);
    if (!url.searchParams.has("token")) return;
    url.searchParams.delete("token");
    history.replaceState(history.state, "", `${url.pathname}${url.search}${url.hash}`);
  }

  function applyState(state) {
    S.server = state;
    S.styles = Array.isArray(state.styles) ? state.styles : [];
    const saved = loadUI();
    const settings = state.settings || {};
    defaults.strength = clamp(Number(settings.strength ?? 1), 0, 1);
    defaults.keepValues = clamp(Number(settings.keep_values ?? 1), 0, 1);
    defaults.preserve = Boolean(settings.preserve_color);
    defaults.scale = clamp(Number(settings.scale ?? 1), 0.5, 2);
    const pick = (key, fallback, ok) => (saved[key] !== undefined && ok(saved[key]) ? saved[key] : fallback);
    const isNum = (v) => typeof v === "number" && Number.isFinite(v);
    S.strength = clamp(pick("strength", defaults.strength, isNum), 0, 1);
    S.keepValues = clamp(pick("keepValues", defaults.keepValues, isNum), 0, 1);
    S.preserve = pick("preserve", defaults.preserve, (v) => typeof v === "boolean");
    S.scale = clamp(pick("scale", defaults.scale, isNum), 0.5, 2);
    const mix = saved.mix && typeof saved.mix === "object" ? saved.mix : {};
    S.mix = {
      on: Boolean(mix.on),
      style: typeof mix.style === "string" ? mix.style : null,
      weight: isNum(mix.weight) ? clamp(mix.weight, 0, 1) : 0.7,
    };
    S.showUnstyled = Boolean(saved.showUnstyled);
    S.cellSize = ["fit", "96", "150", "220", "actual"].includes(saved.cellSize) ? saved.cellSize : "fit";
    S.backdrop = ["dark", "mid", "light"].includes(saved.backdrop) ? saved.backdrop : "dark";

    const faces = state.faces || {};
    S.source = typeof saved.source === "string" ? saved.source : "game";
    S.seeds = typeof saved.seeds === "string" && saved.seeds ? saved.seeds : faces.default_seeds || "0-7";
    S.armoured = Boolean(saved.armoured);
    const mostAdded = Number(faces.max_added) || 8;
    S.added = (Array.isArray(saved.added) ? saved.added : []).filter((id) => typeof id === "string" && /^u[0-9a-f]{12}$/.test(id)).slice(0, mostAdded);
    S.stopped = Array.isArray(state.stopped) ? state.stopped : [];
    const { min, max } = faceLimits();
    S.count = clamp(isNum(saved.count) ? saved.count : 8, min, max);

    const names = new Set(S.styles.map((s) => s.name));
    S.compare = (Array.isArray(saved.compare) ? saved.compare : []).filter((n) => names.has(n)).slice(0, MAX_COMPARE);
    S.selected = names.has(saved.selected) ? saved.selected : S.compare[0] || (S.styles.find((s) => s.kind === "zero") || S.styles[0])?.name || null;
    if (S.selected && !S.compare.includes(S.selected)) {
      if (S.compare.length >= MAX_COMPARE) S.compare.pop();
      S.compare.unshift(S.selected);
    }

    const train = state.train || {};
    $("#train-minutes").value = num(Number(train.minutes) || 5);
    if (train.minutes_max) $("#train-minutes").max = train.minutes_max;
    if (train.steps_max) $("#train-steps").max = train.steps_max;
    seedsInput.value = S.seeds;
    countInput.min = min;
    countInput.max = max;
    countInput.value = S.count;
    armouredBox.checked = S.armoured;
    $("#cell-size").value = S.cellSize;
    renderSources();
    renderControls();
    renderStyles();
    renderBudget();
    applyBackdrop();
    committed = settingsOf();
    renderUndo();
  }

  async function start() {
    dropTokenFromAddress();
    updateGridState();
    let state = null;
    for (let attempt = 0; !state; attempt += 1) {
      try {
        state = await api("/api/state");
      } catch (error) {
        showError(`${error.message} (trying again)`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 1500 * (attempt + 1))));
      }
    }
    if (message.textContent.includes("trying again")) clearError();
    applyState(state);
    S.started = true;
    saveUI();
    renderJobs(Array.isArray(state.jobs) ? state.jobs : []);
    poll();
    await loadFaces();
  }

  // For tests and the curious: a read-only look at the page's state.
  window.stylizeStudio = { state: S, specFor, renderURL, history: undoStack };
  $("#undo").addEventListener("click", () => undoLast());

  start();
})();
