"use strict";
// Numbers and times as a trader reads them: money with two decimals and its currency, quantities
// without trailing zeros, percentages as percentages, times in the market's zone (UTC on hover),
// short ids (the full one on hover). Every function takes the API's strings and tolerates null.

(function (global) {
  const MARKET_ZONE = "America/New_York";
  const moneyFormats = {};
  const marketMoment = new Intl.DateTimeFormat("en-CA", {
    timeZone: MARKET_ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23",
  });
  const DASH = "—";

  function missing(value) {
    return value === null || value === undefined || value === "";
  }

  function money(value, currency) {
    if (missing(value) || isNaN(Number(value))) return DASH;
    const code = currency || "USD";
    if (!moneyFormats[code]) {
      moneyFormats[code] = new Intl.NumberFormat("en-US", {
        style: "currency", currency: code, minimumFractionDigits: 2, maximumFractionDigits: 2,
      });
    }
    return moneyFormats[code].format(Number(value));
  }

  function signedMoney(value, currency) {
    if (missing(value) || isNaN(Number(value))) return DASH;
    return (Number(value) > 0 ? "+" : "") + money(value, currency);
  }

  // Exact decimal text without trailing zeros, grouped by thousands: "116.000000000" -> "116".
  function quantity(value) {
    if (missing(value)) return DASH;
    const text = String(value).trim();
    if (!/^-?\d+(\.\d+)?$/.test(text)) return isNaN(Number(text)) ? text : quantity(Number(text).toString());
    const negative = text.startsWith("-");
    const [whole, fraction] = text.replace("-", "").split(".");
    const grouped = whole.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    const trimmed = (fraction || "").replace(/0+$/, "");
    const result = trimmed ? grouped + "." + trimmed : grouped;
    return (negative && result !== "0" ? "-" : "") + result;
  }

  // Prices: two decimals, more only where the price has them (a penny stock's 0.0123).
  function price(value) {
    if (missing(value) || isNaN(Number(value))) return DASH;
    const number = Number(value);
    const digits = Math.abs(number) < 1 ? 4 : 2;
    return number.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: digits });
  }

  // A fraction (0.0123) as a percentage ("1.23 %").
  function percent(fraction, digits) {
    if (missing(fraction) || isNaN(Number(fraction))) return DASH;
    return (Number(fraction) * 100).toFixed(digits === undefined ? 2 : digits) + " %";
  }

  function signedPercent(fraction, digits) {
    if (missing(fraction) || isNaN(Number(fraction))) return DASH;
    return (Number(fraction) > 0 ? "+" : "") + percent(fraction, digits);
  }

  function count(value) {
    if (missing(value) || isNaN(Number(value))) return DASH;
    return Number(value).toLocaleString("en-US");
  }

  function milliseconds(value) {
    if (missing(value) || isNaN(Number(value))) return DASH;
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: 1 }) + " ms";
  }

  function age(seconds) {
    if (missing(seconds) || isNaN(Number(seconds))) return DASH;
    let left = Math.max(0, Math.round(Number(seconds)));
    if (left < 60) return left + " s";
    const days = Math.floor(left / 86400); left -= days * 86400;
    const hours = Math.floor(left / 3600); left -= hours * 3600;
    const minutes = Math.floor(left / 60);
    if (days) return days + " d " + hours + " h";
    if (hours) return hours + " h " + minutes + " min";
    return minutes + " min";
  }

  function parts(moment) {
    const found = {};
    for (const part of marketMoment.formatToParts(moment)) found[part.type] = part.value;
    return found;
  }

  // "2010-01-13 09:30 ET" (the market's zone), with the exact UTC moment for the hover title.
  function marketTime(iso) {
    if (missing(iso)) return { text: DASH, title: "" };
    const moment = new Date(iso);
    if (isNaN(moment.getTime())) return { text: String(iso), title: "" };
    const p = parts(moment);
    return {
      text: p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + " ET",
      title: moment.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC"),
    };
  }

  // A UUID becomes its first 8 characters; a readable client order id keeps its readable head.
  function shortId(value) {
    if (missing(value)) return { text: DASH, title: "" };
    const text = String(value);
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-/i.test(text)) return { text: text.slice(0, 8), title: text };
    if (text.length <= 14) return { text: text, title: text };
    return { text: text.slice(0, 12) + "…", title: text };
  }

  function words(name) {
    return String(name).replace(/_/g, " ");
  }

  global.Format = {
    money, signedMoney, quantity, price, percent, signedPercent, count, milliseconds, age, marketTime,
    shortId, words, DASH,
  };
})(window);
