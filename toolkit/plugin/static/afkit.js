// afkit's page inside Airflow's UI. Plain JavaScript, no framework and no CDN: it ships in the Python package.
// It reads the plugin's JSON API with the Airflow session cookie (same origin), so Airflow's own authentication and
// permissions apply to every request; a 401 or 403 is shown as such, never as an empty page. common.js (the theme,
// formats and requests) and pictures.js (the drawings) are loaded before it.
"use strict";

const SLA_ROWS_SHOWN = 300; // 10,000 assets: problems first, then the first rows; the filter searches all of them
const TIMELINES_SHOWN = 6; // freshness timelines drawn: the assets picked on the board first, then the worst SLAs'
const PROGRESS_DRAWN = 10; // active backfills whose progress over time is drawn

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
    <td class="status ${s.status}">${s.status.replace("_", " ")}</td><td><button type="button" class="link"
      data-timeline="${escapeHtml(s.asset)}" title="draw its freshness timeline">${escapeHtml(s.asset)}</button></td>
    <td>${escapeHtml(s.sla)}</td><td class="num">${human(s.lag_seconds)}</td>
    <td>${escapeHtml(s.owners.join(", "))}</td><td>${escapeHtml(s.culprit || s.reason)}</td></tr>`).join("");
  $("sla-more").textContent = matching.length > shown.length
    ? `${shown.length} of ${matching.length} shown (worst first): filter to find the others.`
    : `${matching.length} SLA(s).`;
}

// -- freshness timelines: the assets picked on the board, then those of the worst SLAs -------------------------------

let pickedAssets = []; // newest pick first; kept through refreshes

function timelineAssets() {
  const worst = slaBoard ? slaBoard.slas.filter((s) => s.status === "late" || s.status === "at_risk").map((s) => s.asset)
    : [];
  return [...new Set([...pickedAssets, ...worst])].slice(0, TIMELINES_SHOWN);
}

async function loadTimelines() {
  const assets = timelineAssets();
  const box = $("timeline-list");
  if (assets.length === 0) {
    box.innerHTML = `<p class="muted">No late or at-risk SLA: pick an asset on the board to draw its timeline.</p>`;
    return;
  }
  const query = assets.map((a) => `asset=${encodeURIComponent(a)}`).join("&");
  const answer = await api(`timelines?${query}&hours=24`);
  box.replaceChildren(...answer.timelines.map((t) => {
    const figure = document.createElement("figure");
    figure.className = "timeline-figure";
    figure.dataset.asset = t.asset;
    const caption = document.createElement("figcaption");
    caption.innerHTML = `<strong>${escapeHtml(t.asset)}</strong> <span class="muted">${t.events.length} event(s)`
      + `${t.events_cut ? " (the newest; the window starts at the oldest)" : ""}, ${when(t.start)} … ${when(t.end)}`
      + `${pickedAssets.includes(t.asset) ? "" : " · late or at risk"}</span>`;
    figure.append(caption, timelineSvg(t));
    return figure;
  }));
}

async function pickTimeline(asset) {
  pickedAssets = [asset, ...pickedAssets.filter((a) => a !== asset)];
  try {
    await loadTimelines();
    document.querySelector(`#timeline-list figure[data-asset="${CSS.escape(asset)}"]`)?.scrollIntoView({ block: "nearest" });
  } catch (error) {
    showProblem([error.message]);
  }
}

function renderBackfills(backfills) {
  $("count-backfills").textContent = backfills.length;
  $("backfill-rows").innerHTML = backfills.length === 0
    ? `<tr><td colspan="9" class="muted">No active backfill.</td></tr>`
    : backfills.map((b) => {
      const pct = (n) => (b.total ? (100 * n) / b.total : 0);
      return `<tr data-backfill="${b.id}"><td>${b.id}</td><td>${escapeHtml(b.dag_id)}${b.afkit_plan
        ? ` <span class="muted">plan ${escapeHtml(b.afkit_plan)}</span>` : ""}</td>
        <td>${when(b.from_date)} … ${when(b.to_date)}</td>
        <td><span class="bar" title="${b.success} succeeded, ${b.failed} failed, ${b.running} running, ${b.queued} queued">
          <i class="done" style="width:${pct(b.success)}%"></i><i class="failed" style="width:${pct(b.failed)}%"></i>
          <i class="running" style="width:${pct(b.running)}%"></i></span>
          ${b.success + b.failed}/${b.total} done</td>
        <td class="over-time" data-backfill="${b.id}"></td>
        <td class="num">${b.running}</td><td class="num">${b.failed}</td>
        <td>${b.is_paused ? "paused" : "running"}</td>
        <td>${b.can_pause_resume
          ? `<button type="button" data-action="${b.is_paused ? "resume" : "pause"}" data-id="${b.id}">
          ${b.is_paused ? "Resume" : "Pause"}</button>`
          : `<span class="muted" title="Pausing and resuming need edit access to the runs of ${escapeHtml(b.dag_id)}">view only</span>`}</td></tr>`;
    }).join("");
}

// Each active backfill's runs done over time (the first PROGRESS_DRAWN), drawn into its row.
async function drawProgress(backfills) {
  await Promise.all(backfills.slice(0, PROGRESS_DRAWN).map(async (b) => {
    const cell = document.querySelector(`#backfill-rows td.over-time[data-backfill="${b.id}"]`);
    const found = await api(`backfills/${b.id}/progress`);
    if (cell) cell.replaceChildren(progressSvg(found.progress));
  }));
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
    ? `<tr><td colspan="6" class="muted">No asset changed its cadence.</td></tr>`
    : reports.map((r) => `<tr data-asset="${escapeHtml(r.asset)}"><td>${escapeHtml(r.asset)}</td>
      <td class="spark-cell"></td><td>every ${human(r.change.before_seconds)}</td>
      <td>${r.change.kind === "irregular" ? "irregular, ~" : "every "}${human(r.change.after_seconds)}
        ${r.change.confirmed ? "" : `<span class="muted">(unconfirmed)</span>`}</td>
      <td>${when(r.change.at)}</td><td>${escapeHtml(r.message || "")}</td></tr>`).join("");
  const cells = $("cadence-rows").querySelectorAll("td.spark-cell");
  reports.forEach((r, i) => { if (r.sparkline) cells[i].append(sparklineSvg(r.sparkline, r.change)); });
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
    ["sla", async (board) => {
      slaBoard = board;
      $("count-late").textContent = board.counts.late;
      $("count-at-risk").textContent = board.counts.at_risk;
      renderSlas();
      await loadTimelines();
    }],
    ["backfills", async (backfills) => {
      renderBackfills(backfills);
      await drawProgress(backfills);
    }],
    ["pools", renderPools],
    ["cadence?changed_only=true&sparkline=true", renderCadence],
    ["demo/inbox", renderInbox],
  ];
  await Promise.all(parts.map(async ([path, render]) => {
    try {
      await render(await api(path));
    } catch (error) {
      if (!problems.includes(error.message)) problems.push(error.message);
    }
  }));
  showProblem(actionProblem ? [...problems, actionProblem] : problems);
  $("refreshed").textContent = `refreshed ${utc(new Date(), true)}`;
  document.body.dataset.loaded = "true"; // for tests: the first load finished
}

$("sla-filter").addEventListener("input", renderSlas);
$("sla-rows").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-timeline]");
  if (button) pickTimeline(button.dataset.timeline);
});
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
