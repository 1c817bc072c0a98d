"use strict";
// Building blocks of the panels: tables whose columns say how to show their values, key/value
// tables, gauges against a limit, badges, and a reader for any nested figure (small tables, never
// raw JSON). Text is set with textContent only, never parsed as HTML.

(function (global) {
  const F = global.Format;
  const MAX_ROWS = 50;
  const NUMERIC = new Set(["money", "signedMoney", "quantity", "price", "percent", "signedPercent", "count", "ms", "age"]);

  function element(tag, text, attributes) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== undefined && value !== null) node.setAttribute(name, value);
    }
    return node;
  }

  function empty(text) {
    return element("p", text || "None yet.", { class: "empty" });
  }

  function badge(text, state) {
    return element("span", text, { class: "badge", "data-state": state || String(text).toLowerCase() });
  }

  // One value in the way its kind is read; a node is put in as it is.
  function show(kind, value, extra) {
    switch (kind) {
      case "money": return element("span", F.money(value, extra));
      case "signedMoney": return signed(F.signedMoney(value, extra), value);
      case "quantity": return element("span", F.quantity(value));
      case "price": return element("span", F.price(value));
      case "percent": return element("span", F.percent(value));
      case "signedPercent": return signed(F.signedPercent(value), value);
      case "count": return element("span", F.count(value));
      case "ms": return element("span", F.milliseconds(value));
      case "age": return element("span", F.age(value));
      case "time": { const t = F.marketTime(value); return element("time", t.text, { datetime: value || undefined, title: t.title }); }
      case "id": { const i = F.shortId(value); return element("span", i.text, { class: "id", title: i.title }); }
      case "badge": return value === null || value === undefined ? element("span", F.DASH) : badge(value);
      case "node": return value instanceof Node ? value : element("span", F.DASH);
      default: return element("span", value === null || value === undefined || value === "" ? F.DASH : F.words(value));
    }
  }

  function signed(text, value) {
    const number = Number(value);
    return element("span", text, { class: number > 0 ? "gain" : number < 0 ? "loss" : "" });
  }

  // columns: [{label, kind, value(row) | key, extra}]
  function table(columns, rows, options) {
    const settings = options || {};
    if (!rows || rows.length === 0) return empty(settings.emptyText);
    const result = element("table", null, { class: settings.className || "" });
    const head = result.createTHead().insertRow();
    for (const column of columns) head.appendChild(element("th", column.label, { class: NUMERIC.has(column.kind) ? "number" : "" }));
    const body = result.createTBody();
    for (const row of rows.slice(0, settings.maxRows || MAX_ROWS)) {
      const line = body.insertRow();
      if (settings.rowKey) line.dataset.key = settings.rowKey(row);
      for (const column of columns) {
        const cell = line.insertCell();
        cell.dataset.label = column.label;
        const value = column.value ? column.value(row) : row[column.key];
        cell.appendChild(show(column.kind, value, column.extra));
        if (NUMERIC.has(column.kind)) cell.className = "number";
      }
    }
    if (rows.length > (settings.maxRows || MAX_ROWS)) {
      const wrapper = element("div");
      wrapper.append(result, element("p", "showing " + (settings.maxRows || MAX_ROWS) + " of " + rows.length, { class: "muted" }));
      return wrapper;
    }
    return result;
  }

  // pairs: [[label, kind, value, extra]]
  function keyValues(pairs, options) {
    const shown = pairs.filter((pair) => pair);
    if (shown.length === 0) return empty((options || {}).emptyText);
    const result = element("table", null, { class: "pairs" });
    const body = result.createTBody();
    for (const [label, kind, value, extra] of shown) {
      const line = body.insertRow();
      line.appendChild(element("th", label));
      const cell = line.insertCell();
      cell.appendChild(show(kind, value, extra));
      if (NUMERIC.has(kind)) cell.className = "number";
    }
    return result;
  }

  // A figure against its limit: the bar fills with value/limit, amber from 70 %, red at the limit.
  function gauge(label, value, limit, kind) {
    const box = element("div", null, { class: "gauge", "data-gauge": label });
    const number = Math.abs(Number(value));
    const ceiling = Math.abs(Number(limit));
    const known = value !== null && value !== undefined && !isNaN(number);
    const bounded = limit !== null && limit !== undefined && !isNaN(ceiling) && ceiling > 0;
    const share = known && bounded ? number / ceiling : null;
    const level = share === null ? "unknown" : share >= 1 ? "bad" : share >= 0.7 ? "warn" : "ok";
    const head = element("div", null, { class: "gauge-head" });
    head.append(element("span", label), element("b", known ? formatGauge(kind, value) : F.DASH));
    const track = element("div", null, { class: "gauge-track", "data-level": level, role: "meter",
      "aria-label": label, "aria-valuemin": "0", "aria-valuemax": bounded ? String(ceiling) : undefined,
      "aria-valuenow": known ? String(number) : undefined });
    const fill = element("div", null, { class: "gauge-fill" });
    fill.style.width = share === null ? "0%" : Math.min(100, share * 100).toFixed(1) + "%";
    track.appendChild(fill);
    const foot = element("div", bounded ? "limit " + formatGauge(kind, limit) : "no limit set", { class: "gauge-foot" });
    box.append(head, track, foot);
    box.dataset.level = level;
    return box;
  }

  function formatGauge(kind, value) {
    if (kind === "money") return F.money(value);
    if (kind === "count") return F.count(value);
    return F.percent(value);
  }

  // Any nested figure as small tables: objects as key/value rows, lists of objects as a table.
  function nested(value, depth) {
    const level = depth || 0;
    if (value === null || value === undefined) return element("span", F.DASH);
    if (Array.isArray(value)) {
      if (value.length === 0) return element("span", "none", { class: "muted" });
      if (value.every((item) => item && typeof item === "object" && !Array.isArray(item)) && level < 3) {
        const keys = Array.from(new Set(value.flatMap((item) => Object.keys(item)))).slice(0, 6);
        return table(keys.map((key) => ({ label: F.words(key), kind: "node", value: (row) => nested(row[key], level + 1) })), value, { maxRows: 10 });
      }
      return element("span", value.map((item) => (typeof item === "object" ? F.DASH : String(item))).join(", "));
    }
    if (typeof value === "object") {
      if (level >= 3) return element("span", Object.keys(value).length + " fields", { class: "muted" });
      const entries = Object.entries(value);
      if (entries.length === 0) return element("span", "none", { class: "muted" });
      return keyValues(entries.map(([key, item]) => [F.words(key), "node", nested(item, level + 1)]));
    }
    if (typeof value === "boolean") return element("span", value ? "yes" : "no");
    if (typeof value === "number") return element("span", F.count(value));
    if (/^-?\d+\.\d+$/.test(String(value))) return element("span", Number(value).toLocaleString("en-US", { maximumFractionDigits: 4 }));
    if (/^\d{4}-\d{2}-\d{2}T/.test(String(value))) return show("time", value);
    return element("span", String(value));
  }

  function button(text, attributes, onClick) {
    const node = element("button", text, Object.assign({ type: "button" }, attributes || {}));
    node.addEventListener("click", onClick);
    return node;
  }

  global.Widgets = { element, empty, badge, show, table, keyValues, gauge, nested, button };
})(window);
