// hnswtune dashboard: plain browser JS, no build step, no framework.
//
// The page talks to the JSON API described in the server's http spec. Every url is RELATIVE
// ("indexes", not "/indexes") so that the router can be mounted under a prefix (/tuning/).
//
// Data flow: a few independent pollers fetch JSON into `state`; after each change the
// affected parts of the page are re-rendered from `state`. Nothing is rendered from a
// response directly, so a late response from a previous index can simply be dropped.
//
// Rule for the whole file: the page must never produce a console error in normal operation
// (the end-to-end test fails on any). So: errors are caught and shown in the banner, text
// goes into the DOM through textContent (never innerHTML), and routes that would answer 404
// (agent/* without an agent, /favicon.ico) are never requested.
"use strict";

(() => {
  // ---------------------------------------------------------------------------------------
  // Settings
  // ---------------------------------------------------------------------------------------

  // Trials are polled every `server.refresh_ms`, kept within these bounds; 1000 ms when the
  // server says nothing. The upper bound keeps "a new trial is on screen within 2 s".
  const TRIALS_POLL_DEFAULT_MS = 1000;
  const TRIALS_POLL_MIN_MS = 250;
  const TRIALS_POLL_MAX_MS = 1000;
  // Champion, promotions and pareto are fetched again whenever the trial set changed, and at
  // least this often anyway (a rollback changes the champion without any trial changing).
  const SIDE_POLL_MS = 5000;
  // The index list: quickly while the store is empty (so a new tune appears at once), slowly after.
  const INDEXES_POLL_EMPTY_MS = 1000;
  const INDEXES_POLL_MS = 5000;
  const AGENT_POLL_MS = 2000;
  const SERVER_RETRY_MS = 2000;
  const FETCH_TIMEOUT_MS = 10000;
  // A server answering `more: true` forever would otherwise keep one poll busy for good.
  const MAX_PAGES_PER_POLL = 100;
  const MAX_AGENT_EVENTS = 50;
  const MAX_BACKOFF_MS = 8000;
  const TOKEN_KEY = "hnswtune.token";

  const COLORS = {
    feasible: "#2563eb",
    feasibleFill: "rgba(37, 99, 235, 0.35)",
    infeasible: "#9ca3af",
    infeasibleFill: "rgba(156, 163, 175, 0.35)",
    front: "#ea580c",
    champion: "#dc2626",
    championFill: "#facc15",
    floor: "#dc2626",
    best: "#16a34a",
    trialDot: "rgba(37, 99, 235, 0.45)",
  };

  // ---------------------------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------------------------

  const state = {
    server: null, // GET server
    indexes: [], // GET indexes → .indexes
    index: null, // the index on screen
    wantedIndex: null, // ?index=NAME, honoured as soon as that index exists
    userPicked: false, // the user chose from the selector: stop following ?index=
    // Bumped whenever the trial set is thrown away (index switch, epoch change). Responses
    // that were requested under an older generation are ignored.
    gen: 0,
    epoch: null,
    next: 0, // `since` for the next trials request
    total: null,
    trials: new Map(), // id → trial
    trialsVersion: 0, // bumped whenever `trials` changed
    champion: null,
    promotions: [],
    front: [],
    agentStatus: null,
    agentEvents: [],
    lastUpdated: null,
    sort: { key: "num", dir: -1 }, // newest first
    errors: new Map(), // poller name → message, shown in the banner
    rollbackBusy: false,
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------------------

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const enc = encodeURIComponent;

  function fmt(v, digits) {
    return isNum(v) ? v.toFixed(digits) : "—";
  }

  /** "ef_construction=80 ef_search=54": keys sorted, so the text is stable. */
  function fmtParams(params) {
    if (!params || typeof params !== "object") return "—";
    const keys = Object.keys(params).sort();
    if (keys.length === 0) return "—";
    return keys.map((k) => `${k}=${params[k]}`).join(" ");
  }

  /** The server writes nanosecond timestamps; Date.parse is only sure about milliseconds. */
  function parseTs(ts) {
    if (typeof ts !== "string" || ts === "") return null;
    const trimmed = ts.replace(/(\.\d{3})\d+/, "$1");
    const ms = Date.parse(trimmed);
    return Number.isNaN(ms) ? null : new Date(ms);
  }

  const pad2 = (n) => String(n).padStart(2, "0");

  function fmtTime(d) {
    return d ? `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}` : "—";
  }

  function fmtDateTime(ts) {
    const d = parseTs(ts);
    if (!d) return typeof ts === "string" && ts ? ts : "—";
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${fmtTime(d)}`;
  }

  function fmtDuration(ms) {
    if (!isNum(ms)) return "—";
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    const m = Math.floor(s / 60);
    return `${m} min ${Math.round(s - m * 60)} s`;
  }

  /** Short form of a ULID: the first 10 characters are the timestamp and alike between
   *  neighbours, the end is random, so the last 8 tell trials apart. */
  function shortId(id) {
    return typeof id === "string" && id.length > 8 ? id.slice(-8) : String(id ?? "—");
  }

  /** Any JSON value as one line of text, for agent fields whose exact shape may vary. */
  function fmtAny(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "number" || typeof v === "string") return String(v);
    if (Array.isArray(v)) return v.length === 0 ? "none" : v.map(fmtAny).join(", ");
    // Common shapes first: {index: ...}, {trigger: ...}, {kind, detail}.
    if (typeof v.index === "string" && Object.keys(v).length === 1) return v.index;
    if (typeof v.trigger === "string" && Object.keys(v).length === 1) return v.trigger;
    if (typeof v.kind === "string") {
      return [v.kind, v.index, v.detail].filter((x) => typeof x === "string" && x).join(" · ");
    }
    return JSON.stringify(v);
  }

  /** Create an element with text and attributes; children may be nodes or strings. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "className") node.className = v;
        else if (k === "dataset") Object.assign(node.dataset, v);
        else node.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function storageGet(key) {
    try {
      return window.sessionStorage.getItem(key) || "";
    } catch (_) {
      return ""; // storage disabled: the token just isn't remembered
    }
  }

  function storageSet(key, value) {
    try {
      if (value) window.sessionStorage.setItem(key, value);
      else window.sessionStorage.removeItem(key);
    } catch (_) {
      /* storage disabled */
    }
  }

  // ---------------------------------------------------------------------------------------
  // HTTP
  // ---------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  /**
   * fetch + JSON with a timeout. Throws ApiError whose message is the server's `what` when
   * it sent one, so the banner and the rollback message can show it as is.
   */
  async function api(path, options = {}) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      const res = await fetch(path, {
        cache: "no-store",
        ...options,
        headers: { Accept: "application/json", ...(options.headers || {}) },
        signal: ctl.signal,
      });
      const text = await res.text();
      let body = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch (_) {
        body = null;
      }
      if (!res.ok) {
        const what = body && (body.what || body.error);
        throw new ApiError(`${what || res.statusText || "request failed"} (HTTP ${res.status})`, res.status);
      }
      if (body === null || typeof body !== "object") {
        throw new ApiError("the answer was not a JSON object", res.status);
      }
      return body;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      if (e && e.name === "AbortError") throw new ApiError(`no answer within ${FETCH_TIMEOUT_MS / 1000} s`, 0);
      throw new ApiError(`cannot reach the server (${(e && e.message) || e})`, 0);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Error banner
  // ---------------------------------------------------------------------------------------

  function setError(source, err) {
    const msg = err && err.message ? err.message : String(err);
    state.errors.set(source, msg);
    renderBanner();
  }

  function clearError(source) {
    if (state.errors.delete(source)) renderBanner();
  }

  function renderBanner() {
    renderStatusLine();
    const banner = $("error-banner");
    if (state.errors.size === 0) {
      banner.hidden = true;
      banner.replaceChildren();
      return;
    }
    const items = [...state.errors].map(([src, msg]) => el("li", null, el("b", null, src), ": ", msg));
    banner.replaceChildren(el("span", null, "Polling problem (still retrying):"), el("ul", null, ...items));
    banner.hidden = false;
  }

  // ---------------------------------------------------------------------------------------
  // Pollers
  // ---------------------------------------------------------------------------------------

  /**
   * Runs `fn` now and then again `delay()` ms after each run has FINISHED (so requests never
   * pile up behind a slow server). kick() runs it at once, or right after the current run.
   * Any error, including one thrown while rendering, goes to the banner and polling goes on,
   * backing off (doubling, up to MAX_BACKOFF_MS) while the failures last, so a stopped server
   * is not asked four times a second.
   */
  class Poller {
    constructor(name, fn, delay) {
      this.name = name;
      this.fn = fn;
      this.delay = delay;
      this.timer = null;
      this.busy = false;
      this.again = false;
      this.stopped = true;
      this.failures = 0;
    }

    start() {
      this.stopped = false;
      this.kick();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      this.timer = null;
    }

    kick() {
      if (this.stopped) return;
      if (this.busy) {
        this.again = true;
        return;
      }
      clearTimeout(this.timer);
      this.run();
    }

    async run() {
      this.busy = true;
      try {
        await this.fn();
        this.failures = 0;
        clearError(this.name);
      } catch (e) {
        this.failures++;
        setError(this.name, e);
      }
      this.busy = false;
      if (this.stopped) return;
      const base = this.delay();
      const backoff = this.failures > 0 ? Math.min(MAX_BACKOFF_MS, base * 2 ** this.failures) : base;
      const wait = this.again ? 0 : backoff;
      this.again = false;
      this.timer = setTimeout(() => this.run(), wait);
    }
  }

  function trialsPollMs() {
    const r = state.server && state.server.refresh_ms;
    if (!isNum(r)) return TRIALS_POLL_DEFAULT_MS;
    return Math.min(TRIALS_POLL_MAX_MS, Math.max(TRIALS_POLL_MIN_MS, r));
  }

  const indexesPoller = new Poller("indexes", pollIndexes, () =>
    state.indexes.length === 0 ? INDEXES_POLL_EMPTY_MS : INDEXES_POLL_MS,
  );
  const trialsPoller = new Poller("trials", pollTrials, trialsPollMs);
  const sidePoller = new Poller("champion/promotions/pareto", pollSide, () => SIDE_POLL_MS);
  const agentPoller = new Poller("agent", pollAgent, () => AGENT_POLL_MS);

  // GET server, retried until it answers: everything else needs min_recall / writable / agent.
  async function loadServer() {
    try {
      state.server = await api("server");
      clearError("server");
    } catch (e) {
      setError("server", e);
      setTimeout(loadServer, SERVER_RETRY_MS);
      return;
    }
    renderServer();
    indexesPoller.start();
    if (state.server.agent === true) {
      $("agent-panel").hidden = false;
      agentPoller.start();
    }
  }

  async function pollIndexes() {
    const body = await api("indexes");
    state.indexes = Array.isArray(body.indexes) ? body.indexes : [];
    const names = state.indexes.map((i) => i.index);

    let pick = state.index;
    if (state.wantedIndex && !state.userPicked && names.includes(state.wantedIndex)) {
      pick = state.wantedIndex;
    } else if (pick === null && names.length > 0) {
      pick = names[0];
    }
    renderIndexSelect();
    if (pick !== state.index) selectIndex(pick);
    renderEmptyState();
    renderHeader(); // `managed` and the champion fallback come from here
    renderStatusLine();
  }

  async function pollTrials() {
    const index = state.index;
    if (index === null) return;
    const gen = state.gen;
    let changed = false;

    for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
      const since = state.next;
      const body = await api(`indexes/${enc(index)}/trials?since=${since}`);
      if (gen !== state.gen) return; // the index was switched meanwhile

      if (state.epoch !== null && body.epoch !== state.epoch) {
        // The server restarted (or the store was rebuilt): ids and `next` from before mean
        // nothing now. Start again from 0; if this answer already was since=0 it is usable.
        resetTrials();
        state.epoch = body.epoch;
        changed = true;
        if (since !== 0) continue;
      }
      state.epoch = body.epoch ?? null;

      for (const t of Array.isArray(body.trials) ? body.trials : []) {
        if (!t || typeof t.id !== "string") continue;
        const old = state.trials.get(t.id);
        // Upsert by id; a trial sent again unchanged doesn't cost a re-render.
        if (!old || JSON.stringify(old) !== JSON.stringify(t)) {
          state.trials.set(t.id, t);
          changed = true;
        }
      }
      if (isNum(body.next)) state.next = body.next;
      if (isNum(body.total)) state.total = body.total;
      if (body.more !== true) break; // `more` = a page limit cut the answer: ask again at once
    }

    state.lastUpdated = new Date();
    if (changed) {
      state.trialsVersion++;
      renderTrials();
      sidePoller.kick();
    }
    renderStatusLine();
  }

  async function pollSide() {
    const index = state.index;
    if (index === null) return;
    const gen = state.gen;
    const base = `indexes/${enc(index)}`;
    const [champ, promos, pareto] = await Promise.all([
      api(`${base}/champion`),
      api(`${base}/promotions`),
      api(`${base}/pareto`),
    ]);
    if (gen !== state.gen) return;
    state.champion = champ.champion || null;
    state.promotions = Array.isArray(promos.promotions) ? promos.promotions : [];
    state.front = Array.isArray(pareto.front) ? pareto.front : [];
    renderHeader();
    renderScatter();
    renderTrialsTable(); // the champion row is marked
    renderPromotions();
  }

  async function pollAgent() {
    const [status, events] = await Promise.all([api("agent/status"), api("agent/events")]);
    state.agentStatus = status;
    state.agentEvents = Array.isArray(events.events) ? events.events : [];
    renderAgent();
  }

  function resetTrials() {
    state.gen++;
    state.epoch = null;
    state.next = 0;
    state.total = null;
    state.trials = new Map();
    state.trialsVersion++;
  }

  function selectIndex(name) {
    resetTrials();
    state.index = name;
    state.champion = null;
    state.promotions = [];
    state.front = [];
    state.lastUpdated = null;
    clearError("trials");
    clearError("champion/promotions/pareto");
    $("index-select").value = name ?? "";
    showRollbackMsg(null);
    renderEmptyState();
    renderAll();
    if (name === null) {
      trialsPoller.stop();
      sidePoller.stop();
    } else {
      trialsPoller.start();
      sidePoller.start();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Derived data
  // ---------------------------------------------------------------------------------------

  function minRecall() {
    const f = state.server && state.server.min_recall;
    return isNum(f) ? f : null;
  }

  /** Complete with usable metrics: the only trials that can be plotted. */
  function hasMetrics(t) {
    return (
      t && t.state === "complete" && t.metrics && isNum(t.metrics.recall) && isNum(t.metrics.search_p50_us)
    );
  }

  function isFeasible(t) {
    const floor = minRecall();
    return hasMetrics(t) && (floor === null || t.metrics.recall >= floor);
  }

  /** Trials in id order. ids are ULIDs, which sort as creation time. */
  function trialsInOrder() {
    return [...state.trials.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Seconds a trial cost, for the "best p50 vs seconds spent" chart:
   *   metrics.build_secs when build_kind is "fresh" or "extended" (an index was really
   *   built or grown for this trial), nothing for "cached" (build_secs then repeats the
   *   time of the earlier build that is being reused), plus metrics.search_secs (the
   *   measured search passes). Trials without metrics (running, failed, pruned) count 0:
   *   the API says nothing about the time they used.
   */
  function trialCostSecs(t) {
    const m = t && t.metrics;
    if (!m) return 0;
    let s = 0;
    if ((m.build_kind === "fresh" || m.build_kind === "extended") && isNum(m.build_secs)) s += m.build_secs;
    if (isNum(m.search_secs)) s += m.search_secs;
    return s;
  }

  function championTrialId() {
    return state.champion ? state.champion.trial_id : null;
  }

  // ---------------------------------------------------------------------------------------
  // Rendering: header, selector, empty state
  // ---------------------------------------------------------------------------------------

  function renderAll() {
    renderHeader();
    renderTrials();
    renderPromotions();
    renderStatusLine();
  }

  function renderServer() {
    const s = state.server;
    const writable = s.writable === true;
    $("rollback-controls").hidden = !writable;
    $("readonly-note").hidden = writable;
    const sub = [`${s.name || "hnswtune"} ${s.version || ""}`.trim()];
    if (minRecall() !== null) sub.push(`recall floor ${minRecall()}`);
    $("study-sub").dataset.server = sub.join(" · ");
    renderHeader();
    renderPromotions();
  }

  function renderIndexSelect() {
    const sel = $("index-select");
    const names = state.indexes.map((i) => i.index);
    if (state.index !== null && !names.includes(state.index)) names.push(state.index);
    const current = [...sel.options].map((o) => o.value);
    if (names.length === 0) {
      if (current.length !== 1 || current[0] !== "") sel.replaceChildren(el("option", { value: "" }, "(none)"));
      sel.disabled = true;
      return;
    }
    // Rebuild only when the list changed, so an open dropdown is not disturbed by polling.
    if (current.join("\n") !== names.join("\n")) {
      sel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    }
    sel.disabled = false;
    sel.value = state.index ?? names[0];
  }

  function renderEmptyState() {
    const empty = state.index === null;
    $("empty-state").hidden = !empty || state.server === null;
    $("main").hidden = empty;
    if (!empty) ensureCharts();
  }

  function indexSummary() {
    return state.indexes.find((i) => i.index === state.index) || null;
  }

  function renderHeader() {
    $("study-name").textContent = state.index ?? "—";

    const sub = [];
    const first = state.trials.size > 0 ? state.trials.values().next().value : null;
    if (first && first.eval_set) sub.push(`eval set ${first.eval_set}`);
    if (first && first.dataset && first.dataset.content_hash) sub.push(first.dataset.content_hash);
    const summary = indexSummary();
    if (summary && summary.managed) sub.push("managed by the agent");
    const server = $("study-sub").dataset.server;
    if (server) sub.push(server);
    $("study-sub").textContent = sub.join(" · ");

    const counts = { complete: 0, running: 0, failed: 0, pruned: 0 };
    for (const t of state.trials.values()) if (t.state in counts) counts[t.state]++;
    $("trial-count").textContent = String(state.trials.size);
    $("count-complete").textContent = String(counts.complete);
    $("count-running").textContent = String(counts.running);
    $("count-failed").textContent = String(counts.failed);
    $("count-pruned").textContent = String(counts.pruned);
    $("count-pruned-wrap").hidden = counts.pruned === 0;

    // The champion route is the source; the index summary fills in until it has answered.
    const champ = state.champion || (summary && summary.champion) || null;
    const box = $("champion");
    if (!champ) {
      box.textContent = state.index === null ? "" : "no champion yet";
      box.classList.add("none");
      return;
    }
    box.classList.remove("none");
    const m = champ.metrics || {};
    box.replaceChildren(
      el("span", { className: "label" }, `champion r${champ.revision ?? "?"}`),
      " ",
      el("b", null, fmtParams(champ.params)),
      ` · p50 ${fmt(m.search_p50_us, 1)} µs · recall ${fmt(m.recall, 4)}`,
    );
  }

  function renderStatusLine() {
    const parts = [];
    if (state.lastUpdated) parts.push(`updated ${fmtTime(state.lastUpdated)}`);
    else if (state.index !== null) parts.push("loading…");
    else if (state.server) parts.push("waiting for an index");
    else parts.push("connecting…");
    if (state.errors.size > 0) parts.push("some polls failing, retrying");
    else if (state.index !== null) parts.push(`polling every ${(trialsPollMs() / 1000).toFixed(2).replace(/\.?0+$/, "")} s`);
    $("status-line").textContent = parts.join(" · ");
  }

  // ---------------------------------------------------------------------------------------
  // Charts (uPlot)
  // ---------------------------------------------------------------------------------------

  const charts = { scatter: null, byTrial: null, bySecs: null };
  // For the scatter's hover line: the trial (or champion) behind each x index.
  let scatterPoints = [];

  const SCATTER_HEIGHT = 360;
  // Tick steps for the trial-number axis: whole trials only (uPlot would offer 0.25).
  const TRIAL_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];
  const PROGRESS_HEIGHT = 170;

  function chartWidth(container) {
    return Math.max(240, Math.floor(container.clientWidth));
  }

  /** Scatter series in uPlot's default mode: no line (paths returns null), always points. */
  function dots(label, stroke, fill, size) {
    return { label, stroke, fill, paths: () => null, points: { show: true, size, stroke, fill, width: 1 } };
  }

  /** x range with a little margin; also sane for 0 or 1 point. */
  function padRange(min, max, fallback) {
    if (!isNum(min) || !isNum(max)) return fallback;
    const span = max - min;
    const pad = span > 0 ? span * 0.06 : Math.abs(max) * 0.1 || 1;
    return [min - pad, max + pad];
  }

  function ensureCharts() {
    if (charts.scatter || typeof uPlot === "undefined") return;
    const scEl = $("scatter-chart");
    if (scEl.clientWidth === 0) return; // not laid out yet; the next render tries again

    // Panel A. uPlot's default mode (1) needs one shared, sorted x array, so every plotted
    // trial gets its own x slot (its p50) and each series holds y only where it applies, null
    // elsewhere. This is simpler to keep robust than mode 2 and gives a usable cursor index.
    charts.scatter = new uPlot(
      {
        width: chartWidth(scEl),
        height: SCATTER_HEIGHT,
        legend: { live: false },
        cursor: { points: { show: false }, drag: { x: false, y: false } },
        scales: {
          x: {
            time: false,
            range: (u, min, max) => {
              const r = padRange(min, max, [0, 100]);
              return [Math.max(0, r[0]), r[1]];
            },
          },
          y: {
            range: (u, min, max) => {
              // Keep the floor line in view even when every point is above or below it.
              const f = minRecall();
              const lo = isNum(min) ? (f === null ? min : Math.min(min, f)) : f ?? 0.9;
              const hi = isNum(max) ? (f === null ? max : Math.max(max, f)) : Math.min(1, (f ?? 0.9) + 0.05);
              return padRange(lo, hi, [0.9, 1]);
            },
          },
        },
        axes: [
          { label: "search p50 (µs)", size: 40 },
          { label: "recall", size: 64, values: (u, vals) => vals.map((v) => v.toFixed(3)) },
        ],
        series: [
          { label: "p50 µs" },
          dots("infeasible", COLORS.infeasible, COLORS.infeasibleFill, 7),
          dots("feasible", COLORS.feasible, COLORS.feasibleFill, 7),
          {
            label: "Pareto front",
            stroke: COLORS.front,
            width: 2,
            spanGaps: true, // front points are far apart in the shared x array
            // Step after each point: the best recall reachable at a p50 up to x.
            paths: uPlot.paths.stepped({ align: 1 }),
            points: { show: true, size: 5, stroke: COLORS.front, fill: COLORS.front },
          },
          {
            label: "champion",
            stroke: COLORS.champion,
            fill: COLORS.championFill,
            paths: () => null,
            points: { show: true, size: 15, stroke: COLORS.champion, fill: COLORS.championFill, width: 2.5 },
          },
        ],
        hooks: {
          draw: [drawFloor],
          setCursor: [showScatterHover],
        },
      },
      [[], [], [], [], []],
      scEl,
    );

    const progressOpts = (xLabel, xFmt, xIncrs) => ({
      width: chartWidth($("progress-trials-chart")),
      height: PROGRESS_HEIGHT,
      cursor: { drag: { x: false, y: false } },
      // Both axes start at 0: the x axis is an amount spent, and on the y axis the best-so-far
      // line would otherwise be squeezed against the bottom by the slower single trials.
      scales: {
        x: { time: false, range: (u, min, max) => [0, isNum(max) && max > 0 ? max * 1.03 : 10] },
        y: { range: (u, min, max) => [0, isNum(max) && max > 0 ? max * 1.08 : 100] },
      },
      axes: [{ label: xLabel, size: 36, incrs: xIncrs }, { label: "p50 µs", size: 56, space: 20 }],
      series: [
        { label: xLabel, value: (u, v) => (isNum(v) ? xFmt(v) : "—") },
        {
          label: "best feasible p50",
          stroke: COLORS.best,
          width: 2,
          paths: uPlot.paths.stepped({ align: 1 }),
          points: { show: false },
          value: (u, v) => (isNum(v) ? `${v.toFixed(1)} µs` : "—"),
        },
        {
          ...dots("feasible trial p50", COLORS.trialDot, COLORS.trialDot, 5),
          value: (u, v) => (isNum(v) ? `${v.toFixed(1)} µs` : "—"),
        },
      ],
    });
    charts.byTrial = new uPlot(progressOpts("trial #", (v) => String(v), TRIAL_INCRS), [[], [], []], $("progress-trials-chart"));
    charts.bySecs = new uPlot(
      progressOpts("seconds spent", (v) => `${v.toFixed(1)} s`),
      [[], [], []],
      $("progress-secs-chart"),
    );

    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(resizeCharts, 150);
    });
    renderCharts();
  }

  function resizeCharts() {
    if (!charts.scatter) return;
    charts.scatter.setSize({ width: chartWidth($("scatter-chart")), height: SCATTER_HEIGHT });
    charts.byTrial.setSize({ width: chartWidth($("progress-trials-chart")), height: PROGRESS_HEIGHT });
    charts.bySecs.setSize({ width: chartWidth($("progress-secs-chart")), height: PROGRESS_HEIGHT });
  }

  /** Dashed horizontal line at the recall floor, across the whole plot area. */
  function drawFloor(u) {
    const f = minRecall();
    if (f === null) return;
    const y = Math.round(u.valToPos(f, "y", true));
    const { left, top, width, height } = u.bbox;
    if (y < top || y > top + height) return;
    const ctx = u.ctx;
    const px = uPlot.pxRatio || 1;
    ctx.save();
    ctx.strokeStyle = COLORS.floor;
    ctx.lineWidth = 1.5 * px;
    ctx.setLineDash([6 * px, 4 * px]);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = COLORS.floor;
    ctx.font = `${11 * px}px system-ui, sans-serif`;
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    ctx.fillText(`recall floor ${f}`, left + width - 4 * px, y - 3 * px);
    ctx.restore();
  }

  function showScatterHover(u) {
    const box = $("scatter-hover");
    const idx = u.cursor.idx;
    const p = idx === null || idx === undefined ? null : scatterPoints[idx];
    if (!p) {
      box.textContent = "Hover a point to see its trial.";
      return;
    }
    const tags = [];
    if (p.champion) tags.push("champion");
    if (p.front) tags.push("Pareto front");
    if (!p.feasible) tags.push("below the floor");
    box.textContent =
      `${p.num ? `#${p.num} ` : ""}${shortId(p.id)} · ${fmtParams(p.params)} · ` +
      `recall ${fmt(p.recall, 4)} · p50 ${fmt(p.p50, 1)} µs` +
      (tags.length ? ` · ${tags.join(", ")}` : "");
  }

  function renderCharts() {
    renderScatter();
    renderProgress();
  }

  function renderScatter() {
    if (!charts.scatter) return;
    const floor = minRecall();
    const ordered = trialsInOrder();
    const numById = new Map(ordered.map((t, i) => [t.id, i + 1]));

    // One point per trial id: complete trials, plus front / champion entries that may not be
    // in the trial list (yet). Champion and front only mark an existing point when they can.
    const byId = new Map();
    const add = (id, params, metrics) => {
      if (byId.has(id) || !metrics || !isNum(metrics.recall) || !isNum(metrics.search_p50_us)) return;
      byId.set(id, {
        id,
        num: numById.get(id) || null,
        params,
        recall: metrics.recall,
        p50: metrics.search_p50_us,
        feasible: floor === null || metrics.recall >= floor,
        front: false,
        champion: false,
      });
    };
    for (const t of ordered) if (hasMetrics(t)) add(t.id, t.params, t.metrics);
    for (const f of state.front) {
      if (!f || typeof f.id !== "string") continue;
      add(f.id, f.params, f.metrics);
      if (byId.has(f.id)) byId.get(f.id).front = true;
    }
    const champ = state.champion;
    if (champ && typeof champ.trial_id === "string") {
      add(champ.trial_id, champ.params, champ.metrics);
      if (byId.has(champ.trial_id)) byId.get(champ.trial_id).champion = true;
    }

    scatterPoints = [...byId.values()].sort((a, b) => a.p50 - b.p50);
    const xs = scatterPoints.map((p) => p.p50);
    const only = (pred) => scatterPoints.map((p) => (pred(p) ? p.recall : null));
    charts.scatter.setData([
      xs,
      only((p) => !p.feasible),
      only((p) => p.feasible),
      only((p) => p.front),
      only((p) => p.champion),
    ]);
  }

  function renderProgress() {
    if (!charts.byTrial) return;
    const ordered = trialsInOrder();
    const nums = [];
    const secs = [];
    const best = [];
    const each = [];
    let bestSoFar = null;
    let spent = 0;
    ordered.forEach((t, i) => {
      spent += trialCostSecs(t);
      const p50 = isFeasible(t) ? t.metrics.search_p50_us : null;
      if (p50 !== null && (bestSoFar === null || p50 < bestSoFar)) bestSoFar = p50;
      nums.push(i + 1);
      secs.push(spent);
      best.push(bestSoFar);
      each.push(p50);
    });
    charts.byTrial.setData([nums, best, each]);
    charts.bySecs.setData([secs, best, each]);
  }

  // ---------------------------------------------------------------------------------------
  // Panel C: the trials table
  // ---------------------------------------------------------------------------------------

  // Sort value per column. null sorts last whatever the direction.
  const SORT_VALUE = {
    num: (r) => r.num,
    id: (r) => r.t.id,
    params: (r) => fmtParams(r.t.params),
    state: (r) => r.t.state || "",
    recall: (r) => (r.t.metrics && isNum(r.t.metrics.recall) ? r.t.metrics.recall : null),
    p50: (r) => (r.t.metrics && isNum(r.t.metrics.search_p50_us) ? r.t.metrics.search_p50_us : null),
    p95: (r) => (r.t.metrics && isNum(r.t.metrics.search_p95_us) ? r.t.metrics.search_p95_us : null),
    build: (r) => (r.t.metrics && isNum(r.t.metrics.build_secs) ? r.t.metrics.build_secs : null),
    kind: (r) => (r.t.metrics && r.t.metrics.build_kind) || null,
    worker: (r) => r.t.worker || null,
  };

  const collator = new Intl.Collator(undefined, { numeric: true }); // "ef=80" < "ef=120"

  function compareRows(a, b) {
    const { key, dir } = state.sort;
    const get = SORT_VALUE[key] || SORT_VALUE.num;
    const va = get(a);
    const vb = get(b);
    if (va === null && vb === null) return a.num - b.num;
    if (va === null) return 1;
    if (vb === null) return -1;
    const c = typeof va === "number" && typeof vb === "number" ? va - vb : collator.compare(String(va), String(vb));
    return c !== 0 ? c * dir : (a.num - b.num) * dir;
  }

  function renderTrials() {
    renderHeader();
    renderTrialsTable();
    renderCharts();
  }

  function renderTrialsTable() {
    const champId = championTrialId();
    const frontIds = new Set(state.front.map((f) => f && f.id));
    const rows = trialsInOrder().map((t, i) => ({ t, num: i + 1 }));
    rows.sort(compareRows);

    const trs = rows.map(({ t, num }) => {
      const m = t.metrics || null;
      const reason = typeof t.reason === "string" && t.reason ? t.reason : null;
      const cls = [`state-${t.state || "unknown"}`];
      if (t.id === champId) cls.push("is-champion");
      if (hasMetrics(t) && !isFeasible(t)) cls.push("infeasible");
      const stateCell = el(
        "td",
        { title: reason },
        el("span", { className: `badge ${t.state || ""}` }, t.state || "?"),
        reason ? el("span", { className: "reason" }, ` ${reason}`) : null,
      );
      const marks = [];
      if (t.id === champId) marks.push(el("span", { className: "mark champ", title: "current champion" }, "★"));
      if (frontIds.has(t.id)) marks.push(el("span", { className: "mark front", title: "on the Pareto front" }, "◆"));
      return el(
        "tr",
        { className: cls.join(" "), dataset: { trialId: t.id }, title: reason ? `${t.state}: ${reason}` : null },
        el("td", { className: "num" }, String(num), ...marks),
        el("td", { className: "mono", title: t.id }, shortId(t.id)),
        el("td", { className: "mono" }, fmtParams(t.params)),
        stateCell,
        el("td", { className: "num" }, fmt(m && m.recall, 4)),
        el("td", { className: "num" }, fmt(m && m.search_p50_us, 1)),
        el("td", { className: "num" }, fmt(m && m.search_p95_us, 1)),
        el("td", { className: "num" }, fmt(m && m.build_secs, 2)),
        el("td", null, (m && m.build_kind) || "—"),
        el("td", { className: "mono small" }, t.worker || "—"),
      );
    });
    $("trials-table").tBodies[0].replaceChildren(...trs);
    $("trials-empty").hidden = trs.length > 0;

    for (const th of $("trials-table").tHead.rows[0].cells) {
      const on = th.dataset.key === state.sort.key;
      th.classList.toggle("sorted", on);
      th.classList.toggle("asc", on && state.sort.dir === 1);
      th.classList.toggle("desc", on && state.sort.dir === -1);
      th.setAttribute("aria-sort", on ? (state.sort.dir === 1 ? "ascending" : "descending") : "none");
    }
  }

  function onSortClick(ev) {
    const th = ev.target.closest("th[data-key]");
    if (!th) return;
    const key = th.dataset.key;
    if (state.sort.key === key) state.sort.dir = -state.sort.dir;
    else state.sort = { key, dir: key === "num" ? -1 : 1 };
    renderTrialsTable();
  }

  // ---------------------------------------------------------------------------------------
  // Panel D: champion history and rollback
  // ---------------------------------------------------------------------------------------

  function renderPromotions() {
    const writable = !!(state.server && state.server.writable === true);
    const current = state.champion ? state.champion.revision : null;
    const promos = [...state.promotions].sort((a, b) => (b.revision ?? 0) - (a.revision ?? 0));

    const trs = promos.map((p) => {
      const m = p.metrics || {};
      const isCurrent = p.revision === current;
      let kind = p.kind || "—";
      if (p.kind === "rollback" && p.to_revision !== undefined && p.to_revision !== null) {
        kind = `rollback to r${p.to_revision}`;
      }
      let action = null;
      if (isCurrent) action = el("span", { className: "badge current" }, "current");
      else if (writable) {
        action = el(
          "button",
          { type: "button", className: "rollback", dataset: { revision: p.revision }, disabled: state.rollbackBusy },
          "Roll back",
        );
      }
      return el(
        "tr",
        { className: isCurrent ? "is-current" : null, dataset: { revision: p.revision } },
        el("td", { className: "num" }, `r${p.revision}`),
        el("td", { className: "mono" }, fmtParams(p.params)),
        el("td", { className: "num" }, fmt(m.search_p50_us, 1)),
        el("td", { className: "num" }, fmt(m.recall, 4)),
        el("td", { className: "mono small" }, p.promoted_by || "—"),
        el("td", { className: "nowrap" }, fmtDateTime(p.promoted_at)),
        el("td", null, p.note || ""),
        el("td", null, kind),
        el("td", null, action),
      );
    });
    $("promotions-table").tBodies[0].replaceChildren(...trs);
    $("promotions-empty").hidden = trs.length > 0;
  }

  function showRollbackMsg(text, isError) {
    const box = $("rollback-msg");
    if (!text) {
      box.hidden = true;
      box.textContent = "";
      return;
    }
    box.textContent = text;
    box.classList.toggle("error", !!isError);
    box.hidden = false;
  }

  async function onRollbackClick(ev) {
    const btn = ev.target.closest("button.rollback");
    if (!btn || state.rollbackBusy) return;
    const revision = Number(btn.dataset.revision);
    const index = state.index;
    const token = $("token-input").value.trim();
    if (!token) {
      showRollbackMsg("Type the bearer token first (the one in the server's --token-file).", true);
      $("token-input").focus();
      return;
    }
    const note = $("rollback-note").value.trim();
    const body = { revision };
    if (note) body.note = note;

    state.rollbackBusy = true;
    renderPromotions();
    showRollbackMsg(`Rolling back ${index} to r${revision}…`);
    try {
      const res = await api(`indexes/${enc(index)}/rollback`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      const p = res.promotion || {};
      showRollbackMsg(`Rolled back to r${revision}: new champion revision r${p.revision ?? "?"} (${fmtParams(p.params)}).`);
      $("rollback-note").value = "";
    } catch (e) {
      showRollbackMsg(`Rollback failed: ${e.message}`, true);
    } finally {
      state.rollbackBusy = false;
      renderPromotions();
      sidePoller.kick();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Panel E: the agent
  // ---------------------------------------------------------------------------------------

  function renderAgent() {
    const s = state.agentStatus || {};
    const rows = [];
    const add = (k, v, cls) => rows.push(el("dt", null, k), el("dd", { className: cls || null }, v));

    add("running", s.running ? (s.stopping ? "stopping" : "yes") : "no", s.running ? "ok" : "bad");
    add("queue", `${fmtAny(s.queue_depth ?? 0)}${Array.isArray(s.pending) && s.pending.length ? ` (${fmtAny(s.pending)})` : ""}`);
    const ct = s.current_trial;
    if (ct) {
      add(
        "current trial",
        [ct.index, shortId(ct.trial), fmtParams(ct.params), fmtAny(ct.trigger), fmtDuration(ct.elapsed_ms)]
          .filter((x) => x && x !== "—")
          .join(" · "),
      );
    } else add("current trial", "none");
    add("trials run", `${fmtAny(s.trials_run ?? 0)} (${fmtAny(s.trials_in_last_hour ?? 0)} in the last hour)`);
    add("promotions", fmtAny(s.promotions ?? 0));
    add("converged", fmtAny(s.converged ?? []));
    if (Array.isArray(s.regressed) && s.regressed.length) add("regressed", fmtAny(s.regressed), "bad");
    const le = s.last_error;
    if (le) add("last error", `${fmtDateTime(le.at)} · ${le.index || "—"} · ${le.message || ""}`, "bad");
    else add("last error", "none");
    if (s.last_event) add("last event", fmtAny(s.last_event));
    if (s.started_at) add("started", fmtDateTime(s.started_at));
    $("agent-status").replaceChildren(...rows);

    const events = [...state.agentEvents]
      .sort((a, b) => ((parseTs(b.at) || 0) - (parseTs(a.at) || 0)))
      .slice(0, MAX_AGENT_EVENTS);
    const trs = events.map((e) =>
      el(
        "tr",
        { className: e.index === state.index ? "this-index" : null },
        el("td", { className: "nowrap" }, fmtDateTime(e.at)),
        el("td", null, e.kind || "—"),
        el("td", null, e.index || "—"),
        el("td", { className: "mono", title: e.trial || null }, e.trial ? shortId(e.trial) : "—"),
        el("td", null, e.detail || ""),
      ),
    );
    $("agent-events").tBodies[0].replaceChildren(...trs);
    $("agent-events-empty").hidden = trs.length > 0;
  }

  // ---------------------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------------------

  function init() {
    const params = new URLSearchParams(window.location.search);
    state.wantedIndex = params.get("index") || null;

    $("trials-table").tHead.addEventListener("click", onSortClick);
    $("rollback-controls").addEventListener("submit", (ev) => ev.preventDefault()); // Enter in a field
    $("promotions-table").tBodies[0].addEventListener("click", onRollbackClick);

    const tokenInput = $("token-input");
    tokenInput.value = storageGet(TOKEN_KEY);
    tokenInput.addEventListener("input", () => storageSet(TOKEN_KEY, tokenInput.value.trim()));

    $("index-select").addEventListener("change", (ev) => {
      const name = ev.target.value || null;
      state.userPicked = true;
      state.wantedIndex = name;
      // Keep ?index= in the address bar so a reload shows the same index.
      const url = new URL(window.location.href);
      if (name) url.searchParams.set("index", name);
      else url.searchParams.delete("index");
      window.history.replaceState(null, "", url);
      if (name !== state.index) selectIndex(name);
    });

    if (typeof uPlot === "undefined") {
      setError("charts", new Error("assets/uplot.iife.min.js did not load; charts are off"));
    }
    renderAll();
    loadServer();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
