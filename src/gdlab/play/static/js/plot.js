// A small SVG plot: scales (linear or log), axes with ticks, a clipped data layer.
// Everything is drawn with presentation attributes, so an exported SVG looks the same.

import {svg, fmt} from "./util.js";

let clipCount = 0;
const FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif";
const CLAMP = 1e5;  // pixel coordinates are kept within ±CLAMP (a diverged value stays drawable)

/** Round tick values: 1, 2, 5 × 10^k. */
export function linearTicks(low, high, count = 6) {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
  const first = Math.ceil(low / step - 1e-9);
  const n = Math.min(Math.floor(high / step + 1e-9) - first, 1000);  // bounded, whatever the doubles
  const ticks = [];
  for (let i = 0; i <= n; i += 1) ticks.push(onGrid(first + i, step));
  return ticks;
}

/**
 * k × step (step 1, 2, 2.5 or 5 × 10^e), as the double nearest that decimal: not a sum of
 * steps, whose errors add up, nor one rounded to 12 digits, which made the ticks of a view
 * of 2-D mode's narrowest, 1e-6 wide at ±1e6 (13 digits), one value. A double holds such
 * a view's ticks apart (they are over a thousand doubles apart there).
 */
export function onGrid(k, step) {
  const decimals = Math.max(0, 1 - Math.floor(Math.log10(step)));  // k × step has no more
  if (decimals > 22) return k * step;  // 10^decimals is no longer a double: the product
  return Math.round(k * step * 10 ** decimals) / 10 ** decimals;
}

/** `value` in `digits` significant digits as 2e4, 1.5e5 (fmt's exponent form), 0 as 0. */
function fmtExponent(value, digits) {
  if (value === 0) return "0";
  return value.toExponential(Math.max(0, digits - 2)).replace(/\.?0+e/, "e").replace("e+", "e").replace(/-/g, "−");
}

/**
 * An axis's tick labels: `format`'s, or in the fewest significant digits from 3 on that
 * tell every two neighbouring ticks apart (a view from 1 to 1.00001 was labelled "1" at
 * every tick), at most a double's 17.
 */
export function tickLabels(ticks, format, log = false) {
  if (format) return ticks.map(format);
  // one form on a linear axis: "80000" beside "1e5" read as two scales (a log axis's
  // decades read well as 100, 1000, 1e4)
  const exponent = (v) => /e/.test(fmt(v));
  const label = !log && ticks.some(exponent) && ticks.some((v) => v !== 0 && !exponent(v)) ? fmtExponent : fmt;
  let labels = [];
  for (let digits = 3; digits <= 17; digits += 1) {
    labels = ticks.map((v) => label(v, digits));
    if (labels.every((text, i) => i === 0 || text !== labels[i - 1])) break;
  }
  return labels;
}

/** Decades, or, when fewer than 3 fall in the domain (two or three decades: "0.1, 1"
 * alone), 1, 2 and 5 times each decade (0.05, 0.1, 0.2, 0.5, 1, 2, 5). */
export function logTicks(low, high) {
  const a = Math.floor(Math.log10(low));
  const b = Math.ceil(Math.log10(high));
  const step = Math.max(1, Math.ceil((b - a) / 8));
  const pick = (multiples) => {
    const ticks = [];
    for (let k = a; k <= b; k += step) {
      for (const m of multiples) {
        const v = Number((m * 10 ** k).toPrecision(12));
        if (v >= low * (1 - 1e-9) && v <= high * (1 + 1e-9)) ticks.push(v);
      }
    }
    return ticks;
  };
  const decades = pick([1]);
  return decades.length >= 3 ? decades : pick([1, 2, 5]);
}

/**
 * The size to draw a chart designed `width` × `height` at in `box`: as designed, or, where
 * the box shows it narrower (a phone), the box's width, so that the 12 px text is drawn
 * 12 px tall (760 wide drawn in 350 px, it was 6 px: unreadable); the height shrinks less.
 * A hidden box (no width) gets the design.
 */
export function fitted(box, width, height) {
  const shown = Math.floor(box?.clientWidth || 0);
  if (!(shown > 0 && shown < width)) return {width, height};
  return {width: shown, height: Math.round(height * Math.sqrt(shown / width))};
}

export class Plot {
  /**
   * @param {object} o width, height, margin {top, right, bottom, left}, x and y:
   *   {domain: [low, high], log: bool, label: string}, title (optional).
   */
  constructor(o) {
    this.width = o.width;
    this.height = o.height;
    this.margin = {top: 14, right: 16, bottom: 42, left: 58, ...(o.margin || {})};
    this.x = {log: false, ...o.x};
    this.y = {log: false, ...o.y};
    this.title = o.title;
    // room for the y tick labels and, left of them, the y label (they overlapped: "100%")
    this.margin.left = Math.max(this.margin.left, this.leftNeeded());
    this.margin.right = Math.max(this.margin.right, this.rightNeeded());
    const id = `clip${++clipCount}`;
    this.node = svg("svg", {
      xmlns: "http://www.w3.org/2000/svg", viewBox: `0 0 ${this.width} ${this.height}`,
      width: this.width, height: this.height, "font-family": FONT, "font-size": 12,
      role: "img",
    });
    const {top, left} = this.margin;
    this.inner = {w: this.width - left - this.margin.right, h: this.height - top - this.margin.bottom};
    this.node.append(
      svg("rect", {x: 0, y: 0, width: this.width, height: this.height, fill: "#ffffff"}),
      svg("defs", {}, svg("clipPath", {id}, svg("rect", {x: left, y: top, width: this.inner.w, height: this.inner.h}))),
    );
    this.grid = svg("g", {class: "grid"});
    this.back = svg("g", {"clip-path": `url(#${id})`});
    this.data = svg("g", {"clip-path": `url(#${id})`});
    this.axes = svg("g", {class: "axes"});
    this.over = svg("g", {class: "overlay"});
    this.node.append(this.grid, this.back, this.data, this.axes, this.over);
    this.frame = svg("rect", {
      x: left, y: top, width: this.inner.w, height: this.inner.h, fill: "none",
      stroke: "#9aa5b1", "stroke-width": 1,
    });
    this.axes.append(this.frame);
    this.drawAxes();
  }

  _t(axis, v) {
    return axis.log ? Math.log10(v) : v;
  }

  sx(v) {
    const [a, b] = this.x.domain;
    const p = this.margin.left + ((this._t(this.x, v) - this._t(this.x, a)) / (this._t(this.x, b) - this._t(this.x, a))) * this.inner.w;
    return Math.max(-CLAMP, Math.min(CLAMP, p));
  }

  sy(v) {
    const [a, b] = this.y.domain;
    const p = this.margin.top + this.inner.h - ((this._t(this.y, v) - this._t(this.y, a)) / (this._t(this.y, b) - this._t(this.y, a))) * this.inner.h;
    return Math.max(-CLAMP, Math.min(CLAMP, p));
  }

  /** Data coordinates of a pointer event. */
  fromEvent(event) {
    const point = this.node.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    const local = point.matrixTransform(this.node.getScreenCTM().inverse());
    const [xa, xb] = this.x.domain.map((v) => this._t(this.x, v));
    const [ya, yb] = this.y.domain.map((v) => this._t(this.y, v));
    let x = xa + ((local.x - this.margin.left) / this.inner.w) * (xb - xa);
    let y = ya + ((this.margin.top + this.inner.h - local.y) / this.inner.h) * (yb - ya);
    if (this.x.log) x = 10 ** x;
    if (this.y.log) y = 10 ** y;
    return {x, y, px: local.x, py: local.y};
  }

  inside(px, py) {
    const {left, top} = this.margin;
    return px >= left && px <= left + this.inner.w && py >= top && py <= top + this.inner.h;
  }

  /** The tick values of an axis; on x, fewer where their labels (long on a deep zoom:
   * "9.999999999992e5") would run into each other (12 px text: at most 7 px a character). */
  ticks(axis) {
    if (axis.tickValues) return axis.tickValues;
    if (!axis.log) {
      const room = this.width - this.margin.left - this.margin.right;
      for (let count = axis.ticks || 6; ; count -= 1) {
        // an axis of counts (steps): whole numbers only (0, 0.2 … 1 was no step)
        const ticks = linearTicks(...axis.domain, count).filter((v) => !axis.integer || Number.isInteger(v));
        if (axis !== this.x || count <= 2) return ticks;
        const widest = 7 * Math.max(0, ...tickLabels(ticks, axis.format).map((text) => String(text).length));
        if (ticks.length * (widest + 10) <= room) return ticks;
      }
    }
    const ticks = logTicks(...axis.domain);  // less than a decade: round numbers instead
    return ticks.length >= 3 ? ticks : linearTicks(...axis.domain, 4).filter((v) => v > 0);
  }

  /** The left margin the y tick labels (12 px text: at most 7 px a character) and the y label need. */
  leftNeeded() {
    const labels = tickLabels(this.ticks(this.y), this.y.format, this.y.log);
    const widest = 7 * Math.max(0, ...labels.map((text) => String(text).length));
    return widest + 7 + (this.y.label ? 24 : 6);
  }

  /** The right margin half the last x tick label needs (centred on the axis's end: "5000"). */
  rightNeeded() {
    const labels = tickLabels(this.ticks(this.x), this.x.format, this.x.log);
    if (!labels.length) return 0;
    const text = String(labels[labels.length - 1]);
    return (7 * text.length) / 2 + 2;
  }

  drawAxes() {
    this.grid.replaceChildren();
    for (const node of [...this.axes.children]) if (node !== this.frame) node.remove();
    const {left, top} = this.margin;
    const bottom = top + this.inner.h;
    const xTicks = this.ticks(this.x);
    tickLabels(xTicks, this.x.format, this.x.log).forEach((label, i) => {
      const px = this.sx(xTicks[i]);
      this.grid.append(svg("line", {x1: px, x2: px, y1: top, y2: bottom, stroke: "#eef1f5"}));
      this.axes.append(
        svg("line", {x1: px, x2: px, y1: bottom, y2: bottom + 4, stroke: "#9aa5b1"}),
        svg("text", {x: px, y: bottom + 16, "text-anchor": "middle", fill: "#4a5563"}, label),
      );
    });
    const yTicks = this.ticks(this.y);
    tickLabels(yTicks, this.y.format, this.y.log).forEach((label, i) => {
      const py = this.sy(yTicks[i]);
      this.grid.append(svg("line", {x1: left, x2: left + this.inner.w, y1: py, y2: py, stroke: "#eef1f5"}));
      this.axes.append(
        svg("line", {x1: left - 4, x2: left, y1: py, y2: py, stroke: "#9aa5b1"}),
        svg("text", {x: left - 7, y: py + 4, "text-anchor": "end", fill: "#4a5563"}, label),
      );
    });
    if (this.x.label) {
      this.axes.append(svg("text", {x: left + this.inner.w / 2, y: this.height - 8, "text-anchor": "middle", fill: "#1d2733"}, this.x.label));
    }
    if (this.y.label) {
      const cx = 14;
      const cy = top + this.inner.h / 2;
      this.axes.append(svg("text", {x: cx, y: cy, "text-anchor": "middle", fill: "#1d2733", transform: `rotate(-90 ${cx} ${cy})`}, this.y.label));
    }
    if (this.title) {
      this.axes.append(svg("text", {x: left, y: top - 4, fill: "#1d2733", "font-weight": 600}, this.title));
    }
  }

  /** A polyline through (xs[i], ys[i]); non-finite (or, on a log axis, non-positive) values break it. */
  line(xs, ys, attrs = {}, layer = this.data) {
    let d = "";
    let pen = false;
    for (let i = 0; i < xs.length; i += 1) {
      const x = xs[i];
      const y = ys[i];
      const ok = Number.isFinite(x) && Number.isFinite(y) && (!this.x.log || x > 0) && (!this.y.log || y > 0);
      if (!ok) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${this.sx(x).toFixed(2)} ${this.sy(y).toFixed(2)}`;
      pen = true;
    }
    const path = svg("path", {d: d || "M0 0", fill: "none", "stroke-width": 1.8, "stroke-linejoin": "round", ...attrs});
    layer.append(path);
    return path;
  }

  /** An × marker. */
  cross(x, y, attrs = {}, size = 5, layer = this.over) {
    const px = typeof x === "number" ? x : 0;
    const py = typeof y === "number" ? y : 0;
    const g = svg("path", {
      d: `M${px - size} ${py - size}L${px + size} ${py + size}M${px - size} ${py + size}L${px + size} ${py - size}`,
      "stroke-width": 2.2, fill: "none", ...attrs,
    });
    layer.append(g);
    return g;
  }
}

/**
 * 10 ** e, kept among the positive doubles: the smallest (5e-324) or the largest where
 * it would pass them. A log axis pads its range by powers of ten: one below a subnormal
 * f (1e-310, padded 5% of 310 decades) was 0, whose log put NaN in every curve.
 */
export function pow10(e) {
  return Math.min(Number.MAX_VALUE, Math.max(Number.MIN_VALUE, 10 ** e));
}

/** Domain [low, high] of finite values, padded; for a log axis the positive ones
 * (padded in decades, within the positive doubles). */
export function extent(arrays, {log = false, pad = 0.05, fallback = [0, 1]} = {}) {
  let low = Infinity;
  let high = -Infinity;
  for (const values of arrays) {
    for (const v of values) {
      if (!Number.isFinite(v) || (log && v <= 0)) continue;
      if (v < low) low = v;
      if (v > high) high = v;
    }
  }
  if (!(low <= high)) return fallback;
  if (log) {
    const [a, b] = [Math.log10(low), Math.log10(high)];
    if (low === high) return [pow10(a - Math.log10(2)), pow10(b + Math.log10(2))];
    const span = b - a;
    return [pow10(a - pad * span), pow10(b + pad * span)];
  }
  if (low === high) {
    // ±1, or ±half the value where 1 is lost in it (1e300 ± 1 is 1e300: an empty domain)
    const d = Math.max(1, Math.abs(low) / 2);
    return [Math.max(low - d, -Number.MAX_VALUE), Math.min(high + d, Number.MAX_VALUE)];
  }
  const span = high - low;
  return [low - pad * span, high + pad * span];
}
