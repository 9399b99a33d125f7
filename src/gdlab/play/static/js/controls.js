// Controls: sliders on the scales the server declares, optimizer cards, schedule pickers.

import {el, nice, fmt} from "./util.js";

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
  lr: "lr", beta1: "β1", beta2: "β2", beta3: "β3", eps: "ε", alpha: "α", rho: "ρ",
  weight_decay: "weight decay", lr0: "lr0", momentum: "momentum",
};

export function displayName(key) {
  return NAMES[key] || key.replaceAll("_", " ");
}

/**
 * A slider with a number box: {node, set(value), value}. `onInput(value)` fires on
 * every move (and on a typed number); the value is snapped to a readable number.
 */
export function slider({name, label, spec, value, onInput, title}) {
  const scale = SCALES[spec.scale || "linear"] || SCALES.linear;
  const range = el("input", {type: "range", min: 0, max: STEPS, step: 1, "aria-label": label || displayName(name), "data-name": name});
  const box = el("input", {type: "number", step: "any", "aria-label": `${label || displayName(name)} value`, "data-name": name});
  const state = {value};
  const place = (v) => {
    const p = Number.isFinite(v) ? Math.min(1, Math.max(0, scale.to(v, spec))) : 0;
    range.value = String(Math.round(p * STEPS));
    box.value = v === undefined || v === null ? "" : String(v);
    box.classList.remove("invalid");
  };
  range.addEventListener("input", () => {
    const v = snap(scale.from(Number(range.value) / STEPS, spec), spec);
    if (v === state.value) return;  // the same number: nothing to redraw
    state.value = v;
    box.value = String(v);
    box.classList.remove("invalid");
    onInput(v);
  });
  box.addEventListener("change", () => {
    const v = Number(box.value);
    if (box.value.trim() === "" || !Number.isFinite(v) || (spec.kind === "int" && !Number.isInteger(v))) {
      box.classList.add("invalid");
      return;
    }
    state.value = v;
    place(v);
    onInput(v);
  });
  place(value);
  const node = el("div", {class: "slider", title: title || name},
    el("label", {}, label || displayName(name)), range, box);
  return {
    node, range, box,
    set(v) { state.value = v; place(v); },
    get value() { return state.value; },
  };
}

/** A checkbox, a select or a slider for one hyperparameter spec. */
export function widget(spec, value, onInput, label) {
  if (spec.kind === "bool") {
    const box = el("input", {type: "checkbox", "data-name": spec.name});
    box.checked = Boolean(value);
    box.addEventListener("change", () => onInput(box.checked));
    return {node: el("label", {class: "check", title: spec.name}, box, label || displayName(spec.name)),
      set(v) { box.checked = Boolean(v); }};
  }
  if (spec.kind === "choice") {
    const select = el("select", {"data-name": spec.name, "aria-label": label || displayName(spec.name)},
      spec.choices.map((c) => el("option", {value: c}, String(c))));
    select.value = value;
    select.addEventListener("change", () => onInput(select.value));
    return {node: el("div", {class: "row", title: spec.name}, el("label", {}, label || displayName(spec.name)), select),
      set(v) { select.value = v; }};
  }
  return slider({name: spec.name, label, spec, value, onInput});
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

  const build = () => {
    const spec = catalog.optimizers[run.optimizer];
    card.dataset.optimizer = run.optimizer;
    preset.replaceChildren(el("option", {value: ""}, "defaults"),
      ...Object.keys(spec.presets).map((p) => el("option", {value: p}, p)));
    preset.value = run.preset || "";
    const base = run.preset ? spec.presets[run.preset] : spec.defaults;
    const widgets = [];
    const extra = el("div", {class: "extra", hidden: !open});
    for (const hp of spec.hyperparameters) {
      if (!(hp.name in run.hp)) run.hp[hp.name] = base[hp.name];
      const w = widget(hp, run.hp[hp.name], (v) => { run.hp[hp.name] = v; onChange(run); });
      widgets.push(w);
      (hp.name === "lr" ? body : extra).append(w.node);
    }
    const more = extra.children.length;
    const toggle = el("button", {class: "more", type: "button", "aria-expanded": String(open)}, `${open ? "▾" : "▸"} ${more} more`);
    toggle.addEventListener("click", () => {
      open = !open;
      extra.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = `${open ? "▾" : "▸"} ${more} more`;
    });
    const lr = widgets[spec.hyperparameters.findIndex((h) => h.name === "lr")];
    body.replaceChildren(...(lr ? [lr.node] : []), ...(more > 0 ? [toggle, extra] : []));
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
  build();
  return {
    node: card,
    showError(message) { error.textContent = message || ""; error.hidden = !message; },
  };
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
  node.append(el("div", {class: "row"}, el("label", {}, label), select), args, note);
  let current = value ? {name: value.name, arguments: {...value.arguments}} : null;

  const build = () => {
    args.replaceChildren();
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
      const set = (v) => { current.arguments[a.name] = v; onChange(current); };
      if (a.kind === "fraction") {
        args.append(slider({name: a.name, label: `${displayName(a.name)} ×lr`, spec: {kind: "real", scale: a.scale || "linear", min: a.min ?? 0, max: a.max ?? 1},
          value: current.arguments[a.name], onInput: set, title: `${a.name}, as a multiple of the initial rate`}).node);
      } else if (a.kind === "ints" || a.kind === "fractions") {
        const box = el("input", {type: "text", value: current.arguments[a.name].join(", "), "data-name": a.name,
          "aria-label": a.name, title: a.kind === "fractions" ? "multiples of the initial rate" : "steps"});
        box.addEventListener("change", () => {
          const list = box.value.split(",").map((t) => Number(t.trim()));
          const bad = list.some((v) => !Number.isFinite(v) || (a.kind === "ints" && !Number.isInteger(v)));
          box.classList.toggle("invalid", bad || list.length === 0);
          if (!bad && list.length) set(list);
        });
        args.append(el("div", {class: "row"}, el("label", {}, a.kind === "fractions" ? `${a.name} ×lr` : a.name), box));
      } else {
        args.append(widget(a, current.arguments[a.name], set).node);
      }
    }
  };

  select.addEventListener("change", () => {
    current = select.value ? {name: select.value, arguments: {}} : null;
    build();
    onChange(current);
  });
  build();
  return {
    node,
    get value() { return current; },
    set(v) { current = v ? {name: v.name, arguments: {...v.arguments}} : null; build(); },
  };
}

export function describeRun(catalog, run) {
  const spec = catalog.optimizers[run.optimizer];
  return `${spec.label}${run.preset ? ` (${run.preset})` : ""}, lr ${fmt(run.hp.lr)}`;
}
