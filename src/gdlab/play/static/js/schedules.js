// Schedules mode: any learning-rate schedule over steps and epochs, with its formula.

import {api, el, svg, fmt, Latest, textWidth} from "./util.js";
import {Plot, fitted} from "./plot.js";
import {slider, schedulePicker} from "./controls.js";

// Epochs up to this many are marked by grey lines; past it they would grey the chart.
const MARKED_EPOCHS = 60;

/** The rate axis: from 0 (or the lowest rate, if below) to a little above the highest.
 * A constant rate sits under the top (its axis ran from −0.9 to 1.1: "negative rates"). */
function rateDomain(ys) {
  const finite = ys.filter(Number.isFinite);
  const low = Math.min(0, ...finite);
  const hi = Math.max(low, ...finite);
  return [low, hi > low ? hi + 0.06 * (hi - low) : low + 1];
}

export function createSchedules({catalog, initial, onState, banner}) {
  const first = catalog.schedules.exponential ? "exponential" : Object.keys(catalog.schedules)[0];
  const state = {schedule: {name: first, arguments: {}}, lr0: 0.1, steps_per_epoch: 10, epochs: 30, unit: "step"};
  if (initial && typeof initial === "object") {
    if (initial.schedule && catalog.schedules[initial.schedule.name]) state.schedule = initial.schedule;
    for (const key of ["lr0", "steps_per_epoch", "epochs"]) if (Number.isFinite(initial[key])) state[key] = initial[key];
    if (initial.unit === "epoch") state.unit = "epoch";
  }
  const view = {answer: null};
  const limit = catalog.limits.max_schedule_steps;

  const root = document.getElementById("controls-schedules");
  const picker = schedulePicker({catalog, value: state.schedule, allowNone: false, onChange: (v) => { state.schedule = v; changed(); }});
  state.schedule = picker.value;  // its arguments filled with their defaults
  const lr0 = slider({name: "lr0", label: "lr0", value: state.lr0, spec: {kind: "real", scale: "log", min: 1e-4, max: 1},
    onInput: (v) => { state.lr0 = v; changed(); }});
  const perEpoch = slider({name: "steps_per_epoch", label: "steps/epoch", value: state.steps_per_epoch,
    spec: {kind: "int", scale: "log", min: 1, max: 1000}, onInput: (v) => { state.steps_per_epoch = v; changed("steps_per_epoch"); }});
  const epochs = slider({name: "epochs", label: "epochs", value: state.epochs, spec: {kind: "int", scale: "log", min: 1, max: 1000},
    onInput: (v) => { state.epochs = v; changed("epochs"); }});
  const unit = el("select", {"aria-label": "x axis"}, el("option", {value: "step"}, "steps"), el("option", {value: "epoch"}, "epochs"));
  unit.value = state.unit;
  unit.addEventListener("change", () => { state.unit = unit.value; draw(); onState(state); });
  root.append(
    el("fieldset", {}, el("legend", {}, "Schedule"), lr0.node, picker.node),
    el("fieldset", {}, el("legend", {}, "Training length"), perEpoch.node, epochs.node,
      el("div", {class: "row"}, el("label", {}, "x axis"), unit),
      el("p", {class: "hint"}, `At most ${limit.toLocaleString("en")} steps. Epochs and steps count from 0; a schedule per epoch keeps its rate through each epoch.`)),
  );

  const sliders = {lr0, steps_per_epoch: perEpoch, epochs};
  const WORDS = {lr0: "lr0", steps_per_epoch: "steps/epoch", epochs: "epochs"};
  // the count changed last: a product past its cap (steps/epoch × epochs) is said under it
  let lastCount = "epochs";
  let marked = null;  // the box whose refusal is said under it
  const requests = new Latest((body) => api("/api/schedule", body),
    (answer) => {
      view.answer = answer;
      banner("");
      picker.showError("");
      for (const control of Object.values(sliders)) control.showError("");
      marked = null;
      draw();
    },
    (error) => {
      // a schedule's refusal under its picker, its box marked; a box's under it, its box
      // marked (a count past its own cap, 10,000, before their product's); another, no box
      // shows, in the banner, in the page's words
      picker.showError("");
      sliders[marked]?.showError("");  // only a refusal's: a typed "1e" keeps its message
      marked = null;
      if (/^schedule(\.|$)/.test(error.field || "")) { banner(""); picker.showError(error.message, error.field); return; }
      const words = error.message.replace(/\b(steps_per_epoch|lr0|epochs)\b/g, (name) => WORDS[name]);
      // the product of the two counts: under the one changed last (the server names epochs)
      const field = /×/.test(words) && /^(steps_per_epoch|epochs)?$/.test(error.field || "") ? lastCount : error.field;
      if (!sliders[field]) { banner(words); return; }
      banner("");
      marked = field;
      sliders[field].showError(words);
    });

  function changed(count) {
    if (count) lastCount = count;
    onState(state);
    // the server checks each count against its cap, then their product against max_schedule_steps
    requests.request({schedule: state.schedule, lr0: state.lr0, steps_per_epoch: state.steps_per_epoch, epochs: state.epochs});
  }

  const box = document.getElementById("schedule-chart");
  const formula = document.getElementById("schedule-formula");
  const caption = document.getElementById("caption-schedules");

  function draw() {
    const a = view.answer;
    if (!a) return;
    const perEpochSteps = a.steps_per_epoch;
    const total = a.epochs * perEpochSteps;
    const at = (s) => (state.unit === "epoch" ? s / perEpochSteps : s);
    const end = at(total);
    const grouped = a.group > 1;
    const ys = a.lr;
    const plot = new Plot({...fitted(box, 760, 340), x: {domain: [0, end], label: state.unit === "epoch" ? "epoch" : "step"},
      y: {domain: rateDomain(grouped ? [...ys, ...a.lr_low, ...a.lr_high] : ys), label: "learning rate"}});
    plot.node.setAttribute("aria-label", `learning rate of ${a.config.name}`);
    if (a.epochs <= MARKED_EPOCHS) {
      for (let e = 1; e < a.epochs; e += 1) {
        const x = state.unit === "epoch" ? e : e * perEpochSteps;
        plot.back.append(svg("line", {x1: plot.sx(x), x2: plot.sx(x), y1: plot.margin.top, y2: plot.margin.top + plot.inner.h, stroke: "#e2e7ee"}));
      }
    }
    if (grouped) {
      // each group from its lowest to its highest rate: a rate cycling within a group fills it
      const starts = a.steps.slice(0, a.lr_low.length);
      const ends = starts.map((s, i) => (i + 1 < starts.length ? starts[i + 1] : total));
      plot.data.append(svg("path", {d: bandPath(plot, starts.map(at), ends.map(at), a.lr_low, a.lr_high),
        fill: "#0072B2", "fill-opacity": 0.3, stroke: "#0072B2", "stroke-width": 1.5, "stroke-linejoin": "round", class: "rate-band"}));
    } else {
      // a staircase: hold each value until the next step
      const sx = [];
      const sy = [];
      for (let i = 0; i < ys.length; i += 1) {
        sx.push(at(a.steps[i]));
        sy.push(ys[i]);
        sx.push(i + 1 < ys.length ? at(a.steps[i + 1]) : end);
        sy.push(ys[i]);
      }
      plot.line(sx, sy, {stroke: "#0072B2", "stroke-width": 2});
    }
    view.plot = plot;
    box.replaceChildren(plot.node);
    formula.replaceChildren(el("div", {class: "repr"}, a.repr), a.formula ? el("pre", {}, a.formula) : "");
    caption.textContent = captionText(a, total);
  }

  function captionText(a, total) {
    const unitWord = a.unit === "epoch" ? "the epoch counter (constant within an epoch)" : "the step counter";
    const steps = `${total.toLocaleString("en")} steps (${epochWords(a.epochs, a.steps_per_epoch)}) of ${a.config.name}, which reads ${unitWord}.`;
    const ends = ` First ${fmt(a.lr[0])}, last ${fmt(a.lr[a.lr.length - 1])}.`;
    if (!(a.group > 1)) return `The rate at each of ${steps}${ends}`;
    const rest = total % a.group;
    const last = rest ? ` (the last group ${rest.toLocaleString("en")} step${rest === 1 ? "" : "s"})` : "";
    return `The lowest and highest rate in each group of ${a.group.toLocaleString("en")} steps${last},`
      + ` drawn as a band from one to the other, so that a rate changing within a group fills its height, over ${steps}${ends}`;
  }

  /** A closed path per run of finite groups: along their highest rates, back along their lowest. */
  function bandPath(plot, x0s, x1s, lows, highs) {
    let d = "";
    const point = (x, y) => `${plot.sx(x).toFixed(2)} ${plot.sy(y).toFixed(2)}`;
    for (let i = 0; i < lows.length;) {
      if (!(Number.isFinite(lows[i]) && Number.isFinite(highs[i]))) { i += 1; continue; }
      let j = i;
      while (j < lows.length && Number.isFinite(lows[j]) && Number.isFinite(highs[j])) j += 1;
      const upper = [];
      const lower = [];
      for (let k = i; k < j; k += 1) {
        upper.push(point(x0s[k], highs[k]), point(x1s[k], highs[k]));
        lower.push(point(x0s[k], lows[k]), point(x1s[k], lows[k]));
      }
      d += `M${upper.join("L")}L${lower.reverse().join("L")}Z`;
      i = j;
    }
    return d || "M0 0";
  }

  function epochWords(count, steps) {
    // what the grey lines show, as drawn: one where each epoch after the first begins
    const length = `${count} epoch${count === 1 ? "" : "s"} of ${steps} step${steps === 1 ? "" : "s"}`;
    if (count === 1) return length;
    if (count <= MARKED_EPOCHS) return `${length}; grey lines mark where each epoch begins`;
    return `${length}; more than ${MARKED_EPOCHS} epochs, so no lines mark them`;
  }

  /** The exported figure's head: the schedule's formula (repr), wrapped to the chart's
   * width; a saved chart alone did not say which schedule it shows. */
  function heading(a, width) {
    const lines = [];
    let line = "";
    for (const word of a.repr.split(" ")) {
      const longer = line ? `${line} ${word}` : word;
      if (line && textWidth(longer, 13) > width - 24) { lines.push(line); line = word; } else line = longer;
    }
    lines.push(line);
    const height = 14 + 18 * lines.length;
    return svg("svg", {xmlns: "http://www.w3.org/2000/svg", viewBox: `0 0 ${width} ${height}`, width, height,
      "font-family": "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif", "font-size": 13},
    svg("rect", {x: 0, y: 0, width, height, fill: "#ffffff"}),
    ...lines.map((text, i) => svg("text", {x: 12, y: 22 + 18 * i, fill: "#1d2733", class: "schedule-name"}, text)));
  }

  changed();
  return {state, view, figure: () => (view.plot ? [heading(view.answer, view.plot.width), view.plot.node] : []),
    /** The window resized (a phone turned): the chart drawn again if it no longer fits. */
    resized: () => { if (view.plot && fitted(box, 760, 340).width !== view.plot.width) draw(); }};
}
