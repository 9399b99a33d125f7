// gdlab play: load the catalog, build the modes, keep the state in the URL, export.

import {api, el, toast, download, debounce, svg, ApiError} from "./util.js";
import {create2d} from "./mode2d.js";

const MODES = ["2d", "net", "schedules", "ewma"];
const gdlab = {ready: false, modes: {}};
window.gdlab = gdlab;

function readHash() {
  const text = location.hash.slice(1);
  if (!text) return {};
  try {
    const value = JSON.parse(decodeURIComponent(text));
    return value && typeof value === "object" ? value : {};
  } catch (error) {
    return {};
  }
}

const saved = readHash();
const states = {...saved};
let mode = MODES.includes(saved.m) ? saved.m : "2d";

// A link pasted into the address bar of an open page changes only the hash: open it
// (replaceState, which writeHash uses, does not fire this event). The page's own write
// may have run between the paste and this event, and may be due while the page reloads:
// the pasted URL is put back, and the page writes no more.
let leaving = false;
window.addEventListener("hashchange", (event) => {
  leaving = true;
  history.replaceState(null, "", event.newURL);
  location.reload();
});

const writeHash = debounce(() => {
  if (leaving) return;
  const text = encodeURIComponent(JSON.stringify({...states, m: mode}));
  history.replaceState(null, "", `#${text}`);
}, 200);

function onState(key) {
  return (value) => {
    states[key] = value;
    writeHash();
  };
}

function showBanner(message) {
  const box = document.getElementById("banner");
  box.textContent = message || "";
  box.hidden = !message;
}

// Each mode's banner: said while that mode is shown, kept while another is (the 2-D
// mode's "the server does not answer" was cleared by a look at another tab).
const banners = {};
function bannerOf(name) {
  return (message) => {
    banners[name] = message || "";
    if (mode === name) showBanner(banners[name]);
  };
}

// The modes' code, loaded when a mode is first shown; a load that failed (the server was
// down) is tried again at the next click, under another name (a browser keeps a failed
// module's failure under its own).
const MODULES = {net: "./network.js", schedules: "./schedules.js", ewma: "./ewma.js"};
const attempts = {};
function load(name) {
  attempts[name] = (attempts[name] || 0) + 1;
  return import(attempts[name] > 1 ? `${MODULES[name]}?attempt=${attempts[name]}` : MODULES[name]);
}

// the mode being made, once: a second click while its code loads waits for the same
const making = {};
function createMode(name) {
  if (gdlab.modes[name]) return Promise.resolve(gdlab.modes[name]);
  making[name] ||= makeMode(name).finally(() => { delete making[name]; });
  return making[name];
}

async function makeMode(name) {
  const catalog = gdlab.catalog;
  const args = {catalog, initial: states[name], onState: onState(name), banner: bannerOf(name)};
  let created;
  if (name === "2d") {
    created = create2d(args);
  } else if (name === "net") {
    created = (await load(name)).createNetwork(args);
  } else if (name === "schedules") {
    created = (await load(name)).createSchedules(args);
  } else {
    created = await (await load(name)).createEwma(args);
  }
  gdlab.modes[name] = created;
  return created;
}

/** Said in a mode's panel that could not be made (its code or data did not load), with a
 * button that tries again; gone once it is made. */
function notLoaded(name, error) {
  const tab = document.getElementById(`tab-${name}`);
  const why = error instanceof ApiError ? error.message : "the gdlab play server does not answer (is it still running?)";
  const again = el("button", {type: "button", onclick: () => show(name)}, "Try again");
  const note = el("div", {class: "mode-error", role: "alert"},
    el("p", {}, `${tab.textContent} could not be loaded: ${why}. Once the server runs again, `
      + `click "${tab.textContent}" above or try again here (or reload the page).`), again);
  document.getElementById(`controls-${name}`).replaceChildren(note);
  return note;
}

async function show(name) {
  mode = name;
  for (const m of MODES) {
    document.getElementById(`mode-${m}`).hidden = m !== name;
    const tab = document.getElementById(`tab-${m}`);
    tab.setAttribute("aria-selected", String(m === name));
    tab.tabIndex = m === name ? 0 : -1;  // one tab stop; the arrow keys move along the tabs
  }
  showBanner(banners[name]);
  let created;
  try {
    if (!gdlab.modes[name]) document.querySelector(`#controls-${name} .mode-error`)?.remove();
    created = await createMode(name);
  } catch (error) {
    if (mode === name) notLoaded(name, error);
    return;
  }
  if (mode !== name) return;  // another tab was clicked while this one loaded
  for (const [m, instance] of Object.entries(gdlab.modes)) {
    if (m !== name && instance.hidden) instance.hidden();
  }
  if (created.shown) created.shown();
  if (created.resized) created.resized();  // the window resized while it was hidden
  writeHash();
}

/** The tabs as the WAI-ARIA tabs pattern has them: ←/→ the previous/next (round),
 * Home/End the first/last, each shown as it gets the focus. */
function tabKeys(event) {
  const at = MODES.indexOf(event.currentTarget.dataset.mode);
  const to = {ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: MODES.length - 1}[event.key];
  if (to === undefined) return;
  event.preventDefault();
  const next = MODES[(to + MODES.length) % MODES.length];
  document.getElementById(`tab-${next}`).focus();
  show(next);
}

// --- export ------------------------------------------------------------------------

function composeFigure() {
  const parts = (gdlab.modes[mode]?.figure() || []).filter(Boolean);
  if (!parts.length) return null;
  const boxes = parts.map((node) => {
    const [, , w, h] = (node.getAttribute("viewBox") || "0 0 600 400").split(" ").map(Number);
    return {node, w, h};
  });
  const width = Math.max(...boxes.map((b) => b.w));
  const height = boxes.reduce((sum, b) => sum + b.h, 0);
  const root = svg("svg", {xmlns: "http://www.w3.org/2000/svg", viewBox: `0 0 ${width} ${height}`, width, height});
  root.append(svg("rect", {width, height, fill: "#ffffff"}));
  let y = 0;
  for (const b of boxes) {
    const copy = b.node.cloneNode(true);
    copy.setAttribute("x", "0");
    copy.setAttribute("y", String(y));
    copy.setAttribute("width", String(b.w));
    copy.setAttribute("height", String(b.h));
    root.append(copy);
    y += b.h;
  }
  return {root, width, height};
}

async function exportAs(kind) {
  const name = `gdlab-play-${mode}`;
  if (kind === "toml") {
    const body = gdlab.modes[mode]?.exportToml ? null : gdlab.modes[mode]?.exportBody?.();
    try {
      let answer;
      if (gdlab.modes[mode]?.exportToml) answer = await gdlab.modes[mode].exportToml();
      else if (body) answer = await api("/api/export", body);
      else { toast("TOML export is for the 2-D and network modes", "error"); return; }
      download(answer.filename, answer.toml, "application/toml");
      toast(`saved ${answer.filename}: gdlab race --config ${answer.filename}`);
    } catch (error) {
      toast(error.message, "error");
    }
    return;
  }
  const figure = composeFigure();
  if (!figure) { toast("nothing to export yet", "error"); return; }
  const text = new XMLSerializer().serializeToString(figure.root);
  if (kind === "svg") {
    download(`${name}.svg`, text, "image/svg+xml");
    return;
  }
  const url = URL.createObjectURL(new Blob([text], {type: "image/svg+xml"}));
  try {
    const image = new Image();
    await new Promise((resolve, reject) => { image.onload = resolve; image.onerror = reject; image.src = url; });
    const scale = 2;
    const canvas = el("canvas", {width: figure.width * scale, height: figure.height * scale});
    const context = canvas.getContext("2d");
    context.scale(scale, scale);
    context.drawImage(image, 0, 0, figure.width, figure.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    download(`${name}.png`, blob);
  } catch (error) {
    toast("could not draw the PNG", "error");
  } finally {
    URL.revokeObjectURL(url);
  }
}

// --- start ---------------------------------------------------------------------

async function start() {
  try {
    gdlab.catalog = await api("/api/catalog");
  } catch (error) {
    showBanner(`cannot load the page's data: ${error.message}`);
    return;
  }
  for (const m of MODES) {
    const tab = document.getElementById(`tab-${m}`);
    tab.addEventListener("click", () => show(m));
    tab.addEventListener("keydown", tabKeys);
  }
  const menu = document.getElementById("export-menu");
  const exportButton = document.getElementById("export");
  exportButton.addEventListener("click", (event) => {
    event.stopPropagation();
    menu.hidden = !menu.hidden;
    exportButton.setAttribute("aria-expanded", String(!menu.hidden));
  });
  const closeMenu = () => { menu.hidden = true; exportButton.setAttribute("aria-expanded", "false"); };
  document.addEventListener("click", closeMenu);
  // Escape closes the menu, the focus back on its button (not lost in the closed menu)
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || menu.hidden) return;
    const inside = menu.contains(document.activeElement);
    closeMenu();
    if (inside || document.activeElement === exportButton) exportButton.focus();
  });
  for (const button of menu.querySelectorAll("button")) {
    button.addEventListener("click", () => exportAs(button.dataset.export));
  }
  document.getElementById("copy-link").addEventListener("click", async () => {
    writeHash();
    await new Promise((resolve) => setTimeout(resolve, 250));
    try {
      await navigator.clipboard.writeText(location.href);
      toast("link copied: it reopens this view");
    } catch (error) {
      toast("the address bar holds the link to this view");
    }
  });
  // a phone turned, a window resized: the mode shown draws its charts again at the new width
  window.addEventListener("resize", debounce(() => gdlab.modes[mode]?.resized?.(), 150));
  gdlab.show = show;
  gdlab.exportAs = exportAs;
  gdlab.composeFigure = composeFigure;
  await show(mode);
  gdlab.ready = true;
}

start();
