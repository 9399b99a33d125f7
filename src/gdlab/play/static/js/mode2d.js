// 2-D mode: optimizers' paths over the contours of a function, live.

import {api, el, svg, fmt, unpack, Latest, PALETTE, debounce, showTooltip, hideTooltip, textWidth, markInvalid,
  reasonWords} from "./util.js";
import {Plot, extent, fitted, onGrid, pow10} from "./plot.js";
import {slider, optimizerCard, runPayload, runFrom, schedulePicker, runLabels, cardWords, scheduleWords, partitionRuns, notRunWords,
  displayName, sayRefusals as sayCardRefusals} from "./controls.js";

const W = 760;
const H = 470;
const CUSTOM = "__custom__";
const DEFAULT_EXPRESSION = "x^2/20 + y^2 + sin(x)*cos(y)/2";

export function create2d({catalog, initial, onState, banner}) {
  const functions = Object.fromEntries(catalog.functions.map((f) => [f.name, f]));
  const limits = catalog.limits;
  const state = defaults(catalog, functions);
  // runs: those drawn, each with its card's index (its colour); notRun: the cards refused
  const view = {surface: null, plot: null, runs: [], notRun: [], answer: null, cache: new Map(), error: null};
  const cards = [];

  // ------------------------------------------------------------------ controls
  const root = document.getElementById("controls-2d");
  // a title's formula ("x²/20 + y²") stays whole when the label wraps (a scrollbar narrows the panel)
  const setupButtons = catalog.setups.map((s) =>
    el("button", {type: "button", "data-setup": s.name, title: s.description, onclick: () => applySetup(s)},
      s.title.replace(/ ([-+−*/=]) /g, "\u00a0$1\u00a0")));
  const presetAll = el("select", {"aria-label": "preset for every optimizer"},
    catalog.presets.map((p) => el("option", {value: p}, p)));
  const presetApply = el("button", {type: "button", onclick: () => applyPresetToAll(presetAll.value)}, "Apply");
  presetAll.value = catalog.presets.includes("book") ? "book" : catalog.presets[0];
  // the optimizers a preset applied to every one skipped (it has none of that name), said
  // beside Apply until the next change
  const presetNote = el("p", {class: "hint apply-note", id: "preset-note", role: "status", hidden: true});
  root.append(el("fieldset", {class: "setups"}, el("legend", {}, "One click"),
    el("div", {class: "buttons"}, setupButtons),
    el("div", {class: "row"}, el("label", {}, "every optimizer"), presetAll, presetApply), presetNote,
    el("p", {class: "hint"}, "Preset book gives the book's learning rates (SGD, Momentum, Nesterov, AdaGrad, RMSprop 0.01; Adam 0.001).")));

  const fnSelect = el("select", {"aria-label": "function", id: "function-select"},
    catalog.functions.map((f) => el("option", {value: f.name, title: f.description}, `${f.name}: ${f.description.replace("f(x, y) = ", "")}`)),
    el("option", {value: CUSTOM}, "your own f(x, y)…"));
  const exprInput = el("input", {type: "text", id: "expression", spellcheck: "false", autocomplete: "off",
    "aria-label": "f(x, y)", maxlength: catalog.expression.max_length, placeholder: DEFAULT_EXPRESSION});
  const exprError = el("div", {class: "expr-error", id: "expression-error", hidden: true});
  const gradText = el("div", {class: "gradient", id: "gradient-text"});
  const exprBox = el("div", {class: "expression"}, el("label", {for: "expression", class: "hint"},
    `f(x, y) in x and y, with numbers, pi, e, + − * / ^ ( ) and ${catalog.expression.functions.join(" ")}`), exprInput, exprError, gradText);
  const viewInputs = ["x from", "x to", "y from", "y to"].map((label) =>
    el("input", {type: "number", step: "any", "aria-label": label, class: "view-input", "aria-describedby": "range-error"}));
  const rangeError = el("div", {class: "range-error", id: "range-error", hidden: true});
  const viewReset = el("button", {type: "button", title: "the function's own range"}, "reset");
  const startText = el("span", {id: "start-text"});
  const startNote = el("div", {class: "start-note", id: "start-note", hidden: true});
  root.append(el("fieldset", {}, el("legend", {}, "Function"), fnSelect, exprBox,
    el("div", {class: "row"}, el("label", {}, "x range"), viewInputs[0], viewInputs[1]),
    el("div", {class: "row"}, el("label", {}, "y range"), viewInputs[2], viewInputs[3]), rangeError,
    el("div", {class: "row"}, viewReset),
    el("div", {class: "row"}, el("label", {}, "start"), startText), startNote,
    el("p", {class: "hint"}, "Click the contour plot to start there; drag the white ring to move the start.")));

  const stepsSlider = slider({name: "steps", label: "steps", value: state.steps,
    spec: {kind: "int", scale: "log", min: 1, max: limits.max_steps},
    onInput: (v) => {
      // a typed count past the cap is refused where it is typed (it showed 10000, ran 5000)
      if (v < 1 || v > limits.max_steps) {
        stepsSlider.showError(`steps must be from 1 to ${limits.max_steps.toLocaleString("en")}; got ${v}`);
        return;
      }
      state.steps = v;
      changed();
    }});
  const schedule = schedulePicker({catalog, value: state.schedule, onChange: (v) => { state.schedule = v; changed(); }});
  root.append(el("fieldset", {}, el("legend", {}, "Steps and learning-rate schedule"), stepsSlider.node, schedule.node,
    el("p", {class: "hint"}, "A schedule applies to every optimizer, built from its own lr.")));

  const cardBox = el("div", {id: "cards-2d"});
  const addButton = el("button", {type: "button", id: "add-optimizer", onclick: () => addRun()}, "+ Add optimizer");
  const optimizersLegend = el("legend", {}, "Optimizers");
  root.append(el("fieldset", {}, optimizersLegend, cardBox, addButton));

  fnSelect.addEventListener("change", () => {
    if (fnSelect.value === CUSTOM) {
      state.function = null;
      state.expression = state.expression || DEFAULT_EXPRESSION;
      state.xlim = [-5, 5];
      state.ylim = [-5, 5];
      state.start = [-4, 3];
    } else {
      const fn = functions[fnSelect.value];
      state.function = fn.name;
      state.expression = null;
      state.xlim = [...fn.xlim];
      state.ylim = [...fn.ylim];
      state.start = [...fn.start];
    }
    syncControls();
    surfaceChanged();
  });
  exprInput.addEventListener("input", debounce(() => {
    state.expression = exprInput.value;
    surfaceChanged();
  }, 250));
  viewInputs.forEach((box, i) => box.addEventListener("change", () => {
    const v = Number(box.value);
    const label = box.getAttribute("aria-label");
    // a number box holds "" both when empty and when what is typed is not a number ("1e", "--5")
    if (box.validity.badInput) range.typed.set(i, `${label} must be a number between ${fmt(-limits.max_coordinate)} and ${fmt(limits.max_coordinate)}; what is typed is not one`);
    else if (box.value.trim() === "") range.typed.set(i, `${label} must be a number; the box is empty`);
    else if (!Number.isFinite(v)) range.typed.set(i, `${label} must be a finite number; got ${box.value}`);
    else range.typed.delete(i);
    if (range.typed.has(i)) { showRange(); return; }
    const lim = i < 2 ? state.xlim : state.ylim;
    lim[i % 2] = v;
    surfaceChanged();
  }));
  viewReset.addEventListener("click", () => {
    if (state.function) {
      state.xlim = [...functions[state.function].xlim];
      state.ylim = [...functions[state.function].ylim];
    } else {
      state.xlim = [-5, 5];
      state.ylim = [-5, 5];
    }
    syncControls();
    surfaceChanged();
  });

  function syncControls() {
    fnSelect.value = state.function || CUSTOM;
    exprBox.hidden = Boolean(state.function);
    if (!state.function && exprInput.value !== state.expression) exprInput.value = state.expression;
    [state.xlim[0], state.xlim[1], state.ylim[0], state.ylim[1]].forEach((v, i) => { viewInputs[i].value = String(v); });
    range.typed.clear();
    range.refused = null;
    showRange();
    exprError.hidden = true;  // what f's box said was about the f shown before
    markInvalid(exprInput, false);
    showStart();
    stepsSlider.set(state.steps);
    schedule.set(state.schedule);
    state.schedule = schedule.value;  // its arguments filled with their defaults
    buildCards();
  }

  function buildCards() {
    cards.length = 0;
    cardBox.replaceChildren(...state.runs.map((run, i) => {
      const card = optimizerCard({catalog, run, color: PALETTE[i % PALETTE.length],
        onChange: () => changed(), onRemove: (r) => removeRun(r), removable: state.runs.length > 1});
      cards.push(card);
      return card.node;
    }));
    addButton.disabled = state.runs.length >= limits.max_runs;
    optimizersLegend.textContent = `Optimizers (${state.runs.length} of at most ${limits.max_runs})`;
  }

  function addRun() {
    if (state.runs.length >= limits.max_runs) return;
    const used = new Set(state.runs.map((r) => r.optimizer));
    const order = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", ...Object.keys(catalog.optimizers)];
    const name = order.find((n) => !used.has(n) && catalog.optimizers[n]?.available) || "adam";
    state.runs.push(runFrom(catalog, {optimizer: name}));
    buildCards();
    changed();
  }

  function removeRun(run) {
    if (state.runs.length <= 1) return;
    state.runs.splice(state.runs.indexOf(run), 1);
    buildCards();
    changed();
  }

  function applySetup(setup) {
    const fn = functions[setup.function];
    state.function = fn.name;
    state.expression = null;
    state.xlim = [...fn.xlim];
    state.ylim = [...fn.ylim];
    state.start = [...setup.start];
    state.steps = setup.steps;
    state.schedule = null;
    state.runs = setup.runs.map((r) => runFrom(catalog, r)).filter(Boolean);
    syncControls();
    surfaceChanged();
  }

  function applyPresetToAll(preset) {
    const labels = runLabels(catalog, state.runs);
    const skipped = [];  // {label, kept}: an optimizer without that preset keeps its own
    state.runs.forEach((run, i) => {
      const spec = catalog.optimizers[run.optimizer];
      if (!(preset in spec.presets)) {
        skipped.push({label: labels[i], kept: run.preset || "defaults"});
        return;
      }
      run.preset = preset;
      run.hp = {...spec.presets[preset]};
    });
    buildCards();
    changed();
    presetNote.textContent = skippedWords(preset, skipped);
    presetNote.hidden = !skipped.length;
  }

  function skippedWords(preset, skipped) {
    // "AdaGrad and Nesterov have no course preset: kept book"
    if (!skipped.length) return "";
    const names = skipped.map((s) => s.label);
    const listed = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
    const same = skipped.every((s) => s.kept === skipped[0].kept);
    const kept = same ? `kept ${skipped[0].kept}` : `kept their own (${skipped.map((s) => `${s.label} ${s.kept}`).join(", ")})`;
    return `${listed} ${names.length === 1 ? "has" : "have"} no ${preset} preset: ${kept}`;
  }

  // ------------------------------------------------------------------ requests
  function functionBody() {
    const body = state.function ? {function: state.function} : {expression: state.expression};
    body.xlim = [...state.xlim];  // copies: a box's change edits the state's in place
    body.ylim = [...state.ylim];
    return body;
  }

  // The x and y range boxes, in the page's words ("x from", "x range", never xlim): a box
  // that holds no number, a range the page can tell is wrong before asking (beyond the
  // coordinates' cap, the wrong way round, too narrow), or the server's refusal of a
  // range. Its boxes are marked and the message is said under them, never in the banner.
  const range = {typed: new Map(), refused: null};
  const BOX_WORDS = ["x from", "x to", "y from", "y to"];
  const PAGE_WORDS = {xlim: "x range", ylim: "y range", start: "start",
    "xlim[0]": "x from", "xlim[1]": "x to", "ylim[0]": "y from", "ylim[1]": "y to",
    "start[0]": "start x", "start[1]": "start y"};

  function rangeProblems() {
    // what the page itself finds wrong with the ranges it holds: {boxes, messages}
    const boxes = new Set();
    const messages = [];
    const cap = limits.max_coordinate;
    const shown = (i) => viewInputs[i].value.trim();  // as the learner typed it (1e7)
    [state.xlim, state.ylim].forEach((lim, pair) => {
      let fine = true;
      lim.forEach((v, end) => {
        const i = 2 * pair + end;
        if (range.typed.has(i)) { fine = false; return; }
        if (Math.abs(v) <= cap) return;
        fine = false;
        boxes.add(i);
        messages.push(`${BOX_WORDS[i]} must be between ${fmt(-cap)} and ${fmt(cap)}; got ${shown(i)}`);
      });
      if (!fine || lim[1] - lim[0] >= limits.min_span) return;
      boxes.add(2 * pair).add(2 * pair + 1);
      const [from, to] = BOX_WORDS.slice(2 * pair, 2 * pair + 2);
      const got = `got from ${shown(2 * pair)} to ${shown(2 * pair + 1)}`;
      messages.push(lim[1] > lim[0]
        ? `${pair ? "y" : "x"} range must be at least ${fmt(limits.min_span)} wide; ${got}`
        : `${from} must be below ${to}; ${got}`);
    });
    return {boxes, messages};
  }

  function rangeWrong() {
    return range.typed.size > 0 || rangeProblems().messages.length > 0;
  }

  function showRange() {
    const found = rangeProblems();
    const marked = new Set([...range.typed.keys(), ...found.boxes, ...(range.refused?.boxes || [])]);
    viewInputs.forEach((box, i) => markInvalid(box, marked.has(i)));
    const messages = [...range.typed.values(), ...found.messages];
    if (range.refused?.message && !messages.length) messages.push(range.refused.message);
    rangeError.replaceChildren(...messages.map((m) => el("div", {}, m)));
    rangeError.hidden = !messages.length;
    if (!view.surface) {
      // nothing drawn yet (a link with a range that cannot be drawn): the plot says where to look
      contourBox.replaceChildren(...(messages.length
        ? [el("p", {class: "nothing-drawn"}, "Nothing to draw yet: see what is said under the x and y range boxes.")] : []));
    }
  }

  function rangeBoxes(field) {
    const match = /^([xy])lim(?:\[([01])\])?$/.exec(field || "");
    if (!match) return null;
    const first = match[1] === "x" ? 0 : 2;
    return match[2] === undefined ? [first, first + 1] : [first + Number(match[2])];
  }

  function inPageWords(message) {
    // the server's message names the request's fields (xlim[0]): the page says "x from"
    return String(message).replace(/\b(xlim|ylim|start)(\[[01]\])?(?![\w[])/g, (name) => PAGE_WORDS[name])
      .replace(/\[low, high\] with high - low >= (\S+);/, "from low to high, at least $1 wide;");
  }

  function showFunctionRefusal(error) {
    // a refusal about the function or its view, where it belongs; false if it is not one.
    // One about the whole view (f not defined anywhere in it: fields xlim, ylim and
    // expression) marks every box it is about, f's too; it replaces any shown before.
    const fields = error.fields || (error.field ? [error.field] : []);
    const boxes = [...new Set(fields.flatMap((field) => rangeBoxes(field) || []))];
    if (boxes.length) {
      const aboutF = fields.includes("expression");
      const message = inPageWords(error.message) + (aboutF ? ": change f, or the x and y ranges" : "");
      range.refused = {boxes, message};
      showRange();
      exprError.hidden = true;
      markInvalid(exprInput, aboutF);
      return true;
    }
    if (error.field === "expression" || (!state.function && !error.field)) {
      range.refused = null;
      showRange();
      showExpressionError(error);
      return true;
    }
    return false;
  }

  function pathsBody(drawn = false, runs = true) {
    // drawn: on the function and view drawn (the paths live over them, also while the
    // boxes hold a range or f that cannot be drawn); else as the controls say (export).
    // runs: every card's run (false: the caller chooses them)
    const body = drawn && view.drawn ? {...view.drawn} : functionBody();
    body.start = state.start;
    body.steps = state.steps;
    if (runs) body.runs = state.runs.map((r) => runPayload(catalog, r));
    if (state.schedule) body.schedule = state.schedule;
    return body;
  }

  const surfaceRequests = new Latest(
    (body) => api("/api/surface", body),
    (answer, body) => {
      view.surface = answer;
      view.drawn = body;
      // where a path left the plot depends on the view: runs held for another view are asked again
      view.cache.clear();
      banner("");  // a refusal shown before no longer stands
      range.refused = null;
      showRange();
      exprError.hidden = true;
      markInvalid(exprInput, false);
      gradText.textContent = answer.function.gradient
        ? `∂f/∂x = ${answer.function.gradient[0]}\n∂f/∂y = ${answer.function.gradient[1]}` : "";
      drawContours();
      pathRequests.request(pathsRequest());
    },
    (error, body) => {
      if (JSON.stringify(body) !== JSON.stringify(functionBody())) return;  // asked before a change
      if (!showFunctionRefusal(error)) banner(inPageWords(error.message));
    },
  );

  // A card the server refused (β₁ = 1.5) is left out of the requests while it stays as it
  // was refused (its run and the schedule): the other cards' paths are drawn, each in its
  // card's colour, and the refused one keeps its message and says "not run" in the legend.
  // L-BFGS's work cap (steps × max_iter × (history_size + 10), summed over the cards that
  // iterate within a step) refuses those cards together: they are left out while the steps,
  // the schedule and each of them stay as refused (`together`), said under the steps box
  // (the refusal's field) and on each of those cards, its max iter box marked.
  const refusedRuns = new WeakMap();  // a card's run → {key, error, together}
  const sentWith = new WeakMap();  // a request's body → what it left out, and whose runs it holds
  let workSaid = false;  // the steps box says the work cap's refusal

  function refusalKey(payload, scheduleAsked) {
    return JSON.stringify([payload, scheduleAsked ?? null]);
  }

  function workKey(together, body) {
    // a card on the work cap is asked again once the steps, the schedule or any card refused with it change
    const payloads = together.map((run) => (state.runs.includes(run) ? runPayload(catalog, run) : null));
    return JSON.stringify([body.steps, body.schedule ?? null, payloads]);
  }

  function pathsRequest() {
    // the paths to ask for: every card but those refused as they stand (none sent: nothing asked)
    const body = pathsBody(true, false);
    const sent = partitionRuns(catalog, state.runs, refusedRuns,
      (payload, refusal) => (refusal.together ? workKey(refusal.together, body) : refusalKey(payload, body.schedule)));
    body.runs = sent.payloads;
    // what the legend says of each card left out (its hover), worked out once, not per redraw
    for (const refused of sent.refused) {
      refused.words = refused.error.work ? workWords(refused.error) : refusalWords(refused.error, refused.index);
    }
    sentWith.set(body, sent);
    return withHave(body);
  }

  function workWords(error) {
    // the work cap's refusal with the cards' labels for its names (max iter, history size)
    return error.message.replace(/\b(max_iter|history_size)\b/g, (name) => displayName(name));
  }

  function sayRefusals(sent) {
    const refused = (sent?.refused || []).map((r) => (r.error.work
      ? {index: r.index, field: r.error.field, label: r.label,
        message: `not run: too much work for ${state.steps} steps (said under steps); lower the steps, or max iter or history size`}
      : {index: r.index, message: r.error.message, field: r.error.field, label: r.label}));
    sayCardRefusals(cards, refused);
    const work = (sent?.refused || []).find((r) => r.error.work);
    if (work) stepsSlider.showError(workWords(work.error));
    else if (workSaid) stepsSlider.showError("");
    workSaid = Boolean(work);
  }

  function workRefusal(error, sent, body) {
    // the cards the work cap refused together (fields runs[j].hyperparameters.max_iter …),
    // each left out as refused; false when `error` is not that refusal
    if (error.field !== "steps") return false;
    const asked = [...new Set((error.fields || []).map((f) => /^runs\[(\d+)\]\.hyperparameters\./.exec(f)?.[1])
      .filter((j) => j !== undefined && Number(j) < body.runs.length).map(Number))];
    if (!asked.length) return false;
    const together = asked.map((j) => sent.runs[j]);
    const key = workKey(together, body);
    for (const j of asked) {
      const i = sent.indices[j];
      const refusal = {message: error.message, field: `runs[${j}].hyperparameters.max_iter`, work: true};
      refusedRuns.set(sent.runs[j], {key, together, error: refusal});
      sent.refused.push({index: i, label: sent.labels[i], error: refusal});
    }
    return true;
  }

  const pathRequests = new Latest(
    (body) => (body.runs.length ? api("/api/paths", body) : Promise.resolve({runs: [], steps: body.steps})),
    (answer, body) => {
      const sent = sentWith.get(body);
      view.answer = answer;
      // cardLr: the lr its card sent, from which a schedule starts (the legend names it)
      view.runs = answer.runs.map((r, j) => ({...decode(r), index: sent.indices[j], label: sent.labels[sent.indices[j]],
        cardLr: body.runs[j].hyperparameters?.lr}));
      view.notRun = sent.refused;
      view.error = sent.refused[0]?.error ?? null;
      banner("");
      sayRefusals(sent);
      schedule.showError("");
      drawPaths();
    },
    (error, body) => {
      const sent = sentWith.get(body);
      const j = runOf(error, body.runs.length);
      view.error = error;
      if (workRefusal(error, sent, body)) {
        // those cards are left out and the others asked again (drawn at the steps asked)
        sayRefusals(sent);
        pathRequests.request(pathsRequest(), changedAt);
        return;
      }
      if (j !== null) {
        // that card is left out and the others asked again (a further refusal: the same)
        const i = sent.indices[j];
        refusedRuns.set(sent.runs[j], {key: refusalKey(body.runs[j], body.schedule), error});
        sent.refused.push({index: i, label: sent.labels[i], error});
        sayRefusals(sent);
        pathRequests.request(pathsRequest(), changedAt);
        return;
      }
      sayRefusals(sent);  // the cards refused before still are; the refusal now standing is this one
      schedule.showError("");
      if (/^schedule(\.|$)/.test(error.field || "")) schedule.showError(error.message, error.field);
      else if (!showFunctionRefusal(error)) banner(inPageWords(error.message));
    },
  );

  function runOf(error, count = cards.length) {
    // the run a refusal is about (runs[1].hyperparameters.beta1: the second of `count`), or null
    const match = /^runs\[(\d+)\]/.exec(error.field || "");
    return match && Number(match[1]) < count ? Number(match[1]) : null;
  }

  function refusalWords(error, card = null) {
    // a refusal in the page's words, wherever it is said (a toast, the banner, a legend's
    // hover); `card`: the card a refusal of one run is about (else its field says)
    const i = card ?? runOf(error);
    if (i !== null) {
      const names = catalog.optimizers[state.runs[i].optimizer]?.hyperparameters.map((h) => h.name) || [];
      return cardWords(error.message, runLabels(catalog, state.runs)[i], names);
    }
    if (/^schedule(\.|$)/.test(error.field || "")) return scheduleWords(catalog, state.schedule?.name, error.message);
    return inPageWords(error.message);
  }

  function withHave(body) {
    body.have = [...view.cache.keys()].slice(-60);
    return body;
  }

  function decode(run) {
    if (run.same && view.cache.has(run.key)) {
      const cached = view.cache.get(run.key);
      view.cache.delete(run.key);
      view.cache.set(run.key, cached);
      return {...cached, label: run.label, preset: run.preset};
    }
    const path = unpack(run.path);
    const grad = unpack(run.grad);
    const decoded = {
      key: run.key, label: run.label, optimizer: run.optimizer, preset: run.preset, status: run.status,
      reason: reasonWords(run.reason, {step: "f", evaluated: "f"}), stopped_at: run.stopped_at, left_at: run.left_at,
      xs: path.filter((_, i) => i % 2 === 0), ys: path.filter((_, i) => i % 2 === 1),
      loss: unpack(run.loss), gx: grad.filter((_, i) => i % 2 === 0), gy: grad.filter((_, i) => i % 2 === 1),
      lr: unpack(run.lr), hyperparameters: run.hyperparameters,
    };
    view.cache.set(run.key, decoded);
    while (view.cache.size > 60) view.cache.delete(view.cache.keys().next().value);
    return decoded;
  }

  function showExpressionError(error) {
    markInvalid(exprInput, true);
    exprError.hidden = false;
    gradText.textContent = "";
    const text = state.expression || "";
    const pos = error.position;
    if (pos && pos >= 1) {
      const i = Math.min(pos - 1, text.length);
      exprError.replaceChildren(el("div", {}, error.message),
        el("code", {}, text.slice(0, i), el("mark", {}, text.slice(i, i + 1) || " "), text.slice(i + 1)));
    } else {
      exprError.replaceChildren(el("div", {}, error.message));
    }
  }

  let changedAt = 0;
  function changed() {
    presetNote.hidden = true;  // said of the last Apply: gone with the next change
    changedAt = performance.now();
    onState(serialize());
    showStart();
    if (view.surface) pathRequests.request(pathsRequest(), changedAt);
  }

  function surfaceChanged() {
    presetNote.hidden = true;
    onState(serialize());
    if (rangeWrong()) {
      // said under the boxes at once; nothing asked of the server until it is mended
      range.refused = null;
      showRange();
      return;
    }
    surfaceRequests.request(functionBody());
  }

  async function exportToml() {
    // the setup as the controls hold it; a wrong range is said in the page's words
    if (rangeWrong()) {
      const message = [...range.typed.values(), ...rangeProblems().messages][0];
      throw new Error(`${message}: mend the range to export`);
    }
    try {
      return await api("/api/export", pathsBody());
    } catch (error) {
      throw new Error(refusalWords(error));
    }
  }

  // ------------------------------------------------------------------ drawing
  const contourBox = document.getElementById("contour");
  const lossBox = document.getElementById("loss2d");
  const legendBox = document.getElementById("legend-2d");
  const caption = document.getElementById("caption-2d");

  function drawContours() {
    const s = view.surface;
    const plot = new Plot({...fitted(contourBox, W, H), x: {domain: s.function.xlim, label: "x"}, y: {domain: s.function.ylim, label: "y"},
      margin: {left: 52, bottom: 40, top: 10, right: 14}});
    plot.node.setAttribute("aria-label", `contours of ${s.function.description}`);
    const n = s.levels.length;
    for (const line of s.lines) {
      const level = line[0];
      let d = "";
      for (let i = 1; i < line.length; i += 2) d += `${i === 1 ? "M" : "L"}${plot.sx(line[i]).toFixed(1)} ${plot.sy(line[i + 1]).toFixed(1)}`;
      const shade = Math.round(120 + 95 * (level / Math.max(1, n - 1)));
      plot.back.append(svg("path", {d, fill: "none", stroke: `rgb(${shade - 20},${shade - 8},${shade + 12})`, "stroke-width": 0.9}));
    }
    for (const [mx, my] of s.function.minima) {
      const px = plot.sx(mx);
      const py = plot.sy(my);
      plot.back.append(svg("path", {d: `M${px - 6} ${py}H${px + 6}M${px} ${py - 6}V${py + 6}`, stroke: "#1d2733", "stroke-width": 1.6}));
    }
    plot.paths = svg("g", {});
    plot.data.append(plot.paths);
    plot.marks = svg("g", {});
    plot.over.append(plot.marks);
    plot.hover = svg("circle", {r: 6, fill: "none", stroke: "#1d2733", "stroke-width": 2, visibility: "hidden"});
    plot.over.append(plot.hover);
    view.plot = plot;
    contourBox.replaceChildren(plot.node);
    showStart();
    attachPointer(plot);
    drawPaths();
  }

  function exitPoint(plot, run) {
    const k = run.left_at;
    if (k === null || k === undefined || k === 0) return null;
    const [x0, y0, x1, y1] = [run.xs[k - 1], run.ys[k - 1], run.xs[k], run.ys[k]];
    const [xa, xb] = view.surface.function.xlim;
    const [ya, yb] = view.surface.function.ylim;
    let t = 1;
    const dx = x1 - x0;
    const dy = y1 - y0;
    if (x1 < xa) t = Math.min(t, (xa - x0) / dx);
    if (x1 > xb) t = Math.min(t, (xb - x0) / dx);
    if (y1 < ya) t = Math.min(t, (ya - y0) / dy);
    if (y1 > yb) t = Math.min(t, (yb - y0) / dy);
    if (!Number.isFinite(t)) t = 0;
    return {x: x0 + t * dx, y: y0 + t * dy, step: k};
  }

  function drawPaths() {
    const plot = view.plot;
    if (!plot || !view.answer) return;
    plot.paths.replaceChildren();
    plot.marks.replaceChildren();
    const dots = state.steps <= 150;
    view.runs.forEach((run) => {
      const color = PALETTE[run.index % PALETTE.length];
      const g = svg("g", {"data-run": run.index, "data-label": run.label});
      plot.paths.append(g);
      const last = run.left_at ?? run.xs.length;
      const xs = Array.from(run.xs);
      const ys = Array.from(run.ys);
      const exit = exitPoint(plot, run);
      // the path up to where it left the view, and no further
      const lineX = xs.slice(0, last);
      const lineY = ys.slice(0, last);
      if (exit) { lineX.push(exit.x); lineY.push(exit.y); }
      plot.line(lineX, lineY, {stroke: color, "stroke-width": 2, class: "path"}, g);
      if (dots) {
        for (let k = 0; k < Math.min(xs.length, last); k += 1) {
          g.append(svg("circle", {cx: plot.sx(xs[k]), cy: plot.sy(ys[k]), r: 2.6, fill: color, stroke: "#fff", "stroke-width": 0.6}));
        }
      }
      if (exit) {
        const px = plot.sx(exit.x);
        const py = plot.sy(exit.y);
        plot.cross(px, py, {stroke: "#fff", "stroke-width": 5}, 6, plot.marks);
        plot.cross(px, py, {stroke: color}, 6, plot.marks);
      } else if (run.status === "diverged" && xs.length && !undefinedAt(run)) {
        const px = plot.sx(xs[xs.length - 1]);
        const py = plot.sy(ys[ys.length - 1]);
        plot.cross(px, py, {stroke: "#fff", "stroke-width": 5}, 6, plot.marks);
        plot.cross(px, py, {stroke: color}, 6, plot.marks);
      }
    });
    // the start, on top
    const sx = plot.sx(state.start[0]);
    const sy = plot.sy(state.start[1]);
    if (startInView()) plot.marks.append(svg("circle", {cx: sx, cy: sy, r: 7, fill: "#fff", stroke: "#1d2733", "stroke-width": 2, class: "start", "data-start": "1"}));
    showStart();
    drawLegend();
    drawLoss();
    caption.textContent = `${contourWords(view.surface)}; ${pathWords()}${lossWords(view.lossNotes || {})}`;
  }

  function pathWords() {
    // the caption's paths: how many are drawn, from where, and the cards not run (in their words)
    const from = `(${fmt(state.start[0])}, ${fmt(state.start[1])})`;
    const notRun = notRunWords(view.notRun.map((r) => r.label));
    if (startUndefined()) {
      return `no path from ${from}: f is not finite there (f = ${valueWords(view.runs.find(undefinedAt).loss[0])}): outside its domain, or too large for floating point.${notRun ? ` ${notRun}` : ""}`;
    }
    if (!view.runs.length) {
      const none = notRunWords(view.notRun.map((r) => r.label), true) || "no optimizer was run.";
      return `no path from ${from}: ${none} Click the plot to start elsewhere.`;
    }
    return `the paths of ${view.runs.length} optimizer${view.runs.length === 1 ? "" : "s"} from ${from},`
      + ` ${state.steps} step${state.steps > 1 ? "s" : ""}${state.schedule ? `, lr under a ${state.schedule.name} schedule` : ""}.`
      + " Hover a point for its step, f and gradient; click the plot to start elsewhere. × marks where a path left the plot or diverged."
      + (notRun ? ` ${notRun}` : "");
  }

  function lossWords(notes) {
    // the caption's loss chart: its ▲ and ▼ (a run's f off its top or bottom), an exact 0 on its floor
    const marks = [notes.above && ["▲", "rises above"], notes.below && ["▼", "falls below"]].filter(Boolean);
    return (marks.length ? ` ${marks.map((m) => m[0]).join(" and ")} mark${marks.length > 1 ? "" : "s"} where a run's f`
        + ` ${marks.map((m) => m[1]).join(" or ")} the loss chart.` : "")
      + (notes.zero ? " A run at f = 0 exactly is drawn on the loss chart's bottom edge, below a break in its axis (a log scale has no 0)." : "");
  }

  function contourWords(surface) {
    // a constant f has one level and no line at it: said so, not "at 1 log-spaced levels"
    const [low, high] = surface.zrange || [];
    if (surface.levels.length < 2 || !(high > low)) {
      return `${surface.function.description} is constant over this view (f = ${valueWords(low ?? surface.levels[0])}):`
        + " no contour lines are drawn";
    }
    // log-spaced above the lowest f on the grid: dense there (at the minimum, where one is in view)
    return `Contours of ${surface.function.description} at ${surface.levels.length} log-spaced levels (dense where f is lowest in this view)`;
  }

  function valueWords(value) {
    // a number that is not finite as the page says it: NaN, ∞ or −∞
    return Number.isNaN(value) ? "NaN" : fmt(value);
  }

  function undefinedAt(run) {
    // a run whose start lies outside f's domain: f there (its first loss) is not finite
    return run.left_at !== 0 && run.loss.length > 0 && !Number.isFinite(run.loss[0]);
  }

  function startUndefined() {
    // f is the same function for every run: one run that starts where f is not finite says it
    return view.runs.some(undefinedAt);
  }

  function startInView() {
    const [xa, xb] = view.surface ? view.surface.function.xlim : state.xlim;
    const [ya, yb] = view.surface ? view.surface.function.ylim : state.ylim;
    const [x, y] = state.start;
    return xa <= x && x <= xb && ya <= y && y <= yb;
  }

  function showStart() {
    // a start outside the plot (a range narrowed past it): said beside the start, not hidden
    startText.textContent = `(${fmt(state.start[0])}, ${fmt(state.start[1])})`;
    const outside = view.surface && !startInView();
    const undefinedHere = !outside && view.answer && startUndefined();
    startNote.textContent = outside ? "outside the plot: no path is drawn; widen the ranges, or click the plot to start there"
      : undefinedHere ? "f is not finite here (outside its domain, or too large for floating point), so no path is drawn; click the plot where f is defined, or change f"
        : "";
    startNote.hidden = !outside && !undefinedHere;
  }

  function lrText(run) {
    // under a schedule, the card's lr: the rate its schedule is built from, not where it
    // starts (onecycle's peak max_lr, cyclic's base_lr, piecewise's values × lr, warmup's
    // inner schedule's)
    const lr = run.hyperparameters?.lr;
    if (typeof lr === "number") return `lr ${fmt(lr)}`;
    if (!lr?.schedule) return "";
    return `lr ${fmt(typeof run.cardLr === "number" ? run.cardLr : scheduleLr(lr.schedule))}, ${lr.schedule.name}`;
  }

  function scheduleLr(config) {
    // the rate a schedule config is built from: its "base" argument (lr0, max_lr, base_lr, an inner schedule's)
    const base = catalog.schedules[config.name]?.arguments.find((a) => a.kind === "base")?.name;
    const value = base === undefined ? undefined : config[base];
    return value && typeof value === "object" ? scheduleLr(value) : value ?? NaN;
  }

  function divergedAt(run) {
    // "diverged at step 4" or "by step 4", as fit words it; the step the run stopped at else
    return /^diverged (?:at|by) step \d+/.exec(run.reason || "")?.[0] ?? `diverged at step ${run.stopped_at}`;
  }

  function runNote(run) {
    // why a run's line ends early, briefly: left the plot, diverged, or both
    const left = run.left_at !== null && run.left_at !== undefined;
    if (run.status === "failed") return `failed: ${run.reason}`;
    if (run.left_at === 0) return "started outside the plot";
    if (undefinedAt(run)) return "not run: f is not finite at the start";
    if (left && run.status === "diverged") return `left the plot at step ${run.left_at}, then ${divergedAt(run)}`;
    if (left) return `left the plot at step ${run.left_at}`;
    if (run.status === "diverged") return run.reason?.startsWith("diverged") ? run.reason : `diverged (${run.reason})`;
    return run.status === "ok" ? "" : run.status;
  }

  function drawLegend() {
    // in the cards' order: each run drawn, and each card refused, marked "not run"
    const items = view.runs.map((run) => {
      const item = el("span", {class: "item", "data-run": run.index});
      item.style.setProperty("--swatch", PALETTE[run.index % PALETTE.length]);
      const note = runNote(run);
      item.append(el("span", {class: "swatch"}), `${run.label}${run.preset ? ` (${run.preset})` : ""} ${lrText(run)}`,
        note ? el("span", {class: "status", title: run.reason || ""}, note) : "");
      return [run.index, item];
    });
    for (const refused of view.notRun) {
      const item = el("span", {class: "item not-run", "data-run": refused.index});
      item.style.setProperty("--swatch", PALETTE[refused.index % PALETTE.length]);
      item.append(el("span", {class: "swatch"}), refused.label,
        el("span", {class: "status", title: refused.words}, refused.error.work ? "not run: see under steps" : "not run: mend its card"));
      items.push([refused.index, item]);
    }
    legendBox.replaceChildren(...items.sort((a, b) => a[0] - b[0]).map(([, item]) => item));
  }

  function drawLoss() {
    const runs = view.runs;
    view.lossNotes = {zero: false, above: false, below: false};  // what the caption says of the loss chart
    if (runs.length && startUndefined()) {
      // no loss at all to draw: no axes for numbers that are not there
      view.lossPlot = null;
      lossBox.replaceChildren(el("p", {class: "nothing-drawn"},
        "No loss to draw: f is not finite at the start (see under start in the controls)."));
      return;
    }
    const f0 = Math.max(...runs.map((r) => Math.abs(r.loss[0])).filter(Number.isFinite), 1e-300);
    const keep = (v) => Number.isFinite(v) && Math.abs(v) <= 1e4 * Math.max(f0, 1e-12);
    // the scale follows the runs that did not diverge, while they stayed in the plot (a run
    // that left it: its steps before); what lies above is clipped at the top, marked ▲,
    // what lies below a linear chart at the bottom, marked ▼
    const stayed = runs.filter((r) => r.status === "ok");
    const inPlot = (r) => Array.from(r.left_at === null || r.left_at === undefined ? r.loss : r.loss.slice(0, r.left_at));
    const values = (stayed.length ? stayed.map(inPlot) : runs.map((r) => Array.from(r.loss))).map((vs) => vs.filter(keep));
    // an exact 0 (a run on the minimum) lies below a log axis: drawn at its bottom edge,
    // as the report's figures draw it, not a reason to make every other run's curve flat
    const positive = values.every((vs) => vs.every((v) => v >= 0)) && values.some((vs) => vs.some((v) => v > 0));
    let log = positive;  // none drawn (every card refused): linear
    if (log) {
      const [lo, hi] = extent(values, {log: true, pad: 0});
      log = hi / lo > 30;
    }
    const domain = extent(values, {log, fallback: [0, 1]});
    const lowest = log && runs.some((r) => r.loss.some((v) => v === 0)) ? domain[0] : null;
    // f = 0 on the floor, a gap below the lowest f above 0 (a tiny f is not drawn at 0),
    // in decades (a subnormal lowest's gap divided by 1e300 was 0)
    if (lowest !== null) domain[0] = pow10(Math.log10(lowest) - 0.12 * (Math.log10(domain[1]) - Math.log10(lowest)));
    const plot = new Plot({...fitted(lossBox, W, 250), x: {domain: [0, Math.max(1, state.steps)], label: "step", integer: true},
      y: {domain, log, label: log ? "f(x, y)  (log scale)" : "f(x, y)"},
      margin: {left: 58, bottom: 38, top: 10, right: 14}});
    plot.node.setAttribute("aria-label", "loss per step");
    const bottom = plot.y.domain[0];
    runs.forEach((run) => {
      const steps = Array.from(run.loss, (_, k) => k);
      const color = PALETTE[run.index % PALETTE.length];
      const zero = log && run.loss.some((v) => v === 0);
      view.lossNotes.zero ||= zero;
      plot.line(steps, Array.from(run.loss, (v) => (zero && v === 0 ? bottom : v)), {stroke: color, "data-run": run.index});
      const stopped = (run.status === "diverged" || run.status === "failed") && run.loss.length;
      if (stopped) stopMark(plot, run, color, run.index);
      view.lossNotes.above = edgeMark(plot, run, color, stopped, true) || view.lossNotes.above;
      view.lossNotes.below = edgeMark(plot, run, color, stopped, false) || view.lossNotes.below;
    });
    if (view.lossNotes.zero) zeroLabel(plot, lowest);
    const rule = svg("line", {y1: plot.margin.top, y2: plot.margin.top + plot.inner.h, stroke: "#1d2733", "stroke-dasharray": "3 3", visibility: "hidden"});
    plot.over.append(rule);
    plot.node.addEventListener("pointermove", (event) => {
      const p = plot.fromEvent(event);
      if (!plot.inside(p.px, p.py)) { rule.setAttribute("visibility", "hidden"); hideTooltip(); return; }
      const k = Math.max(0, Math.min(state.steps, Math.round(p.x)));
      rule.setAttribute("x1", plot.sx(k));
      rule.setAttribute("x2", plot.sx(k));
      rule.setAttribute("visibility", "visible");
      showTooltip(event, [`step ${k}`, ...runs.map((r) => ({color: PALETTE[r.index % PALETTE.length],
        text: `${r.label}: f = ${k < r.loss.length ? fmt(r.loss[k]) : "–"}`}))]);
    });
    plot.node.addEventListener("pointerleave", () => { rule.setAttribute("visibility", "hidden"); hideTooltip(); });
    view.lossPlot = plot;
    lossBox.replaceChildren(plot.node);
  }

  function zeroLabel(plot, lowest) {
    // "0" at the bottom edge of a log axis that draws f = 0 there (unless a tick's label is
    // that close), and a break on the axis in the gap between it and the lowest f above 0
    const edge = plot.margin.top + plot.inner.h;
    const x = plot.margin.left;
    const y = (edge + plot.sy(lowest)) / 2;
    plot.axes.append(svg("g", {class: "floor-break"},
      svg("rect", {x: x - 6, y: y - 4, width: 12, height: 7, fill: "#fff"}),
      svg("path", {d: `M${x - 6} ${y + 1}l12 -5M${x - 6} ${y + 5}l12 -5`, stroke: "#4a5563", "stroke-width": 1.2, fill: "none"})));
    if (plot.ticks(plot.y).some((v) => edge - plot.sy(v) < 14)) return;
    plot.axes.append(svg("text", {x: x - 7, y: edge + 4, "text-anchor": "end", fill: "#4a5563", class: "zero"}, "0"));
  }

  function edgeMark(plot, run, color, stopped, above) {
    // ▲ at the chart's top edge where the run's loss first rises above it, ▼ at its bottom
    // edge where it first falls below (its curve is clipped there; an exact 0 on a log
    // chart is drawn on that edge, not below it), with its step and f on hover; not where
    // its × already stands
    const [low, high] = plot.y.domain;
    const edge = above ? high : low;
    const k = run.loss.findIndex((v) => (above ? v > high : v < low && !(plot.y.log && v === 0)));
    if (k < 0 || (stopped && k === run.loss.length - 1)) return false;
    const t = (v) => (plot.y.log ? Math.log10(v) : v);
    const before = run.loss[k - 1];
    // where the line crosses the edge (between steps k − 1 and k), else at step k
    const cross = k - 1 + (t(edge) - t(before)) / (t(run.loss[k]) - t(before));
    const at = k > 0 && Number.isFinite(cross) ? cross : k;
    const {left, top} = plot.margin;
    const px = Math.min(Math.max(plot.sx(at), left + 6), left + plot.inner.w - 6);  // inside the frame
    const words = above ? "rises above" : "falls below";
    const g = svg("g", {class: above ? "above" : "below", "data-run": run.index},
      svg("title", {}, `${run.label}: f ${words} the chart at step ${k} (f = ${valueWords(run.loss[k])})`),
      svg("path", {d: above ? `M${px} ${top + 1}l5 9h-10z` : `M${px} ${top + plot.inner.h - 1}l5 -9h-10z`,
        fill: color, stroke: "#fff", "stroke-width": 1.5, "stroke-linejoin": "round"}));
    plot.over.append(g);
    return true;
  }

  function stopMark(plot, run, color, i) {
    // × where a diverged (or failed) run's loss ends: at its last point, or, a value off
    // the scale (above it, not finite), at the frame's edge; always inside the frame, on
    // a white halo, with its reason on hover
    const k = run.loss.length - 1;
    const y = run.loss[k];
    const [low, high] = plot.y.domain;
    const value = Number.isNaN(y) ? high : (plot.y.log && y <= 0 ? low : Math.min(Math.max(y, low), high));
    const size = 5;
    const {left, top} = plot.margin;
    const px = Math.min(Math.max(plot.sx(k), left + size + 2), left + plot.inner.w - size - 2);
    const py = Math.min(Math.max(plot.sy(value), top + size + 2), top + plot.inner.h - size - 2);
    const g = svg("g", {class: "stop", "data-run": i}, svg("title", {}, `${run.label}: ${runNote(run)}`));
    plot.over.append(g);
    plot.cross(px, py, {stroke: "#fff", "stroke-width": 5}, size, g);
    plot.cross(px, py, {stroke: color}, size, g);
  }

  function nearest(plot, px, py) {
    let best = null;
    let bestD = 14 * 14;
    view.runs.forEach((run, i) => {
      const last = run.left_at ?? run.xs.length;
      for (let k = 0; k < last; k += 1) {
        const dx = plot.sx(run.xs[k]) - px;
        const dy = plot.sy(run.ys[k]) - py;
        const d = dx * dx + dy * dy;
        if (d <= bestD) { bestD = d; best = {i, k}; }
      }
    });
    return best;
  }

  function snapPoint(p) {
    const span = Math.max(state.xlim[1] - state.xlim[0], state.ylim[1] - state.ylim[0]);
    const step = 10 ** Math.floor(Math.log10(span / 500));
    const r = (v) => onGrid(Math.round(v / step), step);
    return [r(p.x), r(p.y)];
  }

  function attachPointer(plot) {
    let down = null;
    let dragging = false;
    plot.node.addEventListener("pointerdown", (event) => {
      const p = plot.fromEvent(event);
      if (!plot.inside(p.px, p.py)) return;
      const dx = p.px - plot.sx(state.start[0]);
      const dy = p.py - plot.sy(state.start[1]);
      dragging = dx * dx + dy * dy < 12 * 12;
      down = {px: p.px, py: p.py, t: performance.now()};
      plot.node.setPointerCapture(event.pointerId);
    });
    plot.node.addEventListener("pointermove", (event) => {
      const p = plot.fromEvent(event);
      if (down && dragging) {
        state.start = snapPoint(p);
        hideTooltip();
        changed();
        return;
      }
      if (!plot.inside(p.px, p.py)) { plot.hover.setAttribute("visibility", "hidden"); hideTooltip(); return; }
      const hit = nearest(plot, p.px, p.py);
      if (!hit) {
        plot.hover.setAttribute("visibility", "hidden");
        showTooltip(event, [`(${fmt(p.x)}, ${fmt(p.y)})`, "click to start here"]);
        return;
      }
      const run = view.runs[hit.i];
      const k = hit.k;
      plot.hover.setAttribute("cx", plot.sx(run.xs[k]));
      plot.hover.setAttribute("cy", plot.sy(run.ys[k]));
      plot.hover.setAttribute("stroke", PALETTE[run.index % PALETTE.length]);
      plot.hover.setAttribute("visibility", "visible");
      const lines = [`${run.label} · step ${k}`, `(x, y) = (${fmt(run.xs[k], 6)}, ${fmt(run.ys[k], 6)})`,
        `f = ${fmt(run.loss[k], 6)}`, `∇f = (${fmt(run.gx[k], 5)}, ${fmt(run.gy[k], 5)})`];
      if (k < run.lr.length) lines.push(`lr of step ${k + 1}: ${fmt(run.lr[k], 5)}`);
      showTooltip(event, lines);
    });
    plot.node.addEventListener("pointerleave", () => { plot.hover.setAttribute("visibility", "hidden"); hideTooltip(); });
    plot.node.addEventListener("pointerup", (event) => {
      const p = plot.fromEvent(event);
      const wasDrag = dragging;
      dragging = false;
      if (!down) return;
      const moved = Math.hypot(p.px - down.px, p.py - down.py);
      down = null;
      if (!wasDrag && moved < 5 && plot.inside(p.px, p.py)) {
        state.start = snapPoint(p);
        changed();
      }
    });
  }

  // ------------------------------------------------------------------ state
  function serialize() {
    const out = {s: state.start, n: state.steps, r: state.runs.map((r) => runPayload(catalog, r))};
    if (state.function) out.f = state.function; else out.e = state.expression;
    const fn = state.function ? functions[state.function] : null;
    if (!fn || String(state.xlim) !== String(fn.xlim) || String(state.ylim) !== String(fn.ylim)) {
      out.xl = state.xlim;
      out.yl = state.ylim;
    }
    if (state.schedule) out.sc = state.schedule;
    return out;
  }

  function restore(saved) {
    if (!saved || typeof saved !== "object") return;
    if (saved.f && functions[saved.f]) {
      const fn = functions[saved.f];
      state.function = fn.name;
      state.expression = null;
      state.xlim = [...fn.xlim];
      state.ylim = [...fn.ylim];
      state.start = [...fn.start];
    } else if (typeof saved.e === "string") {
      state.function = null;
      state.expression = saved.e;
      state.xlim = [-5, 5];
      state.ylim = [-5, 5];
      state.start = [-4, 3];  // as choosing "your own f" sets it: inside the view
    }
    const pair = (v) => Array.isArray(v) && v.length === 2 && v.every(Number.isFinite);
    if (pair(saved.xl)) state.xlim = [...saved.xl];
    if (pair(saved.yl)) state.ylim = [...saved.yl];
    // a start beyond the coordinates' cap is left out, as a non-number is
    if (pair(saved.s) && saved.s.every((v) => Math.abs(v) <= limits.max_coordinate)) state.start = [...saved.s];
    if (Number.isInteger(saved.n) && saved.n >= 1) state.steps = Math.min(saved.n, limits.max_steps);
    state.schedule = saved.sc && catalog.schedules[saved.sc.name] ? saved.sc : null;
    if (Array.isArray(saved.r)) {
      const runs = saved.r.slice(0, limits.max_runs).map((r) => runFrom(catalog, r)).filter(Boolean);
      if (runs.length) state.runs = runs;
    }
  }

  restore(initial);
  syncControls();
  surfaceChanged();

  return {
    state,
    view,
    get latencies() { return pathRequests.latencies; },
    get drawTimes() { return pathRequests.drawTimes; },
    get idle() { return pathRequests.idle && surfaceRequests.idle; },
    serialize,
    exportBody: () => pathsBody(),
    exportToml,
    figure: () => [legendSvg(), view.plot?.node, view.lossPlot?.node].filter(Boolean),
    changedAt: () => changedAt,
    /** The window resized (a phone turned): the charts drawn again if they no longer fit. */
    resized: () => { if (view.surface && view.plot && fitted(contourBox, W, H).width !== view.plot.width) drawContours(); },
  };

  function legendSvg() {
    // the legend as SVG for the exported figure: swatch and label, rows as wide as the plot
    const items = view.runs.map((run) => {
      const left = run.left_at !== null && run.left_at !== undefined;
      const note = left || run.status === "diverged" ? runNote(run).replace(/^(diverged (?:at|by) step \d+):.*$/, "$1") : run.status;
      return {index: run.index, color: PALETTE[run.index % PALETTE.length],
        text: `${run.label}${run.preset ? ` (${run.preset})` : ""} ${lrText(run)}${note && note !== "ok" ? `: ${note}` : ""}`};
    });
    for (const refused of view.notRun) {
      items.push({index: refused.index, color: PALETTE[refused.index % PALETTE.length], dashed: true, text: `${refused.label}: not run`});
    }
    items.sort((a, b) => a.index - b.index);
    const rows = [[]];
    let x = 58;
    const wide = view.plot?.width ?? W;  // as wide as the plots (narrower on a phone)
    for (const item of items) {
      const width = 24 + textWidth(item.text) + 18;
      if (x + width > wide - 10 && rows[rows.length - 1].length) { rows.push([]); x = 58; }
      rows[rows.length - 1].push({...item, x});
      x += width;
    }
    const height = 8 + 20 * rows.length;
    const g = svg("svg", {xmlns: "http://www.w3.org/2000/svg", viewBox: `0 0 ${wide} ${height}`, width: wide, height,
      "font-family": "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif", "font-size": 12});
    g.append(svg("rect", {width: wide, height, fill: "#fff"}));
    rows.forEach((row, r) => {
      for (const item of row) {
        const y = 14 + 20 * r;
        g.append(svg("line", {x1: item.x, x2: item.x + 18, y1: y, y2: y, stroke: item.color, "stroke-width": 3,
          "stroke-dasharray": item.dashed ? "3 3" : undefined}),
          svg("text", {x: item.x + 24, y: y + 4, fill: "#1d2733"}, item.text));
      }
    });
    return g;
  }
}

function defaults(catalog, functions) {
  const setup = catalog.setups.find((s) => s.name === "bowl");
  const fn = functions[setup ? setup.function : "bowl"] || Object.values(functions)[0];
  const runs = (setup ? setup.runs : [{optimizer: "sgd", hyperparameters: {lr: 0.1}}, {optimizer: "adam", hyperparameters: {lr: 0.1}}])
    .map((r) => runFrom(catalog, r)).filter(Boolean);
  return {
    function: fn.name, expression: null, xlim: [...fn.xlim], ylim: [...fn.ylim],
    start: setup ? [...setup.start] : [...fn.start], steps: setup ? setup.steps : 30, schedule: null, runs,
  };
}

