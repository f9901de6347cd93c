// The dashboard: the admin API of the page's own origin, signed in with APEX_ADMIN_KEY. No library,
// no build step, nothing fetched from anywhere else (the page's Content-Security-Policy says so too).
"use strict";

const COLORS = ["#3b5bdb", "#f08c00", "#2b8a3e", "#c2255c", "#7048e8", "#1098ad", "#e8590c", "#5c940d", "#868e96"];
const state = {
  key: sessionStorage.getItem("apex-admin-key") || "", split: "model", metric: "requests", daily: [],
  log: { rows: [], next: null }, logTicket: 0,
};
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(new URL(`admin/${path}`, location.href), {
    ...options,
    headers: { authorization: `Bearer ${state.key}`, "content-type": "application/json", ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((body.error && body.error.message) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value; else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

const number = (n) => Number(n || 0).toLocaleString("en-US");
const money = (n) => `$${Number(n || 0).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`;
const percent = (part, whole) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : "–");
const day = (date) => date.toISOString().slice(0, 10);
const when = (seconds) => (seconds ? new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 16) : "–");

// `attributes(row, i)`, when given, are each row's (the request log's rows open their details).
function table(node, columns, rows, { empty = "Nothing yet", attributes = () => ({}) } = {}) {
  node.replaceChildren(element("tr", {}, ...columns.map(([label, , cls]) => element("th", { class: cls || "" }, label))));
  if (!rows.length) {
    node.append(element("tr", {}, element("td", { class: "empty", colspan: columns.length }, empty)));
    return;
  }
  for (const [i, row] of rows.entries()) {
    node.append(element("tr", attributes(row, i), ...columns.map(([, value, cls]) => {
      const cell = value(row);
      return element("td", { class: cls || "" }, cell instanceof Node ? cell : cell ?? "–");
    })));
  }
}

function range() {
  return `from=${$("from").value}&to=${$("to").value}`;
}

function say(text) {
  $("message").textContent = text || "";
}

// -- usage ------------------------------------------------------------------------------------
const REJECTED = "(rejected)";     // the model group of requests refused before any provider (core.usage)

async function loadUsage(keys, models) {
  const [totals, daily, byKey, byModel, providers] = await Promise.all([
    api(`usage?${range()}`),
    api(`usage?${range()}&group_by=day,${state.split}`),
    api(`usage?${range()}&group_by=key`),
    api(`usage?${range()}&group_by=model`),
    api(`usage?${range()}&group_by=provider`),
  ]);
  const t = totals.totals;
  $("overview").replaceChildren(...[
    ["Requests", number(t.requests)], ["Tokens", number(t.tokens)], ["Spend", money(t.cost)],
    ["Error rate", percent(t.errors, t.requests)], ["Cache hits", percent(t.cached, t.requests)],
    ["Latency p50 / p95", `${Math.round(t.latency_ms_p50)} / ${Math.round(t.latency_ms_p95)} ms`],
  ].map(([label, value]) => element("div", { class: "card" }, element("div", { class: "label" }, label),
    element("div", { class: "value", "data-total": label }, value))));
  $("empty").hidden = t.requests > 0;
  $("try-curl").textContent = tryCurl(models);
  state.daily = daily.groups || [];
  drawChart();
  const byRequests = (groups) => (groups || []).sort((a, b) => b.requests - a.requests).slice(0, 10);
  // A key by its name, else its prefix (the id when the key is gone from the table and the config).
  const named = Object.fromEntries(keys.map((k) => [k.id, k.name || k.prefix]));
  table($("top-keys"), [["Key", (r) => element("span", { title: r.key }, named[r.key] || r.key)],
    ["Requests", (r) => number(r.requests), "num"],
    ["Tokens", (r) => number(r.tokens), "num"], ["Spend", (r) => money(r.cost), "num"]], byRequests(byKey.groups));
  // The served models first; what the gateway refused before any provider, whatever the name, is one last row.
  const served = (byModel.groups || []).filter((g) => g.model !== REJECTED);
  const refused = (byModel.groups || []).filter((g) => g.model === REJECTED);
  table($("top-models"), [["Model", (r) => (r.model === REJECTED ? element("span", {
    class: "rejected", title: Object.entries(r.rejected_models).map(([name, n]) => `${name || "(none)"}: ${n}`).join("\n"),
  }, `rejected (${r.rejected_names} name${r.rejected_names === 1 ? "" : "s"})`) : r.model)],
  ["Requests", (r) => number(r.requests), "num"],
  ["Tokens", (r) => number(r.tokens), "num"], ["Spend", (r) => money(r.cost), "num"]],
  [...byRequests(served).slice(0, refused.length ? 9 : 10), ...refused]);
  table($("providers"), [["Provider", (r) => r.provider], ["Requests", (r) => number(r.requests), "num"],
    ["Errors", (r) => percent(r.errors, r.requests), "num"], ["Cache hits", (r) => percent(r.cached, r.requests), "num"],
    ["p50", (r) => `${Math.round(r.latency_ms_p50)} ms`, "num"], ["p95", (r) => `${Math.round(r.latency_ms_p95)} ms`, "num"]],
  byRequests(providers.groups));
  return { byKey: byKey.groups || [], byModel: byModel.groups || [], byProvider: providers.groups || [] };
}

function tryCurl(models) {
  // A request to paste into a terminal: this gateway's own address, a chat model it serves.
  const chat = models.find((m) => m.type === "chat" && !m.deprecated && m.routes.length);
  const body = JSON.stringify({ model: chat ? chat.id : "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] });
  return [`curl ${new URL("/v1/chat/completions", location.origin)}`, '-H "Authorization: Bearer YOUR_KEY"',
    '-H "content-type: application/json"', `-d '${body.replaceAll("'", "'\\''")}'`].join(" \\\n  ");
}

function days() {
  const out = [];
  for (let d = new Date(`${$("from").value}T00:00:00Z`); day(d) <= $("to").value && out.length < 400;
    d = new Date(d.getTime() + 86400000)) out.push(day(d));
  return out;
}

function axis(peak, whole) {
  // Ticks from 0 at a round step (1, 2 or 5 × 10^n; whole numbers for counts), at most four above 0,
  // the last at or past the peak. An empty chart goes from 0 to 1.
  const target = peak > 0 ? peak : 1;
  const power = 10 ** Math.floor(Math.log10(target / 4));
  let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= target / 4);
  if (whole) step = Math.max(1, step);
  const ticks = [];
  for (let i = 0; ticks.length < 2 || ticks[ticks.length - 1] < target; i++) ticks.push(Number((i * step).toPrecision(12)));
  return { ticks, step, top: ticks[ticks.length - 1] };
}

function tickLabel(value, step, metric) {
  if (value === 0) return metric === "cost" ? "$0" : "0";
  if (metric === "cost") {
    // As many decimals as the step needs (at least cents): $0.0005, $0.0010 … or $0.50, $1.00, or $20.
    const decimals = step >= 1 ? 0 : Math.max(2, Math.ceil(-Math.log10(step) - 1e-9));
    return `$${value.toFixed(decimals)}`;
  }
  return value >= 10000 ? value.toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 1 })
    : value.toLocaleString("en-US");
}

function drawChart() {
  const metric = state.metric;
  const totals = {};
  for (const g of state.daily) totals[g[state.split] || "–"] = (totals[g[state.split] || "–"] || 0) + g[metric];
  const names = Object.keys(totals).sort((a, b) => totals[b] - totals[a]);
  const shown = names.slice(0, COLORS.length - 1);
  const series = names.length > shown.length ? [...shown, "other"] : shown;
  const stacks = {};
  for (const g of state.daily) {
    const name = shown.includes(g[state.split] || "–") ? (g[state.split] || "–") : "other";
    stacks[g.day] = stacks[g.day] || {};
    stacks[g.day][name] = (stacks[g.day][name] || 0) + g[metric];
  }
  const dates = days();
  const { ticks, step, top: peak } = axis(
    Math.max(0, ...dates.map((d) => Object.values(stacks[d] || {}).reduce((a, b) => a + b, 0))), metric !== "cost");
  const labels = ticks.map((value) => tickLabel(value, step, metric));
  // Drawn at the size it is shown (text stays 10 px on a phone), as wide as its panel.
  const width = Math.max(260, Math.round($("chart").clientWidth) || 900);
  const height = width < 600 ? 220 : 280, bottom = 22, top = 8;
  const left = 12 + 6 * Math.max(...labels.map((l) => l.length));
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${state.metric} per day` });
  ticks.forEach((value, i) => {
    const y = height - bottom - ((height - bottom - top) * value) / peak;
    plot.append(svg("line", { x1: left, x2: width, y1: y, y2: y, stroke: "#e9ecef" }));
    const label = svg("text", { x: left - 6, y: y + 3, "text-anchor": "end", class: "tick" });
    label.textContent = labels[i];
    plot.append(label);
  });
  const slot = (width - left) / Math.max(1, dates.length);
  const every = Math.max(1, Math.ceil(dates.length / Math.max(1, Math.floor((width - left) / 44))));
  dates.forEach((d, i) => {
    let y = height - bottom;
    series.forEach((name, s) => {
      const value = (stacks[d] || {})[name] || 0;
      if (!value) return;
      const h = ((height - bottom - top) * value) / peak;
      y -= h;
      const bar = svg("rect", { x: left + i * slot + slot * 0.15, y, width: slot * 0.7, height: h, fill: COLORS[s] });
      const tip = svg("title");
      tip.textContent = `${d} · ${name}: ${metric === "cost" ? money(value) : number(value)}`;
      bar.append(tip);
      plot.append(bar);
    });
    if ((dates.length - 1 - i) % every === 0) {          // counted from the last day: today is labelled
      const x = Math.min(width - 16, left + i * slot + slot / 2);       // today's label whole at the right edge
      const label = svg("text", { x, y: height - 6, "text-anchor": "middle", class: "day" });
      label.textContent = d.slice(5);
      plot.append(label);
    }
  });
  $("chart").replaceChildren(plot);
  $("legend").replaceChildren(...series.map((name, s) => {
    const item = element("span", {}, name);
    item.style.setProperty("--swatch", COLORS[s]);
    return item;
  }));
}

function exportCsv() {
  const header = ["day", state.split, "requests", "prompt_tokens", "completion_tokens", "tokens", "cost", "errors",
    "cached", "latency_ms_p50", "latency_ms_p95"];
  // A cell a spreadsheet would take for a formula (=, +, -, @, tab, CR: a model name is a client's
  // text) is written with a leading apostrophe, so it stays text.
  const text = (value) => (typeof value === "string" && /^[=+\-@\t\r]/.test(value) ? `'${value}` : String(value ?? ""));
  const quote = (value) => `"${text(value).replaceAll('"', '""')}"`;
  const lines = [header.join(","), ...state.daily.map((g) => header.map((h) => quote(g[h])).join(","))];
  const link = element("a", {
    href: URL.createObjectURL(new Blob([`${lines.join("\n")}\n`], { type: "text/csv" })),
    download: `apex-usage-${$("from").value}-${$("to").value}.csv`,
  });
  link.click();
}

// -- the request log ----------------------------------------------------------------------------
const LOG_PAGE = 50;
const LOG_FILTERS = [["key", "log-key"], ["model", "log-model"], ["provider", "log-provider"], ["status", "log-status"]];
const moment = (seconds) => new Date(seconds * 1000).toISOString().replace("T", " ").slice(5, 19);
const fellBack = (r) => r.attempts.length > 1;
const keyOf = (r) => r.key_name || r.key_prefix || r.key_id;

function options(id, label, choices) {
  // The filter's choices, from what the page knows (keys, models and providers of the range, the
  // config's): the one chosen stays, listed or not.
  const select = $(id);
  const chosen = select.value;
  const values = new Map(choices.filter(([value]) => value));
  if (chosen && !values.has(chosen)) values.set(chosen, chosen);
  select.replaceChildren(element("option", { value: "" }, label),
    ...[...values].sort((a, b) => a[1].localeCompare(b[1])).map(([value, text]) => element("option", { value }, text)));
  select.value = chosen;
}

function fillFilters(keys, models, usage) {
  const named = Object.fromEntries(keys.map((k) => [k.id, k.name || k.prefix]));
  options("log-key", "All keys", [...keys.map((k) => k.id), ...usage.byKey.map((g) => g.key)]
    .map((id) => [id, named[id] || id]));
  const asked = usage.byModel.flatMap((g) => (g.model === REJECTED ? Object.keys(g.rejected_models) : [g.model]));
  options("log-model", "All models", [...models.map((m) => m.id), ...asked].map((m) => [m, m]));
  options("log-provider", "All providers", [...models.flatMap((m) => m.routes.map((r) => r.provider)),
    ...usage.byProvider.map((g) => g.provider)].map((p) => [p, p]));
}

async function loadRequests(older = false) {
  // The range's latest requests, filtered; `older` adds the page before the last one shown. An answer
  // overtaken by a newer load (another filter chosen meanwhile) is dropped.
  const ticket = ++state.logTicket;
  const query = new URLSearchParams({ from: $("from").value, to: $("to").value, limit: String(LOG_PAGE) });
  for (const [name, id] of LOG_FILTERS) if ($(id).value) query.set(name, $(id).value);
  if (older) query.set("before", String(state.log.next));
  const page = await api(`requests?${query}`);
  if (ticket !== state.logTicket) return;
  state.log = { rows: older ? [...state.log.rows, ...page.data] : page.data, next: page.next_before };
  drawRequests();
}

function drawRequests() {
  table($("requests"), [
    ["Time (UTC)", (r) => moment(r.ts)],
    ["Key", (r) => element("span", { title: r.key_id }, keyOf(r))],
    ["Model", (r) => (r.mapped_model && r.mapped_model !== r.model ? `${r.model} → ${r.mapped_model}` : r.model || "–")],
    ["Provider", (r) => element("span", {}, r.provider || "–", ...(fellBack(r) ? [" ", element("span", {
      class: "fell-back", title: r.attempts.map((a) => `${a.provider}: ${a.outcome}`).join(" → "),
    }, "fell back")] : []))],
    ["Status", (r) => element("span", { class: r.status >= 400 ? "failed" : "" }, r.status)],
    ["Tokens", (r) => number(r.prompt_tokens + r.completion_tokens), "num"],
    ["Cost", (r) => money(r.cost), "num"],
    ["Latency", (r) => `${number(Math.round(r.latency_ms))} ms`, "num"],
  ], state.log.rows, { empty: "No request in this range matches",
    attributes: (r, i) => ({ class: "opens", tabindex: "0", "data-request": String(i) }) });
  $("older").hidden = state.log.next == null;
}

function openRequest(r) {
  $("request-title").textContent = `${r.status} · ${r.model || "(no model)"}`;
  $("request-facts").replaceChildren(...[
    ["Time (UTC)", new Date(r.ts * 1000).toISOString().replace("T", " ").slice(0, 23)],
    ["Key", `${keyOf(r)}${keyOf(r) === r.key_id ? "" : ` (${r.key_id})`}`],
    ["Model", r.model || "–"], ["Served model", r.mapped_model || "–"], ["Provider", r.provider || "–"],
    ["Status", r.status], ["Prompt tokens", number(r.prompt_tokens)],
    ["Completion tokens", number(r.completion_tokens)], ["Cost", money(r.cost)],
    ["Latency", `${number(r.latency_ms)} ms`], ["Cache hit", r.cached ? "yes" : "no"], ["Request id", r.request_id],
  ].flatMap(([term, value]) => [element("dt", {}, term), element("dd", {}, value)]));
  const none = r.cached ? "None: it was answered from the cache"
    : r.provider ? "None recorded" : "None: the gateway refused it before any provider";
  table($("request-attempts"), [
    ["Provider", (a) => a.provider],
    ["Outcome", (a) => element("span", { class: a.outcome === "ok" ? "" : "failed" }, a.outcome)],
    ["Time", (a) => `${number(a.ms)} ms`, "num"],
  ], r.attempts, { empty: none });
  $("request").showModal();
}

// -- keys, quotas, routes --------------------------------------------------------------------------
function drawKeys(keys, lastSeen) {
  // The config's static keys too: their prefix, name and plan (never the key), and no Revoke: they
  // live in the config's [[keys]], and go when they are removed there.
  const seen = Object.fromEntries(lastSeen.map((g) => [g.key, g.last_seen]));
  table($("keys"), [
    ["Name", (k) => k.name || "–"], ["Key", (k) => k.prefix], ["Id", (k) => k.id], ["Plan", (k) => k.plan],
    ["Limits", (k) => [k.rpm != null ? `${k.rpm} rpm` : null, k.monthly_tokens != null ? `${number(k.monthly_tokens)} tok/mo` : null,
      k.credits != null ? money(k.credits) : null, k.models ? k.models.join(",") : null].filter(Boolean).join(" · ") || "plan's"],
    ["Created", (k) => when(k.created_at)], ["Last used", (k) => when(seen[k.id])],
    ["Status", (k) => (k.static
      ? element("span", { class: "status-static", title: "from the config's [[keys]]: remove it there" }, "static")
      : element("span", { class: `status-${k.status}` }, k.status))],
    ["", (k) => (k.status === "active" && !k.static
      ? element("button", { type: "button", class: "danger", "data-revoke": k.id, "data-name": k.name || k.prefix }, "Revoke")
      : "")],
  ], keys);
  const rows = keys.filter((k) => k.status === "active" && k.usage && (k.usage.monthly_tokens_limit || k.usage.credits != null));
  $("quotas").replaceChildren(...(rows.length ? rows.flatMap((k) => {
    const bars = [];
    if (k.usage.monthly_tokens_limit) bars.push(bar(`${k.name || k.prefix} · tokens`, k.usage.month_tokens,
      k.usage.monthly_tokens_limit, `${number(k.usage.month_tokens)} / ${number(k.usage.monthly_tokens_limit)}`));
    if (k.usage.credits != null) bars.push(bar(`${k.name || k.prefix} · credits`, k.usage.spent, k.usage.credits,
      `${money(k.usage.spent)} / ${money(k.usage.credits)}`));
    return bars;
  }) : [element("p", { class: "empty" }, "No key has a monthly token quota or credits")]));
}

function bar(label, used, limit, what) {
  const share = limit ? Math.min(1, used / limit) : 0;
  const fill = element("div", { class: `fill${used >= limit ? " over" : ""}` });
  fill.style.width = `${(100 * share).toFixed(1)}%`;
  return element("div", { class: "bar" }, element("span", {}, label), element("div", { class: "track" }, fill),
    element("span", { class: "what" }, what));
}

function drawRoutes(models) {
  table($("routes"), [
    ["Model", (m) => m.id], ["Type", (m) => m.type],
    ["Routes", (m) => (m.deprecated ? element("span", { class: "deprecated" },
      m.replacement ? `deprecated — use ${m.replacement}` : "deprecated")
      : element("span", {}, ...m.routes.flatMap((r, i) => [
      i ? " → " : "", element("span", { class: `circuit-${r.circuit}` }, `${r.provider}/${r.model}`),
      ` (${r.circuit}${r.latency_ms != null ? `, ${Math.round(r.latency_ms)} ms` : ""})`])))],
    ["Price in / out $/1M", (m) => (m.deprecated ? "–" : `${m.pricing.input} / ${m.pricing.output}`), "num"],
    ["Quality", (m) => m.quality, "num"], ["Context", (m) => (m.context_window ? number(m.context_window) : "–"), "num"],
  ], models);
}

async function loadPlans() {
  const plans = (await api("plans")).data;
  $("new-plan").replaceChildren(...plans.map((p) => element("option", { value: p.name }, p.name)));
}

async function refresh() {
  say("");
  try {
    const [keys, models] = await Promise.all([api("keys?usage=1"), api("routes")]);
    drawRoutes(models.data);
    const [usage] = await Promise.all([loadUsage(keys.data, models.data), loadRequests()]);
    drawKeys(keys.data, usage.byKey);
    fillFilters(keys.data, models.data, usage);
  } catch (error) {
    say(error.message);
  }
}

// -- wiring ----------------------------------------------------------------------------------------
async function signIn(key) {
  state.key = key;
  try {
    await loadPlans();
  } catch (error) {
    sessionStorage.removeItem("apex-admin-key");
    say(error.status === 401 ? "Sign-in failed: wrong admin key. It is the gateway's APEX_ADMIN_KEY."
      : `Sign-in failed: ${error.message}`);
    return;
  }
  sessionStorage.setItem("apex-admin-key", key);
  $("signin").hidden = true;
  $("welcome").hidden = true;
  $("session").hidden = false;
  $("app").hidden = false;
  await refresh();
}

function init() {
  const today = new Date();
  $("to").value = day(today);
  $("from").value = day(new Date(today.getTime() - 29 * 86400000));
  $("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("admin-key").value.trim());
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem("apex-admin-key");
    location.reload();
  });
  $("apply").addEventListener("click", refresh);
  $("metric").addEventListener("change", (event) => {
    state.metric = event.target.value;
    drawChart();
  });
  document.querySelectorAll("[data-split]").forEach((button) => button.addEventListener("click", async () => {
    state.split = button.dataset.split;
    document.querySelectorAll("[data-split]").forEach((b) => b.classList.toggle("on", b === button));
    try {
      state.daily = (await api(`usage?${range()}&group_by=day,${state.split}`)).groups || [];
      drawChart();
    } catch (error) {
      say(error.message);
    }
  }));
  $("csv").addEventListener("click", exportCsv);
  const logged = (action) => action().catch((error) => say(error.message));
  for (const [, id] of LOG_FILTERS) $(id).addEventListener("change", () => logged(() => loadRequests()));
  $("older").addEventListener("click", () => logged(() => loadRequests(true)));
  const opened = (event) => {
    const row = event.target.closest("tr[data-request]");
    if (row) openRequest(state.log.rows[Number(row.dataset.request)]);
  };
  $("requests").addEventListener("click", opened);
  $("requests").addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    opened(event);
  });
  $("request-close").addEventListener("click", () => $("request").close());
  let resizing = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { if (!$("app").hidden) drawChart(); }, 150);
  });
  $("create").addEventListener("submit", async (event) => {
    event.preventDefault();
    const optional = (id, parse) => ($(id).value.trim() === "" ? undefined : parse($(id).value.trim()));
    try {
      const created = await api("keys", {
        method: "POST",
        body: JSON.stringify({
          plan: $("new-plan").value, name: $("new-name").value.trim(), rpm: optional("new-rpm", Number),
          monthly_tokens: optional("new-tokens", Number), credits: optional("new-credits", Number),
          models: optional("new-models", (v) => v.split(",").map((m) => m.trim()).filter(Boolean)),
        }),
      });
      $("new-key-value").textContent = created.key;
      $("new-key").showModal();
      $("create").reset();
      await refresh();
    } catch (error) {
      say(error.message);
    }
  });
  $("copy").addEventListener("click", () => navigator.clipboard.writeText($("new-key-value").textContent)
    .then(() => { $("copy").textContent = "Copied"; }, () => { $("copy").textContent = "Select and copy"; }));
  $("close").addEventListener("click", () => {
    $("new-key-value").textContent = "";
    $("copy").textContent = "Copy";
    $("new-key").close();
  });
  $("keys").addEventListener("click", async (event) => {
    const id = event.target.dataset && event.target.dataset.revoke;
    if (!id || !confirm(`Revoke ${event.target.dataset.name}? Requests with it will be refused.`)) return;
    try {
      await api(`keys/${id}`, { method: "DELETE" });
      await refresh();
    } catch (error) {
      say(error.message);
    }
  });
  if (state.key) signIn(state.key);
}

init();
