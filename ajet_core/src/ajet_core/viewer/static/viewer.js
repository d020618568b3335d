// AgentJet viewer: plain JS, no build step, no network beyond this page's own server.
"use strict";

const PAGE = 50;
const POLL_MS = 5000;  // a run still training writes new step files; the lists refresh on their own
const COLORS = ["#2f6fde", "#d9534f", "#2e8b57", "#a05fd0", "#e08a1e", "#17a2b8"];
const state = { run: 0, steps: [], step: null, filter: "all", sort: "order", task: "", offset: 0, total: 0,
                episodeId: null, metrics: null, metric: "rollout/reward_mean", baTask: "", baReady: false };
const HELD_OUT = "eval/pass@1";

const requests = { episodes: 0, episode: 0 };
const $ = (sel) => document.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}
const svgEl = (tag, attrs = {}) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};
async function api(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
const fmt = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const runBase = () => `/api/runs/${state.run}`;
const stepBase = () => `${runBase()}/steps/${state.step.mode}/${state.step.step}`;

// ---- runs, steps ---------------------------------------------------------------------------
async function loadRuns() {
  const runs = await api("/api/runs");
  $("#run-names").textContent = runs.map((r) => r.path).join("  ·  ");
  const select = $("#run-select");
  select.replaceChildren(...runs.map((r) => el("option", { value: r.index }, r.name)));
  select.onchange = () => { state.run = Number(select.value); state.step = null; state.baTask = ""; loadSteps(); loadBeforeAfter(); };
}

async function loadSteps() {
  state.steps = await api(`${runBase()}/steps`);
  const box = $("#steps");
  if (!state.steps.length) { box.replaceChildren(el("p", { class: "empty" }, "No records yet; waiting for the first step.")); return; }
  box.replaceChildren(...state.steps.map((s) => {
    const active = state.step && state.step.mode === s.mode && state.step.step === s.step;
    return el("div", { class: `step mode-${s.mode}${active ? " active" : ""}`, "data-step": `${s.mode}-${s.step}`,
                       onclick: () => selectStep(s) },
      el("span", {}, `${s.mode} ${s.step}`),
      el("span", { class: "meta" }, s.pending ? "…" : `${s.episodes} ep · r ${fmt(s.reward_mean, 2)}`));
  }));
  // A large run is summarised a slice per request: ask again soon until every step is in.
  if (state.steps.some((s) => s.pending)) setTimeout(() => loadSteps().catch(console.error), 300);
  if (!state.step) selectStep(state.steps.find((s) => s.mode === "train") || state.steps[0]);
}

function selectStep(step) {
  state.step = step; state.offset = 0; state.episodeId = null;
  document.querySelectorAll(".step").forEach((n) => n.classList.toggle("active", n.dataset.step === `${step.mode}-${step.step}`));
  loadEpisodes();
}

// ---- episodes list ---------------------------------------------------------------------------
async function loadEpisodes() {
  if (!state.step) return;
  const query = new URLSearchParams({ filter: state.filter, sort: state.sort, task: state.task, offset: state.offset, limit: PAGE });
  const ticket = ++requests.episodes;
  const page = await api(`${stepBase()}/episodes?${query}`);
  if (ticket !== requests.episodes) return;  // a newer request (another step, filter, page) won
  state.total = page.total;
  $("#episodes-title").textContent = `Episodes of ${page.mode} step ${page.step}`;
  $("#episodes tbody").replaceChildren(...page.episodes.map(episodeRow));
  if (!page.episodes.length) $("#episodes tbody").append(el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No episode matches.")));
  $("#page-info").textContent = `${page.total ? state.offset + 1 : 0}–${Math.min(state.offset + PAGE, page.total)} of ${page.total}`;
  $("#prev").disabled = state.offset === 0;
  $("#next").disabled = state.offset + PAGE >= page.total;
  drawGroups(page.groups);
}

function episodeRow(e) {
  const flags = [];
  if (e.error) flags.push(el("span", { class: "flag", title: e.error }, "error"));
  if (e.is_success) flags.push(el("span", { class: "flag ok" }, "success"));
  if (e.drift_fallbacks) flags.push(el("span", { class: "flag" }, `drift ${e.drift_fallbacks}`));
  if (e.truncated) flags.push(el("span", { class: "flag" }, "truncated"));
  return el("tr", { class: `episode-row${e.episode_id === state.episodeId ? " active" : ""}`, "data-episode": e.episode_id,
                    onclick: () => openEpisode(e.episode_id) },
    el("td", { title: e.query }, e.task_id || "?"), el("td", {}, fmt(e.reward, 2)), el("td", {}, fmt(e.advantage, 2)),
    el("td", {}, e.calls), el("td", {}, e.samples), el("td", {}, flags));
}

function drawGroups(groups) {
  const all = groups.flatMap((g) => g.rewards);
  const lo = Math.min(0, ...all), hi = Math.max(1, ...all);
  const bins = 10, width = 90, height = 30;
  $("#groups").replaceChildren(...groups.map((g) => {
    const counts = new Array(bins).fill(0);
    for (const r of g.rewards) counts[Math.min(bins - 1, Math.floor(((r - lo) / (hi - lo || 1)) * bins))]++;
    const top = Math.max(...counts, 1);
    const svg = svgEl("svg", { width, height, class: "histogram" });
    counts.forEach((c, i) => svg.append(svgEl("rect", { x: i * (width / bins) + 1, width: width / bins - 2,
      y: height - (c / top) * (height - 2), height: (c / top) * (height - 2), fill: "#2f6fde" })));
    const mean = g.rewards.reduce((a, b) => a + b, 0) / (g.rewards.length || 1);
    return el("div", { class: "group", title: `${g.group_key}\nrewards ${g.rewards.map((r) => fmt(r, 2)).join(", ")}\nrange ${fmt(lo, 2)}..${fmt(hi, 2)}` },
      el("div", {}, g.group_key.split("/").slice(-1)[0]), svg, el("div", {}, `n ${g.rewards.length} · mean ${fmt(mean, 2)}`));
  }));
}

// ---- one episode -----------------------------------------------------------------------------
async function openEpisode(id) {
  state.episodeId = id;
  document.querySelectorAll(".episode-row").forEach((r) => r.classList.toggle("active", r.dataset.episode === id));
  const ticket = ++requests.episode;
  const e = await api(`${stepBase()}/episodes/${encodeURIComponent(id)}`);
  if (ticket !== requests.episode) return;
  const pane = $("#episode-pane");
  const sampleOfCall = {};
  e.samples.forEach((s, i) => (s.call_ids || []).forEach((c) => (sampleOfCall[c] = i)));
  pane.replaceChildren(...[
    el("h2", {}, `Episode ${e.task?.task_id ?? ""}`),
    el("div", { class: "kv" }, `reward ${fmt(e.reward)} · success ${e.is_success} · advantage ${fmt(e.advantage)} · group ${e.group_key} · drift fallbacks ${e.drift_fallbacks}`),
    e.judger_metrics && Object.keys(e.judger_metrics).length ? el("div", { class: "kv" }, `judger: ${JSON.stringify(e.judger_metrics)}`) : null,
    e.error ? el("div", { class: "error-box" }, e.error) : null,
    el("h3", {}, `LLM calls (${e.calls.length})`),
    ...renderCalls(e.calls, sampleOfCall),
    el("h3", {}, `Samples (${e.samples.length})`),
    el("div", { class: "legend-row" }, e.decoded ? "" : "Tokenizer not available: showing token ids only. ",
       "Grey = context (loss mask 0); blue = trained (loss mask 1), darker = higher logprob. Hover a token for details."),
    ...e.samples.map((s, i) => renderSample(s, i, e.calls)),
  ].filter((node) => node !== null));  // replaceChildren would print a null as text
}

function renderCalls(calls, sampleOfCall, idPrefix = "call-") {
  const seen = {};  // per agent: the last call's messages and reply, to show each call's new messages only
  const key = (m) => `${m.role}\u0000${contentText(m.content)}`;
  return calls.map((call, i) => {
    const messages = call.messages || [];
    const before = seen[call.agent] || [];
    // Only when this call really extends the earlier one (a branch or rewrite shows in full).
    const extends_ = before.length && before.length <= messages.length && before.every((m, j) => key(m) === key(messages[j]));
    const shown = extends_ ? before.length : 0;
    seen[call.agent] = call.reply ? [...messages, call.reply] : messages;
    const sampleIndex = sampleOfCall[call.call_id];
    const head = el("div", { class: "call-head" },
      el("b", {}, `call ${i + 1}`), el("span", {}, `agent ${call.agent}`), el("span", {}, `finish ${call.finish_reason}`),
      el("span", {}, `${(call.prompt_ids || []).length}+${(call.response_ids || []).length} tokens`),
      el("span", {}, `${fmt(call.latency, 2)} s`), call.drift_fallback ? el("span", { class: "flag" }, `drift: ${call.drift_reason || "fallback"}`) : null,
      call.trainable === false ? el("span", { class: "flag" }, "not trainable") : null,
      sampleIndex === undefined ? el("span", {}, "in no sample")
        : el("a", { class: "merge-link", "data-sample": sampleIndex, onclick: () => flash(`#sample-${sampleIndex}`) }, `→ sample ${sampleIndex + 1}`));
    const chat = el("div", { class: "chat" },
      shown ? el("div", { class: "kv" }, `… ${shown} earlier messages (shown above)`) : null,
      ...messages.slice(shown).map((m) => bubble(m, false)),
      call.reply ? bubble(call.reply, true) : null);
    return el("div", { class: "call", id: `${idPrefix}${call.call_id}` }, head, chat);
  });
}

function contentText(content) {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === "string" ? p : p.text ?? JSON.stringify(p))).join("");
  return JSON.stringify(content);
}

function bubble(message, isReply) {
  const role = message.role || "?";
  const toolCalls = (message.tool_calls || []).map((t) => el("div", { class: "toolcall" },
    `🔧 ${t.function?.name ?? t.name ?? "tool"}(${t.function?.arguments ?? JSON.stringify(t.arguments ?? {})})`));
  const label = role === "tool" && message.tool_call_id ? `tool result (${message.tool_call_id})` : role + (isReply ? " · reply" : "");
  return el("div", { class: `bubble ${role}${isReply ? " reply" : ""}` }, el("span", { class: "role" }, label),
    contentText(message.content), ...toolCalls);
}

function renderSample(sample, index, calls) {
  const callIndex = Object.fromEntries(calls.map((c, i) => [c.call_id, i]));
  const links = (sample.call_ids || []).map((id) => el("a", { class: "merge-link", "data-call": id,
    onclick: () => flash(`#call-${CSS.escape(id)}`) }, `call ${callIndex[id] === undefined ? "?" : callIndex[id] + 1}`));
  const trained = sample.tokens.filter((t) => t.mask).length;
  const strip = hoverDetails(el("div", { class: "token-strip" }, ...sample.tokens.map(tokenSpan)), sample);
  return el("div", { class: "sample", id: `sample-${index}` },
    el("div", { class: "call-head" }, el("b", {}, `sample ${index + 1}`), el("span", {}, `agent ${sample.agent}`),
      el("span", {}, `${sample.tokens.length} tokens, ${trained} trained`), el("span", {}, `advantage ${fmt(sample.advantage)}`),
      el("span", {}, "merges:"), ...links),
    strip);
}

function tokenSpan(token, position) {
  const text = token.text === null ? `[${token.id}]` : token.text || "∅";
  const span = el("span", { class: `tok ${token.mask ? "trained" : "masked"}`, "data-id": token.id, "data-pos": position }, text);
  if (token.mask) {
    const p = token.logprob === null ? 1 : Math.exp(token.logprob);
    span.style.background = `rgba(var(--trained), ${0.12 + 0.6 * p})`;
  }
  return span;
}

// One listener per strip, not per token: samples of thousands of tokens stay light.
function hoverDetails(strip, sample) {
  strip.addEventListener("mousemove", (ev) => {
    const span = ev.target.closest(".tok");
    if (!span) { hideTip(); return; }
    const position = Number(span.dataset.pos), token = sample.tokens[position];
    showTip(ev, [
      `position  ${position}`, `id        ${token.id}`, `text      ${JSON.stringify(token.text)}`,
      `loss mask ${token.mask}`, `logprob   ${token.mask ? fmt(token.logprob, 4) : "– (context)"}`,
      ...(token.version === null || token.version === undefined ? [] : [`version   ${token.version}`]),
      `advantage ${fmt(sample.advantage, 4)}`].join("\n"));
  });
  strip.addEventListener("mouseleave", hideTip);
  return strip;
}

function showTip(ev, text) {
  const tip = $("#tooltip");
  tip.textContent = text; tip.hidden = false;
  tip.style.left = `${Math.min(ev.clientX + 12, window.innerWidth - 260)}px`;
  tip.style.top = `${ev.clientY + 14}px`;
}
const hideTip = () => { $("#tooltip").hidden = true; };

function flash(selector) {
  const target = document.querySelector(selector);
  if (!target) return;
  target.scrollIntoView({ behavior: "smooth", block: "center" });
  target.classList.add("highlight");
  setTimeout(() => target.classList.remove("highlight"), 1500);
}

// ---- reward curves (every run overlaid) -----------------------------------------------------
async function loadMetrics() {
  state.metrics = await api("/api/metrics");
  const names = new Set();
  for (const run of state.metrics.runs) for (const row of run.rows) for (const k of Object.keys(row))
    if (/reward|pass@|success/.test(k) && typeof row[k] === "number") names.add(k);
  const select = $("#curve-metric");
  const options = [...names].sort();
  if (!options.includes(state.metric) && options.length) state.metric = options[0];
  select.replaceChildren(...options.map((n) => el("option", { value: n }, n)));
  select.value = state.metric;
  select.onchange = () => { state.metric = select.value; drawCurves(); };
  drawCurves();
}

// The chosen metric (reward by default) and, always beside it, held-out success: the two curves
// that say whether the run learned.
function drawCurves() {
  drawChart($("#curves"), state.metric);
  drawChart($("#heldout"), HELD_OUT);
}

function drawChart(box, metric) {
  const W = 420, H = 150, L = 40, R = 10, T = 8, B = 22;
  const series = state.metrics.runs.map((run) => ({ name: run.name,
    points: run.rows.filter((r) => typeof r[metric] === "number").map((r) => [r.step, r[metric]]) }));
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) { box.replaceChildren(el("p", { class: "empty" }, `No ${metric} values yet.`)); return; }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(0, ...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R), sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "curves" });
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }), svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }));
  const label = (x, y, text, anchor) => { const t = svgEl("text", { x, y, "font-size": 10, fill: "#666", "text-anchor": anchor }); t.textContent = text; svg.append(t); };
  label(L - 4, sy(y1) + 4, fmt(y1, 2), "end"); label(L - 4, sy(y0), fmt(y0, 2), "end");
  label(L, H - 6, `step ${x0}`, "start"); label(W - R, H - 6, `step ${x1}`, "end");
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    if (s.points.length > 1) svg.append(svgEl("polyline", { points: s.points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" "), fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": i ? "6 4" : "none", class: "curve" }));
    for (const p of s.points) { const c = svgEl("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, fill: color }); const t = svgEl("title"); t.textContent = `${s.name} step ${p[0]}: ${fmt(p[1], 4)}`; c.append(t); svg.append(c); }
  });
  const legend = el("div", { class: "legend" }, ...series.map((s, i) => el("span", { style: `color:${COLORS[i % COLORS.length]}` }, `■ ${s.name}`)));
  box.replaceChildren(svg, legend);
}

// ---- one held-out task before and after training --------------------------------------------
async function loadBeforeAfter() {
  const query = state.baTask ? `?task=${encodeURIComponent(state.baTask)}` : "";
  const run = state.run;
  const ba = await api(`${runBase()}/before_after${query}`);
  if (run !== state.run) return;  // the run was switched while this was loading
  const box = $("#before-after-box");
  state.baReady = ba.available;
  box.hidden = !ba.available;
  if (!ba.available) return;
  const mark = (ok) => (ok === null ? "?" : ok ? "✓" : "✗");
  const select = $("#ba-task");
  select.replaceChildren(...ba.tasks.map((t) => el("option", { value: t.task_id }, `${t.task_id}  ${mark(t.before)} → ${mark(t.after)}`)));
  select.value = ba.task_id;
  select.onchange = () => { state.baTask = select.value; loadBeforeAfter(); };
  const column = (side, title) => {
    const e = side.episode;
    return el("div", { class: "ba-col", "data-eval-step": side.step },
      el("h3", {}, `${title}: eval step ${side.step}`),
      el("div", { class: "kv" }, `reward ${fmt(e.reward)} · ${e.is_success ? "success" : "failed"} · ${e.calls.length} calls`),
      ...renderCalls(e.calls, {}, `ba-${side.step}-call-`));
  };
  $("#before-after").replaceChildren(column(ba.before, "before"), column(ba.after, "after"));
}

// ---- wiring ----------------------------------------------------------------------------------
function wire() {
  $("#filter").onchange = (e) => { state.filter = e.target.value; state.offset = 0; loadEpisodes(); };
  $("#sort").onchange = (e) => { state.sort = e.target.value; state.offset = 0; loadEpisodes(); };
  let timer;
  $("#task-search").oninput = (e) => { clearTimeout(timer); timer = setTimeout(() => { state.task = e.target.value.trim(); state.offset = 0; loadEpisodes(); }, 250); };
  $("#prev").onclick = () => { state.offset = Math.max(0, state.offset - PAGE); loadEpisodes(); };
  $("#next").onclick = () => { state.offset += PAGE; loadEpisodes(); };
}

async function start() {
  wire();
  await loadRuns();
  await Promise.all([loadSteps(), loadMetrics(), loadBeforeAfter()]);
  setInterval(() => {
    loadSteps().catch(console.error); loadMetrics().catch(console.error);
    if (!state.baReady) loadBeforeAfter().catch(console.error);  // a training run's last eval arrives late
  }, POLL_MS);
}
start().catch((err) => { document.body.prepend(el("div", { class: "error-box" }, `viewer error: ${err.message}`)); });
