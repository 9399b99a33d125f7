// Small helpers shared by every mode: DOM, requests, numbers, colours.

export const SVG_NS = "http://www.w3.org/2000/svg";

// Okabe & Ito's colour-blind safe palette (yellow last: weakest on white).
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#B8A300"];

/** An HTML element: el("div", {class: "row"}, child, "text", …). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Mark a field (a number box, a menu, a check box) as refused, or clear it: class and aria-invalid. */
export function markInvalid(node, on) {
  if (!node) return;
  node.classList.toggle("invalid", on);
  if (on) node.setAttribute("aria-invalid", "true"); else node.removeAttribute("aria-invalid");
}

/** An SVG element with attributes (numbers rounded to 0.01 px). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    node.setAttribute(key, typeof value === "number" ? String(Math.round(value * 100) / 100) : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

let measurer = null;
/** The width in pixels of `text` in the plots' font (12 px unless given). */
export function textWidth(text, size = 12) {
  if (!measurer) measurer = document.createElement("canvas").getContext("2d");
  measurer.font = `${size}px system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif`;
  return measurer.measureText(text).width;
}

/** A number as people read it: 4 significant digits, no trailing zeros, 1e-5 style when tiny. */
export function fmt(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
  if (value === 0) return "0";
  const abs = Math.abs(value);
  let text;
  if (abs >= 1e5 || abs < 1e-3) {
    text = value.toExponential(Math.max(0, digits - 1)).replace(/\.?0+e/, "e").replace("e+", "e");
  } else {
    text = String(Number(value.toPrecision(digits)));
  }
  return text.replace(/-/g, "−");
}

// A divergence as gdlab.train words it: "loss 10757059.26973601 is above 6.45e+06" (the
// loss before a step), "the evaluated training loss … is not finite" (after an epoch).
const DIVERGED = /\b(the evaluated training loss|the training set's loss|loss) (\S+) is (?:above (\S+)|not finite)/;
const PYTHON = {"inf": Infinity, "-inf": -Infinity, "nan": NaN};

/**
 * A run's stop reason in the page's words: its numbers as fmt writes them, the value
 * in the fewest digits that still show it above the limit (not 16 beside a limit's 3),
 * the losses named by `names`: {step: the loss checked before a step, evaluated: the one
 * evaluated after it} (2-D mode: "f" both). Any other reason as it is.
 */
export function reasonWords(reason, names) {
  if (!reason) return reason;
  return reason.replace(DIVERGED, (all, which, value, limit) => {
    const name = which === "loss" ? names.step : names.evaluated;
    const v = value in PYTHON ? PYTHON[value] : Number(value);
    if (limit === undefined) return `${name} ${Number.isNaN(v) ? "NaN" : fmt(v)} is not finite`;
    const bound = Number(limit);
    let text = fmt(v);
    for (let digits = 5; digits <= 17 && !(Number(text.replace(/−/g, "-")) > bound); digits += 1) text = fmt(v, digits);
    return `${name} ${text} is above ${fmt(bound)}`;
  });
}

/** Snap a slider value to a readable number (3 significant digits). */
export function nice(value, digits = 3) {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(digits));
}

/** The float64 numbers the server packed (little-endian, base64). */
export function unpack(text) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Float64Array(bytes.buffer);
}

export class ApiError extends Error {
  constructor(status, payload) {
    super(payload && payload.error ? payload.error : `HTTP ${status}`);
    this.status = status;
    this.field = payload ? payload.field : undefined;
    this.fields = payload ? payload.fields : undefined;  // all it is about, field first
    this.position = payload ? payload.position : undefined;
  }
}

/** GET (no body) or POST JSON to the server; the parsed answer, or an ApiError. */
export async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new ApiError(0, {error: "the gdlab play server does not answer (is it still running?)"});
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch (error) {
    payload = {error: `HTTP ${response.status}`};
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

/**
 * Sends the latest state and only that: while a request is in flight, newer
 * states replace each other; when it returns, the newest goes. `latencies`
 * records input-to-drawn times (ms) from the first input a request answers.
 */
export class Latest {
  constructor(send, draw, fail) {
    this.send = send;
    this.draw = draw;
    this.fail = fail;
    this.busy = false;
    this.pending = null;
    this.latencies = [];
    this.drawTimes = [];  // ms spent drawing each answer (part of the latency)
    this.generation = 0;
    this.done = 0;
  }

  request(state, since = performance.now()) {
    if (this.pending) since = Math.min(since, this.pending.since);
    this.pending = {state, since};
    this.generation += 1;
    if (!this.busy) this._next();
  }

  async _next() {
    const job = this.pending;
    if (!job) return;
    this.pending = null;
    this.busy = true;
    const generation = this.generation;
    try {
      const answer = await this.send(job.state);
      if (!this.pending) {
        const drawing = performance.now();
        this.draw(answer, job.state);
        this.drawTimes.push(performance.now() - drawing);
        if (this.drawTimes.length > 500) this.drawTimes.shift();
        await new Promise((resolve) => requestAnimationFrame(() => resolve()));
        this.latencies.push(performance.now() - job.since);
        if (this.latencies.length > 500) this.latencies.shift();
      }
    } catch (error) {
      if (!this.pending) this.fail(error, job.state);
    } finally {
      this.busy = false;
      this.done = generation;
      if (this.pending) this._next();
    }
  }

  /** True once the newest state asked for is drawn. */
  get idle() {
    return !this.busy && !this.pending;
  }
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// --- tooltip and toast ---------------------------------------------------------

/** A line of a tooltip: text, or {text, color} (a run's: its colour's dot before it). */
function tooltipLine(line) {
  if (typeof line !== "object") return el("div", {}, line);
  const dot = el("span", {class: "dot"});
  dot.style.setProperty("--swatch", line.color);
  return el("div", {}, dot, line.text);
}

export function showTooltip(event, lines) {
  const tip = document.getElementById("tooltip");
  tip.replaceChildren(...lines.map((line, i) => (i === 0 ? el("b", {}, line) : tooltipLine(line))));
  tip.hidden = false;
  const pad = 14;
  const {innerWidth: w, innerHeight: h} = window;
  const box = tip.getBoundingClientRect();
  let x = event.clientX + pad;
  let y = event.clientY + pad;
  if (x + box.width > w - 4) x = event.clientX - box.width - pad;
  if (y + box.height > h - 4) y = event.clientY - box.height - pad;
  tip.style.left = `${Math.max(4, x)}px`;
  tip.style.top = `${Math.max(4, y)}px`;
}

export function hideTooltip() {
  document.getElementById("tooltip").hidden = true;
}

let toastTimer = null;
export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 6000 : 2500);
}

/** Save text or a Blob as a file. */
export function download(name, content, type = "text/plain") {
  const blob = content instanceof Blob ? content : new Blob([content], {type});
  const url = URL.createObjectURL(blob);
  const link = el("a", {href: url, download: name});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
