"use strict";
// The dashboard's loop: every panel names its same-origin sources; each refresh fetches every
// source once, hands the answers to the panel's renderer and shows a failing source's HTTP error
// in the panel instead of its body (a panel never shows "none" for data it could not read).

(function () {
  const params = new URLSearchParams(window.location.search);
  const REFRESH_MS = Math.max(1, Number(params.get("refresh") || 5)) * 1000;
  const PANELS = Object.assign({}, window.SystemPanels, window.TradingPanels);
  let cycle = new Map();
  let context = null;

  async function fetchJson(url) {
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    } catch (error) {
      return { ok: false, status: 0, detail: "request failed: " + error.message };
    }
    if (!response.ok) {
      const text = await window.Actions.errorText(response);
      return { ok: false, status: response.status, detail: text.replace(/^HTTP \d+: /, ""), text: text };
    }
    return { ok: true, status: response.status, data: await response.json() };
  }

  function load(url) {
    if (!cycle.has(url)) cycle.set(url, fetchJson(url));
    return cycle.get(url);
  }

  function sourcesOf(definition) {
    return typeof definition.sources === "function" ? definition.sources() : definition.sources;
  }

  async function refreshPanel(section) {
    const definition = PANELS[section.dataset.panel];
    const errorBox = section.querySelector(".panel-error");
    const body = section.querySelector(".panel-body");
    const entries = Object.entries(sourcesOf(definition));
    const answers = await Promise.all(entries.map(([key, url]) => load(url).then((answer) => [key, url, answer])));
    const data = {};
    const failures = {};
    const errors = [];
    for (const [key, url, answer] of answers) {
      if (answer.ok) data[key] = answer.data;
      else if ((definition.optional || []).includes(key) && answer.status >= 400 && answer.status < 500) failures[key] = answer;
      else errors.push(url.replace(/^\/api\/dashboard\/(service\/)?/, "") + " — " + (answer.text || answer.detail));
    }
    if (errors.length) {
      errorBox.textContent = errors.join("\n");
      errorBox.hidden = false;
      body.replaceChildren();
      section.dataset.state = "error";
      return;
    }
    const fresh = document.createElement("div");
    definition.render(fresh, data, context, failures);
    body.replaceChildren(...fresh.childNodes);
    errorBox.hidden = true;
    errorBox.textContent = "";
    section.dataset.state = "ok";
  }

  function guarded(section) {
    return refreshPanel(section).catch((error) => {
      const errorBox = section.querySelector(".panel-error");
      errorBox.textContent = "could not show this panel: " + error.message;
      errorBox.hidden = false;
      section.dataset.state = "error";
    });
  }

  async function refreshAll() {
    cycle = new Map();
    const sections = Array.from(document.querySelectorAll("[data-panel]"));
    await Promise.all(sections.map(guarded));
    document.getElementById("refreshed-at").textContent = new Date().toLocaleTimeString();
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  }

  // One panel now (the chart after its controls change): its own sources fetched afresh.
  function refreshOne(name) {
    const section = document.querySelector('[data-panel="' + name + '"]');
    for (const url of Object.values(sourcesOf(PANELS[name]))) cycle.delete(url);
    return guarded(section);
  }

  async function loop() {
    await refreshAll();
    window.setTimeout(loop, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    context = window.Actions.context(refreshAll);
    for (const definition of Object.values(PANELS)) if (definition.setUp) definition.setUp(refreshOne);
    loop();
  });
})();
