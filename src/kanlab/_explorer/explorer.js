/* kanlab explorer: draws a KAN from the JSON embedded beside this script; no network, no kernel. */
function kanlabExplorer(root) {
  "use strict";
  var data = JSON.parse(root.querySelector("script.kanlab-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = { n: "#000", s: "#d00", ns: "#80c" };
  var choices = [];
  var selected = null;

  function el(tag, attrs, parent, text) {
    var e = tag.indexOf("svg:") === 0 ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v, digits) {
    if (v === null || v === undefined) return "–";
    return Number(v).toPrecision(digits || 3).replace(/\.?0+(e|$)/, "$1");
  }

  // ------------------------------------------------------------------ layout
  var app = root.querySelector(".kx-app");
  app.textContent = "";
  var main = el("div", { "class": "kx-main" }, app);
  var side = el("div", { "class": "kx-side" }, app);
  el("h3", {}, main, data.title);
  var legend = el("div", { "class": "kx-legend kx-muted" }, main);
  el("span", {}, legend, "black: spline");
  el("span", { style: "color:#d00" }, legend, "red: symbolic");
  el("span", { style: "color:#80c" }, legend, "purple: both");
  el("span", {}, legend, "opacity: importance; click an edge or a node");

  var depth = data.width.length - 1;
  var W = 640, rowH = 130, subGap = 34, pad = 36;
  var hasSub = data.width_out.map(function (w, l) { return w !== data.width[l]; });
  var H = pad * 2 + depth * rowH;
  var svg = el("svg:svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "kx-diagram" }, main);
  function xs(n, i) { return (W * (i + 0.5)) / n; }
  function levelY(l) { return H - pad - l * rowH; }
  function nodePos(l, i) { return [xs(data.width[l], i), levelY(l)]; }
  function subPos(l, j) {
    if (!hasSub[l]) return nodePos(l, j);
    return [xs(data.width_out[l], j), levelY(l) + subGap];
  }

  var edgeLayer = el("svg:g", {}, svg);
  var nodeLayer = el("svg:g", {}, svg);
  var edgeEls = {};
  data.edges.forEach(function (e) {
    var a = nodePos(e.l, e.i), b = subPos(e.l + 1, e.j);
    var my = (a[1] + b[1]) / 2;
    var d = "M" + a[0] + "," + a[1] + " C" + a[0] + "," + my + " " + b[0] + "," + my + " " + b[0] + "," + b[1];
    var op = Math.max(0.06, Math.tanh(3 * (e.score || 0)));
    var hit = el("svg:path", { d: d, "class": "kx-hit", "data-edge": e.l + "," + e.i + "," + e.j }, edgeLayer);
    var vis = el("svg:path", { d: d, "class": "kx-edge kx-hover", stroke: COLORS[e.mode] || "#000",
                               "stroke-opacity": op, "stroke-width": 1 + 2 * op }, edgeLayer);
    el("svg:title", {}, hit, "edge (" + e.l + ", " + e.i + ", " + e.j + ")" + (e.fun ? ": " + e.fun : "") +
       ", score " + fmt(e.score));
    hit.addEventListener("click", function () { selectEdge(e); });
    edgeEls[e.l + "," + e.i + "," + e.j] = vis;
  });
  var nodeEls = {};
  for (var l = 0; l <= depth; l++) {
    for (var i = 0; i < data.width[l]; i++) {
      var p = nodePos(l, i);
      var mult = data.mult[l][i];
      var node = mult ? el("svg:rect", { x: p[0] - 8, y: p[1] - 8, width: 16, height: 16, "class": "kx-node" }, nodeLayer)
                      : el("svg:circle", { cx: p[0], cy: p[1], r: 6, "class": "kx-node" }, nodeLayer);
      node.setAttribute("data-node", l + "," + i);
      if (mult) el("svg:text", { x: p[0], y: p[1] + 4, "class": "kx-label", "pointer-events": "none" }, nodeLayer, "×");
      el("svg:title", {}, node, "node (" + l + ", " + i + ")" + (data.node_scores ? ", score " + fmt(data.node_scores[l][i]) : ""));
      (function (l, i) { node.addEventListener("click", function () { selectNode(l, i); }); })(l, i);
      nodeEls[l + "," + i] = node;
    }
    if (hasSub[l]) {  // subnodes of multiplication nodes, linked to their product
      for (var j = 0; j < data.width_out[l]; j++) {
        var s = subPos(l, j), t = nodePos(l, data.sub_to_node[l][j]);
        el("svg:line", { x1: s[0], y1: s[1], x2: t[0], y2: t[1], stroke: "#999", "stroke-width": 1 }, nodeLayer);
        el("svg:circle", { cx: s[0], cy: s[1], r: 3, fill: "#999" }, nodeLayer);
      }
    }
  }
  data.in_vars.forEach(function (v, i) {
    var p = nodePos(0, i);
    el("svg:text", { x: p[0], y: p[1] + 22, "class": "kx-label" }, svg, v);
  });
  data.out_vars.forEach(function (v, i) {
    var p = nodePos(depth, i);
    el("svg:text", { x: p[0], y: p[1] - 14, "class": "kx-label" }, svg, v);
  });

  // ------------------------------------------------------------------ side panels
  var detail = el("div", { "class": "kx-box kx-detail" }, side);
  el("div", { "class": "kx-muted" }, detail, "Click an edge to see its curve and symbolic candidates, or a node to cut it.");

  var search = el("div", { "class": "kx-box" }, side);
  el("h3", {}, search, "Variables and attribution");
  var box = el("input", { type: "search", placeholder: "search a variable", "class": "kx-search" }, search);
  var varTable = el("table", { "class": "kx-vars" }, search);
  function drawVars(q) {
    varTable.textContent = "";
    var rows = data.in_vars.map(function (v, i) { return { v: v, i: i, s: data.node_scores ? data.node_scores[0][i] : null }; });
    rows.sort(function (a, b) { return (b.s || 0) - (a.s || 0); });
    var hdr = el("tr", {}, varTable);
    el("th", {}, hdr, "input"); el("th", {}, hdr, "attribution");
    rows.forEach(function (r) {
      var hit = q && r.v.toLowerCase().indexOf(q) >= 0;
      nodeEls["0," + r.i].classList.toggle("kx-match", !!hit);
      if (q && !hit) return;
      var tr = el("tr", { "class": "kx-var" }, varTable);
      el("td", {}, tr, r.v); el("td", {}, tr, data.node_scores ? fmt(r.s) : "no data");
    });
  }
  box.addEventListener("input", function () { drawVars(box.value.trim().toLowerCase()); });
  drawVars("");

  var formula = el("div", { "class": "kx-box" }, side);
  el("h3", {}, formula, "Formula");
  if (data.formula.text) {
    el("pre", { "class": "kx-formula" }, formula, data.formula.text);
    var details = el("details", {}, formula);
    el("summary", {}, details, "LaTeX");
    el("pre", {}, details, data.formula.latex);
  } else {
    el("div", { "class": "kx-muted kx-formula" }, formula, data.formula.error || "");
  }

  var patchBox = el("div", { "class": "kx-box" }, side);
  el("h3", {}, patchBox, "Choices (applied only when you run them)");
  var choiceList = el("div", { "class": "kx-choices kx-muted" }, patchBox, "none yet");
  el("div", {}, patchBox, "JSON patch, for model.apply_choices(patch):");
  var patchJson = el("textarea", { rows: 5, readonly: "", "class": "patch-json" }, patchBox);
  el("div", {}, patchBox, "Python:");
  var patchPy = el("textarea", { rows: 5, readonly: "", "class": "patch-py" }, patchBox);
  var bar = el("div", {}, patchBox);
  var dl = el("button", { "class": "kx-download" }, bar, "download JSON");
  var clear = el("button", { "class": "kx-clear" }, bar, "clear");
  dl.addEventListener("click", function () {
    var a = el("a", { href: "data:application/json;charset=utf-8," + encodeURIComponent(patchJson.value),
                      download: "kanlab-choices.json" });
    a.click();
  });
  clear.addEventListener("click", function () { choices = []; refreshChoices(); });

  function choiceKey(c) {  // a later choice on the same edge or node replaces an earlier one of its kind
    var kind = c.op === "fix_symbolic" || c.op === "unfix_symbolic" ? "symbolic" : c.op;
    return kind + ":" + JSON.stringify(c.edge || c.node);
  }
  function addChoice(c) {
    choices = choices.filter(function (o) { return choiceKey(o) !== choiceKey(c); });
    choices.push(c);
    refreshChoices();
  }
  function refreshChoices() {
    var patch = { version: data.version, choices: choices };
    patchJson.value = JSON.stringify(patch, null, 1);
    var py = ["# kanlab: choices made in the explorer", "model = model.apply_choices(" + JSON.stringify(patch) + ")",
              "# or, one by one:"];
    choices.forEach(function (c) {
      if (c.op === "fix_symbolic") py.push("model.fix_symbolic(" + c.edge.join(", ") + ", " + JSON.stringify(c.fun) + ")");
      else if (c.op === "remove_edge") py.push("model = model.remove_edge(" + c.edge.join(", ") + ")");
      else if (c.op === "remove_node") py.push("model = model.remove_node(" + c.node.join(", ") + ")");
    });
    patchPy.value = py.join("\n");
    choiceList.textContent = choices.length ? "" : "none yet";
    choices.forEach(function (c, k) {
      var row = el("div", { "class": "kx-choice" }, choiceList,
                   c.op + " " + JSON.stringify(c.edge || c.node) + (c.fun ? " → " + c.fun : "") + " ");
      var x = el("button", { title: "drop this choice" }, row, "×");
      x.addEventListener("click", function () { choices.splice(k, 1); refreshChoices(); });
    });
    Object.keys(nodeEls).forEach(function (k) { nodeEls[k].classList.remove("kx-cut"); });
    choices.forEach(function (c) { if (c.op === "remove_node") nodeEls[c.node.join(",")].classList.add("kx-cut"); });
  }
  refreshChoices();

  // ------------------------------------------------------------------ edge and node details
  function clearSelection() {
    if (selected) selected.classList.remove("kx-sel");
    selected = null;
  }
  function plotEdge(parent, e) {
    var PW = 360, PH = 200, m = 30;
    var plot = el("svg:svg", { width: PW, height: PH, "class": "kx-plot" }, parent);
    var x0 = e.x[0], x1 = e.x[e.x.length - 1];
    var ys = e.y.filter(function (v) { return v !== null; });
    var y0 = ys.length ? Math.min.apply(null, ys) : 0, y1 = ys.length ? Math.max.apply(null, ys) : 0;
    if (!(y1 > y0)) { y0 -= 1; y1 += 1; }  // a flat (or entirely non-finite) curve still gets an axis
    var padY = 0.08 * (y1 - y0); y0 -= padY; y1 += padY;
    function px(v) { return m + (PW - 2 * m) * (v - x0) / ((x1 - x0) || 1); }
    function py(v) { return PH - m - (PH - 2 * m) * (v - y0) / (y1 - y0); }
    if (e.hist && e.lo !== null) {  // the data's histogram, scaled to the plot's height
      var top = Math.max.apply(null, e.hist) || 1, n = e.hist.length, bw = ((e.hi - e.lo) || 1) / n;
      e.hist.forEach(function (c, k) {
        var a = px(e.lo + k * bw), b = px(e.lo + (k + 1) * bw), h = (PH - 2 * m) * 0.9 * c / top;
        el("svg:rect", { x: a, y: PH - m - h, width: Math.max(0.5, b - a - 1), height: h, fill: "#e4e4e4",
                         "class": "kx-hist" }, plot);
      });
    }
    el("svg:line", { x1: m, y1: PH - m, x2: PW - m, y2: PH - m, stroke: "#888" }, plot);
    el("svg:line", { x1: m, y1: m, x2: m, y2: PH - m, stroke: "#888" }, plot);
    el("svg:text", { x: m, y: PH - m + 14, "font-size": 10 }, plot, fmt(x0));
    el("svg:text", { x: PW - m, y: PH - m + 14, "font-size": 10, "text-anchor": "end" }, plot, fmt(x1));
    el("svg:text", { x: 2, y: m, "font-size": 10 }, plot, fmt(y1));
    el("svg:text", { x: 2, y: PH - m - 2, "font-size": 10 }, plot, fmt(y0));
    function line(vals, attrs) {
      var pts = [];
      vals.forEach(function (v, k) { if (v !== null) pts.push(px(e.x[k]).toFixed(1) + "," + py(Math.max(y0, Math.min(y1, v))).toFixed(1)); });
      return el("svg:polyline", Object.assign({ points: pts.join(" "), fill: "none" }, attrs), plot);
    }
    line(e.y, { stroke: COLORS[e.mode] || "#000", "stroke-width": 2, "class": "curve" });
    return { overlay: function (c) {
      var old = plot.querySelector(".overlay");
      if (old) old.remove();
      if (c) line(c.y, { stroke: "#2a7", "stroke-width": 2, "stroke-dasharray": "5 3", "class": "overlay" });
    } };
  }
  function edgeName(e) {
    var from = e.l === 0 ? data.in_vars[e.i] : "node (" + e.l + ", " + e.i + ")";
    var to = e.l + 1 === depth && !hasSub[depth] ? data.out_vars[e.j] : "node (" + (e.l + 1) + ", " + e.j + ")";
    return from + " → " + to;
  }
  function selectEdge(e) {
    clearSelection();
    selected = edgeEls[e.l + "," + e.i + "," + e.j];
    selected.classList.add("kx-sel");
    detail.textContent = "";
    el("h3", {}, detail, "Edge (" + e.l + ", " + e.i + ", " + e.j + "): " + edgeName(e));
    el("div", { "class": "kx-muted" }, detail, "mode " + e.mode + (e.fun ? " (" + e.fun + ")" : "") +
       ", importance " + fmt(e.score) + (data.has_data ? "" : "; no data: the curve spans the grid"));
    var plot = plotEdge(detail, e);
    var acts = el("div", {}, detail);
    var rm = el("button", { "class": "kx-remove-edge" }, acts, "remove this edge");
    rm.addEventListener("click", function () { addChoice({ op: "remove_edge", edge: [e.l, e.i, e.j] }); });
    if (e.mode !== "n") {
      var un = el("button", {}, acts, "back to spline");
      un.addEventListener("click", function () { addChoice({ op: "unfix_symbolic", edge: [e.l, e.i, e.j] }); });
    }
    if (!e.cands) {
      el("div", { "class": "kx-muted" }, detail, data.has_data ?
         (data.candidates_for ? "No candidates for this edge (only the " + data.candidates_for +
          " most important edges get them)." : "No candidates on this page: model.explore() fits them.") :
         "No candidates: the page was made without data (pass x= to explore).");
      return;
    }
    var t = el("table", { "class": "kx-cands" }, detail);
    var hdr = el("tr", {}, t);
    ["function", "r²", "complexity", "c·f(a·x+b)+d", ""].forEach(function (h) { el("th", {}, hdr, h); });
    e.cands.forEach(function (c, k) {
      var tr = el("tr", { "class": "cand", "data-name": c.name }, t);
      el("td", {}, tr, c.name);
      el("td", {}, tr, fmt(c.r2, 5));
      el("td", {}, tr, fmt(c.complexity, 2));
      el("td", {}, tr, "a=" + fmt(c.params[0]) + " b=" + fmt(c.params[1]) + " c=" + fmt(c.params[2]) + " d=" + fmt(c.params[3]));
      var td = el("td", {}, tr);
      var use = el("button", { "class": "use", title: "fix this edge to " + c.name }, td, "use");
      tr.addEventListener("mouseenter", function () { plot.overlay(c); });
      use.addEventListener("click", function () { addChoice({ op: "fix_symbolic", edge: [e.l, e.i, e.j], fun: c.name }); });
      if (k === 0) plot.overlay(c);
    });
  }
  function selectNode(l, i) {
    clearSelection();
    selected = nodeEls[l + "," + i];
    selected.classList.add("kx-sel");
    detail.textContent = "";
    var name = l === 0 ? data.in_vars[i] : l === depth ? data.out_vars[i] : "hidden node";
    el("h3", {}, detail, "Node (" + l + ", " + i + "): " + name + (data.mult[l][i] ? " (multiplication)" : ""));
    el("div", {}, detail, "attribution score: " + (data.node_scores ? fmt(data.node_scores[l][i]) : "no data"));
    var n_in = data.edges.filter(function (e) { return e.l + 1 === l && data.sub_to_node[l][e.j] === i; }).length;
    var n_out = data.edges.filter(function (e) { return e.l === l && e.i === i; }).length;
    el("div", { "class": "kx-muted" }, detail, n_in + " incoming, " + n_out + " outgoing edges");
    var cut = el("button", { "class": "kx-cut-node" }, detail, "cut this node (remove_node)");
    cut.addEventListener("click", function () { addChoice({ op: "remove_node", node: [l, i] }); });
  }
}
