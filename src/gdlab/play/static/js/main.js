// gdlab play: load the catalog, build the modes, keep the state in the URL, export.

import {api, el, toast, download, debounce, svg} from "./util.js";
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
// (replaceState, which writeHash uses, does not fire this event).
window.addEventListener("hashchange", () => location.reload());

const writeHash = debounce(() => {
  const text = encodeURIComponent(JSON.stringify({...states, m: mode}));
  history.replaceState(null, "", `#${text}`);
}, 200);

function onState(key) {
  return (value) => {
    states[key] = value;
    writeHash();
  };
}

function banner(message) {
  const box = document.getElementById("banner");
  box.textContent = message || "";
  box.hidden = !message;
}

async function createMode(name) {
  if (gdlab.modes[name]) return gdlab.modes[name];
  const catalog = gdlab.catalog;
  let created;
  if (name === "2d") {
    created = create2d({catalog, initial: states["2d"], onState: onState("2d"), banner});
  } else if (name === "net") {
    const {createNetwork} = await import("./network.js");
    created = createNetwork({catalog, initial: states.net, onState: onState("net"), banner});
  } else if (name === "schedules") {
    const {createSchedules} = await import("./schedules.js");
    created = createSchedules({catalog, initial: states.schedules, onState: onState("schedules"), banner});
  } else {
    const {createEwma} = await import("./ewma.js");
    created = await createEwma({catalog, initial: states.ewma, onState: onState("ewma"), banner});
  }
  gdlab.modes[name] = created;
  return created;
}

async function show(name) {
  mode = name;
  for (const m of MODES) {
    document.getElementById(`mode-${m}`).hidden = m !== name;
    document.getElementById(`tab-${m}`).setAttribute("aria-selected", String(m === name));
  }
  banner("");
  const created = await createMode(name);
  for (const [m, instance] of Object.entries(gdlab.modes)) {
    if (m !== name && instance.hidden) instance.hidden();
  }
  if (created.shown) created.shown();
  if (created.resized) created.resized();  // the window resized while it was hidden
  writeHash();
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
    banner(`cannot load the page's data: ${error.message}`);
    return;
  }
  for (const m of MODES) {
    document.getElementById(`tab-${m}`).addEventListener("click", () => show(m));
  }
  const menu = document.getElementById("export-menu");
  const exportButton = document.getElementById("export");
  exportButton.addEventListener("click", (event) => {
    event.stopPropagation();
    menu.hidden = !menu.hidden;
    exportButton.setAttribute("aria-expanded", String(!menu.hidden));
  });
  document.addEventListener("click", () => { menu.hidden = true; exportButton.setAttribute("aria-expanded", "false"); });
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
