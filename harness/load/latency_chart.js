// The live chart of exact p50/p99 in the harness's tab of Locust's web UI (harness/load/web.py adds this script).
// Locust's extended tabs render tables only, so the chart is an SVG placed under the tab's table while the tab is
// open, redrawn each second from ./latency.json (one point per report interval, merged exactly from every worker).
(function () {
  "use strict";
  const TAB = "harness";
  const ID = "harness-latency-chart";
  const W = 900, H = 260, PAD = { left: 56, right: 16, top: 28, bottom: 36 };
  const SERIES = [["p50", "#1f77b4", "exact p50"], ["p99", "#d62728", "exact p99"]];
  const NS = "http://www.w3.org/2000/svg";

  function tabIsOpen() {
    return new URLSearchParams(window.location.search).get("tab") === TAB;
  }

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function draw(box, points) {
    const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
                            "aria-label": "exact p50 and p99 over time", "data-points": points.length });
    svg.appendChild(el("text", { x: PAD.left, y: 16, "font-size": 14, fill: "currentColor" },
                       "Exact p50 / p99 per report interval (ms)"));
    if (points.length === 0) {
      svg.appendChild(el("text", { x: PAD.left, y: H / 2, fill: "currentColor", class: "harness-empty" },
                         "no requests yet: start a test"));
      box.replaceChildren(svg);
      return;
    }
    const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, t0 + 1);
    const top = Math.max(...points.map((p) => p.p99)) * 1.1 || 1;
    const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
    const y = (ms) => H - PAD.bottom - (ms / top) * (H - PAD.top - PAD.bottom);
    svg.appendChild(el("line", { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0), stroke: "#888" }));
    svg.appendChild(el("line", { x1: PAD.left, y1: y(0), x2: PAD.left, y2: PAD.top, stroke: "#888" }));
    for (const ms of [0, top / 2, top / 1.1]) {
      svg.appendChild(el("text", { x: PAD.left - 6, y: y(ms) + 4, "text-anchor": "end", "font-size": 11,
                                   fill: "currentColor" }, ms.toFixed(ms < 10 ? 2 : 1)));
    }
    svg.appendChild(el("text", { x: W - PAD.right, y: H - 8, "text-anchor": "end", "font-size": 11,
                                 fill: "currentColor" }, `${Math.round(t1 - t0)} s`));
    SERIES.forEach(([key, color, label], index) => {
      const coords = points.map((p) => `${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
      svg.appendChild(el("polyline", { points: coords, fill: "none", stroke: color, "stroke-width": 2,
                                       class: `harness-${key}` }));
      const last = points[points.length - 1][key];
      svg.appendChild(el("text", { x: W - PAD.right - 220 + index * 110, y: 16, "font-size": 12, fill: color },
                         `${label} ${last.toFixed(3)}`));
    });
    box.replaceChildren(svg);
  }

  async function refresh() {
    let box = document.getElementById(ID);
    if (!tabIsOpen()) {
      if (box) box.remove();
      return;
    }
    const table = document.querySelector("#root table");
    if (!table) return;
    if (!box) {
      box = document.createElement("div");
      box.id = ID;
      box.style.padding = "16px 0";
      (table.closest(".MuiTableContainer-root") || table).after(box);
    }
    try {
      const response = await fetch("./latency.json", { credentials: "same-origin" });
      if (response.ok) draw(box, (await response.json()).timeline || []);
    } catch (error) {
      box.textContent = `exact latency unavailable: ${error}`;
    }
  }

  window.setInterval(refresh, 1000);
})();
