// The pictures of both afkit pages, as plain inline SVG (no library, no CDN). Each draws what the JSON says and
// nothing more: the breach windows, the sparkline's levels and its change, the progress steps are computed by
// toolkit/core/pictures.py. Colours come from the page's CSS variables, so they follow Airflow's light and dark modes.
// Every mark carries data-* attributes (instants in ISO 8601, counts) for tests and tooltips.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

// An SVG element: svg("rect", {x: 1, class: "breach"}, child, "text") — attributes set verbatim, text escaped.
function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

const tooltip = (text) => svg("title", {}, text);
const ms = (iso) => new Date(iso).getTime();
const clockLabel = (date) => date.toISOString().slice(11, 16);

// -- freshness timeline: one asset over a window ---------------------------------------------------------------------

const TIMELINE = { width: 1000, left: 8, right: 8, ticks: 26, lane: 24, axis: 20 };

// The axis' labels: 4-7 round UTC instants in the window, with the date where the day changes.
function axisMarks(t0, t1) {
  const steps = [300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);
  const step = steps.find((s) => (t1 - t0) / s <= 7) || 86400000;
  const marks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) marks.push(t);
  return marks;
}

function timelineSvg(data) {
  const t0 = ms(data.start), t1 = ms(data.end);
  const { width, left, right } = TIMELINE;
  const plot = width - left - right;
  const x = (iso) => left + ((ms(iso) - t0) / (t1 - t0)) * plot;
  const height = TIMELINE.ticks + data.slas.length * TIMELINE.lane + TIMELINE.axis;
  const root = svg("svg", {
    class: "picture timeline", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `freshness timeline of ${data.asset}: ${data.events.length} event(s), ${utc(new Date(t0))} to `
      + `${utc(new Date(t1))}`,
    "data-asset": data.asset, "data-start": data.start, "data-end": data.end, "data-events": data.events.length,
    "data-plot-left": left, "data-plot-width": plot, "data-width": width,
  });
  root.append(svg("rect", { class: "frame", x: left, y: 0, width: plot, height: height - TIMELINE.axis }));
  // events: one tick each (a backfill's events drawn apart: they are history redone, not the asset's rhythm)
  const ticks = svg("g", { class: "ticks" });
  for (const e of data.events) {
    const at = x(e.timestamp).toFixed(2);
    ticks.append(svg("line", {
      class: e.from_backfill ? "tick backfill" : "tick", x1: at, x2: at, y1: 4, y2: TIMELINE.ticks - 4,
      "data-at": e.timestamp, "data-partition": e.partition_key,
    }, tooltip(`event ${when(e.timestamp)}${e.partition_key ? ` partition ${e.partition_key}` : ""}`
      + `${e.dag_id ? ` from ${e.dag_id}` : " (external)"}${e.from_backfill ? " (backfill)" : ""}`)));
  }
  root.append(ticks);
  data.slas.forEach((track, index) => {
    const top = TIMELINE.ticks + index * TIMELINE.lane;
    const lane = svg("g", { class: `lane ${track.status}`, "data-sla": track.sla, "data-kind": track.kind,
      "data-status": track.status, "data-judged-from": track.judged_from });
    lane.append(svg("line", { class: "lane-rule", x1: left, x2: left + plot, y1: top, y2: top }));
    if (ms(track.judged_from) > t0) { // more deadlines than judged: the older part is left blank, and says so
      lane.append(svg("rect", { class: "unjudged", x: left, y: top + 1, width: x(track.judged_from) - left,
        height: TIMELINE.lane - 2 }, tooltip(`not judged before ${when(track.judged_from)}`)));
    }
    for (const b of track.breaches) {
      lane.append(svg("rect", {
        class: b.open ? "breach open" : "breach", x: x(b.start).toFixed(2), y: top + 1,
        width: Math.max(1, x(b.end) - x(b.start)).toFixed(2), height: TIMELINE.lane - 2,
        "data-sla": track.sla, "data-start": b.start, "data-end": b.end, "data-seconds": b.seconds,
      }, tooltip(`${track.sla}: late from ${when(b.start)} to ${b.open ? "now" : when(b.end)} (${human(b.seconds)})`)));
    }
    for (const d of track.deadlines) {
      const at = x(d).toFixed(2);
      lane.append(svg("line", { class: "deadline", x1: at, x2: at, y1: top + 2, y2: top + TIMELINE.lane - 2,
        "data-at": d }, tooltip(`deadline ${when(d)}`)));
    }
    if (track.lag_since && ms(track.lag_since) >= t0) {
      const y = top + TIMELINE.lane - 6;
      lane.append(svg("line", { class: "lag", x1: x(track.lag_since).toFixed(2), x2: left + plot, y1: y, y2: y,
        "data-since": track.lag_since, "data-seconds": track.lag_seconds },
        tooltip(`lag ${human(track.lag_seconds)} at ${when(data.end)}`)));
      for (const [name, seconds] of [["warn", track.warn_after_seconds], ["fail", track.fail_after_seconds]]) {
        if (seconds === null || seconds === undefined) continue;
        const at = ms(track.lag_since) + seconds * 1000;
        if (at > t1) continue;
        const ax = (left + ((at - t0) / (t1 - t0)) * plot).toFixed(2);
        lane.append(svg("line", { class: `threshold ${name}`, x1: ax, x2: ax, y1: y - 5, y2: y + 3,
          "data-at": new Date(at).toISOString() }, tooltip(`${name}_after ${human(seconds)}`)));
      }
    }
    lane.append(svg("text", { class: "lane-label", x: left + 4, y: top + 11 },
      `${track.sla} · ${track.status.replace("_", " ")}${track.lag_seconds !== null ? ` · lag ${human(track.lag_seconds)}` : ""}`
      + `${track.breaches.length ? ` · ${track.breaches.length} breach(es)` : ""}`));
    root.append(lane);
  });
  const axisTop = height - TIMELINE.axis;
  const axis = svg("g", { class: "axis" }, svg("line", { x1: left, x2: left + plot, y1: axisTop, y2: axisTop }));
  let day = null;
  for (const t of axisMarks(t0, t1)) {
    const date = new Date(t), at = left + ((t - t0) / (t1 - t0)) * plot;
    const label = date.toISOString().slice(0, 10) !== day ? `${date.toISOString().slice(5, 10)} ${clockLabel(date)}`
      : clockLabel(date);
    day = date.toISOString().slice(0, 10);
    axis.append(svg("line", { x1: at, x2: at, y1: axisTop, y2: axisTop + 4 }));
    axis.append(svg("text", { x: at, y: axisTop + 15, "text-anchor": at < 40 ? "start" : at > width - 40 ? "end" : "middle" },
      label));
  }
  root.append(axis);
  return root;
}

// -- cadence sparkline: the newest intervals on a log scale, newest right, the change marked -----------------------

function sparklineSvg(line, change) {
  const width = 240, height = 34, pad = 3;
  const n = line.levels.length;
  const step = n > 1 ? (width - 2 * pad) / (n - 1) : 0;
  const px = (i) => pad + (n > 1 ? i * step : (width - 2 * pad) / 2);
  const py = (level) => height - pad - level * (height - 2 * pad);
  const root = svg("svg", {
    class: "picture sparkline", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${n} interval(s) on a log scale, newest on the right`
      + (line.low_seconds !== null ? ` (${human(line.low_seconds)} … ${human(line.high_seconds)})` : ""),
    "data-points": n, "data-change-index": line.change_index ?? "", "data-offset": line.offset,
  });
  if (n === 0) return root;
  root.append(svg("polyline", { class: "spark", points: line.levels.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(" ") }));
  line.levels.forEach((level, i) => {
    root.append(svg("circle", { class: "point", cx: px(i).toFixed(1), cy: py(level).toFixed(1), r: 1.6,
      "data-index": i, "data-seconds": line.intervals_seconds[i], "data-end": line.ends[i] },
    tooltip(`${human(line.intervals_seconds[i])} until ${when(line.ends[i])}`)));
  });
  if (line.change_index !== null && line.change_index !== undefined) {
    const at = px(line.change_index).toFixed(1);
    root.append(svg("line", { class: "change", x1: at, x2: at, y1: 0, y2: height, "data-index": line.change_index,
      "data-at": change ? change.at : null },
    tooltip(change ? `changed ${when(change.at)}: ${human(change.before_seconds)} → ${human(change.after_seconds)}` : "changed")));
  }
  return root;
}

// -- backfill progress over time: runs done by each run's end --------------------------------------------------------

function progressSvg(progress, width = 220, height = 34) {
  const pad = 3;
  const points = progress.points;
  const t0 = ms(points[0].at), t1 = Math.max(ms(points[points.length - 1].at), t0 + 1);
  const top = Math.max(progress.total, 1);
  const px = (iso) => pad + ((ms(iso) - t0) / (t1 - t0)) * (width - 2 * pad);
  const py = (done) => height - pad - (done / top) * (height - 2 * pad);
  const last = points[points.length - 1];
  const root = svg("svg", {
    class: "picture progress", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${last.done} of ${progress.total} run(s) done by ${utc(new Date(last.at))}`,
    "data-total": progress.total, "data-done": last.done, "data-failed": last.failed, "data-steps": points.length,
  });
  root.append(svg("line", { class: "goal", x1: pad, x2: width - pad, y1: py(top), y2: py(top) },
    tooltip(`${progress.total} run(s) in all`)));
  let path = `M${px(points[0].at).toFixed(1)},${py(points[0].done).toFixed(1)}`;
  for (const p of points.slice(1)) path += ` H${px(p.at).toFixed(1)} V${py(p.done).toFixed(1)}`;
  root.append(svg("path", { class: "steps", d: path }));
  for (const p of points) {
    root.append(svg("circle", { class: p.failed ? "step failed" : "step", cx: px(p.at).toFixed(1),
      cy: py(p.done).toFixed(1), r: 1.8, "data-at": p.at, "data-done": p.done, "data-failed": p.failed },
    tooltip(`${p.done}/${progress.total} done by ${when(p.at)}${p.failed ? ` (${p.failed} failed)` : ""}`)));
  }
  return root;
}

// -- a DAG's partitions: its newest runs, oldest first, one cell each ------------------------------------------------

function partitionsSvg(partitions) {
  const cell = 14, gap = 2, perRow = 50;
  const rows = Math.max(1, Math.ceil(partitions.length / perRow));
  const width = Math.min(partitions.length, perRow) * (cell + gap) + gap;
  const root = svg("svg", {
    class: "picture partitions", viewBox: `0 0 ${Math.max(width, 1)} ${rows * (cell + gap) + gap}`, role: "img",
    width: Math.max(width, 1), height: rows * (cell + gap) + gap,
    "aria-label": `${partitions.length} partition(s), oldest first`, "data-partitions": partitions.length,
  });
  partitions.forEach((p, i) => {
    root.append(svg("rect", {
      class: `partition ${p.state}${p.backfill_id !== null ? " backfilled" : ""}`, width: cell, height: cell,
      x: gap + (i % perRow) * (cell + gap), y: gap + Math.floor(i / perRow) * (cell + gap), rx: 2,
      "data-key": p.key, "data-state": p.state, "data-backfill": p.backfill_id ?? "", "data-run-id": p.run_id,
    }, tooltip(`${p.partition_key || when(p.logical_date || p.key)}: ${p.state}`
      + `${p.backfill_id !== null ? ` (backfill ${p.backfill_id})` : ` (${p.run_type})`}`)));
  });
  return root;
}
