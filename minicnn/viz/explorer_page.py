"""The backprop explorer's page: HTML, CSS and JavaScript in one string, no network access.

minicnn.viz.explorer fills in __TITLE__, __META__ (record.to_dict(), the format of
docs/trace-record.md), __THUMBS__ ({array key: {images: [{src, title}], note, scale, step},
or the key of an equal array drawn already) and __ZOOMS__ ({forward event index:
record.zoom(index)}). The script builds the op list on the left and, for the selected op, the
zoom, the statistics and the heatmaps on the right; a URL ending in #12 opens at op 12.
Element ids the browser test reads: #op-<event index>, #op-name, #op-phase, #event-index,
td[data-stat="<inputs|outputs>.<slot>.<statistic>"], #zoom, #conv-sum, #pool-cells,
#zoom-checks and the canvases of #zoom.

It is over 300 lines because it is one page: the template must travel as one self-contained
file (no CDN, no network), and splitting its CSS from its script would only scatter it.
"""

PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{margin:0;font:13px/1.4 system-ui,sans-serif;display:flex;height:100vh;color:#222}
#left{width:310px;overflow-y:auto;border-right:1px solid #ccc;background:#fafafa;flex:none}
#nav{position:sticky;top:0;background:#fafafa;padding:6px 8px;border-bottom:1px solid #ddd}
#nav h1{font-size:15px;margin:2px 0 6px}
#ops{list-style:none;margin:0;padding:0}
#ops li{padding:1px 8px;cursor:pointer;white-space:nowrap;font-family:monospace;
  border-left:4px solid transparent}
#ops li.forward{border-left-color:#4a7fd4} #ops li.backward{border-left-color:#d4804a}
#ops li.update{border-left-color:#4aa35a}
#ops li.sel{background:#ffe7a8} #ops li.head{font-weight:bold;cursor:default;padding-top:6px}
#right{flex:1;overflow-y:auto;padding:8px 16px}
h2{font-size:17px;margin:4px 0} h3{font-size:14px;margin:10px 0 4px}
table{border-collapse:collapse;margin:4px 0}
td,th{border:1px solid #ddd;padding:1px 6px;text-align:right;font-family:monospace}
th{background:#f2f2f2} td.hit{background:#ffe7a8}
.thumbs img,.thumbs canvas{margin:1px;image-rendering:pixelated;border:1px solid #eee}
.note{color:#777;font-size:11px} .mod{color:#666;font-size:13px}
.slot{margin:6px 0 10px;padding:6px;border:1px solid #e4e4e4;border-radius:4px}
.zoom{margin:8px 0;padding:6px;border:2px solid #e8c56a;border-radius:4px}
div.side{display:flex;gap:16px;align-items:flex-start} div.side>div{max-width:440px}
div.side td{white-space:nowrap}
pre{font-size:12px;margin:4px 0;overflow-x:auto}
a{color:#2a5db0;cursor:pointer}
</style></head><body>
<div id="left"><div id="nav"><h1 id="title"></h1>
<button id="prev">&larr; prev</button> <button id="next">next &rarr;</button>
<span id="pos"></span>
<div class="note">keys &larr; / &rarr; step, Home / End; click an op to jump</div></div>
<ul id="ops"></ul></div>
<div id="right"><h2><span id="event-index"></span> <span id="op-phase"></span>
<span id="op-name"></span> <span id="op-module" class="mod"></span></h2>
<div id="detail"></div></div>
<script type="application/json" id="meta">__META__</script>
<script type="application/json" id="thumbs">__THUMBS__</script>
<script type="application/json" id="zooms">__ZOOMS__</script>
<script>
"use strict";
const META = JSON.parse(document.getElementById("meta").textContent);
const THUMBS = JSON.parse(document.getElementById("thumbs").textContent);
const ZOOMS = JSON.parse(document.getElementById("zooms").textContent);
const EVENTS = META.events || [];
const POS = new Map(EVENTS.map((ev, i) => [ev.index, i]));  // event index -> list position
// (they differ in a filtered record: record.filter(module="conv1") keeps the indices)
const STATS = ["mean", "std", "min", "max", "zero_frac", "nan", "inf"];
let current = 0;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
function fmt(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number")
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (typeof v === "string" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}
function shapeText(s) { return "(" + (s || []).join(", ") + ")"; }
function jump(i) { return el("a", {text: "#" + i, "data-jump": String(i)}); }

function kvTable(obj) {
  const t = el("table");
  for (const [k, v] of Object.entries(obj || {})) {
    let cell;
    if (Array.isArray(v) && v.length && Array.isArray(v[0])) cell = matrix(v);
    else if (Array.isArray(v)) cell = fmt(v.slice(0, 64).map(fmt).join(" ")) +
        (v.length > 64 ? " ... (" + v.length + " values)" : "");
    else if (v && typeof v === "object") cell = kvTable(v);
    else cell = fmt(v);
    t.append(el("tr", {}, el("th", {text: k}), el("td", {}, cell)));
  }
  return t;
}
function matrix(rows, highlight) {
  const t = el("table");
  rows.slice(0, 16).forEach((row, r) => {
    const tr = el("tr", {}, el("th", {text: String(r)}));
    (Array.isArray(row) ? row : [row]).slice(0, 32).forEach((v, c) => tr.append(
      el("td", {text: fmt(v), class: highlight && highlight(r, c) ? "hit" : ""})));
    t.append(tr);
  });
  if (rows.length > 16) t.append(el("tr", {}, el("td", {text: "... " + rows.length + " rows"})));
  return t;
}

function statsTable(slot, where) {
  const t = el("table"), head = el("tr"), row = el("tr");
  for (const s of STATS) {
    head.append(el("th", {text: s}));
    const value = slot.stats ? slot.stats[s] : null;
    row.append(el("td", {text: fmt(value), "data-stat": where + "." + s}));
  }
  t.append(head, row);
  return t;
}
function thumbOf(slot) {
  // the heatmaps of a slot's array; a string names an equal array drawn once already
  const drawn = slot && slot.array ? THUMBS[slot.array] : null;
  return typeof drawn === "string" ? THUMBS[drawn] : drawn || null;
}
function thumbsBox(slot, marks) {
  const drawn = thumbOf(slot);
  if (!drawn) return el("div", {class: "note", text: (slot.shape || []).length === 0 ?
      "a single number" : "array not kept in the record"});
  const box = el("div", {class: "thumbs"});
  drawn.images.forEach((im, k) => {
    if (marks && marks[k]) box.append(markedCanvas(im, drawn, marks[k]));
    else box.append(el("img", {src: im.src, title: im.title}));
  });
  return el("div", {}, box, drawn.note ? el("div", {class: "note", text: drawn.note}) : null);
}
function markedCanvas(im, drawn, rects, side) {
  // rects: [[top, left, height, width], ...] in array elements; drawn at the thumbnail's scale,
  // magnified to about `side` screen pixels when side is given
  const c = el("canvas", {title: im.title}), img = new Image();
  img.onload = () => {
    const m = side ? Math.max(1, Math.floor(side / Math.max(img.width, img.height))) : 1;
    c.width = img.width * m; c.height = img.height * m;
    const ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, c.width, c.height);
    ctx.strokeStyle = "#ff2020"; ctx.lineWidth = 2;
    const f = drawn.scale / drawn.step * m;
    ctx.fillStyle = "rgba(255, 32, 32, 0.6)";  // single cells (max-pool argmax) are filled
    for (const [top, left, h, w] of rects) {
      if (h === 1 && w === 1) ctx.fillRect(left * f, top * f, f, f);
      else ctx.strokeRect(left * f, top * f, w * f, h * f);
    }
  };
  img.src = im.src;
  return c;
}
function zoomPicture(slot, marks) {
  // only the marked channels of slot's heatmaps, magnified to about 220 pixels a side
  const drawn = thumbOf(slot);
  if (!drawn) return el("div", {class: "note", text: "input not kept in the record"});
  const box = el("div", {class: "thumbs"});
  drawn.images.forEach((im, k) => {
    if (marks[k]) box.append(markedCanvas(im, drawn, marks[k], 220));
  });
  return el("div", {}, box, drawn.note ? el("div", {class: "note", text: drawn.note}) : null);
}
function slotBox(slot, where, title, marks) {
  if (!slot) return el("div", {class: "slot note", text: title + ": no gradient needed"});
  const head = title + ": " + slot.name + " " + shapeText(slot.shape) + " " + (slot.dtype || "") +
      (slot.param ? "  [" + slot.param + "]" : "");
  return el("div", {class: "slot"}, el("b", {text: head}), statsTable(slot, where),
            thumbsBox(slot, marks));
}

function forwardInput(ev) {
  // the input x of the forward op (a zoom may sit on the forward or on the backward event)
  const f = ev.phase === "forward" ? ev : EVENTS[POS.get(ev.forward_index)];
  return f && f.inputs ? f.inputs[0] : null;
}
function convZoom(ev, z) {
  const box = el("div");
  const KH = z.KH, KW = z.KW, col = z.column || [], w = z.weights || [];
  const [first, count] = z.channels || [0, 1];
  const marks = {}, rect = [[z.top, z.left, KH, KW]];
  for (let c = first; c < first + Math.min(count, 4); c++) marks[c] = rect;
  const x = forwardInput(ev);
  if (z.n === 0 && x) box.append(el("div", {class: "note", text:
      "receptive field of output y[" + z.n + ", " + z.oc + ", " + z.oh + ", " + z.ow +
      "] on input channels " + first + "-" + (first + Math.min(count, 4) - 1) +
      " (red box; rows " + z.top + ".." + (z.top + KH - 1) + ", columns " + z.left + ".." +
      (z.left + KW - 1) + "; outside the input is padding, 0)"}), zoomPicture(x, marks));
  const t = el("table", {}, el("tr", {}, ...["k", "(c, kh, kw)", "x: im2col column",
      "w: W[" + z.oc + "]", "x * w"].map(h => el("th", {text: h}))));
  let sum = 0;
  col.forEach((v, k) => {
    sum += v * w[k];
    if (k < 50) t.append(el("tr", {}, el("td", {text: String(k)}), el("td", {text: "(" +
        (first + Math.floor(k / (KH * KW))) + ", " + Math.floor(k / KW) % KH + ", " + k % KW +
        ")"}), el("td", {text: fmt(v)}), el("td", {text: fmt(w[k])}),
        el("td", {text: fmt(v * w[k])})));
  });
  if (col.length > 50) t.append(el("tr", {}, el("td", {text: "... " + col.length + " rows"})));
  box.append(el("div", {id: "conv-sum", text: "y = column . W[" + z.oc + "] + b = " + fmt(sum) +
      " + " + fmt(z.bias) + " = " + fmt(sum + (z.bias || 0)) + "   (recorded output " +
      fmt(z.out) + ")"}));
  return el("div", {class: "side"}, box, t);
}
function poolZoom(ev, z) {
  const cells = (z.argmax || []).map(([r, c]) => [r, c, 1, 1]);
  const marks = {}; marks[z.c] = cells;
  const x = forwardInput(ev);
  return el("div", {}, el("div", {class: "note", id: "pool-cells", text: cells.length +
      " cells chosen by the " + z.KH + "x" + z.KW + " windows in channel " + z.c +
      " of sample " + z.n + " (red): the only inputs that receive a gradient (a window of" +
      " equal values, all 0 after a ReLU, sends it to its first cell)"}),
      z.n === 0 && x ? zoomPicture(x, marks) : null);
}
function channelTable(z) {
  const keys = ["mean", "var", "gamma", "beta"].filter(k => Array.isArray(z[k]));
  const t = el("table", {}, el("tr", {}, el("th", {text: "channel"}),
      ...keys.map(k => el("th", {text: k}))));
  const n = keys.length ? z[keys[0]].length : 0;
  for (let c = 0; c < Math.min(n, 64); c++)
    t.append(el("tr", {}, el("td", {text: String(c)}),
                ...keys.map(k => el("td", {text: fmt(z[k][c])}))));
  if (n > 64) t.append(el("tr", {}, el("td", {text: "... " + n + " channels"})));
  return el("div", {}, el("div", {class: "note", text: (z.source === "batch" ?
      "batch statistics" : "running statistics (eval mode)") + " per channel, eps " +
      fmt(z.eps)}), t);
}
function ceZoom(z) {
  const y = z.y || [], hit = (r, c) => y[r] === c;
  return el("div", {}, el("h3", {text: "p = softmax(logits), first " + y.length + " of " +
      z.N + " images (true class highlighted)"}), matrix(z.p || [], hit),
      el("h3", {text: "p - y (the gradient of the mean loss is (p - y) / " + z.N + ")"}),
      matrix(z.p_minus_y || [], hit));
}
function checksTable(checks) {
  const t = el("table", {id: "zoom-checks"}, el("tr", {}, ...["check", "worked", "engine", ""]
      .map(h => el("th", {text: h}))));
  for (const c of checks || []) t.append(el("tr", {}, el("td", {text: c.what}),
      el("td", {text: fmt(c.worked)}), el("td", {text: fmt(c.engine)}),
      el("td", {text: c.ok ? "matches" : "DOES NOT MATCH"})));
  return t;
}
function zoomOf(ev) {
  const f = ev.phase === "forward" ? ev.index : ev.forward_index;
  return f === null || f === undefined ? null : ZOOMS[String(f)] || null;
}
function zoomBox(ev, z) {
  const v = z.view, box = el("div", {class: "zoom", id: "zoom"}, el("h3", {text: z.title}));
  try {
    if (!v) { /* no picture for this op: the worked text below says it all */ }
    else if (v.kind === "conv_receptive_field") box.append(convZoom(ev, v));
    else if (v.kind === "max_pool_argmax") box.append(poolZoom(ev, v));
    else if (v.kind === "batch_norm_stats") box.append(channelTable(v));
    else if (v.kind === "softmax_cross_entropy") box.append(ceZoom(v));
  } catch (err) {
    box.append(el("div", {class: "note", text: "cannot draw this zoom: " + err}));
  }
  box.append(el("details", {open: ""}, el("summary", {text: "worked arithmetic " +
      "(python -m minicnn.explain --op)"}), el("pre", {id: "zoom-lines",
      text: (z.lines || []).join("\n")})), checksTable(z.checks));
  return box;
}

function detail(ev) {
  const parts = [];
  if (ev.forward_index !== null && ev.forward_index !== undefined)
    parts.push(el("div", {}, "differentiates forward op ", jump(ev.forward_index)));
  if (ev.params && Object.keys(ev.params).length)
    parts.push(el("h3", {text: "settings"}), kvTable(ev.params));
  if (ev.update) parts.push(el("h3", {text: "update"}), kvTable(ev.update));
  const back = ev.phase === "backward";
  const outs = (ev.outputs || []).map((s, j) => slotBox(s, "outputs." + j,
      back ? "gradient arriving" : "output"));
  const ins = (ev.inputs || []).map((s, j) => slotBox(s, "inputs." + j,
      back ? "gradient leaving to input " + j : "input " + j));
  const z = zoomOf(ev), slots = back ? outs.concat(ins) : ins.concat(outs);  // as data flows
  // forward: the worked example first; backward: the gradients first, then the same zoom
  if (z && !back) parts.push(zoomBox(ev, z));
  parts.push(...slots);
  if (z && back) parts.push(zoomBox(ev, z));
  return parts;
}

function show(i) {
  if (!EVENTS.length) return;
  current = Math.max(0, Math.min(EVENTS.length - 1, i));
  const ev = EVENTS[current];
  document.getElementById("event-index").textContent = "#" + ev.index;
  document.getElementById("op-phase").textContent = ev.phase;
  document.getElementById("op-name").textContent = ev.op;
  document.getElementById("op-module").textContent = ev.module || "(outside any module)";
  document.getElementById("pos").textContent = (current + 1) + " / " + EVENTS.length;
  document.querySelectorAll("#ops li.sel").forEach(li => li.classList.remove("sel"));
  const li = document.getElementById("op-" + ev.index);
  li.classList.add("sel");
  li.scrollIntoView({block: "nearest"});
  document.getElementById("detail").replaceChildren(...detail(ev));
}

function buildList() {
  const ul = document.getElementById("ops");
  let phase = null;
  EVENTS.forEach((ev, i) => {
    if (ev.phase !== phase) { phase = ev.phase; ul.append(el("li", {class: "head", text: phase})); }
    const li = el("li", {class: ev.phase, id: "op-" + ev.index, "data-index": String(i),
        text: ev.index + " " + ev.op + (ev.module ? "  " + ev.module : "")});
    li.addEventListener("click", () => show(i));
    ul.append(li);
  });
}

document.getElementById("title").textContent = (META.model || "model") + ": loss " + fmt(META.loss);
document.getElementById("prev").addEventListener("click", () => show(current - 1));
document.getElementById("next").addEventListener("click", () => show(current + 1));
document.getElementById("detail").addEventListener("click", e => {
  const j = e.target.getAttribute && e.target.getAttribute("data-jump");
  if (j !== null && j !== undefined && POS.has(Number(j))) show(POS.get(Number(j)));
});
document.addEventListener("keydown", e => {
  const moves = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1};
  if (e.key in moves) { show(current + moves[e.key]); e.preventDefault(); }
  else if (e.key === "Home") show(0);
  else if (e.key === "End") show(EVENTS.length - 1);
});
buildList();
const fromHash = () => show(POS.get(Number(location.hash.slice(1))) || 0);  // step.html#12: op 12
window.addEventListener("hashchange", fromHash);
fromHash();
</script></body></html>
"""
