// afkit's page inside Airflow's UI. Plain JavaScript, no framework and no CDN: it ships in the Python package.
// It reads the plugin's JSON API with the Airflow session cookie (same origin), so Airflow's own authentication and
// permissions apply to every request; a 401 or 403 is shown as such, never as an empty page.
"use strict";

const API = "../api/v1/";
const REFRESH_MS = 30000;
const SLA_ROWS_SHOWN = 300; // 10,000 assets: problems first, then the first rows; the filter searches all of them
const $ = (id) => document.getElementById(id);

// -- theme: follow Airflow's light/dark mode (the page is shown in an iframe of Airflow's UI, same origin) ----------

function airflowTheme() {
  try {
    const root = window.parent && window.parent !== window ? window.parent.document.documentElement : null;
    if (root && root.classList.contains("dark")) return "dark";
    if (root && root.classList.contains("light")) return "light";
    const stored = localStorage.getItem("theme"); // Airflow's UI (next-themes) keeps the choice here
    if (stored === "dark" || stored === "light") return stored;
  } catch (e) { /* not same origin: fall back to the system preference */ }
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme() {
  const theme = new URLSearchParams(location.search).get("theme") || airflowTheme();
  document.documentElement.classList.toggle("dark", theme === "dark");
}

applyTheme();
try {
  if (window.parent && window.parent !== window) {
    new MutationObserver(applyTheme).observe(window.parent.document.documentElement,
      { attributes: true, attributeFilter: ["class"] });
  }
} catch (e) { /* ignore */ }
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
window.addEventListener("storage", applyTheme);

// -- helpers ---------------------------------------------------------------------------------------------------------

const escapeHtml = (value) => String(value ?? "").replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// The one duration format, as toolkit/core/humanize.py format_duration writes it for the CLI, TUI and Slack:
// "45s", "119s", "10m", "2h 05m", "3d 4h" ("0.5s" under 10 s). Keep the two in step.
function human(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const sign = seconds < 0 ? "-" : "";
  const s = Math.abs(seconds);
  if (s < 10 && Math.round(s * 10) / 10 !== Math.round(s)) return sign + (Math.round(s * 10) / 10).toFixed(1) + "s";
  const whole = Math.round(s);
  if (whole < 120) return sign + whole + "s";
  const days = Math.floor(whole / 86400), hours = Math.floor((whole % 86400) / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  if (days) return `${sign}${days}d ${hours}h`;
  return hours ? `${sign}${hours}h ${String(minutes).padStart(2, "0")}m` : `${sign}${minutes}m`;
}

// One time convention on the whole page, as in afkit's CLI and terminal app: UTC, 24-hour, always labelled.
const utc = (date, seconds = false) => date.toISOString().replace("T", " ").slice(0, seconds ? 19 : 16) + " UTC";
const when = (iso) => {
  const date = iso ? new Date(iso) : null;
  return date === null ? "–" : Number.isNaN(date.getTime()) ? String(iso) : utc(date);
};

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const response = await fetch(API + path, { credentials: "same-origin", ...options });
  if (response.ok) return response.json();
  let detail = "";
  try { detail = (await response.json()).detail || ""; } catch (e) { /* not JSON */ }
  if (response.status === 401) {
    throw new ApiError(401, "Your Airflow session has ended: log in to Airflow again, then refresh this page.");
  }
  if (response.status === 403) {
    throw new ApiError(403, `You do not have permission for this (${path.split("?")[0]}). ${detail}`.trim());
  }
  throw new ApiError(response.status, `Airflow answered ${response.status} for ${path.split("?")[0]}: ${detail}`);
}

function showProblem(messages) {
  const box = $("problem");
  box.hidden = messages.length === 0;
  box.textContent = messages.join(" · ");
}

// -- sections --------------------------------------------------------------------------------------------------------

let slaBoard = null;
let actionProblem = null; // the last pause/resume refusal stays visible through refreshes until the next action

function renderSlas() {
  if (!slaBoard) return;
  const needle = $("sla-filter").value.trim().toLowerCase();
  const all = slaBoard.slas;
  const matching = needle
    ? all.filter((s) => `${s.asset} ${s.sla} ${s.status} ${s.owners.join(" ")}`.toLowerCase().includes(needle))
    : all;
  const shown = matching.slice(0, SLA_ROWS_SHOWN);
  $("sla-rows").innerHTML = shown.map((s) => `<tr data-asset="${escapeHtml(s.asset)}" data-status="${s.status}">
    <td class="status ${s.status}">${s.status.replace("_", " ")}</td><td>${escapeHtml(s.asset)}</td>
    <td>${escapeHtml(s.sla)}</td><td class="num">${human(s.lag_seconds)}</td>
    <td>${escapeHtml(s.owners.join(", "))}</td><td>${escapeHtml(s.culprit || s.reason)}</td></tr>`).join("");
  $("sla-more").textContent = matching.length > shown.length
    ? `${shown.length} of ${matching.length} shown (worst first): filter to find the others.`
    : `${matching.length} SLA(s).`;
}

function renderBackfills(backfills) {
  $("count-backfills").textContent = backfills.length;
  $("backfill-rows").innerHTML = backfills.length === 0
    ? `<tr><td colspan="8" class="muted">No active backfill.</td></tr>`
    : backfills.map((b) => {
      const pct = (n) => (b.total ? (100 * n) / b.total : 0);
      return `<tr data-backfill="${b.id}"><td>${b.id}</td><td>${escapeHtml(b.dag_id)}${b.afkit_plan
        ? ` <span class="muted">plan ${escapeHtml(b.afkit_plan)}</span>` : ""}</td>
        <td>${when(b.from_date)} … ${when(b.to_date)}</td>
        <td><span class="bar" title="${b.success} succeeded, ${b.failed} failed, ${b.running} running, ${b.queued} queued">
          <i class="done" style="width:${pct(b.success)}%"></i><i class="failed" style="width:${pct(b.failed)}%"></i>
          <i class="running" style="width:${pct(b.running)}%"></i></span>
          ${b.success + b.failed}/${b.total} done</td>
        <td class="num">${b.running}</td><td class="num">${b.failed}</td>
        <td>${b.is_paused ? "paused" : "running"}</td>
        <td>${b.can_pause_resume
          ? `<button type="button" data-action="${b.is_paused ? "resume" : "pause"}" data-id="${b.id}">
          ${b.is_paused ? "Resume" : "Pause"}</button>`
          : `<span class="muted" title="Pausing and resuming need edit access to the runs of ${escapeHtml(b.dag_id)}">view only</span>`}</td></tr>`;
    }).join("");
}

function renderPools(data) {
  const over = data.pools.filter((p) => p.over_budget).length;
  $("count-pools").textContent = over;
  $("pool-rows").innerHTML = data.pools.map((p) => {
    let bar = `<span class="muted">unlimited</span>`;
    if (p.slots > 0) {
      const w = (n) => (100 * Math.max(0, n)) / p.slots;
      const reservedFree = Math.min(p.reserve, Math.max(0, p.free));
      bar = `<span class="bar"><i class="production" style="width:${w(p.production)}%"></i>`
        + `<i class="${p.over_budget ? "over" : "backfill"}" style="width:${w(p.backfill)}%"></i>`
        + `<i class="free" style="width:${w(p.free - reservedFree)}%"></i>`
        + `<i class="reserved" style="width:${w(reservedFree)}%"></i></span>`;
    }
    return `<tr data-pool="${escapeHtml(p.pool)}"><td>${escapeHtml(p.pool)}</td><td>${bar}</td>
      <td class="num">${p.slots < 0 ? "∞" : p.slots}</td><td class="num">${p.production}</td>
      <td class="num">${p.backfill}</td><td class="num">${p.waiting}</td><td class="num">${p.reserve}</td>
      <td class="num">${p.error ? escapeHtml(p.error) : p.budget}</td>
      <td class="num">${Math.round(100 * p.backfill_share)}%</td></tr>`;
  }).join("");
}

function renderCadence(reports) {
  $("count-changes").textContent = reports.length;
  $("cadence-rows").innerHTML = reports.length === 0
    ? `<tr><td colspan="5" class="muted">No asset changed its cadence.</td></tr>`
    : reports.map((r) => `<tr><td>${escapeHtml(r.asset)}</td><td>every ${human(r.change.before_seconds)}</td>
      <td>${r.change.kind === "irregular" ? "irregular, ~" : "every "}${human(r.change.after_seconds)}
        ${r.change.confirmed ? "" : `<span class="muted">(unconfirmed)</span>`}</td>
      <td>${when(r.change.at)}</td><td>${escapeHtml(r.message || "")}</td></tr>`).join("");
}

function renderMessage(m, reply) {
  const mentions = m.mentions.length
    ? `<span class="mentions">${m.mentions.map((o) => `<b>${escapeHtml(o)}</b>`).join(" ")}</span>` : "";
  return `<article class="message${reply ? " reply" : ""}" data-ts="${escapeHtml(m.ts)}">
    <header><strong>${escapeHtml(m.title)}</strong> <span class="muted">${escapeHtml(m.channel || m.via)}
      ${m.received_at ? utc(new Date(m.received_at * 1000), true) : ""}</span> ${mentions}</header>
    ${m.lines.map((line) => `<div>${escapeHtml(line)}</div>`).join("")}</article>`;
}

function renderInbox(inbox) {
  $("inbox").hidden = !inbox.enabled;
  if (!inbox.enabled) return;
  $("inbox-threads").innerHTML = inbox.threads.length === 0
    ? `<p class="muted">No message yet: afkit watch posts here when an SLA or a cadence changes.</p>`
    : inbox.threads.map((t) => `<div class="thread">${renderMessage(t, false)}${t.replies.map(
      (r) => renderMessage(r, true)).join("")}</div>`).join("");
}

// -- loading ---------------------------------------------------------------------------------------------------------

async function refresh() {
  const problems = [];
  const parts = [
    ["sla", (board) => {
      slaBoard = board;
      $("count-late").textContent = board.counts.late;
      $("count-at-risk").textContent = board.counts.at_risk;
      renderSlas();
    }],
    ["backfills", renderBackfills],
    ["pools", renderPools],
    ["cadence?changed_only=true", renderCadence],
    ["demo/inbox", renderInbox],
  ];
  await Promise.all(parts.map(async ([path, render]) => {
    try {
      render(await api(path));
    } catch (error) {
      if (!problems.includes(error.message)) problems.push(error.message);
    }
  }));
  showProblem(actionProblem ? [...problems, actionProblem] : problems);
  $("refreshed").textContent = `refreshed ${utc(new Date(), true)}`;
  document.body.dataset.loaded = "true"; // for tests: the first load finished
}

$("sla-filter").addEventListener("input", renderSlas);
$("refresh").addEventListener("click", refresh);
$("backfill-rows").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  button.disabled = true;
  try {
    await api(`backfills/${button.dataset.id}/${button.dataset.action}`, { method: "POST" });
    actionProblem = null;
  } catch (error) {
    actionProblem = error.message;
  }
  await refresh();
});
refresh();
setInterval(refresh, REFRESH_MS);
