// Network mode: a small MLP trained live by two to four optimizers on the same batches.

import {api, el, svg, fmt, PALETTE, debounce, markInvalid, reasonWords} from "./util.js";
import {Plot, extent, fitted} from "./plot.js";
import {slider, widget, optimizerCard, runPayload, runFrom, runLabels, cardWords, partitionRuns, notRunWords,
  sayRefusals as sayCardRefusals} from "./controls.js";

const PANEL = 240;
const CLASS_COLORS = [[230, 159, 0], [0, 114, 178]];  // class 0 orange, class 1 blue (Okabe–Ito)
const BATCHES = [null, 1, 8, 16, 32, 64, 128];
const MAX_HISTORY = 3000;

export function createNetwork({catalog, initial, onState, banner}) {
  const limits = catalog.limits;
  const state = {
    data: "moons", noise: 0.2, n_samples: 300, seed: 0, layers: 2, width: 8, activation: "tanh",
    batch_size: 32, steps_per_frame: 5,
    runs: [runFrom(catalog, {optimizer: "sgd", hyperparameters: {lr: 0.1}}),
      runFrom(catalog, {optimizer: "adam", hyperparameters: {lr: 0.01}})],
  };
  restore(initial);
  const view = {
    socket: null, playing: false, data: null, frames: 0, times: [], history: [], last: null,
    step: 0, panels: [], chartsDrawn: 0, ready: false, errors: [],
    notRun: [],  // the labels of the cards refused, left out of the setup shown (set with its panels)
  };
  const cards = [];

  // ------------------------------------------------------------------ controls
  const root = document.getElementById("controls-net");
  const dataSelect = el("select", {"aria-label": "data set", id: "net-data"}, catalog.datasets.map((d) => el("option", {value: d}, d)));
  dataSelect.value = state.data;
  dataSelect.addEventListener("change", () => { state.data = dataSelect.value; configChanged(); });
  const noise = slider({name: "noise", label: "noise", value: state.noise, spec: {kind: "real", scale: "linear", min: 0, max: 0.5},
    onInput: (v) => { state.noise = v; configChanged(); }});
  const points = slider({name: "n_samples", label: "points", value: state.n_samples,
    spec: {kind: "int", scale: "log", min: limits.min_points, max: limits.max_points},
    onInput: (v) => { state.n_samples = v; configChanged(); }});
  const seed = slider({name: "seed", label: "data seed", value: state.seed, spec: {kind: "int", scale: "linear", min: 0, max: 20},
    onInput: (v) => { state.seed = v; configChanged(); }});
  root.append(el("fieldset", {}, el("legend", {}, "Data"), el("div", {class: "row"}, el("label", {}, "set"), dataSelect),
    noise.node, points.node, seed.node));

  const layers = slider({name: "layers", label: "layers", value: state.layers, spec: {kind: "int", scale: "linear", min: 0, max: limits.max_layers},
    onInput: (v) => { state.layers = v; configChanged(); }});
  // the page builds the hidden layers' list from the count: one it cannot build is said here
  const layersWrong = () => (Number.isInteger(state.layers) && state.layers >= 0 && state.layers <= limits.max_layers ? ""
    : `layers must be a whole number from 0 to ${limits.max_layers}; got ${state.layers}`);
  const width = slider({name: "width", label: "width", value: state.width, spec: {kind: "int", scale: "linear", min: 1, max: limits.max_width},
    onInput: (v) => { state.width = v; configChanged(); }});
  const activation = widget({name: "activation", kind: "choice", choices: catalog.activations}, state.activation,
    (v) => { state.activation = v; configChanged(); }, "activation");
  const batch = el("select", {"aria-label": "batch size"}, BATCHES.map((b) => el("option", {value: b ?? "full"}, b ?? "full batch")));
  batch.value = String(state.batch_size ?? "full");
  batch.addEventListener("change", () => { state.batch_size = batch.value === "full" ? null : Number(batch.value); configChanged(); });
  // the server's refusal of the batch size, said under its menu, the menu marked
  const batchNote = el("div", {class: "menu-error", id: "batch-error", role: "alert", hidden: true});
  const batchControl = {showError(message) {
    batchNote.textContent = message || "";
    batchNote.hidden = !message;
    markInvalid(batch, Boolean(message));
  }};
  const speed = slider({name: "steps_per_frame", label: "steps/frame", value: state.steps_per_frame,
    spec: {kind: "int", scale: "log", min: 1, max: limits.max_steps_per_frame},
    onInput: (v) => { state.steps_per_frame = v; configChanged(); }});
  const sizes = el("p", {class: "hint", id: "net-sizes"});
  root.append(el("fieldset", {}, el("legend", {}, "Network and training"), layers.node, width.node, activation.node,
    el("div", {class: "row"}, el("label", {}, "batch"), batch), batchNote, speed.node, sizes,
    el("p", {class: "hint"}, "Every optimizer starts from the same weights and sees the same batches (seed 0, as in gdlab race).")));

  const cardBox = el("div", {});
  const addButton = el("button", {type: "button", onclick: () => addRun()}, "+ Add optimizer");
  const runsLegend = el("legend", {}, "Optimizers");
  root.append(el("fieldset", {}, runsLegend, cardBox, addButton));

  function buildCards() {
    cards.length = 0;
    cardBox.replaceChildren(...state.runs.map((run, i) => {
      const card = optimizerCard({catalog, run, color: PALETTE[i % PALETTE.length], onChange: () => configChanged(),
        onRemove: (r) => { state.runs.splice(state.runs.indexOf(r), 1); buildCards(); configChanged(); },
        removable: state.runs.length > limits.min_net_runs});
      cards.push(card);
      return card.node;
    }));
    addButton.disabled = state.runs.length >= limits.max_net_runs;
    runsLegend.textContent = `Optimizers (${state.runs.length}: ${limits.min_net_runs} to ${limits.max_net_runs})`;
  }

  function addRun() {
    if (state.runs.length >= limits.max_net_runs) return;
    const used = new Set(state.runs.map((r) => r.optimizer));
    const name = ["momentum", "rmsprop", "adagrad", "nesterov", ...Object.keys(catalog.optimizers)]
      .find((n) => !used.has(n) && catalog.optimizers[n]?.available) || "sgd";
    state.runs.push(runFrom(catalog, {optimizer: name, hyperparameters: {lr: 0.05}}));
    buildCards();
    configChanged();
  }

  // ------------------------------------------------------------------ transport
  const playButton = el("button", {type: "button", class: "primary", id: "net-play"}, "▶ Play");
  const stepButton = el("button", {type: "button", id: "net-step"}, "Step");
  const resetButton = el("button", {type: "button", id: "net-reset"}, "Reset");
  const readout = el("span", {class: "readout", id: "net-readout"}, "connecting…");
  document.getElementById("transport").replaceChildren(playButton, stepButton, resetButton, readout);
  playButton.addEventListener("click", () => send({type: view.playing ? "pause" : "play"}));
  stepButton.addEventListener("click", () => send({type: "step"}));
  resetButton.addEventListener("click", () => { clearHistory(); send({type: "reset"}); });

  function config() {
    return {
      data: state.data, noise: state.noise, n_samples: state.n_samples, seed: state.seed,
      hidden: Array(state.layers).fill(state.width), activation: state.activation, batch_size: state.batch_size,
      steps_per_frame: state.steps_per_frame, grid: 40, runs: state.runs.map((r) => runPayload(catalog, r)),
    };
  }

  // A card the server refused (β₂ = 1.5) is left out of the setups sent while it stays as
  // refused: the other cards train (from the same weights, on the same batches, as with
  // it), each panel and curve in its card's colour, while fewer than two cards left
  // train nothing. One setup is sent at a time, so that a refusal of config.runs[1]
  // is read against the setup it answers.
  const refusedRuns = new WeakMap();  // a card's run → {key, error}
  let sent = null;  // the setup awaiting its answer: {runs, indices, labels, payloads, refused}
  let waiting = false;  // changed while a setup awaited its answer: sent once it comes

  function setup() {
    return partitionRuns(catalog, state.runs, refusedRuns, (payload) => JSON.stringify(payload));
  }

  function sendSetup() {
    if (sent) { waiting = true; return; }
    if (layersWrong()) {
      // nothing trains a setup the page cannot send, nor the one before it
      send({type: "pause"});
      layers.showError(layersWrong());
      refused(true);
      return;
    }
    const next = setup();
    if (next.refused.length && next.runs.length < limits.min_net_runs) {
      // too few cards left to train: nothing trains until one is mended, nor does the
      // server go on training (and streaming) the setup before, which the page no longer shows
      send({type: "pause"});
      sayRefusals(next);
      refused(true);
      return;
    }
    if (!view.socket || view.socket.readyState !== WebSocket.OPEN) return;
    sent = next;
    clearHistory();
    send({type: "config", config: {...config(), runs: next.payloads}});
  }

  function answered() {
    // the setup sent has its answer: a change made meanwhile goes now
    sent = null;
    if (waiting) { waiting = false; sendSetup(); }
  }

  function sayRefusals(shown) {
    const refused = (shown?.refused || []).map((r) =>
      ({index: r.index, message: r.error.error, field: r.error.field, label: r.label}));
    sayCardRefusals(cards, refused);
  }

  const sendConfig = debounce(sendSetup, 150);
  function configChanged() {
    onState(serialize());
    sendConfig();
  }

  function send(message) {
    if (view.socket && view.socket.readyState === WebSocket.OPEN) view.socket.send(JSON.stringify(message));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/network`);
    view.socket = socket;
    socket.addEventListener("open", () => {
      readout.textContent = "ready";
      sendSetup();
    });
    socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      view.playing = false;
      playButton.textContent = "▶ Play";
      readout.textContent = "disconnected: reload the page to reconnect";
    });
  }

  function receive(message) {
    if (message.type === "error") {
      view.errors.push(message.error);
      const asked = sent;
      const aboutSetup = /^config(\.|$)/.test(message.field || "");
      const j = Number(/^config\.runs\[(\d+)\]/.exec(message.field || "")?.[1] ?? NaN);
      if (asked && (aboutSetup || !message.field)) sent = null;
      if (asked && asked.runs[j]) {
        // that card is left out, and the others sent again (or, too few, nothing trains)
        refusedRuns.set(asked.runs[j], {key: JSON.stringify(asked.payloads[j]), error: message});
        waiting = false;
        sendSetup();
        return;
      }
      sayRefusals(asked || view.shown);  // the cards refused before still are
      for (const control of Object.values(CONTROLS)) control.showError("");
      const control = CONTROLS[(message.field || "").replace(/\[\d+\]$/, "[i]")];
      if (control) control.showError(settingWords(message));
      else banner(message.error);
      // a setup refused: nothing to play until it is mended (Step said "send a config first");
      // a refusal no control shows (none marked) is said above, in the banner
      if (aboutSetup) refused(true, Boolean(control));
      if (!sent && waiting) answered();
      return;
    }
    if (message.type === "state") {
      view.playing = message.playing;
      playButton.textContent = view.playing ? "❚❚ Pause" : "▶ Play";
      if (!view.playing) readout.textContent = readout.textContent.replace(/ · \d+ frames\/s$/, "");
      return;
    }
    if (message.type === "data") {
      view.shown = sent || view.shown;  // a reset's data: of the setup shown
      banner("");
      sayRefusals(view.shown);
      for (const control of Object.values(CONTROLS)) control.showError("");
      refused(false);
      view.data = message;
      sizes.textContent = `layers ${message.sizes.join("–")} (inputs, hidden, output)`;
      buildPanels();
      if (sent) answered();
      return;
    }
    if (message.type === "frame") {
      // sent before the refusal, or before the setup awaiting its answer (training plays
      // on while a slider moves): of a setup no longer shown
      if (view.refused || sent) return;
      view.frames += 1;
      const now = performance.now();
      view.times.push(now);
      while (view.times.length && now - view.times[0] > 2000) view.times.shift();
      view.last = message;
      view.step = message.step;
      // which loss stopped a run, named: the one checked before a step is its batch's
      // (all points in full batch), the one evaluated at an epoch's end all points'
      const whole = state.batch_size === null || state.batch_size >= view.data.X.length;
      const names = {step: whole ? "the all-points loss" : "the batch loss", evaluated: "the all-points loss"};
      for (const run of message.runs) run.reason = reasonWords(run.reason, names);
      for (const [i, run] of message.runs.entries()) {
        // at the run's own step: one that stopped (diverged) stays at its last, its curve ends there
        const h = view.history[i] || (view.history[i] = {steps: [], loss: [], accuracy: []});
        h.status = run.status;
        h.reason = run.reason;
        const step = run.step ?? message.step;
        if (h.steps.length && h.steps[h.steps.length - 1] >= step) continue;
        h.steps.push(step);
        h.loss.push(run.loss ?? NaN);
        h.accuracy.push(run.accuracy ?? NaN);
        if (h.steps.length > MAX_HISTORY) for (const key of ["steps", "loss", "accuracy"]) h[key] = h[key].filter((_, k) => k % 2 === 0);
      }
      drawFrame(message);
    }
  }

  // a refused setting said under its slider, in its words ("points", never config.n_samples)
  const CONTROLS = {"config.noise": noise, "config.n_samples": points, "config.seed": seed,
    "config.steps_per_frame": speed, "config.hidden": layers, "config.hidden[i]": width, "config.batch_size": batchControl};
  const WORDS = {noise: "noise", n_samples: "points", seed: "data seed", steps_per_frame: "steps/frame", batch_size: "batch"};

  function settingWords(message) {
    if (message.field === "config.hidden") return layersWrong() || `layers must be at most ${limits.max_layers}; got ${state.layers}`;
    return message.error.replace(/^config\.hidden\[\d+\]/, "width")
      .replace(/^config\.(\w+)/, (name, key) => WORDS[key] || key);
  }

  function refused(on, marked = true) {
    // a refused setup: the transport waits for one it can train (the last one drawn is gone);
    // `marked`: a box or card says why, in red (else the banner above says it)
    view.refused = on;
    for (const button of [playButton, stepButton, resetButton]) button.disabled = on;
    if (on) {
      view.playing = false;  // the server stopped with the setup it refused
      playButton.textContent = "▶ Play";
      readout.textContent = marked ? "not started: mend what is marked in red" : "not started: mend what the message above says";
      boundaries.replaceChildren();
      lossBox.replaceChildren();
      accuracyBox.replaceChildren();
      caption.textContent = "";
      view.panels = [];
    }
  }

  function clearHistory() {
    view.history = [];
    view.step = 0;
  }

  // ------------------------------------------------------------------ drawing
  const boundaries = document.getElementById("boundaries");
  const lossBox = document.getElementById("net-loss");
  const accuracyBox = document.getElementById("net-accuracy");
  const caption = document.getElementById("caption-net");

  function cardOf(i) {
    // the card (its index: its colour) of the i-th run trained, and its name as the cards say it
    const index = view.shown?.indices[i] ?? i;
    return {index, color: PALETTE[index % PALETTE.length], label: view.shown?.labels[index]};
  }

  function buildPanels() {
    const d = view.data;
    view.panels = d.labels.map((given, i) => {
      const {index, color, label = given} = cardOf(i);
      const node = svg("svg", {xmlns: "http://www.w3.org/2000/svg", viewBox: `0 0 ${PANEL} ${PANEL}`, width: PANEL, height: PANEL, role: "img",
        "aria-label": `decision boundary of ${label}`});
      const image = svg("image", {x: 0, y: 0, width: PANEL, height: PANEL, preserveAspectRatio: "none"});
      const dots = svg("g", {});
      const sx = (x) => ((x - d.xlim[0]) / (d.xlim[1] - d.xlim[0])) * PANEL;
      const sy = (y) => PANEL - ((y - d.ylim[0]) / (d.ylim[1] - d.ylim[0])) * PANEL;
      d.X.forEach(([x, y], k) => {
        const [r, g, b] = CLASS_COLORS[d.y[k]];
        dots.append(svg("circle", {cx: sx(x), cy: sy(y), r: 2.6, fill: `rgb(${r},${g},${b})`, stroke: "#fff", "stroke-width": 0.7}));
      });
      node.append(svg("rect", {width: PANEL, height: PANEL, fill: "#fff"}), image, dots,
        svg("rect", {width: PANEL, height: PANEL, fill: "none", stroke: "#9aa5b1"}));
      const stats = el("span", {class: "stats"}, "");
      const status = el("span", {class: "run-status", hidden: true});
      // the name on a line of its own, the numbers and the status on the next: with four
      // panels side by side the numbers left no room for the name (a longer one: …, whole on hover)
      const name = el("span", {class: "name", title: label}, label);
      const head = el("figcaption", {}, el("span", {class: "title"}, el("span", {class: "swatch"}), name),
        el("span", {class: "numbers"}, stats, status));
      head.style.setProperty("--swatch", color);
      const canvas = el("canvas", {width: d.grid, height: d.grid});
      return {label, color, index, node, image, stats, status, canvas, figure: el("figure", {"data-run": index}, head, node), signature: 0};
    });
    // a card refused: in its place, no panel but a note (its card says why); the frames' caption names it
    const leftOut = view.shown?.refused || [];
    view.notRun = leftOut.map((r) => r.label);
    const notRun = leftOut.map((r) => {
      const head = el("figcaption", {}, el("span", {class: "title"}, el("span", {class: "swatch"}), el("span", {class: "name"}, r.label)));
      head.style.setProperty("--swatch", PALETTE[r.index % PALETTE.length]);
      return {index: r.index, figure: el("figure", {"data-run": r.index, class: "not-run"}, head,
        el("p", {class: "status"}, "not run: mend its card"))};
    });
    boundaries.replaceChildren(...[...view.panels, ...notRun].sort((a, b) => a.index - b.index).map((p) => p.figure));
  }

  function paint(panel, base64) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const n = view.data.grid;
    const context = panel.canvas.getContext("2d");
    const image = context.createImageData(n, n);
    let signature = 0;
    for (let j = 0; j < n; j += 1) {
      for (let i = 0; i < n; i += 1) {
        const p = bytes[j * n + i] / 255;
        signature += bytes[j * n + i] * ((j * n + i) % 7 + 1);
        const t = Math.min(1, Math.abs(p - 0.5) * 2);
        const [r, g, b] = CLASS_COLORS[p >= 0.5 ? 1 : 0];
        const a = 0.12 + 0.5 * t;
        const k = ((n - 1 - j) * n + i) * 4;  // row 0 of the grid is the lowest y
        image.data[k] = Math.round(255 * (1 - a) + r * a);
        image.data[k + 1] = Math.round(255 * (1 - a) + g * a);
        image.data[k + 2] = Math.round(255 * (1 - a) + b * a);
        image.data[k + 3] = 255;
      }
    }
    context.putImageData(image, 0, 0);
    panel.image.setAttribute("href", panel.canvas.toDataURL("image/png"));
    panel.signature = signature;
  }

  let lastCharts = 0;
  function drawFrame(frame) {
    frame.runs.forEach((run, i) => {
      const panel = view.panels[i];
      if (!panel) return;
      paint(panel, run.boundary);
      panel.stats.textContent = `loss ${fmt(run.loss, 3)} · acc ${run.accuracy === null ? "–" : `${(100 * run.accuracy).toFixed(1)}%`}`;
      // diverged (or stopped) said in its own words beside the numbers, never cut off
      panel.status.textContent = run.status === "ok" ? "" : run.status;
      panel.status.hidden = run.status === "ok";
      panel.status.title = run.reason || "";
    });
    // Why a run stopped (diverged, or a step past the time limit), under the panels.
    const reasons = [];
    frame.runs.forEach((run, i) => {
      if (run.status === "ok" || !run.reason) return;
      const label = view.panels[i]?.label ?? run.label;
      reasons.push(`${label}: ${run.reason.startsWith(run.status) ? "" : `${run.status}, `}${run.reason}.`);
    });
    const fps = view.times.length > 1 ? (1000 * (view.times.length - 1)) / (view.times[view.times.length - 1] - view.times[0]) : 0;
    view.fps = fps;
    readout.textContent = `step ${frame.step.toLocaleString("en")}${view.playing ? ` · ${fps.toFixed(0)} frames/s` : ""}`;
    const now = performance.now();
    if (!view.playing || now - lastCharts > 100) {
      lastCharts = now;
      drawCharts();
    }
    caption.textContent = `Each panel: the network's P(class 1) over the plane (blue: class 1, orange: class 0; paler near 0.5) after`
      + ` ${frame.step} steps of its optimizer, with the ${view.data.X.length} points. Its loss and accuracy, and below them:`
      + " on all points, measured each frame." + (reasons.length ? ` ${reasons.join(" ")} × marks where a stopped run's curves end.` : "")
      + (view.notRun.length ? ` ${notRunWords(view.notRun)}` : "");
  }

  function drawCharts() {
    const h = view.history;
    if (!h.length) return;
    const last = Math.max(1, view.step, ...h.map((r) => r.steps[r.steps.length - 1] || 0));
    // the scale follows the runs still training (as in 2-D mode): a diverged run's loss,
    // off it, is clipped at the edge, where its × stands
    const training = h.filter((r) => r.status === "ok");
    const lossValues = (training.length ? training : h).map((r) => r.loss);
    const loss = new Plot({...fitted(lossBox, 470, 250), x: {domain: [0, last], label: "step", integer: true},
      y: {domain: extent(lossValues, {log: true, fallback: [0.01, 1]}), log: true, label: "loss (log scale)"}, margin: {left: 56, right: 10}});
    const acc = new Plot({...fitted(accuracyBox, 470, 250), x: {domain: [0, last], label: "step", integer: true},
      y: {domain: [0, 1], label: "accuracy", format: (v) => `${Math.round(v * 100)}%`}, margin: {left: 50, right: 10}});
    h.forEach((r, i) => {
      const {index, color} = cardOf(i);
      loss.line(r.steps, r.loss, {stroke: color, "data-run": index});
      acc.line(r.steps, r.accuracy, {stroke: color, "data-run": index});
      if (r.steps.length === 1) {  // step 0 alone, no line yet: a dot, as the panels already say it
        for (const [plot, values] of [[loss, r.loss], [acc, r.accuracy]]) {
          if (!Number.isFinite(values[0]) || (plot.y.log && !(values[0] > 0))) continue;
          plot.over.append(svg("circle", {cx: plot.sx(r.steps[0]), cy: plot.sy(values[0]), r: 3.5, fill: color, "data-run": index, class: "first"}));
        }
      }
      if (r.status && r.status !== "ok" && r.steps.length) {
        const title = `${view.panels[i]?.label ?? ""}: ${r.reason || r.status}`;
        endMark(loss, r.steps, r.loss, color, index, title);
        endMark(acc, r.steps, r.accuracy, color, index, title);
      }
    });
    view.lossPlot = loss;
    view.accuracyPlot = acc;
    lossBox.replaceChildren(loss.node);
    accuracyBox.replaceChildren(acc.node);
  }

  function endMark(plot, steps, values, color, index, title) {
    // × at a stopped run's last point; off the scale (or not a number): at the frame's
    // edge, always inside it, on a white halo, its reason on hover (as 2-D mode's)
    const k = steps.length - 1;
    const [low, high] = plot.y.domain;
    const v = values[k];
    const y = Number.isFinite(v) ? Math.min(Math.max(v, low), high) : (v === -Infinity ? low : high);
    const size = 5;
    const {left, top} = plot.margin;
    const px = Math.min(Math.max(plot.sx(steps[k]), left + size + 2), left + plot.inner.w - size - 2);
    const py = Math.min(Math.max(plot.sy(y), top + size + 2), top + plot.inner.h - size - 2);
    const g = svg("g", {class: "stop", "data-run": index}, svg("title", {}, title));
    plot.over.append(g);
    plot.cross(px, py, {stroke: "#fff", "stroke-width": 5}, size, g);
    plot.cross(px, py, {stroke: color}, size, g);
  }

  // ------------------------------------------------------------------ state
  function serialize() {
    const {runs, ...rest} = state;
    return {...rest, r: runs.map((r) => runPayload(catalog, r))};
  }

  function restore(saved) {
    // a menu shows only what it lists: a link's set, activation or batch it does not list
    // ("nope") keeps the default, shown in the menu; a number is kept (a refused one is
    // said under its slider, its box marked)
    if (!saved || typeof saved !== "object") return;
    if (catalog.datasets.includes(saved.data)) state.data = saved.data;
    if (catalog.activations.includes(saved.activation)) state.activation = saved.activation;
    if (Number.isFinite(saved.noise)) state.noise = saved.noise;
    for (const key of ["n_samples", "seed", "layers", "width", "steps_per_frame"]) {
      if (Number.isInteger(saved[key])) state[key] = saved[key];
    }
    if (BATCHES.includes(saved.batch_size)) state.batch_size = saved.batch_size;
    if (Array.isArray(saved.r)) {
      const runs = saved.r.slice(0, limits.max_net_runs).map((r) => runFrom(catalog, r)).filter(Boolean);
      if (runs.length >= limits.min_net_runs) state.runs = runs;
    }
  }

  function figure() {
    if (!view.panels.length) return [];
    const gap = 12;
    const head = 38;  // the name, and under it the numbers and status (as the page's heads)
    const width = view.panels.length * (PANEL + gap) - gap;
    const row = svg("svg", {xmlns: "http://www.w3.org/2000/svg", viewBox: `0 0 ${width} ${PANEL + head}`, width, height: PANEL + head,
      "font-family": "system-ui, sans-serif", "font-size": 12});
    row.append(svg("rect", {width, height: PANEL + head, fill: "#fff"}));
    view.panels.forEach((panel, i) => {
      const copy = panel.node.cloneNode(true);
      copy.setAttribute("x", String(i * (PANEL + gap)));
      copy.setAttribute("y", String(head));
      const x = i * (PANEL + gap);
      row.append(svg("text", {x, y: 14, fill: panel.color, "font-weight": 600}, panel.label),
        svg("text", {x, y: 31, fill: "#4a5563"}, panel.stats.textContent,
          panel.status.hidden ? null : svg("tspan", {fill: "#b3261e", "font-weight": 600, dx: 8}, panel.status.textContent)), copy);
    });
    const charts = [view.lossPlot?.node, view.accuracyPlot?.node].filter(Boolean);
    if (!charts.length) return [row];
    // side by side, each as wide as it is drawn (470, or narrower on a phone)
    const sizes = charts.map((node) => (node.getAttribute("viewBox") || "0 0 470 250").split(" ").map(Number).slice(2));
    const wide = sizes.reduce((sum, [w]) => sum + w, 0);
    const high = Math.max(...sizes.map(([, h]) => h));
    const both = svg("svg", {xmlns: "http://www.w3.org/2000/svg", viewBox: `0 0 ${wide} ${high}`, width: wide, height: high});
    let x = 0;
    charts.forEach((node, i) => {
      const copy = node.cloneNode(true);
      copy.setAttribute("x", String(x));
      copy.setAttribute("y", "0");
      both.append(copy);
      x += sizes[i][0];
    });
    return [row, both];
  }

  buildCards();
  connect();
  onState(serialize());

  return {
    state, view, figure,
    // the steps run so far (the server refuses 0: nothing has run yet)
    exportToml: async () => {
      if (layersWrong()) throw new Error(`${layersWrong()}: mend it to export`);
      try {
        return await api("/api/network/export", {config: config(), steps: view.step});
      } catch (error) {
        // said as the card says it ("Adam: β₂ must be …"), never "config.runs[1]…"
        if (CONTROLS[(error.field || "").replace(/\[\d+\]$/, "[i]")]) {
          throw new Error(settingWords({field: error.field, error: error.message}));
        }
        const i = Number(/runs\[(\d+)\]/.exec(error.field || "")?.[1] ?? NaN);
        if (!state.runs[i]) throw error;
        const names = catalog.optimizers[state.runs[i].optimizer]?.hyperparameters.map((h) => h.name) || [];
        throw new Error(cardWords(error.message, runLabels(catalog, state.runs)[i], names));
      }
    },
    signatures: () => view.panels.map((p) => p.signature),
    hidden: () => { if (view.playing) send({type: "pause"}); },
    /** The window resized (a phone turned): the charts drawn again if they no longer fit. */
    resized: () => { if (view.lossPlot && fitted(lossBox, 470, 250).width !== view.lossPlot.width) drawCharts(); },
  };
}
