// afkit's per-DAG view: a tab on each DAG's page in Airflow's UI (an external view with the "dag" destination, whose
// href names the DAG as ?dag_id=…). One request for the DAG (its SLAs, backfills with their progress over time, and
// partitions), one for the timelines of the assets it produces. common.js and pictures.js are loaded before it.
"use strict";

const DAG_ID = new URLSearchParams(location.search).get("dag_id") || "";

function renderDag(view) {
  $("dag-id").textContent = view.dag_id;
  $("dag-sla-rows").innerHTML = view.slas.length === 0
    ? `<tr><td colspan="6" class="muted">${view.assets.length ? "The assets it produces declare no SLA."
      : "It produces no asset."}</td></tr>`
    : view.slas.map((s) => `<tr data-asset="${escapeHtml(s.asset)}" data-status="${s.status}">
      <td class="status ${s.status}">${s.status.replace("_", " ")}</td><td>${escapeHtml(s.asset)}</td>
      <td>${escapeHtml(s.sla)}</td><td class="num">${human(s.lag_seconds)}</td><td>${when(s.next_deadline)}</td>
      <td>${escapeHtml(s.culprit || s.reason)}</td></tr>`).join("");
  $("dag-backfill-rows").innerHTML = view.backfills.length === 0
    ? `<tr><td colspan="6" class="muted">No backfill of this DAG.</td></tr>`
    : view.backfills.map((b) => `<tr data-backfill="${b.id}"><td>${b.id}${b.afkit_plan
      ? ` <span class="muted">plan ${escapeHtml(b.afkit_plan)}</span>` : ""}</td>
      <td>${when(b.from_date)} … ${when(b.to_date)}</td><td>${when(b.created_at)}</td>
      <td class="num">${b.progress.done}/${b.progress.total}${b.failed ? ` <span class="muted">(${b.failed} failed)</span>` : ""}</td>
      <td class="over-time"></td>
      <td>${b.completed_at ? `completed ${when(b.completed_at)}` : b.is_paused ? "paused" : "running"}</td></tr>`).join("");
  const cells = $("dag-backfill-rows").querySelectorAll("td.over-time");
  view.backfills.forEach((b, i) => cells[i].append(progressSvg(b.progress, 300, 40)));
  $("partition-grid").replaceChildren(partitionsSvg(view.partitions));
  const states = {};
  for (const p of view.partitions) states[p.state] = (states[p.state] || 0) + 1;
  $("partition-summary").textContent = view.partitions.length === 0 ? "No run yet."
    : `${view.partitions.length} run(s): ` + Object.entries(states).map(([k, n]) => `${n} ${k}`).join(", ");
}

async function renderTimelines(assets) {
  const box = $("dag-timelines");
  if (assets.length === 0) { box.replaceChildren(); return; }
  const answer = await api(`timelines?${assets.slice(0, 20).map((a) => `asset=${encodeURIComponent(a)}`).join("&")}&hours=24`);
  box.replaceChildren(...answer.timelines.map((t) => {
    const figure = document.createElement("figure");
    figure.className = "timeline-figure";
    figure.dataset.asset = t.asset;
    const caption = document.createElement("figcaption");
    caption.innerHTML = `<strong>${escapeHtml(t.asset)}</strong> <span class="muted">${t.events.length} event(s), `
      + `${when(t.start)} … ${when(t.end)}</span>`;
    figure.append(caption, timelineSvg(t));
    return figure;
  }));
}

async function refresh() {
  const problems = [];
  if (!DAG_ID) {
    problems.push("No DAG named: this view is shown on a DAG's page in Airflow (…/afkit/ui/dag.html?dag_id=NAME).");
  } else {
    try {
      const view = await api(`dags/${encodeURIComponent(DAG_ID)}/overview`);
      renderDag(view);
      await renderTimelines(view.assets);
    } catch (error) {
      problems.push(error.status === 404 ? `There is no DAG ${DAG_ID} (or you may not read it).` : error.message);
    }
  }
  showProblem(problems);
  $("refreshed").textContent = `refreshed ${utc(new Date(), true)}`;
  document.body.dataset.loaded = "true"; // for tests: the first load finished
}

$("refresh").addEventListener("click", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
