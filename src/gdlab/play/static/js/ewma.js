// Averages mode: seed 004's exponentially weighted average of daily temperatures.

import {api, el, svg, fmt, Latest, textWidth} from "./util.js";
import {Plot, extent, fitted} from "./plot.js";
import {slider} from "./controls.js";

const BLUE = "#0072B2";
const RED = "#D55E00";  // vermillion: "orange" in the caption

export async function createEwma({catalog, initial, onState, banner}) {
  const state = {beta: 0.9, bias_correction: true, zoom: false, day: 400};
  if (initial && typeof initial === "object") {
    if (Number.isFinite(initial.beta)) state.beta = initial.beta;
    if (typeof initial.bias_correction === "boolean") state.bias_correction = initial.bias_correction;
    if (typeof initial.zoom === "boolean") state.zoom = initial.zoom;
  }
  const series = await api("/api/temperatures");
  const view = {answer: null, series};

  const root = document.getElementById("controls-ewma");
  const beta = slider({name: "beta", label: "β", value: state.beta, spec: {kind: "real", scale: "one_minus_log", min: 0, max: 0.999},
    onInput: (v) => { state.beta = v; changed(); }});
  const seeds = [0.5, 0.9, 0.98].map((b) => el("button", {type: "button", "data-beta": b,
    onclick: () => { state.beta = b; beta.set(b); changed(); }}, `β = ${b}`));
  const correct = el("input", {type: "checkbox", id: "bias-correction"});
  correct.checked = state.bias_correction;
  correct.addEventListener("change", () => { state.bias_correction = correct.checked; changed(); });
  const zoom = el("input", {type: "checkbox", id: "ewma-zoom"});
  zoom.checked = state.zoom;
  zoom.addEventListener("change", () => { state.zoom = zoom.checked; draw(); onState(state); });
  root.append(el("fieldset", {}, el("legend", {}, "Average"), beta.node, el("div", {class: "buttons"}, seeds),
    el("p", {class: "hint"}, "Seed 004: v₀ = 0, vₜ = β·vₜ₋₁ + (1 − β)·θₜ; it averages over about 1/(1 − β) days."),
    el("label", {class: "check"}, correct, "bias correction vₜ / (1 − βᵗ)"),
    el("label", {class: "check"}, zoom, "show the first 90 days (where the correction matters)")));

  const requests = new Latest((body) => api("/api/ewma", body), (answer) => { view.answer = answer; banner(""); draw(); },
    (error) => {
      // a typed β the server refuses (1.5): said under its box, by the box's name
      if (error.field === "beta") beta.showError(error.message.replace(/^beta\b/, "β"));
      else banner(error.message);
    });

  function changed() {
    onState(state);
    requests.request({beta: state.beta, bias_correction: state.bias_correction});
  }

  const box = document.getElementById("ewma-chart");
  const weightsBox = document.getElementById("ewma-weights");
  const caption = document.getElementById("caption-ewma");
  const dates = series.dates;

  function yearTicks(low, high) {
    const ticks = [];
    dates.forEach((d, i) => { if (d.endsWith("-01-01") && i >= low && i <= high) ticks.push(i); });
    return ticks;
  }

  function draw() {
    const a = view.answer;
    if (!a) return;
    const n = series.values.length;
    const end = state.zoom ? 90 : n - 1;
    const values = series.values.slice(0, end + 1);
    const size = fitted(box, 860, 360);
    // the legend above the frame, outside the data: one row, or (a phone) as many as it needs
    const entries = [[BLUE, a.bias_correction ? "EWMA, bias-corrected" : "EWMA, not corrected", ""],
      [RED, a.bias_correction ? "without correction" : "with correction", "5 3"], ["#8b96a3", "daily maximum", ""]];
    const rows = legendRows(entries, size.width);
    const plot = new Plot({...size, margin: {top: 30 + 18 * (rows.length - 1)},
      x: {domain: [0, end], label: state.zoom ? `day (from ${dates[0]})` : "date (ticks at 1 January)",
        tickValues: state.zoom ? undefined : yearTicks(0, end),
        format: (v) => (state.zoom ? String(v) : dates[Math.round(v)]?.slice(0, 4) || "")},
      y: {domain: extent([values, a.values.slice(0, end + 1), a.other.slice(0, end + 1)], {pad: 0.04}), label: "daily maximum temperature (°C)"}});
    plot.node.setAttribute("aria-label", "daily temperatures and their average");
    // the window: ≈ 1/(1 − β) days before the marked day (the day under the mouse;
    // before the mouse has been over the first 90 days, day 60 there)
    const day = state.day <= end ? state.day : Math.min(60, end);
    const w = Math.min(a.window, day + 1);
    plot.back.append(svg("rect", {x: plot.sx(day - w), y: plot.margin.top, width: Math.max(1, plot.sx(day) - plot.sx(day - w)),
      height: plot.inner.h, fill: "#56B4E9", opacity: 0.22}));
    plot.back.append(svg("line", {x1: plot.sx(day), x2: plot.sx(day), y1: plot.margin.top, y2: plot.margin.top + plot.inner.h, stroke: "#56B4E9", "stroke-width": 1.5}));
    let dots = "";
    values.forEach((v, i) => { dots += `M${plot.sx(i).toFixed(1)} ${plot.sy(v).toFixed(1)}h0`; });
    plot.data.append(svg("path", {d: dots, stroke: "#8b96a3", "stroke-width": state.zoom ? 4 : 2.2, "stroke-linecap": "round", fill: "none", opacity: 0.7}));
    const xs = values.map((_, i) => i);
    plot.line(xs, a.other.slice(0, end + 1), {stroke: RED, "stroke-width": 1.4, "stroke-dasharray": "5 3"});
    plot.line(xs, a.values.slice(0, end + 1), {stroke: BLUE, "stroke-width": 2.2});
    const label = `≈ 1/(1 − β) = ${fmt(a.window, 3)} days`;
    // left of the marked day, ending at it; right of it where the left has no room (a day
    // near the start: it was cut off at the frame's left edge)
    const room = plot.sx(day) - 4 - plot.margin.left;
    const left = room >= textWidth(label) * 1.1 + 4;  // bold text: a little wider
    const labelX = left ? Math.min(plot.sx(day) - 4, plot.margin.left + plot.inner.w - 4) : plot.sx(day) + 4;
    plot.over.append(svg("text", {x: labelX, y: plot.margin.top + 14, class: "window-label",
      "text-anchor": left ? "end" : "start", fill: "#0b5c99", "font-weight": 600, stroke: "#fff", "stroke-width": 3, "paint-order": "stroke"}, label));
    rows.forEach((row, r) => {
      const legendY = 16 + 18 * r;
      for (const {color, text, dash, x} of row) {
        plot.axes.append(svg("line", {x1: x, x2: x + 20, y1: legendY - 4, y2: legendY - 4, stroke: color, "stroke-width": 2.2, "stroke-dasharray": dash || null}),
          svg("text", {x: x + 25, y: legendY, fill: "#1d2733"}, text));
      }
    });
    plot.node.addEventListener("pointermove", (event) => {
      const p = plot.fromEvent(event);
      if (!plot.inside(p.px, p.py)) return;
      state.day = Math.max(0, Math.min(n - 1, Math.round(p.x)));
      draw();
    });
    view.plot = plot;
    box.replaceChildren(plot.node);
    drawWeights(a);
    // what is drawn: every day, or the first 90 (where the start's pull shows, named by its line)
    const shown = state.zoom ? `over days 0 to ${end} (${dates[0]} to ${dates[end]})` : `${dates[0]} to ${dates[n - 1]}`;
    const uncorrected = a.bias_correction ? "the orange dashed line" : "the blue line";
    caption.textContent = `Seattle's daily maximum temperature (grey), ${shown}, and its EWMA with β = ${fmt(a.beta)}`
      + ` (blue). The shaded band is the ≈ 1/(1 − β) = ${fmt(a.window, 3)} days the average mostly reflects at the marked day`
      + " (move the mouse to move it). Without bias correction the average starts near 0, pulled by v₀ = 0"
      + (state.zoom ? ` (${uncorrected}).` : " (see the first 90 days).");
  }

  /** The legend's entries in rows that fit `width`, right-aligned: [[{color, text, dash, x}]]. */
  function legendRows(entries, width) {
    const rows = [[]];
    let used = 8;
    for (const [color, text, dash] of [...entries].reverse()) {
      const wide = textWidth(text) + 40;
      if (used + wide > width && rows[rows.length - 1].length) { rows.push([]); used = 8; }
      used += wide;
      rows[rows.length - 1].push({color, text, dash, x: width - used});
    }
    return rows.reverse();
  }

  function drawWeights(a) {
    const k = a.weights.length;
    const plot = new Plot({...fitted(weightsBox, 860, 200), x: {domain: [0, k], label: "days before the marked day"},
      y: {domain: [0, Math.max(...a.weights) * 1.15], label: "weight"}, margin: {left: 64}});
    const barWidth = Math.max(1, plot.inner.w / k - 1);
    a.weights.forEach((v, i) => {
      plot.data.append(svg("rect", {x: plot.sx(i), y: plot.sy(v), width: barWidth, height: plot.sy(0) - plot.sy(v),
        fill: i + 1e-9 < a.window ? BLUE : "#a9c6df"}));  // 1/(1 − 0.9) is 10.000000000000002: 10 bars
    });
    const wx = plot.sx(a.window);
    plot.over.append(svg("line", {x1: wx, x2: wx, y1: plot.margin.top, y2: plot.margin.top + plot.inner.h, stroke: "#1d2733", "stroke-dasharray": "4 3"}));
    // right of the line; where the frame has no room for it (a phone), on two lines, each
    // moved left as far as it must to stay inside the frame, on a white halo
    const said = [`1/(1 − β) = ${fmt(a.window, 3)}:`, `weight down to β^${fmt(a.window, 3)} ≈ ${fmt(a.weight_at_window, 2)} of the newest`];
    const right = plot.margin.left + plot.inner.w - 4;
    const lines = wx + 6 + textWidth(said.join(" ")) <= right ? [said.join(" ")] : said;
    lines.forEach((text, i) => {
      const x = Math.max(plot.margin.left + 4, Math.min(wx + 6, right - textWidth(text)));
      plot.over.append(svg("text", {x, y: plot.margin.top + 14 + 15 * i, fill: "#1d2733", class: "window-words",
        stroke: "#fff", "stroke-width": 3, "paint-order": "stroke"}, text));
    });
    view.weightsPlot = plot;
    weightsBox.replaceChildren(plot.node);
  }

  changed();
  return {state, view, figure: () => [view.plot?.node, view.weightsPlot?.node].filter(Boolean),
    /** The window resized (a phone turned): the charts drawn again if they no longer fit. */
    resized: () => { if (view.plot && fitted(box, 860, 360).width !== view.plot.width) draw(); }};
}
