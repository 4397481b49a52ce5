// What both afkit pages share (the page in Airflow's navigation, and the per-DAG view in a DAG's tab): the theme that
// follows Airflow's, the one duration and time format, and the JSON API with Airflow's session. Plain JavaScript, no
// framework and no CDN: it ships in the Python package. Loaded first; its names are the pages' globals.
"use strict";

const API = "../api/v1/";
const REFRESH_MS = 30000;
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

