/*
 * Shared by the voxroute pages: the API token (this tab's sessionStorage only, sent only in
 * the Authorization header), API calls, and DOM building that never parses HTML.
 */
(function (root) {
  "use strict";

  const TOKEN_KEY = "voxroute.apiToken";

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function token() {
    return root.sessionStorage.getItem(TOKEN_KEY) || "";
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json", Authorization: "Bearer " + token() };
    const init = { method, headers, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await root.fetch("/api/v1" + path, init);
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(response.status, err.code || "http_" + response.status, err.message || response.statusText);
    }
    return data;
  }

  /** el("td", {class: "num"}, "text", childNode): attributes via setAttribute, text via text nodes. */
  function el(tag, attrs, ...children) {
    const node = root.document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) throw new Error("use addEventListener, not " + name);
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof root.Node ? child : String(child));
    }
    return node;
  }

  function $(id) {
    return root.document.getElementById(id);
  }

  function replace(node, ...children) {
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  }

  function say(node, text, kind) {
    node.textContent = text;
    node.className = "status" + (kind ? " " + kind : "");
  }

  function describeError(err) {
    if (err instanceof ApiError) {
      if (err.status === 401) return "The token was refused (401). Paste a valid API token.";
      if (err.status === 403) return "Not allowed with this token (403): " + err.message;
      return err.message + " (" + err.status + ")";
    }
    return String((err && err.message) || err);
  }

  function usd(micros) {
    if (micros === null || micros === undefined) return "–";
    return "$" + (Number(micros) / 1e6).toFixed(4);
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  function table(headers, rows) {
    const head = el("tr", {}, headers.map((h) => el("th", { class: h.num ? "num" : null }, h.label || h)));
    return el("table", {}, el("thead", {}, head), el("tbody", {}, rows));
  }

  /** The resolution trace: which key (source, credential) served each stage. */
  function traceTable(resolution) {
    if (!resolution || resolution.length === 0) return el("p", { class: "muted" }, "No resolution recorded.");
    return table(
      ["stage", "provider", "model", "key source", "credential", "fallback reason"],
      resolution.map((s) =>
        el(
          "tr",
          {},
          el("td", {}, s.stage),
          el("td", {}, s.provider),
          el("td", {}, s.model),
          el("td", {}, el("span", { class: "badge " + s.source }, s.source)),
          el("td", { class: "mono" }, s.credential_id ? s.credential_id + " v" + s.credential_version : "platform"),
          el("td", {}, s.fallback_reason || "")
        )
      )
    );
  }

  function costTable(cost) {
    if (!cost) return el("p", { class: "muted" }, "No cost recorded (yet).");
    const lines = ["transport", "stt", "llm", "tts", "platform"].filter((k) => cost[k]);
    const rows = lines.map((k) =>
      el(
        "tr",
        {},
        el("td", {}, k),
        el("td", { class: "mono" }, Object.entries(cost[k].units || {}).map(([u, q]) => u + "=" + q).join(" ")),
        el("td", { class: "num" }, usd(cost[k].cost_micros)),
        el("td", { class: "num" }, usd(cost[k].billed_micros))
      )
    );
    rows.push(
      el(
        "tr",
        {},
        el("th", {}, "total"),
        el("td", {}, ""),
        el("th", { class: "num" }, usd(cost.total_cost_micros)),
        el("th", { class: "num" }, usd(cost.total_billed_micros))
      )
    );
    return table(["line", "units", { label: "list cost", num: true }, { label: "billed", num: true }], rows);
  }

  /** Wire the header's token form; `onToken` runs now (if a token is kept) and after each save. */
  function setupToken(onToken) {
    const form = $("token-form");
    const input = $("token");
    const state = $("token-state");
    const forget = $("token-forget");
    const show = () => {
      state.textContent = token() ? "token kept for this tab" : "no token";
      forget.disabled = !token();
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = input.value.trim();
      input.value = "";
      if (!value) return;
      root.sessionStorage.setItem(TOKEN_KEY, value);
      show();
      onToken();
    });
    forget.addEventListener("click", () => {
      root.sessionStorage.removeItem(TOKEN_KEY);
      show();
      onToken();
    });
    show();
    onToken();
  }

  root.Vox = { ApiError, api, el, $, replace, say, describeError, usd, when, table, traceTable, costTable, setupToken, token };
})(globalThis);
