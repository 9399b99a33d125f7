// Controls: sliders on the scales the server declares, optimizer cards, schedule pickers.

import {el, nice, fmt, textWidth, markInvalid} from "./util.js";

const STEPS = 1000;  // slider positions

// position p in [0, 1] <-> value, for each scale the server names
const SCALES = {
  linear: {
    to: (v, s) => (v - s.min) / (s.max - s.min),
    from: (p, s) => s.min + p * (s.max - s.min),
  },
  log: {
    to: (v, s) => (Math.log(Math.max(v, s.min)) - Math.log(s.min)) / (Math.log(s.max) - Math.log(s.min)),
    from: (p, s) => s.min * (s.max / s.min) ** p,
  },
  log0: {  // 0 at the left end, then log from min to max
    to: (v, s) => (v <= 0 ? 0 : 0.02 + 0.98 * SCALES.log.to(v, s)),
    from: (p, s) => (p < 0.02 ? 0 : SCALES.log.from((p - 0.02) / 0.98, s)),
  },
  one_minus_log: {  // 1 − 10^(−u): 0, 0.9, 0.99, 0.999 … evenly spaced
    to: (v, s) => -Math.log10(1 - Math.min(v, s.max)) / -Math.log10(1 - s.max),
    from: (p, s) => 1 - 10 ** (-p * -Math.log10(1 - s.max)),
  },
};

function snap(value, spec) {
  if (spec.kind === "int") return Math.round(value);
  if (spec.scale === "one_minus_log") return value === 0 ? 0 : Number((1 - nice(1 - value, 2)).toFixed(12));
  if (spec.scale === "linear" && spec.min === 0 && spec.max < 1) return Math.round(value * 1000) / 1000;
  if (spec.scale === "log" || spec.scale === "log0") return nice(value, 2);  // 0.031, 0.3, 1.5
  return nice(value, 3);
}

const NAMES = {
  lr: "lr", beta1: "β₁", beta2: "β₂", beta3: "β₃", eps: "ε", alpha: "α", rho: "ρ",
  weight_decay: "weight decay", lr0: "lr0", momentum: "momentum",
};

export function displayName(key) {
  return NAMES[key] || key.replaceAll("_", " ");
}

/** The runs' labels as the server gives them (and the legend shows them): the class's
 * name, numbered from the second of a kind on ("SGD", "SGD 2"). */
export function runLabels(catalog, runs) {
  const seen = {};
  return runs.map((run) => {
    const base = catalog.optimizers[run.optimizer]?.label || run.optimizer;
    seen[base] = (seen[base] || 0) + 1;
    return seen[base] === 1 ? base : `${base} ${seen[base]}`;
  });
}

function escaped(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A server's refusal of a run in its card's words: "runs[1] (Adam): beta1 must be …"
 * and "config.runs[1].hyperparameters.beta1 must be …" become "Adam: β₁ must be …",
 * the names of the request (runs[1], hyperparameters.beta1) and of Python (beta1)
 * replaced by the card's name and its boxes' labels.
 */
export function cardWords(message, label, names) {
  const run = String.raw`(?:config\.)?runs\[\d+\]`;
  // The server names the run as it numbers the runs it was sent ("Adam: …" for the page's
  // "Adam 2" once the first Adam card is left out): its name, of any number, goes too.
  const kind = escaped(String(label).replace(/ \d+$/, ""));
  const text = String(message)
    .replace(new RegExp(`^${run}(?: \\([^)]*\\))?: `), "")
    .replace(new RegExp(`^${kind}(?: \\d+)?: `), "")
    .replace(new RegExp(`${run}\\.hyperparameters\\.(\\w+)`, "g"), (_, name) => displayName(name))
    .replace(new RegExp(`${run}\\.(\\w+)`, "g"), "$1")
    .replace(new RegExp(run, "g"), label);
  const said = labelled(text, names);
  return said.startsWith(`${label}: `) ? said : `${label}: ${said}`;
}

/** The names in `names` (Python's: beta1, weight_decay) as the page's labels say them. */
function labelled(text, names) {
  if (!names.length) return text;
  const words = new RegExp(`(?<![\\w.])(${names.map(escaped).join("|")})(?![\\w(])`, "g");
  return text.replace(words, (name) => displayName(name));
}

/**
 * A server's refusal of a schedule in the page's words: "schedule: boundaries must be …"
 * becomes "piecewise: boundaries must be …" (`name`: the schedule's), and
 * schedule.arguments.end_lr "end lr".
 */
export function scheduleWords(catalog, name, message) {
  const names = catalog.schedules[name]?.arguments.map((a) => a.name) || [];
  const text = String(message)
    .replace(/^schedule: /, name ? `${name}: ` : "")
    .replace(/schedule\.arguments\.(\w+)/g, (_, key) => displayName(key))
    .replace(/schedule\.name/g, "schedule");
  return labelled(text, names);
}

/**
 * A slider with a number box: {node, set(value), value}. `onInput(value)` fires on
 * every move (and on a typed number); the value is snapped to a readable number.
 * `onTyped(bad)`, if given, hears whether the box holds a typed text that is no number
 * ("1e": said under it, nothing sent) or, once the learner moves or mends it, no longer.
 */
export function slider({name, label, spec, value, onInput, title, onTyped}) {
  const scale = SCALES[spec.scale || "linear"] || SCALES.linear;
  const text = label || displayName(name);
  const range = el("input", {type: "range", min: 0, max: STEPS, step: 1, "aria-label": text, "data-name": name});
  const box = el("input", {type: "number", step: "any", "aria-label": `${text} value`, "data-name": name});
  // what is wrong with the box, said under it (a typed "1e", or a refusal of its value)
  const note = el("div", {class: "slider-error", role: "alert", hidden: true});
  const say = (message) => {
    note.textContent = message || "";
    note.hidden = !message;
    markInvalid(box, Boolean(message));
  };
  const state = {value};
  const place = (v) => {
    const p = Number.isFinite(v) ? Math.min(1, Math.max(0, scale.to(v, spec))) : 0;
    range.value = String(Math.round(p * STEPS));
    box.value = v === undefined || v === null ? "" : String(v);
    say("");
  };
  let bad = false;  // the box holds typed text that is no number (said under it)
  const typedBad = (now) => {  // the card hears only of a change, not of every drag step
    if (now === bad) return;
    bad = now;
    onTyped?.(now);
  };
  range.addEventListener("input", () => {
    const v = snap(scale.from(Number(range.value) / STEPS, spec), spec);
    if (v === state.value) return;  // the same number: nothing to redraw
    state.value = v;
    box.value = String(v);
    say("");
    typedBad(false);
    onInput(v);
  });
  box.addEventListener("change", () => {
    const v = Number(box.value);
    const whole = spec.kind === "int";
    if (box.value.trim() === "" || !Number.isFinite(v) || (whole && !Number.isInteger(v))) {
      // a number box holds "" both when empty and when what is typed is no number ("1e")
      const why = box.validity.badInput ? "what is typed is not one"
        : box.value.trim() === "" ? "the box is empty" : `got ${box.value.trim()}`;
      say(`${text} must be ${whole ? "a whole number" : "a number"}; ${why}`);
      typedBad(true);
      return;
    }
    state.value = v;
    place(v);
    typedBad(false);
    onInput(v);
  });
  place(value);
  // 6.2em of 14 px: the label column; a longer name gets a row of its own
  const node = el("div", {class: textWidth(text, 14) > 84 ? "slider long" : "slider", title: title || name},
    el("label", {}, text), range, box, note);
  return {
    node, range, box,
    set(v) { state.value = v; place(v); },
    /** A refusal of its value said under it, its box marked ("" clears it). */
    showError: say,
    get value() { return state.value; },
  };
}

/** A checkbox, a select or a slider for one hyperparameter spec (`onTyped`: see slider). */
export function widget(spec, value, onInput, label, onTyped) {
  if (spec.kind === "bool") {
    const box = el("input", {type: "checkbox", "data-name": spec.name});
    box.checked = Boolean(value);
    box.addEventListener("change", () => onInput(box.checked));
    const node = el("label", {class: "check", title: spec.name}, box, label || displayName(spec.name));
    return {node, box: node, set(v) { box.checked = Boolean(v); }};
  }
  if (spec.kind === "choice") {
    const select = el("select", {"data-name": spec.name, "aria-label": label || displayName(spec.name)},
      spec.choices.map((c) => el("option", {value: c}, String(c))));
    select.value = value;
    select.addEventListener("change", () => onInput(select.value));
    return {node: el("div", {class: "row", title: spec.name}, el("label", {}, label || displayName(spec.name)), select),
      box: select, set(v) { select.value = v; }};
  }
  return slider({name: spec.name, label, spec, value, onInput, onTyped});
}

/**
 * One optimizer: name, preset and a widget per hyperparameter (lr first; the
 * rest behind "more"). `run` is {optimizer, preset, hp} and is changed in place.
 */
export function optimizerCard({catalog, run, color, onChange, onRemove, removable = true}) {
  const names = Object.values(catalog.optimizers).filter((o) => o.available);
  const card = el("div", {class: "card", "data-optimizer": run.optimizer});
  card.style.setProperty("--swatch", color);
  const pick = el("select", {"aria-label": "optimizer", class: "pick-optimizer"},
    names.map((o) => el("option", {value: o.name, title: o.summary}, o.label)));
  pick.value = run.optimizer;
  const preset = el("select", {"aria-label": "preset", class: "pick-preset"});
  const remove = el("button", {class: "remove", title: "remove this optimizer", "aria-label": "remove"}, "×");
  remove.disabled = !removable;
  const body = el("div", {});
  const error = el("p", {class: "error", hidden: true});
  card.append(el("div", {class: "head"}, pick, preset, remove), body, error);
  let open = false;
  let widgets = {};  // by hyperparameter name
  let marked = null;  // the hyperparameter whose box the server's refusal marked
  let said = null;  // what sayRefusals last said on it (null: nothing, or its boxes rebuilt since)
  let refusal = null;  // the server's refusal of this run standing now: {message, field, label}
  const typed = new Set();  // the boxes holding a typed text that is no number ("1e")
  let extra = null;
  let toggle = null;

  const setOpen = (value) => {
    open = value;
    if (!extra) return;
    extra.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = `${open ? "▾" : "▸"} ${extra.children.length} more`;
  };

  const build = () => {
    const spec = catalog.optimizers[run.optimizer];
    card.dataset.optimizer = run.optimizer;
    preset.replaceChildren(el("option", {value: ""}, "defaults"),
      ...Object.keys(spec.presets).map((p) => el("option", {value: p}, p)));
    preset.value = run.preset || "";
    const base = run.preset ? spec.presets[run.preset] : spec.defaults;
    widgets = {};
    marked = null;
    said = null;  // new boxes: the same refusal coming back is said (and marked) again
    refusal = null;
    typed.clear();
    extra = el("div", {class: "extra", hidden: !open});
    for (const hp of spec.hyperparameters) {
      if (!(hp.name in run.hp)) run.hp[hp.name] = base[hp.name];
      const w = widget(hp, run.hp[hp.name], (v) => {
        run.hp[hp.name] = v;
        // a new value unmarks its box (the slider's own note): the refusal stands until an
        // answer comes back without it, and sayRefusals skips a card saying the same words
        if (marked === hp.name) markInvalid(widgets[hp.name].box, true);
        onChange(run);
      }, undefined, (bad) => {
        // what is typed in a box is what is current there: its own message replaces the
        // server's refusal of the value before it (which stands until an answer comes back
        // without it, and is said again once the box holds a number)
        if (bad) typed.add(hp.name); else typed.delete(hp.name);
        showRefusal();
      });
      widgets[hp.name] = w;
      if (hp.name !== "lr") extra.append(w.node);
    }
    const more = extra.children.length;
    toggle = el("button", {class: "more", type: "button", "aria-expanded": String(open)}, `${open ? "▾" : "▸"} ${more} more`);
    toggle.addEventListener("click", () => setOpen(!open));
    const lr = widgets.lr;
    body.replaceChildren(...(lr ? [lr.node] : []), ...(more > 0 ? [toggle, extra] : []));
    card.append(error);  // back at the card's foot, were it beside a box just replaced
    card.title = spec.summary;
  };

  pick.addEventListener("change", () => {
    run.optimizer = pick.value;
    const spec = catalog.optimizers[run.optimizer];
    if (run.preset && !(run.preset in spec.presets)) run.preset = null;
    run.hp = {};
    build();
    onChange(run);
  });
  preset.addEventListener("change", () => {
    run.preset = preset.value || null;
    run.hp = {};
    build();
    onChange(run);
  });
  remove.addEventListener("click", () => onRemove(run));

  function showRefusal() {
    // the refusal standing, in the card's words, under the box it is about (its box marked,
    // and shown if it was behind "more"); unless that box holds a typed text that is no
    // number, whose own message is the one said there
    const {message = "", field = "", label = ""} = refusal || {};
    const refused = /\.hyperparameters\.(\w+)$/.exec(field || "")?.[1];
    const shown = Boolean(message) && !typed.has(refused);
    // unmark only the box this card marked (one holding a typed "1e" keeps its own mark)
    if (marked && widgets[marked] && !typed.has(marked)) markInvalid(widgets[marked].box, false);
    marked = shown && widgets[refused] ? refused : null;
    if (marked) markInvalid(widgets[marked].box, true);
    if (marked && marked !== "lr") setOpen(true);
    const names = catalog.optimizers[run.optimizer]?.hyperparameters.map((h) => h.name) || [];
    error.textContent = shown ? cardWords(message, label, names) : "";
    error.hidden = !shown;
    // said right under the box it is about (not below the card's other boxes)
    if (shown && widgets[refused]) widgets[refused].node.after(error); else card.append(error);
  }

  build();
  return {
    node: card,
    /** What sayRefusals last said on this card (its memo, forgotten when the card is rebuilt). */
    get said() { return said; },
    set said(value) { said = value; },
    /**
     * The server's refusal of this run (its `field`: runs[1].hyperparameters.beta1),
     * said in the card's words (`label`: the card's name) and its box marked (shown,
     * if it was behind "more"); no message: cleared.
     */
    showError(message, field = "", label = catalog.optimizers[run.optimizer]?.label || run.optimizer) {
      refusal = message ? {message, field, label} : null;
      showRefusal();
    },
  };
}

/** Say on each card why it was refused (its box marked), and clear the others:
 * ``refused`` holds ``{index, message, field, label}``. A card already showing the
 * same words is left as it is, so a "more" the learner closed stays closed. */
export function sayRefusals(cards, refused) {
  const byCard = new Map(refused.map((r) => [r.index, r]));
  cards.forEach((card, i) => {
    const r = byCard.get(i);
    const said = r ? JSON.stringify([r.message, r.field, r.label]) : "";
    if (card.said === said) return;
    card.said = said;
    if (r) card.showError(r.message, r.field, r.label); else card.showError("");
  });
}

/** A caption's cards not run, by their labels: "Not run: Adam (its card says why)." or
 * "Not run: Adam and RMSprop (their cards say why)."; "" for none. With `subject`, a
 * sentence's end: "Adam and RMSprop were not run (their cards say why)." */
export function notRunWords(labels, subject = false) {
  if (!labels.length) return "";
  const many = labels.length > 1;
  const list = many ? `${labels.slice(0, -1).join(", ")} and ${labels[labels.length - 1]}` : labels[0];
  const why = `(${many ? "their cards say" : "its card says"} why).`;
  return subject ? `${list} ${many ? "were" : "was"} not run ${why}` : `Not run: ${list} ${why}`;
}

/** What the server gets for a run: hyperparameters that differ from the preset's (lr always). */
export function runPayload(catalog, run) {
  const spec = catalog.optimizers[run.optimizer];
  const base = run.preset ? spec.presets[run.preset] : spec.defaults;
  const hyperparameters = {};
  for (const [key, value] of Object.entries(run.hp)) {
    if (key === "lr" || value !== base[key]) hyperparameters[key] = value;
  }
  const out = {optimizer: run.optimizer, hyperparameters};
  if (run.preset) out.preset = run.preset;
  return out;
}

/**
 * The cards to send and those left out: a card refused as it stands (`refusedRuns`, a
 * WeakMap of a card's run → {key, error}, holds the `keyOf(payload, refusal)` it was
 * refused with) is left out; any other card's refusal is forgotten (changed since: sent
 * again).
 * Returns {runs, indices, labels, payloads, refused}: the cards sent, their indices
 * and payloads, every card's label, and {index, label, error} of each left out.
 */
export function partitionRuns(catalog, runs, refusedRuns, keyOf) {
  const labels = runLabels(catalog, runs);
  const out = {runs: [], indices: [], labels, payloads: [], refused: []};
  runs.forEach((run, i) => {
    const payload = runPayload(catalog, run);
    const refusal = refusedRuns.get(run);
    if (refusal && refusal.key === keyOf(payload, refusal)) {
      out.refused.push({index: i, label: labels[i], error: refusal.error});
      return;
    }
    refusedRuns.delete(run);
    out.runs.push(run);
    out.indices.push(i);
    out.payloads.push(payload);
  });
  return out;
}

/** A run from a payload (URL state, setups): preset values, then the given ones. */
export function runFrom(catalog, payload) {
  const spec = catalog.optimizers[payload.optimizer];
  if (!spec || !spec.available) return null;
  const preset = payload.preset && payload.preset in spec.presets ? payload.preset : null;
  const base = preset ? spec.presets[preset] : spec.defaults;
  const hp = {};
  for (const h of spec.hyperparameters) hp[h.name] = base[h.name];
  for (const [key, value] of Object.entries(payload.hyperparameters || {})) {
    if (key in hp && typeof value !== "object") hp[key] = value;
  }
  return {optimizer: payload.optimizer, preset, hp};
}

/**
 * A schedule picker: none or any registered schedule, with a widget per argument.
 * `value` is null or {name, arguments}; `onChange(value)`.
 */
export function schedulePicker({catalog, value, onChange, allowNone = true, label = "schedule"}) {
  const node = el("div", {class: "schedule-picker"});
  const select = el("select", {"aria-label": label, class: "pick-schedule"},
    allowNone ? el("option", {value: ""}, "none (constant lr)") : null,
    Object.values(catalog.schedules).map((s) => el("option", {value: s.name, disabled: !s.available,
      title: s.available ? s.summary : `not on this page: ${s.reason}`}, s.available ? s.name : `${s.name} (Python only)`)));
  const args = el("div", {});
  const note = el("p", {class: "hint"});
  const error = el("p", {class: "error schedule-error", hidden: true, role: "alert"});
  node.append(el("div", {class: "row"}, el("label", {}, label), select), args, error, note);
  let current = value ? {name: value.name, arguments: {...value.arguments}} : null;
  let boxes = {};  // each argument's box, by name
  let marked = null;  // the argument whose box the server's refusal marked
  let refusal = null;  // the server's refusal standing now: {message, field}
  const typed = new Set();  // the arguments whose box holds a typed text that is no number
  const onTyped = (name) => (bad) => {
    // a box's own message ("1e") replaces the server's refusal of the value before it there
    if (bad) typed.add(name); else typed.delete(name);
    showRefusal();
  };

  const build = () => {
    args.replaceChildren();
    boxes = {};
    marked = null;
    refusal = null;  // the previous schedule's: its boxes are gone
    typed.clear();
    select.value = current ? current.name : "";
    if (!current) {
      note.textContent = "";
      return;
    }
    const spec = catalog.schedules[current.name];
    note.textContent = spec.summary.replaceAll("``", "");
    for (const a of spec.arguments) {
      if (a.kind === "base") continue;
      if (!(a.name in current.arguments)) current.arguments[a.name] = a.default;
      const set = (v) => {
        current.arguments[a.name] = v;
        if (marked === a.name) markInvalid(boxes[a.name], true);  // as on a card: until lifted
        onChange(current);
      };
      if (a.kind === "fraction") {
        const w = slider({name: a.name, label: `${displayName(a.name)} ×lr`, spec: {kind: "real", scale: a.scale || "linear", min: a.min ?? 0, max: a.max ?? 1},
          value: current.arguments[a.name], onInput: set, title: `${a.name}, as a multiple of the initial rate`,
          onTyped: onTyped(a.name)});
        boxes[a.name] = w.box;
        args.append(w.node);
      } else if (a.kind === "ints" || a.kind === "fractions") {
        const box = el("input", {type: "text", value: current.arguments[a.name].join(", "), "data-name": a.name,
          "aria-label": a.name, title: a.kind === "fractions" ? "multiples of the initial rate" : "steps"});
        const note = el("div", {class: "list-error", role: "alert", hidden: true});
        box.addEventListener("change", () => {
          // "5, 3" → [5, 3]; an empty item ("5,", or an empty box) is no number, never 0
          const items = box.value.split(",").map((t) => t.trim());
          const list = items.map((t) => (t === "" ? NaN : Number(t)));
          const bad = list.some((v) => !Number.isFinite(v) || (a.kind === "ints" && !Number.isInteger(v)));
          markInvalid(box, bad);
          note.textContent = bad ? `${a.name} must be ${a.kind === "ints" ? "whole numbers" : "numbers"}`
            + ` separated by commas; got ${box.value.trim() || "an empty box"}` : "";
          note.hidden = !bad;
          onTyped(a.name)(bad);
          if (!bad) set(list);
        });
        boxes[a.name] = box;
        args.append(el("div", {class: "row"}, el("label", {}, a.kind === "fractions" ? `${a.name} ×lr` : a.name), box), note);
      } else {
        const w = widget(a, current.arguments[a.name], set, undefined, onTyped(a.name));
        boxes[a.name] = w.box;
        args.append(w.node);
      }
    }
  };

  /**
   * The server's refusal of the schedule (field schedule.arguments.NAME) in the page's
   * words, under the picker, its box marked: "schedule: boundaries must be …" becomes
   * "piecewise: boundaries must be …". No message: cleared.
   */
  const showError = (message, field = "") => {
    refusal = message ? {message, field} : null;
    showRefusal();
  };

  function showRefusal() {
    // unless the box it is about holds a typed text that is no number, whose own message is said
    const {message = "", field = ""} = refusal || {};
    const refused = /^schedule\.arguments\.(\w+)/.exec(field || "")?.[1];
    const shown = Boolean(message) && !typed.has(refused);
    // only the box it marked: one holding a typed "5,,3" keeps its own mark
    if (!typed.has(marked)) markInvalid(boxes[marked], false);
    marked = shown && boxes[refused] ? refused : null;
    markInvalid(boxes[marked], true);
    markInvalid(select, shown && field === "schedule.name");
    error.textContent = shown ? scheduleWords(catalog, current?.name, message) : "";
    error.hidden = !shown;
  }

  select.addEventListener("change", () => {
    current = select.value ? {name: select.value, arguments: {}} : null;
    build();
    onChange(current);
  });
  build();
  return {
    node,
    showError,
    get value() { return current; },
    set(v) { current = v ? {name: v.name, arguments: {...v.arguments}} : null; build(); },
  };
}

export function describeRun(catalog, run) {
  const spec = catalog.optimizers[run.optimizer];
  return `${spec.label}${run.preset ? ` (${run.preset})` : ""}, lr ${fmt(run.hp.lr)}`;
}
