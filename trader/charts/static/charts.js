"use strict";
// TraderCharts: the one chart builder of the dashboard and the backtest report, over the vendored
// TradingView Lightweight Charts. It takes the JSON of trader/charts/payload.py (candles, indicator
// lines, markers at their bars, price levels) and of the equity curve, so a live run and a backtest
// are drawn alike. Times are shown in the market's time zone (America/New_York).

(function (global) {
  const LWC = global.LightweightCharts;
  const MARKET_ZONE = "America/New_York";
  const COLOURS = {
    text: "#c9d1d9", grid: "#222a33", up: "#26a69a", down: "#ef5350", equity: "#58a6ff",
    drawdown: "rgba(239, 83, 80, 0.35)", drawdownLine: "#ef5350", day: "#d29922", limit: "#f85149",
    lines: ["#f2cc60", "#a371f7", "#79c0ff", "#ff7b72", "#7ee787", "#ffa657"],
    stop: "#f85149", target: "#3fb950", limit_order: "#d29922", average_cost: "#8b949e",
  };
  const charts = new WeakMap();
  const zoned = new Intl.DateTimeFormat("en-US", {
    timeZone: MARKET_ZONE, year: "numeric", month: "short", day: "numeric", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23",
  });
  const dayOnly = new Intl.DateTimeFormat("en-US", { timeZone: MARKET_ZONE, month: "short", day: "numeric" });
  const yearOnly = new Intl.DateTimeFormat("en-US", { timeZone: MARKET_ZONE, year: "numeric" });
  const clockOnly = new Intl.DateTimeFormat("en-US", {
    timeZone: MARKET_ZONE, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });

  function marketTime(seconds) {
    return zoned.format(new Date(seconds * 1000)) + " ET";
  }

  function tickMark(seconds, kind) {
    const moment = new Date(seconds * 1000);
    // TickMarkType: 0 year, 1 month, 2 day of month, 3 time, 4 time with seconds.
    if (kind === 0) return yearOnly.format(moment);
    if (kind <= 2) return dayOnly.format(moment);
    return clockOnly.format(moment);
  }

  function percentFormat(digits) {
    return { type: "custom", minMove: 0.01, formatter: (value) => value.toFixed(digits) + " %" };
  }

  function baseOptions(dark) {
    return {
      autoSize: true,
      layout: {
        background: { type: "solid", color: dark ? "#0f1419" : "#ffffff" },
        textColor: dark ? COLOURS.text : "#222222",
        attributionLogo: true,
        panes: { separatorColor: dark ? "#2a323c" : "#dddddd", enableResize: true },
      },
      grid: { vertLines: { color: dark ? COLOURS.grid : "#eeeeee" }, horzLines: { color: dark ? COLOURS.grid : "#eeeeee" } },
      timeScale: { timeVisible: true, secondsVisible: false, tickMarkFormatter: tickMark },
      localization: { timeFormatter: marketTime },
      rightPriceScale: { borderVisible: false },
    };
  }

  function message(container, text) {
    destroy(container);
    container.replaceChildren();
    const note = document.createElement("p");
    note.className = "chart-message";
    note.textContent = text;
    container.appendChild(note);
    container.dataset.chart = "empty";
  }

  function destroy(container) {
    const existing = charts.get(container);
    if (existing) {
      existing.chart.remove();
      charts.delete(container);
    }
  }

  function fresh(container, kind, dark) {
    const existing = charts.get(container);
    if (existing && existing.kind === kind) return { entry: existing, created: false };
    destroy(container);
    container.replaceChildren();
    const entry = { kind: kind, chart: LWC.createChart(container, baseOptions(dark)), series: {} };
    charts.set(container, entry);
    container.dataset.chart = kind;
    return { entry: entry, created: true };
  }

  function seconds(iso) {
    return Math.floor(Date.parse(iso) / 1000);
  }

  // Lightweight Charts needs strictly increasing times: keep the last value of each second.
  function increasing(points) {
    const result = [];
    for (const point of points) {
      if (result.length && result[result.length - 1].time === point.time) result[result.length - 1] = point;
      else if (!result.length || result[result.length - 1].time < point.time) result.push(point);
    }
    return result;
  }

  function seriesIn(entry, key, type, options, pane) {
    if (!entry.series[key]) entry.series[key] = entry.chart.addSeries(type, options, pane || 0);
    return entry.series[key];
  }

  function replaceLevels(series, levels) {
    for (const line of series.__levels || []) series.removePriceLine(line);
    series.__levels = levels.map((level) => series.createPriceLine(level));
  }

  // Equity over time (pane 0); drawdown and the day's return (pane 1) with their limits drawn.
  function equity(container, points, limits, options) {
    const settings = options || {};
    if (!points || points.length === 0) {
      message(container, settings.emptyText || "No account snapshots yet: the curve starts with the first one.");
      return;
    }
    const { entry, created } = fresh(container, "equity", settings.dark !== false);
    const equityLine = seriesIn(entry, "equity", LWC.AreaSeries, {
      lineColor: COLOURS.equity, topColor: "rgba(88, 166, 255, 0.25)", bottomColor: "rgba(88, 166, 255, 0.02)",
      lineWidth: 2, title: "equity", priceFormat: { type: "price", precision: 2, minMove: 0.01 },
    });
    const drawdown = seriesIn(entry, "drawdown", LWC.BaselineSeries, {
      baseValue: { type: "price", price: 0 }, bottomLineColor: COLOURS.drawdownLine,
      bottomFillColor1: COLOURS.drawdown, bottomFillColor2: COLOURS.drawdown, topLineColor: COLOURS.up,
      title: "drawdown", priceFormat: percentFormat(2), lastValueVisible: true,
    }, 1);
    const day = seriesIn(entry, "day", LWC.LineSeries, {
      color: COLOURS.day, lineWidth: 1, title: "day", priceFormat: percentFormat(2), priceLineVisible: false,
    }, 1);
    const timed = points.map((point) => ({ time: seconds(point.timestamp), point: point }));
    equityLine.setData(increasing(timed.map((item) => ({ time: item.time, value: Number(item.point.equity) }))));
    drawdown.setData(increasing(timed.map((item) => ({ time: item.time, value: Number(item.point.drawdown) * 100 }))));
    day.setData(increasing(timed
      .filter((item) => item.point.day_return !== undefined && item.point.day_return !== null)
      .map((item) => ({ time: item.time, value: Number(item.point.day_return) * 100 }))));
    const levels = [];
    if (limits && limits.max_drawdown_pct !== undefined && limits.max_drawdown_pct !== null) {
      levels.push({ price: -Number(limits.max_drawdown_pct) * 100, color: COLOURS.limit, lineWidth: 1,
        lineStyle: LWC.LineStyle.Dashed, axisLabelVisible: true, title: "max drawdown" });
    }
    if (limits && limits.daily_loss_limit_pct !== undefined && limits.daily_loss_limit_pct !== null) {
      levels.push({ price: -Number(limits.daily_loss_limit_pct) * 100, color: COLOURS.day, lineWidth: 1,
        lineStyle: LWC.LineStyle.Dotted, axisLabelVisible: true, title: "daily loss limit" });
    }
    replaceLevels(drawdown, levels);
    if (created) {
      const panes = entry.chart.panes();
      if (panes.length > 1) panes[1].setHeight(Math.round(container.clientHeight * 0.35));
      entry.chart.timeScale().fitContent();
    }
  }

  function markerStyle(marker) {
    const buy = marker.side === "buy";
    if (marker.kind === "fill" || marker.kind === "entry" || marker.kind === "exit") {
      return { shape: buy ? "arrowUp" : "arrowDown", position: buy ? "belowBar" : "aboveBar",
        color: buy ? COLOURS.up : COLOURS.down, text: (buy ? "B " : "S ") + (marker.text || ""), size: 1 };
    }
    if (marker.kind === "order") {
      return { shape: "square", position: buy ? "belowBar" : "aboveBar", color: "#8b949e", size: 0.6, text: "" };
    }
    return { shape: "circle", position: buy ? "belowBar" : "aboveBar", color: buy ? "#7ee787" : "#ffa198",
      size: 0.6, text: "" };
  }

  function shortQuantity(label) {
    const found = /(\d+(?:\.\d+)?)/.exec(label || "");
    return found ? found[1] : "";
  }

  // Candles with volume, the strategy's lines, the markers at their bars and the price levels.
  function candles(container, payload, options) {
    const settings = options || {};
    if (!payload || !payload.bars || payload.bars.length === 0) {
      message(container, settings.emptyText || "No bars stored yet for this symbol and timeframe.");
      return;
    }
    const { entry, created } = fresh(container, "candles", settings.dark !== false);
    const price = seriesIn(entry, "price", LWC.CandlestickSeries, {
      upColor: COLOURS.up, downColor: COLOURS.down, wickUpColor: COLOURS.up, wickDownColor: COLOURS.down,
      borderVisible: false, priceFormat: { type: "price", precision: 2, minMove: 0.01 },
    });
    const volume = seriesIn(entry, "volume", LWC.HistogramSeries, {
      priceFormat: { type: "volume" }, priceScaleId: "volume", lastValueVisible: false, priceLineVisible: false,
    });
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    price.setData(payload.bars.map((bar) => ({ time: bar.time, open: bar.open, high: bar.high, low: bar.low, close: bar.close })));
    volume.setData(payload.bars.map((bar) => ({
      time: bar.time, value: bar.volume, color: bar.close >= bar.open ? "rgba(38, 166, 154, 0.4)" : "rgba(239, 83, 80, 0.4)",
    })));
    drawOverlays(entry, payload.overlays || []);
    const markers = (payload.markers || []).map((marker) => Object.assign(
      { time: marker.time, id: marker.kind + ":" + marker.reference + ":" + marker.at },
      markerStyle(Object.assign({}, marker, { text: shortQuantity(marker.kind === "fill" ? marker.label : "") })),
    ));
    if (!entry.markers) entry.markers = LWC.createSeriesMarkers(price, markers);
    else entry.markers.setMarkers(markers);
    entry.payloadMarkers = payload.markers || [];
    replaceLevels(price, (payload.levels || []).map((level) => ({
      price: level.price, color: COLOURS[level.kind === "limit" ? "limit_order" : level.kind] || COLOURS.average_cost,
      lineWidth: 1, lineStyle: LWC.LineStyle.Dashed, axisLabelVisible: true, title: level.label,
    })));
    if (created) entry.chart.timeScale().fitContent();
  }

  function drawOverlays(entry, overlays) {
    const wanted = new Set(overlays.map((overlay) => "overlay:" + overlay.name));
    for (const key of Object.keys(entry.series)) {
      if (key.startsWith("overlay:") && !wanted.has(key)) {
        entry.chart.removeSeries(entry.series[key]);
        delete entry.series[key];
      }
    }
    overlays.forEach((overlay, index) => {
      const pane = overlay.pane === "oscillator" ? 1 : 0;
      const line = seriesIn(entry, "overlay:" + overlay.name, LWC.LineSeries, {
        color: COLOURS.lines[index % COLOURS.lines.length], lineWidth: 1, title: overlay.name,
        priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false,
      }, pane);
      line.setData(overlay.points);
      replaceLevels(line, (overlay.levels || []).map((level) => ({
        price: level, color: "#8b949e", lineWidth: 1, lineStyle: LWC.LineStyle.Dotted, axisLabelVisible: true, title: "",
      })));
    });
  }

  // What the chart holds, for the tables beside it and for tests: the markers the library was given.
  function markersOf(container) {
    const entry = charts.get(container);
    if (!entry || !entry.markers) return [];
    return entry.markers.markers().map((marker) => ({ time: marker.time, id: marker.id, shape: marker.shape }));
  }

  global.TraderCharts = { equity: equity, candles: candles, markersOf: markersOf, marketTime: marketTime, destroy: destroy };
})(window);
