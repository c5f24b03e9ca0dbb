"use strict";
// The trace page: reads the run embedded in #trace-data and draws the summary, the task graph,
// the timeline of calls, the call and node tables, the decisions and the other events.
// Everything is built as HTML/SVG strings and inserted once per view (fast for 10,000 nodes).
(function () {
  const D = JSON.parse(document.getElementById("trace-data").textContent);
  const S = D.S, R = D.run, NODES = D.nodes, CALLS = D.calls, NOTES = D.notes, STEPS = D.steps;
  const $ = (id) => document.getElementById(id);
  const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const esc = (s) => String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, (c) => ESC[c]);
  const nodeIdx = new Map(NODES.map((n, i) => [n.id, i]));

  function dur(s) {
    if (s === null || s === undefined) return "-";
    if (s < 1e-3) return Math.round(s * 1e6) + "µs";
    if (s < 1) return Math.round(s * 1e3) + "ms";
    if (s < 60) return s.toFixed(2) + "s";
    return Math.floor(s / 60) + "m" + String(Math.round(s % 60)).padStart(2, "0") + "s";
  }
  const span = (o) => (o.t1 === null || o.t0 === null ? null : Math.max(0, o.t1 - o.t0));
  const cost = (x) => "$" + Number(x || 0).toFixed(4);
  const clip = (s, n) => { s = String(s === null || s === undefined ? "" : s); return s.length > n ? s.slice(0, n - 1) + "…" : s; };
  const json = (v) => JSON.stringify(v);
  const callStatus = (c) => (c.e ? "error" : c.t1 === null ? "unfinished" : "ok");
  const callLabel = (c) => (c.k === "model" ? "chat " : "execute_tool ") + c.name;
  function sum(calls) {
    const t = { m: 0, tl: 0, p: 0, c: 0, $: 0 };
    for (const c of calls) {
      if (c.k === "model") { t.m++; t.p += c.u[0]; t.c += c.u[1]; t.$ += c.u[2]; } else t.tl++;
    }
    return t;
  }

  // -- summary and tabs ------------------------------------------------------------------------
  function summary() {
    const t = sum(CALLS);
    const kv = (k, v) => `<span class="kv">${esc(k)} <b>${v}</b></span>`;
    let h = `<h1>run ${esc(R.id)} <span class="st ${esc(R.status)}">${esc(R.status)}</span></h1><div>`;
    h += kv("duration", esc(dur(R.duration)));
    if (R.model) h += kv("model", esc(R.model));
    if (R.planner) h += kv("planner", esc(R.planner));
    h += kv("nodes", NODES.length) + kv("model calls", t.m) + kv("tool calls", t.tl);
    h += kv("tokens", `${t.p}+${t.c}`) + kv("cost", esc(cost(t.$)));
    h += "</div><div class=\"qa\">";
    if (R.question) h += `<div><b>question:</b> ${esc(R.question)}</div>`;
    h += `<div><b>answer:</b> ${R.answer === null ? "<i>(none)</i>" : esc(R.answer)}</div>`;
    if (R.error) h += `<div class="st failed">error: ${esc(R.error)}</div>`;
    if (CALLS.length && !R.content) h += "<div class=\"note\">The store kept no call content for this run (metadata only): messages and completions are not available.</div>";
    $("summary").innerHTML = h + "</div>";
  }

  const decisions = NOTES.filter((n) => ["selection", "selection_decision", "arm_finished"].includes(n.k));
  const TABS = [["graph", "Graph"], ["timeline", "Timeline"], ["calls", `Calls (${CALLS.length})`],
    ["nodes", `Nodes (${NODES.length})`]];
  if (decisions.length) TABS.push(["decisions", `Decisions (${decisions.length})`]);
  TABS.push(["events", `Events (${NOTES.length})`]);
  function tabs() {
    $("tabs").innerHTML = TABS.map(([k, l]) => `<button data-tab="${k}">${esc(l)}</button>`).join("");
    $("tabs").addEventListener("click", (e) => { const b = e.target.closest("button"); if (b) show(b.dataset.tab); });
  }
  function show(tab) {
    for (const [k] of TABS) {
      $("view-" + k).classList.toggle("on", k === tab);
      $("tabs").querySelector(`[data-tab="${k}"]`).classList.toggle("on", k === tab);
    }
  }

  // -- the task graph --------------------------------------------------------------------------
  const NW = 132, NH = 22, COLW = 170, ROWH = 30, MAXROWS = 40, PAD = 24;
  function layers() {
    const n = NODES.length, L = new Int32Array(n), state = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (state[i] === 2) continue;
      const stack = [i];
      while (stack.length) {
        const v = stack[stack.length - 1];
        if (state[v] === 0) {
          state[v] = 1;
          for (const d of NODES[v].deps) { const j = nodeIdx.get(d); if (j !== undefined && state[j] === 0) stack.push(j); }
        } else {
          stack.pop();
          if (state[v] === 2) continue;
          let m = 0;
          for (const d of NODES[v].deps) { const j = nodeIdx.get(d); if (j !== undefined && state[j] === 2) m = Math.max(m, L[j] + 1); }
          L[v] = m; state[v] = 2;
        }
      }
    }
    return L;
  }
  const POS = [];  // node index -> [x, y]
  const BANDW = 7000;  // layers wrap into bands this wide, so a long chain is not a 1.7M px strip
  function dag() {
    const L = layers(), byLayer = [];
    NODES.forEach((_, i) => { (byLayer[L[i]] = byLayer[L[i]] || []).push(i); });
    const order = new Float64Array(NODES.length);
    const parts = [], edges = [];
    let x = PAD, bandY = PAD, bandH = 0, width = 0;
    for (let l = 0; l < byLayer.length; l++) {
      const ids = byLayer[l] || [];
      // Barycentre of the inputs' rows: fewer crossings than insertion order, one pass.
      if (l > 0) {
        const keys = new Map(ids.map((i) => {
          let s = 0, k = 0;
          for (const d of NODES[i].deps) { const j = nodeIdx.get(d); if (j !== undefined) { s += order[j]; k++; } }
          return [i, k ? s / k : i];
        }));
        ids.sort((a, b) => keys.get(a) - keys.get(b) || a - b);
      }
      // A wide layer folds into columns, about as tall as the columns are wide in total.
      const rows = Math.max(MAXROWS, Math.ceil(Math.sqrt((ids.length * COLW) / ROWH)));
      const cols = Math.max(1, Math.ceil(ids.length / rows));
      if (x > PAD && x + cols * COLW > BANDW) { x = PAD; bandY += bandH + 2 * PAD; bandH = 0; }
      ids.forEach((i, p) => {
        POS[i] = [x + Math.floor(p / rows) * COLW, bandY + 18 + (p % rows) * ROWH];
        order[i] = p;
      });
      parts.push(`<text class="lane" x="${x}" y="${bandY + 4}">layer ${l + 1}${ids.length > rows ? ` (${ids.length})` : ""}</text>`);
      bandH = Math.max(bandH, 18 + Math.min(ids.length, rows) * ROWH);
      x += cols * COLW;
      width = Math.max(width, x);
    }
    NODES.forEach((n, i) => {
      const [x2, y2] = POS[i];
      for (const d of n.deps) {
        const j = nodeIdx.get(d); if (j === undefined) continue;
        const [x1, y1] = POS[j], a = x1 + NW, b = y1 + NH / 2, c = y2 + NH / 2, m = (a + x2) / 2;
        edges.push(`M${a} ${b}C${m} ${b} ${m} ${c} ${x2} ${c}`);
      }
      parts.push(`<rect class="n ${esc(n.s)}" data-i="${i}" data-node-id="${esc(n.id)}" x="${x2}" y="${y2}" width="${NW}" height="${NH}"></rect><text x="${x2 + 6}" y="${y2 + 15}">${esc(clip(n.id + " · " + n.k, 22))}</text>`);
    });
    const svg = $("dag");
    svg.setAttribute("width", width + PAD);
    svg.setAttribute("height", bandY + bandH + PAD);
    svg.innerHTML = `<path d="${edges.join("")}"></path>` + parts.join("");
    svg.addEventListener("click", (e) => { const r = e.target.closest("rect.n"); if (r) select("node", +r.dataset.i); });
    tip(svg, (t) => { const r = t.closest("rect.n"); if (!r) return null; const n = NODES[+r.dataset.i]; return `${n.id} [${n.k}] ${n.s} ${dur(span(n))}` + (n.d ? "\n" + clip(n.d, 200) : ""); });
  }
  function steps() {
    if (!STEPS.length) return "";
    let h = "<ol id=\"steps\" class=\"card\" style=\"margin:0 0 8px;padding-left:28px\">";
    STEPS.forEach((s, i) => {
      const calls = s.calls.map((c) => CALLS[c]).concat(...s.nodes.map((n) => NODES[n].c.map((c) => CALLS[c])));
      const t = sum(calls);
      h += `<li><a class="link" data-step="${i}">${esc(s.l)}</a> · ${s.k === "round" ? s.nodes.length + (s.nodes.length === 1 ? " node" : " nodes") : "planner"} · ${t.m} model, ${t.tl} tool calls</li>`;
    });
    return h + "</ol>";
  }

  // -- the timeline ----------------------------------------------------------------------------
  const LANEH = 14, AXIS = 22;
  function timeline() {
    const svg = $("timeline"), width = Math.max(900, window.innerWidth - 520);
    let total = Math.max(1e-6, R.duration || 0);
    for (const c of CALLS) total = Math.max(total, c.t1 === null ? c.t0 : c.t1);
    const scale = (width - 2 * PAD) / total;
    // Lanes: each call goes to the free lane that freed first (a min-heap of lane ends).
    const order = CALLS.map((_, i) => i).sort((a, b) => CALLS[a].t0 - CALLS[b].t0 || a - b);
    const heap = [], laneOf = new Int32Array(CALLS.length);
    let lanes = 0;
    const push = (e) => { heap.push(e); let i = heap.length - 1; while (i > 0) { const p = (i - 1) >> 1; if (heap[p][0] <= heap[i][0]) break; [heap[p], heap[i]] = [heap[i], heap[p]]; i = p; } };
    const pop = () => { const top = heap[0], last = heap.pop(); if (heap.length) { heap[0] = last; let i = 0; for (;;) { const l = 2 * i + 1, r = l + 1; let m = i; if (l < heap.length && heap[l][0] < heap[m][0]) m = l; if (r < heap.length && heap[r][0] < heap[m][0]) m = r; if (m === i) break; [heap[m], heap[i]] = [heap[i], heap[m]]; i = m; } } return top; };
    for (const i of order) {
      const c = CALLS[i], end = c.t1 === null ? total : c.t1;
      // Bars narrower than a pixel still take a pixel: keep them apart by that pixel.
      const minEnd = c.t0 + 1 / scale;
      let lane;
      if (heap.length && heap[0][0] <= c.t0) lane = pop()[1]; else lane = lanes++;
      laneOf[i] = lane;
      push([Math.max(end, minEnd), lane]);
    }
    const parts = [];
    const ticks = 8;
    for (let k = 0; k <= ticks; k++) {
      const t = (total * k) / ticks, x = PAD + t * scale;
      parts.push(`<line x1="${x}" y1="${AXIS - 4}" x2="${x}" y2="${AXIS + lanes * LANEH}"></line><text class="axis" x="${k === ticks ? x - 2 : x + 2}" y="${AXIS - 8}"${k === ticks ? " text-anchor=\"end\"" : ""}>${esc(dur(t))}</text>`);
    }
    CALLS.forEach((c, i) => {
      const x = PAD + c.t0 * scale, w = Math.max(1, ((c.t1 === null ? total : c.t1) - c.t0) * scale);
      parts.push(`<rect class="c ${c.k}${c.e ? " err" : ""}" data-c="${i}" x="${x.toFixed(1)}" y="${AXIS + laneOf[i] * LANEH}" width="${w.toFixed(1)}" height="${LANEH - 3}"></rect>`);
    });
    svg.setAttribute("width", width);
    svg.setAttribute("height", AXIS + lanes * LANEH + PAD);
    svg.innerHTML = parts.join("");
    svg.addEventListener("click", (e) => { const r = e.target.closest("rect.c"); if (r) select("call", +r.dataset.c); });
    tip(svg, (t) => { const r = t.closest("rect.c"); if (!r) return null; const c = CALLS[+r.dataset.c]; return `#${c.n} ${callLabel(c)}${c.p ? " (" + c.p + ")" : ""} · node ${c.node === null ? "-" : c.node} · +${dur(c.t0)} · ${dur(span(c))}`; });
  }

  // -- tables ----------------------------------------------------------------------------------
  function callsTable() {
    const rows = CALLS.map((c, i) => {
      const tokens = c.k === "model" ? `${c.u[0]}+${c.u[1]}` : "";
      const what = c.k === "model" ? (c.p || "") : clip(json(c.args), 80);
      return `<tr data-call="${c.n}" data-i="${i}" id="call-${c.n}"><td class="num">${c.n}</td><td class="kind-${c.k}">${esc(callLabel(c))}</td><td class="clip">${esc(what)}</td><td>${esc(c.node === null ? "-" : c.node)}</td><td class="num">+${esc(dur(c.t0))}</td><td class="num">${esc(dur(span(c)))}</td><td class="num">${tokens}</td><td class="num">${c.k === "model" ? esc(cost(c.u[2])) : ""}</td><td><span class="st ${callStatus(c)}">${callStatus(c)}</span>${c.ca ? " cached" : ""}</td></tr>`;
    });
    $("calls").innerHTML = "<thead><tr><th>#</th><th>call</th><th>purpose / arguments</th><th>node</th><th>start</th><th>duration</th><th>tokens</th><th>cost</th><th>status</th></tr></thead><tbody>" + rows.join("") + "</tbody>";
    $("calls").addEventListener("click", (e) => { const tr = e.target.closest("tr[data-i]"); if (tr) select("call", +tr.dataset.i); });
  }
  function nodesTable() {
    const rows = NODES.map((n, i) => {
      const t = sum(n.c.map((c) => CALLS[c]));
      const out = n.s === "done" ? n.o : n.e;
      return `<tr data-i="${i}" data-node-id="${esc(n.id)}" id="node-${i}"><td>${esc(n.id)}</td><td>${esc(n.k)}</td><td class="num">${n.r}</td><td><span class="st ${esc(n.s)}">${esc(n.s)}</span></td><td class="num">${n.a}</td><td class="num">${esc(dur(span(n)))}</td><td class="num">${t.m + t.tl}</td><td class="num">${t.p}+${t.c}</td><td class="clip">${esc(clip(n.d, 100))}</td><td class="clip">${esc(clip(out, 100))}</td></tr>`;
    });
    $("nodes").innerHTML = "<thead><tr><th>node</th><th>kind</th><th>round</th><th>status</th><th>attempts</th><th>duration</th><th>calls</th><th>tokens</th><th>description</th><th>output / error</th></tr></thead><tbody>" + rows.join("") + "</tbody>";
    $("nodes").addEventListener("click", (e) => { const tr = e.target.closest("tr[data-i]"); if (tr) select("node", +tr.dataset.i); });
  }
  function dl(obj) {
    return "<dl class=\"kv\">" + Object.entries(obj).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(typeof v === "object" && v !== null ? json(v) : v)}</dd>`).join("") + "</dl>";
  }
  function decisionsView() {
    $("decisions").innerHTML = decisions.map((n) => `<div class="card decision"><h4>${esc(n.k)}${n.node ? " · node " + esc(n.node) : ""} · +${esc(dur(n.t))}</h4>${dl(n.d)}</div>`).join("");
  }
  function eventsTable() {
    const rows = NOTES.map((n, i) => `<tr data-note="${i}"><td class="num">+${esc(dur(n.t))}</td><td>${esc(n.k)}</td><td>${esc(n.node === null ? "-" : n.node)}</td><td class="clip">${esc(clip(n.k === "planner" ? (n.d.action || "") + ": " + (n.d.detail || "") : json(n.d), 160))}</td></tr>`);
    $("events").innerHTML = "<thead><tr><th>time</th><th>kind</th><th>node</th><th>detail</th></tr></thead><tbody>" + rows.join("") + "</tbody>";
    $("events").addEventListener("click", (e) => { const tr = e.target.closest("tr[data-note]"); if (tr) select("note", +tr.dataset.note); });
  }

  // -- the detail panel ------------------------------------------------------------------------
  const pre = (s) => `<pre class="val">${esc(s)}</pre>`;
  const msg = (role, text, cls) => `<div class="msg ${cls || ""}"><div class="role">${esc(role)}</div><pre>${esc(text)}</pre></div>`;
  const toolCalls = (tcs) => (tcs || []).map(([id, name, args]) => msg(`tool call ${name}${id ? " · " + id : ""}`, S[args])).join("");
  function callDetail(c) {
    let h = `<h2>#${c.n} ${esc(callLabel(c))}</h2>`;
    const facts = { status: callStatus(c), node: c.node === null ? "-" : c.node, start: "+" + dur(c.t0), duration: dur(span(c)) };
    if (c.k === "model") Object.assign(facts, { purpose: c.p || "-", tokens: `${c.u[0]} prompt + ${c.u[1]} completion`, cost: cost(c.u[2]), cached: c.ca ? "yes" : "no" });
    h += dl(facts);
    if (c.e) h += "<h3>error</h3>" + pre(c.e);
    if (c.k === "tool") {
      h += "<h3>arguments</h3>" + pre(JSON.stringify(c.args, null, 2));
      if (c.res !== undefined) h += "<h3>result</h3>" + pre(S[c.res]);
      else if (c.o !== undefined) h += "<h3>output (first 500 characters)</h3>" + pre(c.o);
      return h;
    }
    if (!c.req && !c.resp) return h + "<p class=\"note\">No content kept for this call (metadata only).</p>";
    if (c.req) {
      const extra = Object.assign({}, c.req.s, c.req.tools ? { tools: c.req.tools } : {}, c.req.tc ? { tool_choice: c.req.tc } : {}, c.req.os ? { output_schema: c.req.os } : {});
      if (Object.keys(extra).length) h += "<h3>settings</h3>" + dl(extra);
      h += `<h3>messages (${c.req.m.length})</h3>` + c.req.m.map(([role, text, tcs, tcid]) => msg(role + (tcid ? " · " + tcid : ""), S[text]) + toolCalls(tcs)).join("");
    }
    if (c.resp) {
      h += `<h3>completion${c.resp.ch.length > 1 ? "s (" + c.resp.ch.length + ")" : ""}</h3>`;
      h += c.resp.ch.map(([text, reason, tcs], i) => msg(`assistant${c.resp.ch.length > 1 ? " · sample " + (i + 1) : ""}${reason ? " · " + reason : ""}`, S[text], "completion") + toolCalls(tcs)).join("");
    }
    return h;
  }
  const callList = (idx) => (idx.length ? "<ol>" + idx.map((i) => `<li><a class="link" data-goto="${i}">#${CALLS[i].n} ${esc(callLabel(CALLS[i]))}</a> ${esc(dur(span(CALLS[i])))}${CALLS[i].e ? " <span class=\"st error\">error</span>" : ""}</li>`).join("") + "</ol>" : "<p class=\"note\">no calls</p>");
  function nodeDetail(n) {
    let h = `<h2>node ${esc(n.id)}</h2>` + dl({ kind: n.k, round: n.r, status: n.s, attempts: n.a, start: n.t0 === null ? "-" : "+" + dur(n.t0), duration: dur(span(n)), inputs: n.deps.join(", ") || "-" });
    if (n.d) h += "<h3>description</h3>" + pre(n.d);
    if (n.o !== undefined) h += "<h3>output</h3>" + pre(n.o);
    if (n.e) h += "<h3>error</h3>" + pre(n.e);
    return h + "<h3>calls</h3>" + callList(n.c);
  }
  function stepDetail(s) {
    let h = `<h2>${esc(s.l)}</h2><p>${s.k === "round" ? "A round of the task graph: the nodes one plan added." : "Calls the planner made outside the task graph."}</p>`;
    if (s.nodes.length) h += "<h3>nodes</h3><ol>" + s.nodes.map((i) => `<li><a class="link" data-gonode="${i}">${esc(NODES[i].id)}</a> <span class="st ${esc(NODES[i].s)}">${esc(NODES[i].s)}</span></li>`).join("") + "</ol>";
    if (s.calls.length) h += "<h3>calls</h3>" + callList(s.calls);
    if (s.notes.length) h += "<h3>events</h3>" + s.notes.map((i) => dl(Object.assign({ kind: NOTES[i].k }, NOTES[i].d))).join("");
    return h;
  }
  function select(kind, i) {
    for (const el of document.querySelectorAll(".sel")) el.classList.remove("sel");
    let h = "";
    if (kind === "call") {
      h = callDetail(CALLS[i]);
      for (const el of document.querySelectorAll(`[data-c="${i}"], #calls tr[data-i="${i}"]`)) el.classList.add("sel");
    } else if (kind === "node") {
      h = nodeDetail(NODES[i]);
      for (const el of document.querySelectorAll(`#dag rect[data-i="${i}"], #nodes tr[data-i="${i}"]`)) el.classList.add("sel");
    } else if (kind === "step") h = stepDetail(STEPS[i]);
    else { const n = NOTES[i]; h = `<h2>${esc(n.k)}</h2>` + dl({ node: n.node === null ? "-" : n.node, time: "+" + dur(n.t) }) + "<h3>data</h3>" + pre(JSON.stringify(n.d, null, 2)); }
    $("detail").innerHTML = h;
  }
  $("detail").addEventListener("click", (e) => {
    const a = e.target.closest("a");
    if (a && a.dataset.goto !== undefined) select("call", +a.dataset.goto);
    if (a && a.dataset.gonode !== undefined) select("node", +a.dataset.gonode);
  });

  function tip(el, text) {
    const t = $("tip");
    el.addEventListener("mousemove", (e) => {
      const s = text(e.target);
      if (!s) { t.style.display = "none"; return; }
      t.textContent = s; t.style.display = "block";
      t.style.left = e.clientX + 12 + "px"; t.style.top = e.clientY + 12 + "px";
    });
    el.addEventListener("mouseleave", () => { t.style.display = "none"; });
  }

  // Each view is timed (performance marks "trace:<view>"; the benchmark reports them).
  const timed = (name, fn) => { const t = performance.now(); fn(); performance.measure("trace:" + name, { start: t }); };
  performance.measure("trace:parse", { start: 0 });
  timed("summary", () => { summary(); tabs(); });
  timed("steps", () => {
    $("view-graph").insertAdjacentHTML("afterbegin", steps());
    const stepsEl = document.getElementById("steps");
    if (stepsEl) stepsEl.addEventListener("click", (e) => { const a = e.target.closest("a[data-step]"); if (a) select("step", +a.dataset.step); });
  });
  timed("graph", dag);
  timed("timeline", timeline);
  timed("calls", callsTable);
  timed("nodes", nodesTable);
  timed("decisions", decisionsView);
  timed("events", eventsTable);
  show(NODES.length ? "graph" : "timeline");
  // Read by tests and the trace_page benchmark: the page is built, then painted.
  document.documentElement.dataset.built = String(performance.now());
  requestAnimationFrame(() => requestAnimationFrame(() => {
    document.documentElement.dataset.painted = String(performance.now());
  }));
})();
