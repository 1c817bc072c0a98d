"use strict";
// Operator actions, each confirmed in one dialog that says what will happen and asks for the API
// token (kept in this page's memory only if the operator ticks the box; never in storage). The
// outcome, or the refusal with its HTTP status and reason, is shown in #action-result.

(function (global) {
  const F = global.Format;
  let rememberedToken = "";

  function byId(id) {
    return document.getElementById(id);
  }

  async function errorText(response) {
    let detail = "";
    try {
      const body = await response.json();
      detail = body.detail || body.error || body.message || "";
      if (typeof detail !== "string") detail = Array.isArray(detail) ? detail.map((item) => item.msg || String(item)).join("; ") : String(detail);
      if (body.upstream_body) detail += " — " + body.upstream_body;
    } catch (ignored) {
      detail = response.statusText;
    }
    return "HTTP " + response.status + ": " + detail;
  }

  function show(outcome, text) {
    const result = byId("action-result");
    result.hidden = false;
    result.dataset.outcome = outcome;
    result.textContent = text;
  }

  // spec: {title, message, confirmText, reason, choices, perform(token, reason, choice), describe(body)}
  function run(spec, refresh) {
    const dialog = byId("confirm-dialog");
    byId("confirm-title").textContent = spec.title;
    byId("confirm-message").textContent = spec.message;
    byId("confirm-ok").textContent = spec.confirmText || "Confirm";
    byId("confirm-reason-label").hidden = !spec.reason;
    byId("confirm-reason").required = Boolean(spec.reason);
    byId("confirm-reason").value = "";
    const choice = byId("confirm-choice");
    byId("confirm-choice-label").hidden = !spec.choices;
    choice.replaceChildren(...(spec.choices || []).map(([value, label]) => Object.assign(document.createElement("option"), { value: value, textContent: label })));
    byId("confirm-token").value = "";
    byId("confirm-token").placeholder = rememberedToken ? "remembered for this tab" : "Bearer token";
    byId("confirm-token").required = !rememberedToken;
    byId("confirm-remember").checked = Boolean(rememberedToken);
    dialog.dataset.action = spec.name || "";
    const form = byId("confirm-form");
    form.onsubmit = async (event) => {
      event.preventDefault();
      const typed = byId("confirm-token").value.trim();
      const token = typed || rememberedToken;
      rememberedToken = byId("confirm-remember").checked ? token : "";
      byId("confirm-token").value = "";  // never left in the field
      const reason = byId("confirm-reason").value.trim();
      if (!token || (spec.reason && !reason)) return;
      dialog.close();
      show("pending", spec.title + ": sending…");
      let response;
      try {
        response = await spec.perform(token, reason, choice.value);
      } catch (error) {
        show("refused", spec.title + " failed: " + error.message);
        return;
      }
      if (response.ok) {
        let body = {};
        try { body = await response.json(); } catch (ignored) { body = {}; }
        show("done", spec.describe ? spec.describe(body, response.status) : spec.title + ": done");
      } else {
        if (response.status === 401) rememberedToken = "";
        show("refused", spec.title + " refused — " + (await errorText(response)));
      }
      refresh();
    };
    byId("confirm-cancel").onclick = () => { byId("confirm-token").value = ""; dialog.close(); };
    dialog.showModal();
    (spec.reason ? byId("confirm-reason") : byId("confirm-token")).focus();
  }

  function post(url, token, body, method) {
    return fetch(url, {
      method: method || "POST",
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  function relay(action, target, token) {
    return post("/api/dashboard/actions/" + action, token, { target: String(target) });
  }

  function failedSteps(body) {
    const failed = Object.entries(body.steps || {}).filter(([, step]) => step && step.ok === false);
    return failed.length ? " Steps that failed: " + failed.map(([name, step]) => name + ": " + (step.detail || "")).join("; ") : "";
  }

  function context(refresh) {
    const again = () => refresh();
    return {
      emergencyShutdown: () => run({
        name: "emergency-shutdown", title: "Emergency shutdown", confirmText: "Halt trading now", reason: true,
        message: "This halts all trading and cancels every open order. Trading stays halted until an operator resumes it.",
        perform: (token, reason) => fetch("/maintenance/emergency-shutdown", {
          method: "POST",
          headers: { Authorization: "Bearer " + token, "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ reason: reason }).toString(),
        }),
        describe: (body) => "Trading " + body.state + " (was " + body.previous_state + ")." + failedSteps(body),
      }, again),
      resumeTrading: (state) => run({
        name: "resume", title: "Resume trading", confirmText: "Resume", reason: true,
        choices: [["active", "active: all orders"], ["reducing", "reducing: only orders that shrink a position"]],
        message: "Trading is " + state + ". Resuming lets the strategies' orders through again.",
        perform: (token, reason, target) => post("/maintenance/resume", token, { reason: reason, target: target }),
        describe: (body) => "Trading " + body.state + " (was " + body.previous_state + ").",
      }, again),
      closePosition: (position) => run({
        name: "close-position", title: "Close " + position.symbol, confirmText: "Close at market",
        message: "Cancel every open order in " + position.symbol + ", then " + (Number(position.quantity) > 0 ? "sell " : "buy back ") +
          F.quantity(String(position.quantity).replace("-", "")) + " at market (last price " + F.price(position.market_price) + ").",
        perform: (token) => relay("position-close", position.symbol, token),
        describe: (body) => "Close of " + body.symbol + " sent: order " + F.shortId((body.order || {}).client_order_id).text +
          " " + ((body.order || {}).status || "") + (body.canceled_order_ids && body.canceled_order_ids.length ? "; cancelled " + body.canceled_order_ids.length + " open order(s)" : ""),
      }, again),
      cancelOrder: (order) => run({
        name: "cancel-order", title: "Cancel order " + F.shortId(order.client_order_id).text, confirmText: "Cancel the order",
        message: order.side + " " + F.quantity(order.quantity) + " " + order.symbol + " (" + order.order_type + ", " + order.status + ") will be cancelled at the broker.",
        perform: (token) => relay("order-cancel", order.id, token),
        describe: (body) => "Order " + F.shortId(body.client_order_id).text + " is " + body.status + ".",
      }, again),
      switchStrategy: (strategy) => run({
        name: strategy.enabled ? "pause-strategy" : "resume-strategy",
        title: (strategy.enabled ? "Pause " : "Resume ") + strategy.name, confirmText: strategy.enabled ? "Pause" : "Resume",
        message: strategy.enabled ? "The strategy stops emitting signals; its positions and open orders stay as they are."
          : "The strategy starts emitting signals again on its next bar.",
        perform: (token) => relay(strategy.enabled ? "strategy-pause" : "strategy-resume", strategy.name, token),
        describe: (body) => "Strategy " + body.name + " is " + (body.enabled ? "running" : "paused") + ".",
      }, again),
    };
  }

  global.Actions = { context: context, errorText: errorText };
})(window);
