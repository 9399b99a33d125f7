/* gdlab report: the interactive charts, drawn as SVG by this script alone.
 *
 * gdlab/report/interactive.py computes every number (the page only draws): the
 * JSON in the script element #gdlab-charts holds one chart per div.chart-box
 * [data-chart=ID]. Each chart: a tooltip on hover (run, step, value), drag to zoom
 * (a double-click goes back), Pan button or Shift-drag to pan, a legend whose entry
 * hides its run on a click and shows it alone on a double-click, the y-scale buttons
 * (data-scale), the smoothing slider (input.smooth) and preset views (data-view). A
 * mean over seeds is drawn over its shaded band (a loss's recomputed from its seeds'
 * raw losses at the slider's beta, as gdlab.report.figures._loss_curves does).
 * When every chart is drawn, <body data-charts-ready> holds {"charts": n, "failed":
 * [...], "start": ms, "each": {id: ms}, "ms": time since the page started}.
 */
(function () {
  "use strict";
  var began = performance.now();
  var holder = document.getElementById("gdlab-charts");
  if (!holder) { return; }
  var specs = JSON.parse(holder.textContent);
  var NS = "http://www.w3.org/2000/svg"; // the SVG namespace name, not an address to load
  var NARROW = 640; // px: below this, the legend goes under the plot
  var MARGIN = {l: 64, r: 14, t: 12, b: 44}; // l: the least; wider y tick labels widen it
  var TICK_FONT = 11; // px: the tick labels' (html.py's .chart svg.plot)
  var TITLE_X = 14; // px: the rotated y title's baseline; its glyphs reach 3 px right of it

  // The bias-corrected exponentially weighted average (gdlab.averages.ewma with
  // bias_correction=True, gdlab.report.figures.smooth):
  //   v_0 = 0;  v_t = beta * v_{t-1} + (1 - beta) * x_t;  shown: v_t / (1 - beta^t).
  // beta = 0 gives the values unchanged; a missing value (null) stays missing.
  function ewma(values, beta) {
    var out = new Array(values.length);
    var v = 0, power = 1;
    for (var i = 0; i < values.length; i++) {
      var x = values[i];
      if (x === null || x === undefined) { out[i] = null; continue; }
      if (beta === 0) { out[i] = x; continue; }
      v = beta * v + (1 - beta) * x;
      power *= beta;
      out[i] = v / (1 - power);
    }
    return out;
  }

  // A long run's curve at every stride-th step of its own (k) put on a grid of every
  // stride-th step, by straight lines between its points, as numpy.interp in
  // gdlab.report.figures._on_grid (the curve as it is when k is the stride).
  function onGrid(values, k, stride) {
    if (k === stride || !values.length) { return values; }
    var last = (values.length - 1) * k, out = [];
    for (var g = 0; g <= last; g += stride) {
      var at = g / k, j = Math.floor(at);
      if (j >= values.length - 1) { out.push(values[values.length - 1]); continue; }
      var a = values[j], b = values[j + 1];
      out.push(a === null || b === null ? null : a + (b - a) * (at - j));
    }
    return out;
  }

  // Mean and band over curves of different lengths, each step over the curves that
  // reach it (a missing value, null, left out), as gdlab.report.figures._stack:
  // band "std" is mean ± the population standard deviation, "minmax" the lowest to the
  // highest curve.
  function stack(curves, band) {
    var length = 0;
    curves.forEach(function (c) { length = Math.max(length, c.length); });
    var mean = new Array(length), low = new Array(length), high = new Array(length);
    for (var i = 0; i < length; i++) {
      var here = [];
      curves.forEach(function (c) { if (i < c.length && c[i] !== null && isFinite(c[i])) { here.push(c[i]); } });
      if (!here.length) { mean[i] = low[i] = high[i] = null; continue; }
      var sum = 0;
      here.forEach(function (v) { sum += v; });
      var m = sum / here.length;
      mean[i] = m;
      if (band === "std") {
        var squares = 0;
        here.forEach(function (v) { squares += (v - m) * (v - m); });
        var sd = Math.sqrt(squares / here.length);
        low[i] = m - sd;
        high[i] = m + sd;
      } else {
        low[i] = Math.min.apply(null, here);
        high[i] = Math.max.apply(null, here);
      }
    }
    return {mean: mean, low: low, high: high};
  }

  // --- numbers as text -------------------------------------------------------------

  function esc(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c];
    });
  }

  // A number in `digits` significant digits (4 unless told), trailing zeros dropped.
  function short(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) { return "–"; }
    if (v === 0) { return "0"; }
    var a = Math.abs(v), p = digits || 4;
    if (a >= 1e5 || a < 1e-3) { return v.toExponential(p - 1).replace(/\.?0+e/, "e"); }
    return String(Number(v.toPrecision(p)));
  }

  function percent(v, decimals) { return (100 * v).toFixed(decimals || 1) + "%"; }

  // An axis's tick labels, in the least precision from the usual (4 significant digits, or
  // one decimal of a percent) on that tells every two neighbouring ticks apart, so that a
  // deep zoom does not label each tick alike ("0.00195" down the axis); at most a
  // double's 17 digits (20 decimals of a percent).
  function tickTexts(ticks, format) {
    var text = format === "%" ? percent : short, texts = [];
    for (var p = format === "%" ? 1 : 4; p <= (format === "%" ? 20 : 17); p++) {
      texts = ticks.map(function (t) { return text(t, p); });
      if (texts.every(function (s, i) { return i === 0 || s !== texts[i - 1] || ticks[i] === ticks[i - 1]; })) { break; }
    }
    return texts;
  }

  // About how wide a tick label is, in px: from its characters at the ticks' font size
  // (narrow "." and "-", wide "+" and "%").
  function textWidth(text) {
    var ems = 0;
    for (var i = 0; i < text.length; i++) {
      ems += ".,-".indexOf(text[i]) >= 0 ? 0.35 : "+%".indexOf(text[i]) >= 0 ? 0.85 : 0.65;
    }
    return ems * TICK_FONT;
  }

  // --- ticks ------------------------------------------------------------------------

  function niceStep(span, count) {
    var raw = span / Math.max(count, 1);
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var unit = raw / power;
    return power * (unit < 1.5 ? 1 : unit < 3.5 ? 2 : unit < 7.5 ? 5 : 10);
  }

  function linearTicks(lo, hi, count) {
    if (!(hi > lo)) { return [lo]; }
    var step = niceStep(hi - lo, count), ticks = [], first = Math.ceil(lo / step - 1e-9);
    var n = Math.min(Math.floor(hi / step + 1e-9) - first, 1000); // bounded, whatever the doubles
    for (var i = 0; i <= n; i++) { ticks.push(tickAt(first + i, step)); }
    return ticks;
  }

  // A date axis's ticks (x: the index of a day in dates, ISO "YYYY-MM-DD"): the calendar's
  // own marks, the finest level with at most count in [lo, hi] (the 1st, 10th and 20th of
  // each month; each month's 1st; every 3 or 6 months; each New Year; every 2, 5 or 10
  // years), labelled "2013" on a New Year, "Jul" on another month's 1st, "Jul 10" on
  // another day, the first tick with its year ("Jul 2013") where it is not a New Year; a
  // view of a few days between two marks, every k-th day. null where the dates are not
  // ISO days (the caller then numbers the ticks).
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var DATE_LEVELS = [
    function (y, m, d) { return d === 1 || d === 10 || d === 20; },
    function (y, m, d) { return d === 1; },
    function (y, m, d) { return d === 1 && m % 3 === 1; },
    function (y, m, d) { return d === 1 && m % 6 === 1; },
    function (y, m, d) { return d === 1 && m === 1; },
    function (y, m, d) { return d === 1 && m === 1 && y % 2 === 0; },
    function (y, m, d) { return d === 1 && m === 1 && y % 5 === 0; },
    function (y, m, d) { return d === 1 && m === 1 && y % 10 === 0; }
  ];

  function dateTicks(lo, hi, count, dates) {
    var days = [];
    for (var i = Math.max(0, Math.ceil(lo - 1e-9)); i <= Math.min(dates.length - 1, Math.floor(hi + 1e-9)); i++) {
      var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dates[i]);
      if (!m) { return null; }
      days.push([i, +m[1], +m[2], +m[3]]);
    }
    var picked = days;
    for (var level = 0; level < DATE_LEVELS.length && picked.length > count; level++) {
      var marks = days.filter(function (day) { return DATE_LEVELS[level](day[1], day[2], day[3]); });
      if (marks.length < 2) { // a few days between two marks: every k-th of them instead
        var every = Math.ceil(picked.length / count);
        picked = picked.filter(function (day, k) { return k % every === 0; });
        break;
      }
      picked = marks;
    }
    return {
      ticks: picked.map(function (day) { return day[0]; }),
      texts: picked.map(function (day, k) {
        var y = day[1], month = MONTHS[day[2] - 1], d = day[3];
        if (d === 1 && day[2] === 1) { return String(y); }
        var text = d === 1 ? month : month + " " + d;
        return k === 0 ? text + " " + y : text;
      })
    };
  }

  // k × step (step 1, 2 or 5 × 10^e), as the double nearest that decimal: not a sum of
  // steps, whose errors add up, nor one rounded to 12 digits, which made every tick of a
  // view under about 1e-11 of its values one value (DEEPEST keeps them apart).
  function tickAt(k, step) {
    var decimals = Math.max(0, 1 - Math.floor(Math.log10(step))); // k × step has no more
    if (decimals > 22) { return k * step; } // 10^decimals is no longer a double: the product
    var scale = Math.pow(10, decimals);
    return Math.round(k * step * scale) / scale;
  }

  // The narrowest view, as a share of its largest |end| (in decades on a log axis, in
  // units on a symlog one, where 1 is the least taken): a zoom goes no deeper. There a
  // tick is still hundreds of doubles from the next (a double tells 2.2e-16 apart), and
  // its label 15 significant digits at most.
  var DEEPEST = 1e-12;

  // The view r of an axis, widened about its middle to the narrowest DEEPEST allows.
  function notTooDeep(r, linear) {
    var least = DEEPEST * Math.max(Math.abs(r[0]), Math.abs(r[1]), linear ? 1e-290 : 1);
    if (r[1] - r[0] >= least) { return r; }
    var mid = r[0] / 2 + r[1] / 2;
    return [mid - least / 2, mid + least / 2];
  }

  // Ticks on a log axis (lo, hi in decades) that label the whole of it: the powers of
  // ten (every 2nd, 5th, 10th… over many decades), else 1, 2 and 5 times them, else every digit,
  // the first of these that gives at least 3 ticks, thinned to about count; a range
  // within one digit (under a factor of about 1.5) gets plain ticks, as even there.
  function logTicks(lo, hi, count) {
    var first = Math.floor(lo), last = Math.ceil(hi), ticks = [];
    var sets = [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]];
    for (var s = 0; s < sets.length && ticks.length < 3; s++) {
      var every = s === 0 ? Math.max(1, Math.round(niceStep(last - first, Math.max(count, 3)))) : 1;
      ticks = [];
      for (var k = Math.floor(first / every) * every; k <= last; k += every) {
        sets[s].forEach(function (m) {
          var d = k + Math.log10(m);
          if (d >= lo - 1e-9 && d <= hi + 1e-9) { ticks.push(Number((m * Math.pow(10, k)).toPrecision(12))); }
        });
      }
    }
    if (ticks.length < 2) {
      return linearTicks(Math.pow(10, lo), Math.pow(10, hi), 4).filter(function (t) { return t > 0; });
    }
    var keep = Math.ceil(ticks.length / Math.max(count, 3));
    return keep > 1 ? ticks.filter(function (t, i) { return i % keep === 0; }) : ticks;
  }

  // A symmetric log axis, as matplotlib's symlog: linear within ±c (one unit from 0 to c),
  // a decade a unit beyond it; f of a path that runs away below 0 (a saddle's) shows whole.
  function symlog(v, c) {
    var a = Math.abs(v);
    return a <= c ? v / c : (v < 0 ? -1 : 1) * (1 + Math.log10(a / c));
  }

  // Ticks on a symmetric log axis (lo, hi in its units, c its linear threshold): 0 and
  // ±10^k from c out (as matplotlib's), every 2nd, 5th… decade where there are many.
  function symlogTicks(lo, hi, c, count) {
    var first = Math.ceil(Math.log10(c) - 1e-9), candidates = [0];
    var last = first + Math.ceil(Math.max(Math.abs(lo), Math.abs(hi)));
    for (var k = first; k <= last; k++) {
      var t = Number(Math.pow(10, k).toPrecision(12));
      [-t, t].forEach(function (v) { var u = symlog(v, c); if (u >= lo - 1e-9 && u <= hi + 1e-9) { candidates.push(v); } });
    }
    candidates.sort(function (a, b) { return a - b; });
    var shown = candidates.filter(function (v) { var u = symlog(v, c); return u >= lo - 1e-9 && u <= hi + 1e-9; });
    if (shown.length < 2) { return closeTicks(lo, hi, c, count); }
    var keep = Math.ceil(candidates.length / Math.max(count, 3));
    var zero = candidates.indexOf(0); // 0 always kept, the others every keep-th from it
    return candidates.filter(function (t, i) { return (i - zero) % keep === 0; });
  }

  // A view of a symmetric log axis too close for two of its ticks (within the linear band,
  // or between two powers of ten): beyond ±1 unit on one side, that side's log ticks;
  // else plain ticks over the values it shows.
  function closeTicks(lo, hi, c, count) {
    if (lo >= 1 || hi <= -1) {
      var sign = lo >= 1 ? 1 : -1, shift = Math.log10(c) - 1;
      var a = Math.abs(lo) + shift, b = Math.abs(hi) + shift;
      return logTicks(Math.min(a, b), Math.max(a, b), count).map(function (t) { return sign * t; });
    }
    var value = function (u) { return Math.abs(u) <= 1 ? u * c : (u < 0 ? -c : c) * Math.pow(10, Math.abs(u) - 1); };
    return linearTicks(value(lo), value(hi), count);
  }

  // --- pixels as text ---------------------------------------------------------------------

  // Chromium holds a path's numbers as float32 (to about 3.4e38: beyond, the whole path is
  // refused) and a run that escapes goes far past that, so every line is cut where it
  // leaves the box ±FAR px around the page (as it runs, not moved), a marker far out of
  // the plot is left out, and a value that is not finite (a diverged run's) breaks a line.
  var FAR = 1e6;

  function within(x, y) { return Math.abs(x) <= FAR && Math.abs(y) <= FAR; }

  // The part of the segment p→q within the box (Liang–Barsky: [from, to, t0, t1]), or null.
  function clip(p, q) {
    var t0 = 0, t1 = 1, dx = q[0] - p[0], dy = q[1] - p[1];
    var sides = [[-dx, p[0] + FAR], [dx, FAR - p[0]], [-dy, p[1] + FAR], [dy, FAR - p[1]]];
    for (var k = 0; k < 4; k++) {
      var a = sides[k][0], b = sides[k][1];
      if (a === 0) {
        if (b < 0) { return null; }
        continue;
      }
      var r = b / a;
      if (a < 0) { t0 = Math.max(t0, r); } else { t1 = Math.min(t1, r); }
      if (t0 > t1) { return null; }
    }
    var from = [p[0] + t0 * dx, p[1] + t0 * dy], to = [p[0] + t1 * dx, p[1] + t1 * dy];
    return isFinite(from[0] + from[1] + to[0] + to[1]) ? [from, to, t0, t1] : null;
  }

  // A line's path, drawn point by point (to) and lifted at a gap (lift), each segment
  // cut to the box; with dash, a lone point (no segment before the lift) a short dash.
  function Pen(dash) {
    this.d = [];
    this.dash = dash;
    this.last = null; // the last point given since the pen was lifted
    this.down = false; // the path's text ends at last
    this.alone = false;
  }

  Pen.prototype.put = function (op, p) { this.d.push(op + p[0].toFixed(1) + "," + p[1].toFixed(1)); };

  Pen.prototype.to = function (x, y) {
    if (!isFinite(x) || !isFinite(y)) { this.lift(); return; }
    var from = this.last, here = this.last = [x, y];
    if (!from) {
      this.down = this.alone = within(x, y);
      if (this.down) { this.put("M", here); }
      return;
    }
    var cut = within(x, y) && this.down ? [from, here, 0, 1] : clip(from, here);
    if (!cut) { this.down = false; return; }
    if (!this.down || cut[2] > 0) { this.put("M", cut[0]); }
    this.put("L", cut[1]);
    this.down = cut[3] === 1;
    this.alone = false;
  };

  Pen.prototype.lift = function () {
    if (this.dash && this.down && this.alone) { this.d.push("m-2,0h4"); }
    this.last = null;
    this.down = this.alone = false;
  };

  Pen.prototype.text = function () { this.lift(); return this.d.join(""); };

  // A closed shape's points cut to the box (Sutherland–Hodgman), as its path.
  function shape(points) {
    [[0, -1], [0, 1], [1, -1], [1, 1]].forEach(function (side) {
      var axis = side[0], edge = side[1] * FAR, kept = [];
      var inside = function (p) { return side[1] * p[axis] <= FAR; };
      points.forEach(function (p, i) {
        var q = points[(i || points.length) - 1]; // the point before p
        if (inside(p) !== inside(q)) {
          var t = (edge - q[axis]) / (p[axis] - q[axis]);
          kept.push([q[0] + t * (p[0] - q[0]), q[1] + t * (p[1] - q[1])]);
        }
        if (inside(p)) { kept.push(p); }
      });
      points = kept;
    });
    return points.length > 2 ? points.map(function (p, i) {
      return (i ? "L" : "M") + p[0].toFixed(1) + "," + p[1].toFixed(1);
    }).join("") + "Z" : "";
  }

  // --- marker shapes (the palette's symbols) --------------------------------------------

  function symbol(name, x, y, size) {
    var r = size / 2, s = r * 0.9;
    switch (name) {
      case "square": case "square-open": return "M" + (x - s) + "," + (y - s) + "h" + 2 * s + "v" + 2 * s + "h" + -2 * s + "Z";
      case "diamond": return "M" + x + "," + (y - r * 1.2) + "L" + (x + r) + "," + y + "L" + x + "," + (y + r * 1.2) + "L" + (x - r) + "," + y + "Z";
      case "triangle-up": return "M" + x + "," + (y - r * 1.1) + "L" + (x + r) + "," + (y + r * 0.8) + "L" + (x - r) + "," + (y + r * 0.8) + "Z";
      case "triangle-down": return "M" + x + "," + (y + r * 1.1) + "L" + (x + r) + "," + (y - r * 0.8) + "L" + (x - r) + "," + (y - r * 0.8) + "Z";
      case "cross": return plus(x, y, r, 0); // matplotlib's "P": a filled plus
      case "x": return plus(x, y, r * 1.15, Math.PI / 4); // matplotlib's "X": a filled ×
      case "hexagon": // matplotlib's "h": a filled hexagon, a vertex up
        return polygon(x, y, 6, function (i) { return Math.PI / 3 * i - Math.PI / 2; }, r * 1.05);
      case "cross-thin":
        return "M" + (x - r) + "," + y + "h" + 2 * r + "M" + x + "," + (y - r) + "v" + 2 * r;
      case "x-thin": // where a run diverged
        return "M" + (x - s) + "," + (y - s) + "l" + 2 * s + "," + 2 * s + "M" + (x - s) + "," + (y + s) + "l" + 2 * s + "," + -2 * s;
      case "target": // a minimum: a ring with four ticks out, open in the middle (not a run's cross)
        var h = r / 2;
        return "M" + (x - h) + "," + y + "a" + h + "," + h + " 0 1,0 " + r + ",0a" + h + "," + h + " 0 1,0 " + -r + ",0" +
          "M" + (x + h) + "," + y + "h" + h + "M" + (x - h) + "," + y + "h" + -h +
          "M" + x + "," + (y + h) + "v" + h + "M" + x + "," + (y - h) + "v" + -h;
      case "star":
        var d = "";
        for (var i = 0; i < 10; i++) {
          var a = Math.PI / 5 * i - Math.PI / 2, rr = i % 2 ? r * 0.45 : r * 1.15;
          d += (i ? "L" : "M") + (x + rr * Math.cos(a)).toFixed(1) + "," + (y + rr * Math.sin(a)).toFixed(1);
        }
        return d + "Z";
      default: // circle, circle-open
        return "M" + (x - r) + "," + y + "a" + r + "," + r + " 0 1,0 " + 2 * r + ",0a" + r + "," + r + " 0 1,0 " + -2 * r + ",0";
    }
  }

  // A regular polygon of n vertices at the given angles, radius rr, as a closed path.
  function polygon(x, y, n, angle, rr) {
    var d = "";
    for (var i = 0; i < n; i++) {
      d += (i ? "L" : "M") + (x + rr * Math.cos(angle(i))).toFixed(1) + "," + (y + rr * Math.sin(angle(i))).toFixed(1);
    }
    return d + "Z";
  }

  // A plus of arm length r and arm width 0.6 r, turned by `turn` radians (π/4: a ×), as one outline.
  function plus(x, y, r, turn) {
    var w = r * 0.3, c = Math.cos(turn), sn = Math.sin(turn), d = "";
    var outline = [[w, w], [w, r], [-w, r], [-w, w], [-r, w], [-r, -w], [-w, -w], [-w, -r], [w, -r], [w, -w], [r, -w], [r, w]];
    outline.forEach(function (p, i) {
      d += (i ? "L" : "M") + (x + p[0] * c - p[1] * sn).toFixed(1) + "," + (y + p[0] * sn + p[1] * c).toFixed(1);
    });
    return d + "Z";
  }

  function stroked(name) {
    return name === "cross-thin" || name === "x-thin" || name === "circle-open" || name === "square-open" || name === "target";
  }

  var DASHES = {solid: "", dash: "7,4", dot: "2,3", dashdot: "7,3,2,3"};

  // --- a chart ---------------------------------------------------------------------------

  // Each smoothed trace's raw loss: as sent, or for a group's mean (smooth.seeds), the
  // mean of its seeds' raw losses on their common grid, made once here (the page does
  // not carry it twice).
  function rawLosses(smooth) {
    var raw = {}, seeds = smooth.seeds || {};
    Object.keys(smooth.raw).forEach(function (key) {
      var group = seeds[key];
      if (!group) { raw[key] = smooth.raw[key]; return; }
      var stride = Math.max.apply(null, group.strides);
      raw[key] = stack(group.raw.map(function (values, s) {
        return onGrid(values, group.strides[s], stride);
      }), group.band).mean;
    });
    return raw;
  }

  function Chart(box, spec) {
    this.box = box;
    this.spec = spec;
    this.div = box.querySelector(".chart");
    this.hidden = {};
    this.pan = false;
    this.yType = spec.scale ? spec.scale.kind : (spec.yaxis.type === "log" ? "log" : "linear");
    this.xType = spec.xaxis.type === "log" ? "log" : "linear";
    var raw = this.raw = spec.smooth ? rawLosses(spec.smooth) : {};
    this.traces = spec.traces.map(function (t) {
      var trace = Object.assign({}, t);
      if (trace.mode !== "contour") {
        var n = (trace.y || raw[String(spec.traces.indexOf(t))] || []).length;
        if (!trace.x) {
          trace.x = new Array(n);
          for (var i = 0; i < n; i++) { trace.x[i] = trace.x0 + i * trace.dx; }
        }
      }
      if (trace.band && trace.band.low) { trace.low = trace.band.low; trace.high = trace.band.high; }
      return trace;
    });
    if (spec.smooth) { this.smooth(spec.smooth.beta, spec.smooth.start); }
    this.build();
    this.home = this.extent();
    this.view = {x: this.home.x.slice(), y: this.home.y.slice()};
    this.render();
  }

  // Each curve's smoothing: beta for every one, or, from start ({trace: beta}), the
  // figure's own per run (a noisy loss over more steps, as its legend entry says). A
  // group's mean (smooth.seeds: its seeds' raw losses, strides and band) is the mean of
  // its seeds' smoothed losses, with its band, as the figure's.
  function lastFinite(values) {
    for (var i = values.length - 1; i >= 0; i--) {
      if (values[i] !== null && isFinite(values[i])) { return values[i]; }
    }
    return NaN;
  }

  Chart.prototype.smooth = function (beta, start) {
    var raw = this.raw, seeds = this.spec.smooth.seeds || {}, traces = this.traces, betas = {};
    Object.keys(raw).forEach(function (key) {
      betas[key] = start && start[key] !== undefined ? start[key] : beta;
      var t = traces[Number(key)], group = seeds[key];
      if (!group) {
        t.y = ewma(raw[key], betas[key]);
        t.crosses = t.end !== undefined ? [[t.end, lastFinite(t.y)]] : null;
        return;
      }
      var stride = Math.max.apply(null, group.strides), crosses = [];
      var curves = group.raw.map(function (values, s) {
        var smoothed = ewma(values, betas[key]);
        if (group.ends && group.ends[s] !== null) { crosses.push([group.ends[s], lastFinite(smoothed)]); }
        return onGrid(smoothed, group.strides[s], stride);
      });
      t.crosses = crosses.length ? crosses : null;
      var stacked = stack(curves, group.band);
      t.y = stacked.mean.slice(0, t.x.length);
      t.low = stacked.low;
      t.high = stacked.high;
    });
    this.beta = beta;
    this.betas = betas;
  };

  // The smoothing in words: one beta, or the figure's per run ("β = 0.9 (about 10
  // steps); SGD: β = 0.98 (about 50 steps)").
  function smoothWords(beta) {
    return beta > 0 ? "β = " + beta + " (about " + Math.round(1 / (1 - beta)) + " steps)" : "off (the raw loss)";
  }

  Chart.prototype.smoothText = function () {
    var self = this, others = [], said = {};
    Object.keys(this.betas).forEach(function (key) {
      var b = self.betas[key], group = self.traces[Number(key)].legendgroup;
      if (b !== self.beta && !said[group]) { said[group] = true; others.push(group + ": " + smoothWords(b)); }
    });
    return smoothWords(this.beta) + (others.length ? "; " + others.join("; ") + ", as the figure" : "");
  };

  // The legend's words once one beta smooths every curve (no "smoothed over ≈50 steps").
  // The legend's words by group; named: each group's words set from names ({group: words}).
  Chart.prototype.legendWords = function () {
    var words = {};
    Array.prototype.forEach.call(this.legend.querySelectorAll("button"), function (b) {
      words[b.getAttribute("data-group")] = b.querySelector("span").textContent;
    });
    return words;
  };

  Chart.prototype.named = function (names) {
    Array.prototype.forEach.call(this.legend.querySelectorAll("button"), function (b) {
      var name = names[b.getAttribute("data-group")];
      if (name) { b.querySelector("span").textContent = name; }
    });
  };

  Chart.prototype.tx = function (v) { return this.xType === "log" ? (v > 0 ? Math.log10(v) : NaN) : v; };
  Chart.prototype.ty = function (v) {
    if (this.yType === "symlog") { return symlog(v, this.spec.scale.linthresh); }
    return this.yType === "log" ? (v > 0 ? Math.log10(v) : NaN) : v;
  };

  Chart.prototype.extent = function () {
    var spec = this.spec, self = this;
    var x = spec.xaxis.range ? spec.xaxis.range.map(function (v) { return self.tx(v); }) : null;
    var y = null;
    if (spec.scale && spec.scale.ranges[this.yType]) {
      y = spec.scale.ranges[this.yType].map(function (v) { return self.ty(v); });
    } else if (spec.yaxis.range) {
      y = spec.yaxis.range.map(function (v) { return self.ty(v); });
    }
    if (!x || !y) {
      var xs = [Infinity, -Infinity], ys = [Infinity, -Infinity], markers = false;
      this.traces.forEach(function (t) {
        if (t.mode === "contour") {
          t.paths.forEach(function (p) {
            p[0].forEach(function (v) { v = self.tx(v); if (isFinite(v)) { xs[0] = Math.min(xs[0], v); xs[1] = Math.max(xs[1], v); } });
            p[1].forEach(function (v) { v = self.ty(v); if (isFinite(v)) { ys[0] = Math.min(ys[0], v); ys[1] = Math.max(ys[1], v); } });
          });
          return;
        }
        markers = markers || t.mode !== "lines";
        for (var i = 0; i < t.x.length; i++) {
          var a = self.tx(t.x[i]), b = t.y[i] === null ? NaN : self.ty(t.y[i]);
          if (!isFinite(a) || !isFinite(b)) { continue; }
          xs[0] = Math.min(xs[0], a); xs[1] = Math.max(xs[1], a);
          ys[0] = Math.min(ys[0], b); ys[1] = Math.max(ys[1], b);
        }
        (t.crosses || []).forEach(function (c) { // a run's × one step past its last loss
          var a = self.tx(c[0]);
          if (isFinite(a)) { xs[0] = Math.min(xs[0], a); xs[1] = Math.max(xs[1], a); }
        });
      });
      var pad = function (r, share) {
        if (!isFinite(r[0])) { return [0, 1]; }
        if (r[1] === r[0]) { // one value: a range around it
          var half = Math.abs(r[0]) * 0.5 || 0.5;
          return [r[0] - half, r[1] + half];
        }
        var span = r[1] - r[0];
        return [r[0] - share * span, r[1] + share * span];
      };
      x = x || pad(xs, markers ? 0.04 : 0);
      y = y || pad(ys, 0.05);
    }
    return {x: x, y: y};
  };

  Chart.prototype.build = function () {
    var self = this, spec = this.spec;
    this.svg = document.createElementNS(NS, "svg");
    this.svg.setAttribute("class", "plot");
    this.svg.setAttribute("role", "img");
    this.svg.setAttribute("aria-label", spec.title + " (interactive chart)");
    this.div.appendChild(this.svg);
    this.tip = document.createElement("div");
    this.tip.className = "tooltip";
    this.tip.hidden = true;
    this.div.appendChild(this.tip);
    this.band = document.createElement("div");
    this.band.className = "zoom-band";
    this.band.hidden = true;
    this.div.appendChild(this.band);
    // the legend: one entry per legend group, in the chart's order
    var list = document.createElement("ul");
    list.className = "legend";
    list.setAttribute("aria-label", "Legend of " + spec.title + ": click to hide, double-click to show alone");
    var seen = {}, entries = [];
    this.traces.forEach(function (t) {
      if (t.showlegend && t.legendgroup && !seen[t.legendgroup]) { seen[t.legendgroup] = t; }
    });
    (spec.legend || []).concat(Object.keys(seen)).forEach(function (group) {
      if (seen[group] && entries.indexOf(group) < 0) { entries.push(group); }
    });
    entries.forEach(function (group) {
      var t = seen[group], item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.setAttribute("aria-pressed", "true");
      button.setAttribute("data-group", group);
      var line = t.line || {}, marker = t.marker || {};
      var swatch = '<svg width="34" height="14" aria-hidden="true">';
      if (t.mode !== "markers") {
        swatch += '<path d="M2,7H32" fill="none" stroke="' + esc(line.color || marker.color || "#000") +
          '" stroke-width="' + Math.min(line.width || 2, 3) + '" stroke-dasharray="' + (DASHES[line.dash] || "") + '"/>';
      }
      if (t.mode !== "lines" || marker.symbol) {
        var sym = marker.symbol || "circle", color = marker.color || line.color || "#000";
        var most = sym === "target" ? 13 : 9; // a target's ring and ticks: legible only larger
        swatch += '<path d="' + symbol(sym, 17, 7, Math.min(marker.size || 6, most)) + '" ' +
          (stroked(sym) ? 'fill="none" stroke="' + esc(color) + '" stroke-width="1.6"'
            : 'fill="' + esc(color) + '"') + "/>";
      }
      button.innerHTML = swatch + "</svg><span>" + esc(t.name) + "</span>";
      button.addEventListener("click", function () { self.toggle(group); });
      button.addEventListener("dblclick", function () { self.solo(group); });
      item.appendChild(button);
      list.appendChild(item);
    });
    if (spec.note) { // words for the whole chart, after its entries ("★ the rate chosen, by …")
      var note = document.createElement("li");
      note.className = "note";
      note.textContent = spec.note;
      list.appendChild(note);
    }
    this.legend = list;
    this.div.parentNode.appendChild(list);
    // pointer: hover, zoom, pan
    var drag = null;
    var local = function (event) {
      var rect = self.svg.getBoundingClientRect();
      return {x: event.clientX - rect.left, y: event.clientY - rect.top};
    };
    this.svg.addEventListener("pointermove", function (event) {
      var p = local(event);
      if (drag) {
        if (drag.pan) {
          var f = self.frame;
          var dx = (p.x - drag.x) / f.w * (drag.view.x[1] - drag.view.x[0]);
          var dy = (p.y - drag.y) / f.h * (drag.view.y[1] - drag.view.y[0]);
          self.view = {x: [drag.view.x[0] - dx, drag.view.x[1] - dx], y: [drag.view.y[0] + dy, drag.view.y[1] + dy]};
          self.schedule();
        } else {
          var x0 = Math.min(p.x, drag.x), y0 = Math.min(p.y, drag.y);
          self.band.hidden = false;
          self.band.style.left = x0 + "px";
          self.band.style.top = y0 + "px";
          self.band.style.width = Math.abs(p.x - drag.x) + "px";
          self.band.style.height = Math.abs(p.y - drag.y) + "px";
        }
        return;
      }
      self.hover(p);
    });
    this.svg.addEventListener("pointerleave", function () { if (!drag) { self.hover(null); } });
    this.svg.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      var p = local(event), f = self.frame;
      if (p.x < f.l || p.x > f.l + f.w || p.y < f.t || p.y > f.t + f.h) { return; }
      drag = {x: p.x, y: p.y, pan: self.pan || event.shiftKey, view: {x: self.view.x.slice(), y: self.view.y.slice()}};
      self.svg.setPointerCapture(event.pointerId);
      self.hover(null);
    });
    this.svg.addEventListener("pointerup", function (event) {
      if (!drag) { return; }
      var p = local(event), start = drag;
      drag = null;
      self.band.hidden = true;
      if (start.pan) { return; }
      var wide = Math.abs(p.x - start.x) > 5, tall = Math.abs(p.y - start.y) > 5;
      if (!wide && !tall) { return; }
      var f = self.frame, v = self.view;
      var toX = function (px) { return v.x[0] + (px - f.l) / f.w * (v.x[1] - v.x[0]); };
      var toY = function (py) { return v.y[0] + (f.t + f.h - py) / f.h * (v.y[1] - v.y[0]); };
      self.view = {
        x: wide ? [toX(Math.min(p.x, start.x)), toX(Math.max(p.x, start.x))] : v.x,
        y: tall ? [toY(Math.max(p.y, start.y)), toY(Math.min(p.y, start.y))] : v.y
      };
      self.render();
    });
    this.svg.addEventListener("dblclick", function () { self.reset(); });
    // controls
    var box = this.box;
    var scales = Array.prototype.slice.call(box.querySelectorAll("button[data-scale]"));
    scales.forEach(function (button) {
      button.addEventListener("click", function () {
        self.setScale(button.getAttribute("data-scale"));
        scales.forEach(function (b) { b.setAttribute("aria-pressed", b === button ? "true" : "false"); });
      });
    });
    var panButton = box.querySelector("button[data-pan]");
    if (panButton) {
      panButton.addEventListener("click", function () {
        self.pan = !self.pan;
        panButton.setAttribute("aria-pressed", self.pan ? "true" : "false");
        self.svg.style.cursor = self.pan ? "move" : "crosshair";
      });
    }
    var slider = box.querySelector("input.smooth");
    if (slider && spec.smooth) {
      var output = box.querySelector("output.smooth-value");
      var show = function () {
        var text = self.smoothText();
        if (output) { output.textContent = text; }
        slider.setAttribute("aria-valuetext", text);
      };
      // back at its first stop, the figure's smoothing (per run) and legend come back
      var first = slider.value, figureWords = self.legendWords();
      slider.addEventListener("input", function () {
        if (slider.value === first) {
          self.smooth(spec.smooth.beta, spec.smooth.start);
          self.named(figureWords);
        } else {
          self.smooth(spec.smooth.betas[Number(slider.value)]);
          self.named(spec.smooth.names || {});
        }
        show();
        self.render();
      });
      show();
    }
    var views = Array.prototype.slice.call(box.querySelectorAll("button[data-view]"));
    views.forEach(function (button) {
      button.addEventListener("click", function () {
        var view = spec.views[Number(button.getAttribute("data-view"))];
        self.view = {
          x: view.x ? view.x.map(function (v) { return self.tx(v); }) : self.home.x.slice(),
          y: view.y ? view.y.map(function (v) { return self.ty(v); }) : self.home.y.slice()
        };
        views.forEach(function (b) { b.setAttribute("aria-pressed", b === button ? "true" : "false"); });
        self.render();
      });
    });
    if (typeof ResizeObserver !== "undefined") {
      var width = 0;
      new ResizeObserver(function () {
        var now = self.div.clientWidth;
        if (now && Math.abs(now - width) > 1) { width = now; self.schedule(); }
      }).observe(this.div);
    }
  };

  Chart.prototype.schedule = function () {
    var self = this;
    if (this.pending) { return; }
    this.pending = true;
    requestAnimationFrame(function () { self.pending = false; self.render(); });
  };

  Chart.prototype.reset = function () {
    this.home = this.extent();
    this.view = {x: this.home.x.slice(), y: this.home.y.slice()};
    this.render();
  };

  Chart.prototype.setScale = function (kind) {
    this.yType = kind;
    var x = this.view.x;
    this.home = this.extent();
    this.view = {x: x, y: this.home.y.slice()};
    this.render();
  };

  Chart.prototype.toggle = function (group) {
    this.hidden[group] = !this.hidden[group];
    this.sync();
  };

  Chart.prototype.solo = function (group) {
    var self = this, groups = this.groups();
    var alone = groups.every(function (g) { return g === group ? !self.hidden[g] : self.hidden[g]; });
    groups.forEach(function (g) { self.hidden[g] = alone ? false : g !== group; });
    this.sync();
  };

  Chart.prototype.groups = function () {
    return Array.prototype.map.call(this.legend.querySelectorAll("button"), function (b) {
      return b.getAttribute("data-group");
    });
  };

  Chart.prototype.sync = function () {
    var self = this;
    Array.prototype.forEach.call(this.legend.querySelectorAll("button"), function (b) {
      b.setAttribute("aria-pressed", self.hidden[b.getAttribute("data-group")] ? "false" : "true");
    });
    this.render();
  };

  // The x ticks in the plot (f, sx: its frame and scale) and their labels: about one a
  // 90 px, fewer where their labels (long on a deep zoom) would run into each other.
  Chart.prototype.xTicks = function (f, sx) {
    var self = this, spec = this.spec, v = this.view;
    var dated = spec.dates && spec.xaxis.type === "date";
    for (var count = Math.max(2, Math.round(f.w / 90)); ; count--) {
      var calendar = dated ? dateTicks(v.x[0], v.x[1], count, spec.dates) : null;
      var ticks = calendar ? calendar.ticks // days in the view already
        : (this.xType === "log" ? logTicks(v.x[0], v.x[1], count) : linearTicks(v.x[0], v.x[1], count))
          .filter(function (t) { var at = sx(self.tx(t)); return at >= f.l - 0.5 && at <= f.l + f.w + 0.5; });
      var texts = calendar ? calendar.texts
        : dated ? ticks.map(function (t) {
          var day = Math.round(t);
          return day >= 0 && day < spec.dates.length && Math.abs(day - t) < 1e-6 ? spec.dates[day] : "";
        }) : tickTexts(ticks);
      var crowded = ticks.some(function (t, i) {
        var room = i > 0 ? Math.abs(sx(self.tx(t)) - sx(self.tx(ticks[i - 1]))) : Infinity;
        return room < (textWidth(texts[i]) + textWidth(texts[i - 1] || "")) / 2 + 8;
      });
      if (!crowded || count <= 2) { return {ticks: ticks, texts: texts}; }
    }
  };

  Chart.prototype.render = function () {
    var self = this, spec = this.spec;
    var W = Math.max(this.div.clientWidth, 200);
    var H = W < NARROW ? 320 : 420;
    var h = H - MARGIN.t - MARGIN.b, v = this.view;
    ["x", "y"].forEach(function (axis) { // an empty range would divide by zero
      var r = v[axis];
      if (!(r[1] > r[0])) { var mid = isFinite(r[0]) ? r[0] : 0; v[axis] = [mid - 0.5, mid + 0.5]; }
      v[axis] = notTooDeep(v[axis], (axis === "x" ? self.xType : self.yType) === "linear");
    });
    // the y ticks first: the left margin holds their widest label clear of the y title
    var sy = function (b) { return MARGIN.t + h - (b - v.y[0]) / (v.y[1] - v.y[0]) * h; };
    var yCount = Math.max(2, Math.round(h / 60));
    var yt = (this.yType === "log" ? logTicks(v.y[0], v.y[1], yCount) :
      this.yType === "symlog" ? symlogTicks(v.y[0], v.y[1], spec.scale.linthresh, yCount) : linearTicks(v.y[0], v.y[1], yCount))
      .filter(function (t) { var at = sy(self.ty(t)); return at >= MARGIN.t - 0.5 && at <= MARGIN.t + h + 0.5; });
    var yText = tickTexts(yt, spec.yaxis.format);
    var widest = Math.max.apply(null, [0].concat(yText.map(textWidth)));
    var left = Math.max(MARGIN.l, Math.ceil(TITLE_X + 3 + 4 + widest + 6)); // title, a gap, the labels, 6 px
    var f = {l: left, t: MARGIN.t, w: W - left - MARGIN.r, h: h};
    this.frame = f;
    var sx = function (a) { return f.l + (a - v.x[0]) / (v.x[1] - v.x[0]) * f.w; };
    var clip = spec.id + "-clip";
    var out = ['<defs><clipPath id="' + esc(clip) + '"><rect x="' + f.l + '" y="' + f.t + '" width="' + f.w +
      '" height="' + f.h + '"/></clipPath></defs>'];
    out.push('<rect class="frame" x="' + f.l + '" y="' + f.t + '" width="' + f.w + '" height="' + f.h + '"/>');
    // axes: grid lines and tick labels
    var grid = [], labels = [];
    var xt = this.xTicks(f, sx);
    xt.ticks.forEach(function (t, i) {
      var px = sx(self.tx(t));
      grid.push("M" + px.toFixed(1) + "," + f.t + "v" + f.h);
      if (px + textWidth(xt.texts[i]) / 2 > W + 3) { return; } // cut at the edge (more than a sliver)
      labels.push('<text x="' + px.toFixed(1) + '" y="' + (f.t + f.h + 16) + '" text-anchor="middle">' + esc(xt.texts[i]) + "</text>");
    });
    yt.forEach(function (t, i) {
      var at = sy(self.ty(t));
      grid.push("M" + f.l + "," + at.toFixed(1) + "h" + f.w);
      labels.push('<text x="' + (f.l - 6) + '" y="' + (at + 4).toFixed(1) + '" text-anchor="end">' + esc(yText[i]) + "</text>");
    });
    out.push('<path class="grid" d="' + grid.join("") + '"/>');
    out.push('<g class="ticks">' + labels.join("") + "</g>");
    out.push('<text class="title" x="' + (f.l + f.w / 2) + '" y="' + (H - 6) + '" text-anchor="middle">' +
      esc(spec.xaxis.title) + (this.xType === "log" ? " (log)" : "") + "</text>");
    out.push('<text class="title" transform="translate(' + TITLE_X + ',' + (f.t + f.h / 2) + ') rotate(-90)" text-anchor="middle">' +
      esc(spec.yaxis.title) + (this.yType === "log" ? " (log)" : this.yType === "symlog" ? " (symmetric log)" : "") + "</text>");
    // the data
    out.push('<g clip-path="url(#' + esc(clip) + ')">');
    if (spec.smooth) { out.push(this.rawLines(sx, sy, f)); }
    out.push(this.bands(sx, sy, f));
    this.pixels = [];
    var loose = []; // markers on the plot's edge (an × where a path left it): not clipped
    this.traces.forEach(function (t, index) {
      var hidden = t.legendgroup && self.hidden[t.legendgroup];
      if (t.mode === "contour") {
        if (hidden) { return; }
        var parts = [];
        t.paths.forEach(function (p, k) {
          var pen = new Pen(false);
          for (var i = 0; i < p[0].length; i++) { pen.to(sx(self.tx(p[0][i])), sy(self.ty(p[1][i]))); }
          parts.push('<path d="' + pen.text() + '" stroke="' + t.shades[k] + '"/>');
        });
        out.push('<g class="contour" data-trace="' + index + '" data-points="' + t.paths.length + '">' + parts.join("") + "</g>");
        return;
      }
      var n = t.x.length, px = new Float64Array(n), py = new Float64Array(n), drawn = 0;
      for (var i = 0; i < n; i++) {
        var yv = t.y[i];
        px[i] = sx(self.tx(t.x[i]));
        py[i] = yv === null || yv === undefined ? NaN : sy(self.ty(yv));
        if (isFinite(px[i]) && isFinite(py[i])) { drawn++; }
      }
      self.pixels[index] = hidden ? null : {x: px, y: py};
      if (hidden) { return; }
      var line = t.line || {}, marker = t.marker || {};
      var opacity = marker.opacity || line.opacity;
      var g = '<g class="trace" data-trace="' + index + '" data-group="' + esc(t.legendgroup || "") +
        '" data-points="' + drawn + '"' + (opacity ? ' opacity="' + opacity + '"' : "") + ">";
      if (t.mode === "lines" || t.mode === "lines+markers") {
        g += '<path class="line" fill="none" stroke="' + esc(line.color) + '" stroke-width="' + (line.width || 1.5) +
          '" stroke-dasharray="' + (DASHES[line.dash] || "") + '" stroke-linejoin="round" d="' + linePath(px, py, f) + '"/>';
      }
      if (t.error) {
        var bars = new Pen(false);
        for (var e = 0; e < n; e++) {
          if (!isFinite(px[e]) || t.error[e] === null || t.y[e] === null) { continue; }
          var top = sy(self.ty(t.y[e] + t.error[e])), bottom = sy(self.ty(t.y[e] - t.error[e]));
          if (!isFinite(bottom)) { bottom = f.t + f.h; }
          if (!isFinite(top)) { continue; }
          bars.to(px[e], top);
          bars.to(px[e], bottom);
          bars.lift();
        }
        g += '<path class="error" fill="none" stroke="' + esc(line.color) + '" stroke-width="1" d="' + bars.text() + '"/>';
      }
      if ((t.mode === "markers" || t.mode === "lines+markers") && n <= 2000) {
        var sym = marker.symbol || "circle", color = marker.color || line.color || "#000", size = marker.size || 6;
        var shapes = "";
        for (var m = 0; m < n; m++) { // on the edge: within the plot; else within a marker of it
          var by = t.edge ? 1 : size;
          if (px[m] > f.l - by && px[m] < f.l + f.w + by && py[m] > f.t - by && py[m] < f.t + f.h + by) {
            shapes += symbol(sym, +px[m].toFixed(1), +py[m].toFixed(1), size);
          }
        }
        g += stroked(sym)
          ? '<path class="markers" fill="none" stroke="' + esc(color) + '" stroke-width="' + (sym === "cross-thin" ? 2 : 1.6) + '" d="' + shapes + '"/>'
          : '<path class="markers" fill="' + esc(color) + '" stroke="' + esc(marker.edge || "none") + '" stroke-width="1" d="' + shapes + '"/>';
      }
      (t.edge ? loose : out).push(g + "</g>");
      if (t.crosses) { loose.push(self.crossesAt(t, index, sx, sy, f)); }
    });
    out.push("</g>");
    out.push(loose.join(""));
    out.push('<circle class="hover-ring" r="6" cx="-20" cy="-20"/>');
    this.svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    this.svg.setAttribute("width", W);
    this.svg.setAttribute("height", H);
    this.svg.innerHTML = out.join("");
    this.ring = this.svg.querySelector(".hover-ring");
    this.box.setAttribute("data-y-scale", this.yType);
  };

  // The × where a loss's run diverged (t.crosses: [step, its smoothed loss there]), as the
  // figure's: on the top edge when the curve ends above the axis, else clipped to the plot.
  Chart.prototype.crossesAt = function (t, index, sx, sy, f) {
    var self = this, color = esc((t.line || {}).color || "#000"), d = "";
    t.crosses.forEach(function (c) {
      var a = sx(self.tx(c[0])), b = sy(self.ty(c[1]));
      if (!isFinite(a) || a < f.l - 1 || a > f.l + f.w + 1) { return; }
      if (!isFinite(b) && isFinite(c[1]) && c[1] <= 0) { return; } // below a log axis
      if (!isFinite(b) || b < f.t) { b = f.t; } // above the axis (or not finite): held on its edge
      if (b > f.t + f.h + 1) { return; }
      d += symbol("x-thin", +a.toFixed(1), +b.toFixed(1), 9);
    });
    return '<path class="end" data-trace="' + index + '" data-group="' + esc(t.legendgroup || "") +
      '" fill="none" stroke="' + color + '" stroke-width="1.8" d="' + d + '"/>';
  };

  // The raw loss, faint under each smoothed curve (none when it is the curve, beta 0):
  // a thin line, or, for a loss that jumps across most of the axis (smooth.dots), a
  // cloud of dots, as the figure draws it.
  Chart.prototype.rawLines = function (sx, sy, f) {
    var self = this, raw = this.raw, dots = this.spec.smooth.dots || [], out = [];
    Object.keys(raw).forEach(function (key) {
      var t = self.traces[Number(key)], values = raw[key];
      if (t.alone || !(self.betas[key] > 0) || (t.legendgroup && self.hidden[t.legendgroup])) { return; }
      var n = values.length, px = new Float64Array(n), py = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        px[i] = sx(self.tx(t.x[i]));
        py[i] = values[i] === null ? NaN : sy(self.ty(values[i]));
      }
      var color = esc((t.line || {}).color || "#000");
      if (dots.indexOf(t.legendgroup) >= 0) {
        out.push('<path class="raw" data-group="' + esc(t.legendgroup) + '" fill="none" stroke="' + color +
          '" stroke-opacity="0.3" stroke-width="2" stroke-linecap="round" d="' + dotPath(px, py, f) + '"/>');
      } else {
        out.push('<path class="raw" data-group="' + esc(t.legendgroup) + '" fill="none" stroke="' + color +
          '" stroke-opacity="0.25" stroke-width="0.7" d="' + linePath(px, py, f) + '"/>');
      }
    });
    return out.join("");
  };

  // Each shown band over seeds (a trace's low and high), shaded in its colour under every
  // line, as the figure's fill_between; on a log axis an edge at or below 0 is held just
  // below the plot. A long band keeps, per pixel column, its highest top and lowest bottom.
  Chart.prototype.bands = function (sx, sy, f) {
    var self = this, out = [];
    this.traces.forEach(function (t, index) {
      if (!t.low || !t.high || (t.legendgroup && self.hidden[t.legendgroup])) { return; }
      var floor = f.t + f.h + 2, tops = [], bottoms = [], parts = [];
      var flush = function () {
        if (tops.length === 1) { // one evaluation: a narrow bar
          tops = [[tops[0][0] - 3, tops[0][1]], [tops[0][0] + 3, tops[0][1]]];
          bottoms = [[bottoms[0][0] - 3, bottoms[0][1]], [bottoms[0][0] + 3, bottoms[0][1]]];
        }
        if (tops.length > 1) { parts.push(shape(tops.concat(bottoms.reverse()))); }
        tops = [];
        bottoms = [];
      };
      for (var i = 0; i < t.x.length; i++) {
        var x = sx(self.tx(t.x[i])), lo = t.low[i], hi = t.high[i];
        if (!isFinite(x) || lo === null || hi === null || !isFinite(lo) || !isFinite(hi)) { flush(); continue; }
        var top = sy(self.ty(hi)), bottom = lo > 0 || self.yType !== "log" ? sy(self.ty(lo)) : floor;
        if (!isFinite(top)) { top = floor; }
        var column = Math.round(x), last = tops.length - 1;
        if (last >= 0 && Math.round(tops[last][0]) === column) {
          tops[last][1] = Math.min(tops[last][1], top);
          bottoms[last][1] = Math.max(bottoms[last][1], bottom);
          continue;
        }
        tops.push([x, top]);
        bottoms.push([x, bottom]);
      }
      flush();
      if (parts.length) {
        out.push('<path class="band" data-trace="' + index + '" data-group="' + esc(t.legendgroup || "") +
          '" fill="' + esc((t.line || {}).color || "#000") + '" fill-opacity="0.2" stroke="none" d="' +
          parts.join("") + '"/>');
      }
    });
    return out.join("");
  };

  // A cloud of dots' path: one dot per pixel in view (a dot on a pixel that has one adds
  // nothing; one out of view is clipped), so 20,000 values stay fast while panning.
  function dotPath(px, py, f) {
    var d = [], seen = new Set();
    for (var i = 0; i < px.length; i++) {
      var x = px[i], y = py[i];
      if (!(x >= f.l - 1 && x <= f.l + f.w + 1 && y >= f.t - 1 && y <= f.t + f.h + 1)) { continue; }
      var cell = Math.round(x) * 65536 + Math.round(y);
      if (seen.has(cell)) { continue; }
      seen.add(cell);
      d.push("M" + x.toFixed(1) + "," + y.toFixed(1) + "h0.01");
    }
    return d.join("");
  }

  // A line through the finite points (a gap at each other one, cut where it leaves the
  // box: Pen); a long one keeps, per pixel column, its first, lowest, highest and last
  // points (what the eye sees), so thousands of steps stay fast. A lone point (a curve
  // of one loss, or one between gaps) is a short dash, so that it is seen.
  function linePath(px, py, f) {
    var n = px.length, pen = new Pen(true);
    var thin = n > 3 * f.w;
    var column = null, lo = 0, hi = 0, last = 0, first = 0;
    function to(i) { pen.to(px[i], py[i]); }
    function flush() {
      if (column === null) { return; }
      var pts = [first, lo, hi, last].sort(function (a, b) { return a - b; });
      var prev = -1;
      pts.forEach(function (i) {
        if (i !== prev) { to(i); }
        prev = i;
      });
      column = null;
    }
    for (var i = 0; i < n; i++) {
      if (!isFinite(px[i]) || !isFinite(py[i])) { flush(); pen.lift(); continue; }
      if (!thin) { to(i); continue; }
      var c = Math.round(px[i]);
      if (c !== column) { flush(); column = c; first = lo = hi = last = i; continue; }
      if (py[i] < py[hi]) { hi = i; }
      if (py[i] > py[lo]) { lo = i; }
      last = i;
    }
    flush();
    return pen.text();
  }

  Chart.prototype.hover = function (p) {
    var self = this, f = this.frame;
    if (!p || p.x < f.l - 8 || p.x > f.l + f.w + 8 || p.y < f.t - 8 || p.y > f.t + f.h + 8) {
      this.tip.hidden = true;
      if (this.ring) { this.ring.setAttribute("cx", -20); }
      return;
    }
    var best = null, limit = 20 * 20;
    this.traces.forEach(function (t, index) {
      var pix = self.pixels[index];
      if (!pix || !t.hover) { return; }
      for (var i = 0; i < pix.x.length; i++) {
        var dx = pix.x[i] - p.x, dy = pix.y[i] - p.y, d = dx * dx + dy * dy;
        if (d < limit) { limit = d; best = {t: t, i: i, x: pix.x[i], y: pix.y[i]}; }
      }
    });
    if (!best) { this.tip.hidden = true; this.ring.setAttribute("cx", -20); return; }
    var t = best.t, h = t.hover, i = best.i, spec = this.spec;
    var fy = function (v) { return h.format === "%" ? percent(v) : short(v); };
    var xText = spec.dates && spec.xaxis.type === "date" ? (spec.dates[Math.round(t.x[i])] || short(t.x[i])) : short(t.x[i]);
    var lines = ["<b>" + esc(t.meta || t.name) + "</b>"];
    if (h.point) { lines.push(esc(h.point) + " " + i * (t.stride || 1)); }
    if (h.pair) {
      lines.push(esc(h.x) + " " + short(t.x[i]) + ", " + esc(h.y) + " " + fy(t.y[i]));
    } else {
      if (h.x) { lines.push(esc(h.x) + " " + esc(xText)); }
      if (h.y) { lines.push(esc(h.y) + " " + fy(t.y[i])); }
    }
    if (t.low && t.high && t.low[i] !== null && t.high[i] !== null && t.low[i] !== undefined) {
      var seeds = t.band && t.band.seeds ? " over " + t.band.seeds + " seeds" : "";
      lines.push(t.band && t.band.kind === "std"
        ? "± std" + seeds + " " + fy((t.high[i] - t.low[i]) / 2)
        : "min–max" + seeds + " " + fy(t.low[i]) + " – " + fy(t.high[i]));
    }
    var extra = t.customdata ? t.customdata[i] : null;
    if (h.extra && extra !== null && extra !== undefined) {
      lines.push(esc(h.extra) + " " + (typeof extra === "string" ? esc(extra) : short(extra)));
    }
    this.tip.innerHTML = lines.join("<br>");
    this.tip.hidden = false;
    var color = (t.line && t.line.color) || (t.marker && t.marker.color) || "#000";
    this.ring.setAttribute("cx", best.x);
    this.ring.setAttribute("cy", best.y);
    this.ring.setAttribute("stroke", color);
    var left = best.x + 14, width = this.tip.offsetWidth;
    if (left + width > this.div.clientWidth) { left = Math.max(0, best.x - 14 - width); }
    this.tip.style.left = left + "px";
    this.tip.style.top = Math.max(0, best.y - this.tip.offsetHeight - 10) + "px";
  };

  // --- draw every chart --------------------------------------------------------------------

  var byId = {};
  specs.forEach(function (spec) { byId[spec.id] = spec; });
  var failed = [], times = {}, made = {};
  var boxes = Array.prototype.slice.call(document.querySelectorAll(".chart-box[data-chart]"));
  boxes.forEach(function (box) {
    var id = box.getAttribute("data-chart"), spec = byId[id], t0 = performance.now();
    try {
      if (!spec) { throw new Error("no data"); }
      made[id] = new Chart(box, spec);
      times[id] = Math.round(performance.now() - t0);
    } catch (error) {
      failed.push(id);
      console.error("gdlab: chart " + id + " failed: " + error);
    }
  });
  document.body.setAttribute("data-charts-ready", JSON.stringify({
    charts: boxes.length - failed.length,
    failed: failed,
    start: Math.round(began),
    each: times,
    ms: Math.round(performance.now())
  }));
  window.gdlabCharts = {ewma: ewma, stack: stack, onGrid: onGrid, charts: made};
})();
