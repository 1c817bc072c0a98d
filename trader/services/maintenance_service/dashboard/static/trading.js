"use strict";
// The trading panels: the price chart, positions (close), open orders with their legs (cancel),
// strategies (pause/resume), denials grouped by reason, fills and signals.

(function (global) {
  const W = global.Widgets;
  const F = global.Format;
  const S = "/api/dashboard/service/";
  const OPEN = new Set(["pending", "submitted", "accepted", "held", "partially_filled", "done_for_day",
    "pending_cancel", "pending_replace", "suspended"]);
  const TIMEFRAMES = ["1min", "5min", "15min", "30min", "1h", "1day"];
  const params = new URLSearchParams(global.location.search);
  const chosen = { symbol: (params.get("symbol") || "").toUpperCase(), timeframe: params.get("timeframe") || "",
    bars: params.get("bars") || "" };
  let refreshChart = null;

  function chartSources() {
    const sources = { symbols: S + "data-status" };
    if (chosen.symbol) {
      const query = new URLSearchParams({ symbol: chosen.symbol, timeframe: chosen.timeframe || "1day" });
      if (chosen.bars) query.set("limit", chosen.bars);
      sources.chart = "/api/dashboard/chart?" + query.toString();
    }
    return sources;
  }

  function setUpChartControls(refresh) {
    refreshChart = () => refresh("chart");
    const form = document.getElementById("chart-controls");
    const timeframe = document.getElementById("chart-timeframe");
    for (const value of TIMEFRAMES) timeframe.appendChild(W.element("option", value, { value: value }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      chosen.symbol = document.getElementById("chart-symbol").value.trim().toUpperCase();
      chosen.timeframe = timeframe.value;
      global.TraderCharts.destroy(document.getElementById("price-chart"));
      refresh("chart");
    });
  }

  function offerSymbols(status) {
    const series = (status || {}).series || [];
    const list = document.getElementById("chart-symbols");
    const symbols = Array.from(new Set(series.map((row) => row.symbol))).sort();
    if (list.childElementCount !== symbols.length) list.replaceChildren(...symbols.map((symbol) => W.element("option", null, { value: symbol })));
    if (!chosen.symbol && symbols.length) {
      chosen.symbol = symbols[0];
      // The symbols arrived with this refresh: draw the first one now rather than at the next.
      global.setTimeout(refreshChart, 0);
    }
    if (!chosen.timeframe) chosen.timeframe = (status || {}).base_timeframe || "1day";
    const input = document.getElementById("chart-symbol");
    if (document.activeElement !== input) input.value = chosen.symbol;
    document.getElementById("chart-timeframe").value = chosen.timeframe;
    return symbols.length > 0;
  }

  function chart(body, data, context, failures) {
    const holder = document.getElementById("price-chart");
    const haveSymbols = offerSymbols(data.symbols);
    if (failures.chart) {
      // Bad input (an unknown symbol or timeframe) is a message beside the chart, not an error page.
      global.TraderCharts.destroy(holder);
      holder.replaceChildren(W.element("p", "Cannot draw " + chosen.symbol + " " + chosen.timeframe + ": " + failures.chart.detail,
        { class: "chart-message", role: "status" }));
      holder.dataset.chart = "refused";
      return true;
    }
    if (!data.chart) {
      global.TraderCharts.destroy(holder);
      holder.replaceChildren(W.element("p", haveSymbols ? "Choose a symbol." : "No bars stored yet.", { class: "chart-message" }));
      holder.dataset.chart = "empty";
      return false;
    }
    const payload = data.chart;
    global.TraderCharts.candles(holder, payload);
    holder.dataset.symbol = payload.symbol;
    holder.dataset.timeframe = payload.timeframe;
    const facts = [payload.symbol + " · " + payload.timeframe + " · " + F.count(payload.bars.length) + " bars"];
    if (payload.strategy) facts.push("strategy " + payload.strategy + " (" + payload.strategy_type + ")");
    if (payload.overlays.length) facts.push("lines: " + payload.overlays.map((line) => line.name).join(", "));
    if (payload.note) facts.push(payload.note);
    body.appendChild(W.element("p", facts.join(" · "), { class: "muted" }));
    const events = payload.markers.filter((marker) => marker.kind !== "signal").slice().reverse();
    body.appendChild(W.table([
      { label: "when", kind: "time", key: "at" },
      { label: "what", kind: "text", key: "kind" },
      { label: "detail", kind: "text", key: "label" },
      { label: "order", kind: "id", key: "reference" },
    ], events, { emptyText: "No order or fill on these bars.", maxRows: 12, className: "chart-events" }));
    if (payload.levels.length) {
      body.appendChild(W.table([
        { label: "level", kind: "text", key: "label" },
        { label: "price", kind: "price", key: "price" },
      ], payload.levels));
    }
    return false;
  }

  function positions(body, data, context) {
    const list = Array.isArray(data.positions) ? data.positions : [];
    body.appendChild(W.table([
      { label: "symbol", kind: "text", key: "symbol" },
      { label: "qty", kind: "quantity", key: "quantity" },
      { label: "avg cost", kind: "price", key: "average_cost" },
      { label: "price", kind: "price", key: "market_price" },
      { label: "value", kind: "money", key: "market_value" },
      { label: "unrealised", kind: "signedMoney", key: "unrealized_pnl" },
      { label: "realised", kind: "signedMoney", key: "realized_pnl" },
      { label: "", kind: "node", value: (row) => W.button("Close…", { class: "small", "data-action": "close", "data-symbol": row.symbol },
        () => context.closePosition(row)) },
    ], list, { emptyText: "No open position.", rowKey: (row) => row.symbol }));
  }

  function legsOf(orders) {
    const byParent = {};
    for (const order of orders) if (order.parent_trade_id) (byParent[order.parent_trade_id] = byParent[order.parent_trade_id] || []).push(order);
    const result = [];
    for (const order of orders.filter((item) => !item.parent_trade_id || !orders.some((other) => other.id === item.parent_trade_id))) {
      result.push(Object.assign({ leg: "" }, order));
      for (const leg of byParent[order.id] || []) {
        result.push(Object.assign({ leg: leg.stop_price ? "↳ stop" : leg.limit_price ? "↳ target" : "↳ leg" }, leg));
      }
    }
    return result;
  }

  function orders(body, data, context) {
    const list = Array.isArray(data.orders) ? data.orders : [];
    const open = legsOf(list.filter((order) => OPEN.has(order.status)));
    body.appendChild(W.table([
      { label: "order", kind: "node", value: (row) => { const id = W.show("id", row.client_order_id); id.prepend(row.leg ? row.leg + " " : ""); return id; } },
      { label: "symbol", kind: "text", key: "symbol" },
      { label: "side", kind: "text", value: (row) => row.side + " " + row.order_type },
      { label: "qty", kind: "quantity", key: "quantity" },
      { label: "filled", kind: "quantity", key: "filled_quantity" },
      { label: "limit / stop", kind: "text", value: (row) => [row.limit_price, row.stop_price].filter((v) => v).map(F.price).join(" / ") || "market" },
      { label: "status", kind: "badge", key: "status" },
      { label: "", kind: "node", value: (row) => W.button("Cancel…", { class: "small", "data-action": "cancel", "data-order": String(row.id) },
        () => context.cancelOrder(row)) },
    ], open, { emptyText: "No open order.", rowKey: (row) => String(row.id) }));
    const closed = list.filter((order) => !OPEN.has(order.status)).slice(0, 10);
    body.appendChild(W.element("h3", "Latest finished orders"));
    body.appendChild(W.table([
      { label: "when", kind: "time", key: "timestamp" },
      { label: "symbol", kind: "text", key: "symbol" },
      { label: "side", kind: "text", key: "side" },
      { label: "qty", kind: "quantity", key: "quantity" },
      { label: "avg fill", kind: "price", key: "average_fill_price" },
      { label: "status", kind: "badge", key: "status" },
      { label: "why", kind: "text", key: "error_message" },
    ], closed, { emptyText: "None yet." }));
  }

  function strategies(body, data, context) {
    const list = (data.strategies || {}).strategies || [];
    body.appendChild(W.table([
      { label: "strategy", kind: "text", key: "name" },
      { label: "type", kind: "text", value: (row) => row.strategy_type + " · " + row.timeframe },
      { label: "symbols", kind: "node", value: (row) => W.element("span", F.count((row.symbols || []).length), { title: (row.symbols || []).join(", ") }) },
      { label: "state", kind: "badge", value: (row) => (row.enabled ? "running" : "paused") },
      { label: "last signal", kind: "time", value: (row) => (row.last_signal || {}).bar_timestamp },
      { label: "", kind: "node", value: (row) => W.button(row.enabled ? "Pause…" : "Resume…",
        { class: "small", "data-action": row.enabled ? "pause" : "resume", "data-strategy": row.name },
        () => context.switchStrategy(row)) },
    ], list, { emptyText: "No strategy configured.", rowKey: (row) => row.name }));
  }

  function denials(body, data) {
    const decisions = (data.denials || {}).decisions || [];
    const groups = {};
    for (const decision of decisions) {
      const codes = decision.codes && decision.codes.length ? decision.codes : ["UNSPECIFIED"];
      codes.forEach((code, index) => {
        const group = groups[code] || (groups[code] = { code: code, count: 0, symbols: new Set(), latest: null, example: "" });
        group.count += 1;
        group.symbols.add(decision.symbol);
        if (!group.latest || decision.timestamp > group.latest) {
          group.latest = decision.timestamp;
          group.example = (decision.reasons || [])[index] || "";
        }
      });
    }
    const rows = Object.values(groups).sort((a, b) => b.count - a.count);
    body.appendChild(W.table([
      { label: "reason", kind: "node", value: (row) => W.element("span", row.code, { title: row.example, class: "code" }) },
      { label: "count", kind: "count", key: "count" },
      { label: "symbols", kind: "text", value: (row) => Array.from(row.symbols).slice(0, 6).join(", ") + (row.symbols.size > 6 ? " …" : "") },
      { label: "latest", kind: "time", key: "latest" },
    ], rows, { emptyText: "No order denied.", rowKey: (row) => row.code }));
    if (decisions.length) body.appendChild(W.element("p", "over the last " + F.count(decisions.length) + " denials", { class: "muted" }));
  }

  function fills(body, data) {
    body.appendChild(W.table([
      { label: "when", kind: "time", key: "timestamp" },
      { label: "symbol", kind: "text", key: "symbol" },
      { label: "side", kind: "text", key: "side" },
      { label: "qty", kind: "quantity", key: "quantity" },
      { label: "price", kind: "price", key: "price" },
      { label: "fee", kind: "money", key: "commission" },
      { label: "order", kind: "id", key: "client_order_id" },
    ], (data.fills || {}).fills || [], { emptyText: "No fill yet.", maxRows: 20 }));
  }

  function signals(body, data) {
    const list = Array.isArray(data.signals) ? data.signals : [];
    body.appendChild(W.table([
      { label: "bar", kind: "time", key: "bar_timestamp" },
      { label: "strategy", kind: "text", key: "strategy_name" },
      { label: "symbol", kind: "text", key: "symbol" },
      { label: "signal", kind: "badge", key: "direction" },
      { label: "price", kind: "price", key: "price" },
      { label: "reason", kind: "text", key: "reason" },
    ], list, { emptyText: "No signal yet.", maxRows: 20 }));
  }

  global.TradingPanels = {
    chart: { sources: chartSources, render: chart, optional: ["chart"], setUp: setUpChartControls },
    positions: { sources: { positions: S + "positions" }, render: positions },
    orders: { sources: { orders: S + "orders" }, render: orders },
    strategies: { sources: { strategies: S + "strategies" }, render: strategies },
    denials: { sources: { denials: S + "risk-denials" }, render: denials },
    fills: { sources: { fills: "/api/dashboard/fills" }, render: fills },
    signals: { sources: { signals: S + "signals" }, render: signals },
  };
})(window);
