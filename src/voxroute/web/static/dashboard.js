/* The org dashboard: keys, assistants, calls with their resolution trace, credit and usage. */
(function () {
  "use strict";
  const { api, el, $, replace, say, describeError, usd, when, table, traceTable, costTable } = globalThis.Vox;

  let providers = [];

  function kv(node, pairs) {
    replace(node, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  async function loadOrg() {
    const org = await api("GET", "/org");
    kv($("org"), [
      ["name", org.name],
      ["id", el("code", {}, org.id)],
      ["BYOK enabled by platform", org.byok_enabled ? "yes" : "no"],
      ["use own keys", org.use_own_keys ? "yes" : "no"],
      ["failure policy", org.failure_policy],
    ]);
  }

  async function loadBalance() {
    const b = await api("GET", "/billing/balance");
    kv($("balance"), [
      ["balance", usd(b.balance)],
      ["reserved", usd(b.reserved)],
      ["available", usd(b.available)],
    ]);
  }

  async function loadKeys() {
    const creds = (await api("GET", "/credentials")).filter((c) => c.scope === "organization");
    if (creds.length === 0) {
      replace($("byok-keys"), el("p", { class: "muted" }, "No organization keys: every stage uses assistant or platform keys."));
      return;
    }
    const rows = creds.map((c) => {
      const del = el("button", { type: "button", class: "danger" }, "Delete");
      del.addEventListener("click", () => deleteKey(c.provider));
      const publics = Object.entries(c.public_fields || {}).map(([k, v]) => k + "=" + v).join(" ");
      return el(
        "tr",
        {},
        el("td", {}, c.provider),
        el("td", {}, c.label),
        el("td", { class: "mono" }, c.hint ? "…" + c.hint : "(short)"),
        el("td", {}, publics),
        el("td", {}, el("span", { class: "badge " + c.status }, c.status)),
        el("td", {}, el("span", { class: "badge " + (c.validation_status || "") }, c.validation_status || "unchecked")),
        el("td", {}, when(c.last_validated_at)),
        el("td", {}, c.last_error || ""),
        el("td", {}, when(c.last_used_at)),
        el("td", {}, del)
      );
    });
    replace(
      $("byok-keys"),
      table(["provider", "label", "hint", "public fields", "status", "validation", "checked", "last error", "last used", ""], rows)
    );
  }

  async function deleteKey(provider) {
    if (!globalThis.confirm("Permanently delete the organization's " + provider + " key?")) return;
    try {
      await api("DELETE", "/byok", { provider });
      say($("byok-status"), "Deleted the " + provider + " key.", "ok");
      await loadKeys();
    } catch (err) {
      say($("byok-status"), describeError(err), "error");
    }
  }

  function renderFields() {
    const spec = providers.find((p) => p.id === $("byok-provider").value);
    if (!spec) return;
    const publics = new Set(spec.public_fields || []);
    replace(
      $("byok-fields"),
      spec.required_fields.map((field) =>
        el(
          "label",
          {},
          field,
          el("input", {
            name: field,
            type: publics.has(field) ? "text" : "password",
            autocomplete: publics.has(field) ? "off" : "new-password",
            spellcheck: "false",
            required: true,
          })
        )
      )
    );
  }

  async function loadProviders() {
    providers = (await api("GET", "/byok/config")).providers;
    replace(
      $("byok-provider"),
      providers.map((p) => el("option", { value: p.id }, p.name + " (" + p.categories.join(", ") + ")"))
    );
    renderFields();
  }

  async function saveKey(event) {
    event.preventDefault();
    const inputs = Array.from($("byok-fields").querySelectorAll("input"));
    const body = { provider: $("byok-provider").value };
    for (const input of inputs) body[input.name] = input.value.trim();
    // The secret leaves the page once, in this request body; the form never shows it again.
    for (const input of inputs) if (input.type === "password") input.value = "";
    try {
      await api("POST", "/byok", body);
      say($("byok-status"), "Saved the " + body.provider + " key. Use “Check status” to validate it.", "ok");
      await loadKeys();
    } catch (err) {
      say($("byok-status"), describeError(err), "error");
    }
  }

  async function checkKeys() {
    $("check-keys").disabled = true;
    try {
      const results = await api("POST", "/byok/check", {});
      replace(
        $("check-results"),
        results.length === 0
          ? el("p", { class: "muted" }, "No keys to check.")
          : table(
              ["provider", "label", "result", "message"],
              results.map((r) =>
                el("tr", {}, el("td", {}, r.provider), el("td", {}, r.label), el("td", {}, el("span", { class: "badge " + r.status }, r.status)), el("td", {}, r.message))
              )
            )
      );
      await loadKeys();
    } catch (err) {
      say($("byok-status"), describeError(err), "error");
    } finally {
      $("check-keys").disabled = false;
    }
  }

  function stageSummary(config) {
    if (!config) return "–";
    const keys = config.byo_api_keys && Object.keys(config.byo_api_keys).length ? " · own key" : "";
    return config.provider + " / " + (config.model || "default") + keys;
  }

  async function loadAssistants() {
    const assistants = await api("GET", "/assistants");
    if (assistants.length === 0) {
      replace($("assistants"), el("p", { class: "muted" }, "No assistants."));
      return;
    }
    replace(
      $("assistants"),
      table(
        ["name", "id", "stt", "llm", "tts", ""],
        assistants.map((a) =>
          el(
            "tr",
            {},
            el("td", {}, a.name),
            el("td", { class: "mono" }, a.id),
            el("td", {}, stageSummary(a.stt_config)),
            el("td", {}, stageSummary(a.llm_config)),
            el("td", {}, stageSummary(a.tts_config)),
            el("td", {}, el("a", { href: "/softphone?assistant=" + encodeURIComponent(a.id) }, "test call"))
          )
        )
      )
    );
  }

  function traceSummary(resolution) {
    return (resolution || []).map((s) =>
      el("div", {}, s.stage + ": " + s.provider + " ", el("span", { class: "badge " + s.source }, s.source))
    );
  }

  async function showCall(id) {
    try {
      const call = await api("GET", "/calls/" + encodeURIComponent(id));
      replace(
        $("call-detail"),
        el("h3", {}, "Call ", el("code", {}, call.id)),
        traceTable(call.resolution),
        el("h3", {}, "Cost"),
        costTable(call.cost)
      );
    } catch (err) {
      say($("status"), describeError(err), "error");
    }
  }

  async function loadCalls() {
    const calls = await api("GET", "/calls?limit=20");
    if (calls.length === 0) {
      replace($("calls"), el("p", { class: "muted" }, "No calls yet. Place one from the softphone."));
      return;
    }
    const rows = calls.map((c) => {
      const more = el("button", { type: "button" }, "Details");
      more.addEventListener("click", () => showCall(c.id));
      return el(
        "tr",
        {},
        el("td", {}, when(c.started_at)),
        el("td", {}, c.telephony_provider),
        el("td", {}, c.status),
        el("td", {}, c.end_reason || ""),
        el("td", {}, traceSummary(c.resolution)),
        el("td", {}, more)
      );
    });
    replace($("calls"), table(["started", "via", "status", "end reason", "keys", ""], rows));
  }

  async function loadUsage() {
    const usage = await api("GET", "/usage?group_by=key_source");
    if (usage.rows.length === 0) {
      replace($("usage"), el("p", { class: "muted" }, "No usage in this period."));
      return;
    }
    replace(
      $("usage"),
      table(
        ["key source", "unit", { label: "quantity", num: true }, { label: "list cost", num: true }, { label: "billed", num: true }],
        usage.rows.map((r) =>
          el(
            "tr",
            {},
            el("td", {}, el("span", { class: "badge " + r.group }, r.group)),
            el("td", {}, r.unit),
            el("td", { class: "num" }, r.quantity),
            el("td", { class: "num" }, usd(r.cost_micros)),
            el("td", { class: "num" }, usd(r.billed_micros))
          )
        )
      )
    );
  }

  async function loadAll() {
    if (!globalThis.Vox.token()) {
      say($("status"), "Paste an API token (owner or member) to load the dashboard.");
      return;
    }
    say($("status"), "Loading…");
    const jobs = [loadOrg, loadBalance, loadProviders, loadKeys, loadAssistants, loadCalls, loadUsage];
    const results = await Promise.allSettled(jobs.map((job) => job()));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) say($("status"), describeError(failed.reason), "error");
    else say($("status"), "");
  }

  $("byok-provider").addEventListener("change", renderFields);
  $("byok-form").addEventListener("submit", saveKey);
  $("check-keys").addEventListener("click", checkKeys);
  $("reload-calls").addEventListener("click", () => loadCalls().catch((err) => say($("status"), describeError(err), "error")));
  globalThis.Vox.setupToken(loadAll);
})();
