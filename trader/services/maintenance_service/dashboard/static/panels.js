"use strict";
// The system panels: at a glance, trading state, risk gauges, equity, streams, health, data,
// models, LLM usage, jobs and rate limits. Each panel names the same-origin sources it reads; a
// renderer gets their answers by key (an optional source that does not exist arrives as
// {available: false}) and builds its body with the widgets, never with raw JSON.

(function (global) {
  const W = global.Widgets;
  const F = global.Format;
  const S = "/api/dashboard/service/";

  function unavailable(data) {
    return !data || data.available === false;
  }

  function figure(label, node, attributes) {
    const box = W.element("div", null, Object.assign({ class: "figure" }, attributes || {}));
    box.append(W.element("span", label, { class: "figure-label" }), node);
    return box;
  }

  function big(kind, value, extra) {
    const node = W.show(kind, value, extra);
    node.classList.add("figure-value");
    return node;
  }

  function glance(body, data) {
    const metrics = data.metrics || {};
    const account = data.account || {};
    const currency = account.currency || "USD";
    const row = W.element("div", null, { class: "figures" });
    const day = big("signedMoney", metrics.daily_pnl, currency);
    const dayBox = figure("Today's P&L", day, { "data-figure": "daily-pnl" });
    dayBox.appendChild(W.element("span", F.signedPercent(metrics.daily_return_pct), { class: "figure-note" }));
    row.append(
      dayBox,
      figure("Equity", big("money", account.equity || metrics.equity, currency), { "data-figure": "equity" }),
      figure("Cash", big("money", account.cash || metrics.cash, currency), { "data-figure": "cash" }),
      figure("Buying power", big("money", account.buying_power || metrics.buying_power, currency)),
      figure("Open positions", big("count", metrics.open_positions)),
      figure("Trades today", big("count", metrics.trades_today)),
      figure("Market", W.badge(metrics.market_session || "unknown")),
    );
    body.appendChild(row);
  }

  function tradingState(body, data, context) {
    const current = data.state || {};
    const state = current.trading_state || "unknown";
    const badge = document.getElementById("trading-badge");
    badge.textContent = "trading " + state;
    badge.dataset.state = state;
    const line = W.element("div", null, { class: "state-line" });
    line.appendChild(W.element("span", state.toUpperCase(), { class: "badge state-big", "data-state": state, id: "trading-state-value" }));
    line.appendChild(W.element("span", current.reason || "no change recorded", { class: "state-reason" }));
    body.appendChild(line);
    const mode = current.maintenance_mode || {};
    body.appendChild(W.keyValues([
      ["since", "time", current.since],
      ["changed by", "text", current.changed_by],
      ["maintenance mode", "text", mode.enabled ? "on: " + (mode.reason || "") : "off"],
    ]));
    const buttons = W.element("div", null, { class: "actions" });
    buttons.appendChild(W.button("Emergency shutdown…", { class: "danger", id: "emergency-open" }, () => context.emergencyShutdown()));
    if (state === "halted" || state === "reducing") {
      buttons.appendChild(W.button("Resume trading…", { id: "resume-open" }, () => context.resumeTrading(state)));
    }
    body.appendChild(buttons);
    const history = (data.history || {}).history || [];
    body.appendChild(W.element("h3", "History"));
    body.appendChild(W.table([
      { label: "when", kind: "time", key: "changed_at" },
      { label: "change", kind: "text", value: (row) => (row.previous_state || "—") + " → " + row.state },
      { label: "reason", kind: "text", key: "reason" },
      { label: "by", kind: "text", key: "changed_by" },
    ], history, { emptyText: "No change recorded: trading has been active since the start.", maxRows: 10 }));
  }

  function risk(body, data) {
    const metrics = data.metrics || {};
    const limits = (data.limits || {}).limits || metrics.limits || {};
    const concentration = metrics.concentration || {};
    const varFigure = metrics.var_95 || {};
    const dailyLoss = Number(metrics.daily_return_pct) < 0 ? -Number(metrics.daily_return_pct) : 0;
    const gauges = W.element("div", null, { class: "gauges" });
    gauges.append(
      W.gauge("gross exposure", metrics.gross_exposure_pct, limits.max_gross_exposure_pct),
      W.gauge("largest position", concentration.largest_position_pct, limits.max_position_pct),
      W.gauge("drawdown", metrics.drawdown_pct, limits.max_drawdown_pct),
      W.gauge("daily loss", metrics.daily_return_pct === undefined ? null : dailyLoss, limits.daily_loss_limit_pct),
      W.gauge("VaR 95 (1 day)", varFigure.pct_of_equity, null),
      W.gauge("open positions", metrics.open_positions, limits.max_open_positions, "count"),
      W.gauge("trades today", metrics.trades_today, limits.max_trades_per_day, "count"),
    );
    body.appendChild(gauges);
    body.appendChild(W.keyValues([
      ["equity (risk's reading)", "money", metrics.equity],
      ["peak equity", "money", metrics.peak_equity],
      ["VaR 95 amount", "money", varFigure.amount],
      ["VaR method", "text", varFigure.method ? varFigure.method + " (" + F.count(varFigure.observations) + " observations)" : null],
      ["limits version", "count", limits.version || (data.limits || {}).version],
      ["as of", "time", metrics.as_of],
    ]));
    const sectors = Object.entries(concentration.sectors || {}).map(([name, share]) => ({ name: name, share: share }));
    if (sectors.length) {
      body.appendChild(W.element("h3", "Sectors"));
      body.appendChild(W.table([
        { label: "sector", kind: "text", key: "name" },
        { label: "share of equity", kind: "percent", key: "share" },
      ], sectors));
    }
  }

  function equity(body, data) {
    const curve = data.equity || {};
    const limits = (data.limits || {}).limits || {};
    const points = curve.points || [];
    if (points.length) {
      const figures = W.element("div", null, { class: "figures" });
      figures.append(
        figure("latest equity", big("money", curve.latest_equity)),
        figure("max drawdown", big("percent", curve.max_drawdown)),
        figure("snapshots", big("count", points.length)),
      );
      body.appendChild(figures);
    }
    // The chart's holder sits outside the panel body, so a refresh updates the chart in place.
    global.TraderCharts.equity(document.getElementById("equity-chart"), points, limits);
  }

  // A stream's own state when it reports one; a polled source's from its circuit and last answer.
  function streamState(row) {
    if (row.state || row.status) return row.state || row.status;
    if (!row.circuit) return row.kind === "data" ? "replaying" : null;
    if (row.circuit.state === "open" || (row.last_error && !row.active)) return "failing";
    return row.active ? "active" : "standby";
  }

  // Streams: what each source, the collector and the executor report about their streams.
  function streams(body, data) {
    const sources = data.sources || {};
    const rows = (sources.providers || []).map((provider) => Object.assign({ kind: "data" }, provider));
    for (const [owner, health] of [["data collector", data.collector], ["trade executor", data.executor]]) {
      const reported = (health || {}).streams;
      if (reported && typeof reported === "object") {
        const list = Array.isArray(reported) ? reported : Object.entries(reported).map(([name, value]) => Object.assign({ name: name }, value));
        for (const stream of list) rows.push(Object.assign({ kind: owner }, stream));
      }
    }
    body.appendChild(W.table([
      { label: "stream", kind: "text", value: (row) => row.name + (row.role ? " (" + row.role + ")" : "") },
      { label: "owner", kind: "text", key: "kind" },
      { label: "state", kind: "badge", value: streamState },
      { label: "last message", kind: "time", value: (row) => row.last_message_at || row.last_success_at || null },
      { label: "last bar age", kind: "node", value: (row) => W.nested(row.last_bar_age_seconds || row.last_bar_age || null) },
      { label: "rejected", kind: "node", value: (row) => W.nested(row.rejected_by_reason || null) },
    ], rows, { emptyText: "No stream reported yet." }));
    const broker = data.broker || {};
    body.appendChild(W.keyValues([
      ["active data source", "text", sources.active_provider],
      ["last bars stored", "time", sources.last_ingest_at],
      ["bars stored / rejected", "text", sources.totals ? F.count(sources.totals.stored) + " / " + F.count(sources.totals.rejected) : null],
      ["broker", "node", W.badge(broker.connected ? "connected" : broker.connected === false ? "disconnected" : "unknown")],
      ["broker latency", "ms", broker.latency_ms],
      ["market open", "text", broker.market_open === undefined ? null : broker.market_open ? "yes" : "no"],
      ["next open", "time", broker.next_open],
      ["broker's last error", "text", broker.last_error],
    ]));
  }

  function health(body, data) {
    const status = data.status || {};
    const overall = document.getElementById("overall");
    overall.textContent = "system " + status.status;
    overall.dataset.state = status.status;
    const rows = Object.entries(status.services || {}).map(([name, info]) => ({
      service: name, status: info.status, ms: info.response_time_ms, detail: info.error || (info.failing || []).join(", "),
    }));
    const database = status.database || {};
    const redis = status.redis || {};
    rows.push({ service: "database (" + (database.backend || "?") + ")", status: database.status, ms: database.response_time_ms, detail: database.error || "" });
    rows.push({ service: "redis", status: redis.status, ms: redis.response_time_ms, detail: redis.error || redis.detail || "" });
    body.appendChild(W.table([
      { label: "service", kind: "text", value: (row) => row.service },
      { label: "status", kind: "badge", key: "status" },
      { label: "response", kind: "ms", key: "ms" },
      { label: "detail", kind: "text", key: "detail" },
    ], rows, { rowKey: (row) => row.service }));
    body.querySelectorAll("tbody tr").forEach((line) => { line.dataset.service = line.dataset.key; });
    body.appendChild(W.element("p", "checked " + F.marketTime(status.checked_at).text + " · " + (status.environment || ""), { class: "muted" }));
  }

  function freshness(body, data) {
    const status = data.status || {};
    body.appendChild(W.table([
      { label: "symbol", kind: "text", key: "symbol" },
      { label: "tf", kind: "text", key: "timeframe" },
      { label: "latest bar", kind: "time", key: "latest_bar_at" },
      { label: "age", kind: "age", key: "age_seconds" },
      { label: "bars", kind: "count", key: "bar_count" },
      { label: "missing", kind: "count", value: (row) => (row.gaps || {}).missing_bars },
    ], status.series || [], { emptyText: "No bars stored yet." }));
  }

  function models(body, data) {
    if (unavailable(data.models)) {
      body.appendChild(W.empty("Not available: this system has no model registry endpoint yet."));
      return;
    }
    const list = Array.isArray(data.models) ? data.models : data.models.models || [];
    if (list.length === 0) {
      body.appendChild(W.empty("No model trained yet."));
      return;
    }
    const cards = W.element("div", null, { class: "cards" });
    for (const model of list.slice(0, 12)) {
      const card = W.element("div", null, { class: "card", "data-model": model.name });
      const title = W.element("h3", model.name + " v" + model.version + " ");
      title.appendChild(W.badge(model.status || "unknown"));
      card.appendChild(title);
      card.appendChild(W.keyValues([
        ["trained on", "text", F.marketTime(model.training_start).text + " → " + F.marketTime(model.training_end).text],
        ["features", "count", (model.features || []).length],
        ["promoted", "time", model.promoted_at],
      ]));
      card.appendChild(W.nested(model.metrics || {}));
      cards.appendChild(card);
    }
    body.appendChild(cards);
  }

  function llmUsage(body, data) {
    if (unavailable(data.usage)) {
      body.appendChild(W.empty("Not available: this system reports no LLM usage yet."));
      return;
    }
    // The roster of models is worth showing even before the first call: it says what would be asked.
    if (((data.usage.totals || {}).calls || 0) === 0) {
      body.appendChild(W.empty("No LLM call today."));
    }
    body.appendChild(W.nested(data.usage));
  }

  function jobRuns(body, data) {
    body.appendChild(W.table([
      { label: "job", kind: "text", key: "job_name" },
      { label: "status", kind: "badge", key: "status" },
      { label: "started", kind: "time", key: "started_at" },
      { label: "took", kind: "ms", key: "duration_ms" },
      { label: "error", kind: "text", key: "error_message" },
    ], (data.runs || {}).job_runs || [], { maxRows: 15 }));
  }

  function jobs(body, data) {
    body.appendChild(W.table([
      { label: "job", kind: "text", key: "name" },
      { label: "cadence", kind: "text", key: "cadence" },
      { label: "next run", kind: "time", key: "next_run_at" },
      { label: "last", kind: "badge", value: (row) => (row.last_run || {}).status || (row.paused ? "paused" : null) },
    ], (data.jobs || {}).jobs || []));
  }

  function rateLimits(body, data) {
    const limits = data.limits || {};
    const rules = Object.entries(limits.rules || {}).map(([name, rule]) => Object.assign({ name: name }, rule));
    body.appendChild(W.table([
      { label: "rule", kind: "text", key: "name" },
      { label: "limit / min", kind: "count", key: "limit" },
      { label: "busiest client", kind: "text", value: (row) => ((row.top_clients || [])[0] || {}).client || "none" },
      { label: "used", kind: "percent", value: (row) => { const top = (row.top_clients || [])[0]; return top ? top.utilisation_pct / 100 : 0; } },
    ], rules));
    body.appendChild(W.element("p", (limits.backend || "") + " · " + (limits.scope || ""), { class: "muted" }));
  }

  global.SystemPanels = {
    glance: { sources: { metrics: S + "risk-metrics", account: S + "account" }, render: glance },
    "trading-state": { sources: { state: S + "trading-state", history: S + "risk-state-history" }, render: tradingState },
    risk: { sources: { metrics: S + "risk-metrics", limits: S + "risk-limits" }, render: risk },
    equity: { sources: { equity: "/api/dashboard/equity", limits: S + "risk-limits" }, render: equity },
    streams: {
      sources: { sources: S + "data-sources", collector: S + "collector-health", executor: S + "executor-health", broker: S + "broker" },
      render: streams,
    },
    status: { sources: { status: S + "status" }, render: health },
    "data-status": { sources: { status: S + "data-status" }, render: freshness },
    models: { sources: { models: S + "models" }, render: models },
    "llm-usage": { sources: { usage: S + "llm-usage" }, render: llmUsage },
    "job-runs": { sources: { runs: "/api/dashboard/job-runs" }, render: jobRuns },
    jobs: { sources: { jobs: S + "jobs" }, render: jobs },
    "rate-limits": { sources: { limits: S + "rate-limits" }, render: rateLimits },
  };
})(window);
