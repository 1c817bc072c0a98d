"use strict";
// The dashboard: every panel polls one same-origin endpoint and renders what it answers, or the
// HTTP error it got. Values are written with textContent only, never parsed as HTML.

(function () {
  const params = new URLSearchParams(window.location.search);
  const REFRESH_MS = Math.max(1, Number(params.get("refresh") || 5)) * 1000;
  const MAX_ROWS = 50;
  const MAX_COLUMNS = 12;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const PANELS = {
    "trading-state": { url: "/api/dashboard/service/trading-state", render: renderTradingState },
    "risk-metrics": { url: "/api/dashboard/service/risk-metrics", render: renderGeneric },
    "status": { url: "/api/dashboard/service/status", render: renderHealth },
    "equity": { url: "/api/dashboard/equity", render: renderEquity },
    "account": { url: "/api/dashboard/service/account", render: renderGeneric },
    "broker": { url: "/api/dashboard/service/broker", render: renderGeneric },
    "positions": { url: "/api/dashboard/service/positions", render: rowsOf(["positions"]) },
    "orders": { url: "/api/dashboard/service/orders", render: rowsOf(["orders", "trades"]) },
    "fills": { url: "/api/dashboard/fills", render: rowsOf(["fills"]) },
    "signals": { url: "/api/dashboard/service/signals", render: rowsOf(["signals"]) },
    "risk-decisions": { url: "/api/dashboard/service/risk-decisions", render: rowsOf(["decisions"]) },
    "position-limits": { url: "/api/dashboard/service/position-limits", render: renderGeneric },
    "strategies": { url: "/api/dashboard/service/strategies", render: rowsOf(["strategies"]) },
    "data-status": { url: "/api/dashboard/service/data-status", render: rowsOf(["symbols", "freshness"]) },
    "job-runs": { url: "/api/dashboard/job-runs", render: rowsOf(["job_runs"]) },
    "jobs": { url: "/api/dashboard/service/jobs", render: rowsOf(["jobs"]) },
    "rate-limits": { url: "/api/dashboard/service/rate-limits", render: renderGeneric },
  };

  function element(tag, text, attributes) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    return node;
  }

  function formatValue(value) {
    if (value === null || value === undefined) return "—";
    if (Array.isArray(value)) {
      return value.map((item) => (typeof item === "object" && item !== null ? JSON.stringify(item) : String(item))).join(", ");
    }
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function isNumeric(value) {
    return typeof value === "number" || (typeof value === "string" && value !== "" && !isNaN(Number(value)) && !/^0\d/.test(value));
  }

  function table(rows) {
    if (rows.length === 0) return element("p", "Nothing yet.", { class: "empty" });
    const columns = [];
    for (const row of rows.slice(0, MAX_ROWS)) {
      for (const key of Object.keys(row)) if (!columns.includes(key) && columns.length < MAX_COLUMNS) columns.push(key);
    }
    const result = element("table");
    const head = result.createTHead().insertRow();
    for (const column of columns) head.appendChild(element("th", column.replace(/_/g, " ")));
    const body = result.createTBody();
    for (const row of rows.slice(0, MAX_ROWS)) {
      const line = body.insertRow();
      for (const column of columns) {
        const cell = line.insertCell();
        cell.textContent = formatValue(row[column]);
        if (isNumeric(row[column])) cell.className = "number";
      }
    }
    return result;
  }

  function keyValues(object) {
    const rows = Object.entries(object).map(([key, value]) => ({ name: key, value: value }));
    if (rows.length === 0) return element("p", "Nothing yet.", { class: "empty" });
    const result = element("table");
    const body = result.createTBody();
    for (const row of rows) {
      const line = body.insertRow();
      line.appendChild(element("th", row.name.replace(/_/g, " ")));
      const cell = line.insertCell();
      cell.textContent = formatValue(row.value);
      if (isNumeric(row.value)) cell.className = "number";
    }
    return result;
  }

  function findRows(data, keys) {
    if (Array.isArray(data)) return data;
    if (data && typeof data === "object") {
      for (const key of keys) if (Array.isArray(data[key])) return data[key];
      for (const value of Object.values(data)) {
        if (Array.isArray(value) && value.every((item) => item && typeof item === "object")) return value;
      }
      // A mapping keyed by symbol or name: one row per key.
      const values = Object.entries(data);
      if (values.length > 0 && values.every(([, value]) => value && typeof value === "object" && !Array.isArray(value))) {
        return values.map(([key, value]) => Object.assign({ name: key }, value));
      }
    }
    return null;
  }

  function rowsOf(keys) {
    return function (body, data) {
      const rows = findRows(data, keys);
      body.appendChild(rows === null ? keyValues(data || {}) : table(rows.map((row) => (typeof row === "object" ? row : { value: row }))));
    };
  }

  function renderGeneric(body, data) {
    const rows = Array.isArray(data) ? data : null;
    body.appendChild(rows ? table(rows) : keyValues(data || {}));
  }

  function renderHealth(body, data) {
    const overall = document.getElementById("overall");
    overall.textContent = "system " + data.status;
    overall.dataset.status = data.status;
    const summary = element("p");
    summary.append("Overall ", element("span", data.status, { class: "badge", "data-status": data.status }),
      " · checked " + formatValue(data.checked_at) + " · " + formatValue(data.environment));
    body.appendChild(summary);
    const rows = Object.entries(data.services || {}).map(([name, info]) => ({
      service: name, status: info.status, response_ms: info.response_time_ms, detail: info.error || (info.failing || []).join(", ") || "",
    }));
    rows.push({ service: "database (" + formatValue((data.database || {}).backend) + ")", status: (data.database || {}).status,
      response_ms: (data.database || {}).response_time_ms, detail: (data.database || {}).error || "" });
    rows.push({ service: "redis", status: (data.redis || {}).status, response_ms: (data.redis || {}).response_time_ms,
      detail: (data.redis || {}).error || (data.redis || {}).detail || "" });
    const result = table(rows);
    result.querySelectorAll("tbody tr").forEach((line, index) => {
      const cell = line.cells[1];
      const status = rows[index].status;
      cell.textContent = "";
      cell.appendChild(element("span", status, { class: "badge", "data-status": status }));
      line.dataset.service = rows[index].service;
    });
    body.appendChild(result);
  }

  function renderTradingState(body, data) {
    const state = data.trading_state || "unknown";
    const badge = document.getElementById("trading-badge");
    badge.textContent = "trading " + state;
    badge.dataset.state = state;
    const line = element("p");
    line.appendChild(element("span", state.toUpperCase(), { class: "badge state-big", "data-state": state, id: "trading-state-value" }));
    body.appendChild(line);
    const details = { since: data.since, reason: data.reason, changed_by: data.changed_by };
    if (data.maintenance_mode) details.maintenance_mode = data.maintenance_mode.enabled === undefined ? data.maintenance_mode : data.maintenance_mode.enabled;
    body.appendChild(keyValues(details));
  }

  function polyline(points, width, height, minimum, maximum) {
    const span = maximum - minimum || 1;
    return points.map((value, index) => {
      const x = points.length === 1 ? width / 2 : (index / (points.length - 1)) * width;
      const y = height - ((value - minimum) / span) * height;
      return x.toFixed(1) + "," + y.toFixed(1);
    }).join(" ");
  }

  function chart(values, className, small, baseline) {
    const width = 600, height = small ? 90 : 160;
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "chart" + (small ? " small" : ""));
    const minimum = Math.min.apply(null, baseline === undefined ? values : values.concat([baseline]));
    const maximum = Math.max.apply(null, baseline === undefined ? values : values.concat([baseline]));
    const shape = document.createElementNS(SVG_NS, baseline === undefined ? "polyline" : "polygon");
    let coordinates = polyline(values, width, height, minimum, maximum);
    if (baseline !== undefined) {
      const span = maximum - minimum || 1;
      const y = (height - ((baseline - minimum) / span) * height).toFixed(1);
      coordinates = "0," + y + " " + coordinates + " " + width + "," + y;
    }
    shape.setAttribute("points", coordinates);
    shape.setAttribute("class", className);
    svg.appendChild(shape);
    const label = document.createElementNS(SVG_NS, "text");
    label.setAttribute("x", "4");
    label.setAttribute("y", "12");
    label.textContent = maximum.toLocaleString() + " / " + minimum.toLocaleString();
    svg.appendChild(label);
    return svg;
  }

  function renderEquity(body, data) {
    const points = data.points || [];
    if (points.length === 0) {
      body.appendChild(element("p", "No account snapshots yet: the curve starts with the first one.", { class: "empty" }));
      return;
    }
    const figures = element("div", null, { class: "figures" });
    const latest = element("span", "latest equity"); latest.prepend(element("b", formatValue(data.latest_equity)));
    const drawdown = element("span", "max drawdown");
    drawdown.prepend(element("b", (Number(data.max_drawdown) * 100).toFixed(2) + " %"));
    const count = element("span", "snapshots"); count.prepend(element("b", points.length));
    figures.append(latest, drawdown, count);
    body.appendChild(figures);
    body.appendChild(chart(points.map((point) => Number(point.equity)), "equity", false));
    body.appendChild(chart(points.map((point) => Number(point.drawdown) * 100), "drawdown", true, 0));
  }

  async function errorText(response) {
    let detail = "";
    try {
      const body = await response.json();
      detail = body.error || body.detail || body.message || JSON.stringify(body);
      if (body.upstream_body) detail += "\n" + body.upstream_body;
    } catch (ignored) {
      detail = response.statusText;
    }
    return "HTTP " + response.status + ": " + detail;
  }

  async function refreshPanel(section) {
    const name = section.dataset.panel;
    const panel = PANELS[name];
    const errorBox = section.querySelector(".panel-error");
    const body = section.querySelector(".panel-body");
    let response;
    try {
      response = await fetch(panel.url, { headers: { Accept: "application/json" }, cache: "no-store" });
    } catch (error) {
      errorBox.textContent = "request failed: " + error.message;
      errorBox.hidden = false;
      section.dataset.state = "error";
      return;
    }
    if (!response.ok) {
      errorBox.textContent = await errorText(response);
      errorBox.hidden = false;
      body.replaceChildren();
      section.dataset.state = "error";
      return;
    }
    const data = await response.json();
    const fresh = document.createElement("div");
    panel.render(fresh, data);
    body.replaceChildren(...fresh.childNodes);
    errorBox.hidden = true;
    errorBox.textContent = "";
    section.dataset.state = "ok";
    section.dataset.updatedAt = new Date().toISOString();
  }

  async function refreshAll() {
    const sections = Array.from(document.querySelectorAll("[data-panel]"));
    await Promise.all(sections.map((section) => refreshPanel(section).catch((error) => {
      const errorBox = section.querySelector(".panel-error");
      errorBox.textContent = "could not show this panel: " + error.message;
      errorBox.hidden = false;
      section.dataset.state = "error";
    })));
    document.getElementById("refreshed-at").textContent = new Date().toLocaleTimeString();
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  }

  async function loop() {
    await refreshAll();
    window.setTimeout(loop, REFRESH_MS);
  }

  function setUpEmergency() {
    const open = document.getElementById("emergency-open");
    const form = document.getElementById("emergency-form");
    const cancel = document.getElementById("emergency-cancel");
    const result = document.getElementById("emergency-result");
    const token = document.getElementById("emergency-token");
    const reason = document.getElementById("emergency-reason");
    open.addEventListener("click", () => { form.hidden = false; open.hidden = true; result.hidden = true; reason.focus(); });
    cancel.addEventListener("click", () => { form.hidden = true; open.hidden = false; token.value = ""; });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const secret = token.value.trim();
      if (!secret || !reason.value.trim()) return;
      result.hidden = false;
      result.dataset.outcome = "pending";
      result.textContent = "sending…";
      let response;
      try {
        response = await fetch("/maintenance/emergency-shutdown", {
          method: "POST",
          headers: { Authorization: "Bearer " + secret, "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ reason: reason.value.trim() }).toString(),
        });
      } catch (error) {
        result.dataset.outcome = "refused";
        result.textContent = "request failed: " + error.message;
        return;
      } finally {
        token.value = "";  // never kept: each halt asks for the token again
      }
      if (response.ok) {
        const body = await response.json();
        const failed = Object.entries(body.steps || {}).filter(([, step]) => step && step.ok === false);
        result.dataset.outcome = "halted";
        result.textContent = "Trading " + body.state + " (was " + body.previous_state + ")." +
          (failed.length ? "\nSteps that failed: " + failed.map(([name, step]) => name + ": " + (step.detail || "")).join("; ") : "");
        form.hidden = true;
        open.hidden = false;
        reason.value = "";
        refreshAll();
      } else {
        result.dataset.outcome = "refused";
        result.textContent = "Refused — " + (await errorText(response));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpEmergency();
    loop();
  });
})();
