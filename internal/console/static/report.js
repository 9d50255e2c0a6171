// The broadcast page's report: each chart is drawn (uPlot) from the
// table that is its text alternative, as running totals over time; the
// live feed (console.js's one EventSource, event "broadcast:progress")
// rewrites the tables and the changes' rows, and the charts follow. The
// tables are the page's without script.
(function () {
  "use strict";
  var colours = { sent: "#0e700e", blocked: "#8a4b00", failed: "#b10e1c", read: "#464eb8", acknowledged: "#0e700e" };
  var charts = [];

  function when(sec) { return new Date(sec * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC"; }
  function title(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

  // columns reads a series table: x (seconds) and one running total per
  // series, each bucket's at its end, from zero at the send's start.
  function columns(table) {
    var names = table.dataset.series.split(" "), xs = [], ys = names.map(function () { return []; });
    var sums = names.map(function () { return 0; });
    var since = Number(table.dataset.since), first = table.tBodies[0].rows[0];
    if (since && first && first.dataset.at && since < Number(first.dataset.at) + 60) {
      xs.push(since);
      ys.forEach(function (y) { y.push(0); });
    }
    Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) {
      if (!tr.dataset.at) return;
      xs.push(Number(tr.dataset.at) + (tr.dataset.hour ? 3600 : 60));
      names.forEach(function (n, i) { sums[i] += Number(tr.cells[i + 1].textContent); ys[i].push(sums[i]); });
    });
    return [xs].concat(ys);
  }

  function draw(el) {
    var table = document.getElementById(el.dataset.table);
    var names = table.dataset.series.split(" ");
    var series = [{ label: "Time", value: function (u, v) { return v == null ? "–" : when(v); } }];
    names.forEach(function (n) { series.push({ label: title(n), stroke: colours[n], width: 2 }); });
    var axis = { stroke: "#1f1f1f", grid: { stroke: "#e0e0e0" }, ticks: { stroke: "#d1d1d1" } };
    var u = new uPlot({
      width: Math.max(el.clientWidth, 280), height: 220, series: series,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { x: { time: true } }, axes: [axis, axis],
    }, columns(table), el);
    charts.push({ u: u, el: el, table: table });
  }

  // fill rewrites a series table's rows and totals from the feed's series.
  function fill(table, s) {
    if (!s) return;
    var names = table.dataset.series.split(" "), body = table.tBodies[0], sums = names.map(function () { return 0; });
    var rows = (s.perMinute || []).map(function (p) { return [p, false]; })
      .concat((s.perHour || []).map(function (p) { return [p, true]; }));
    if (rows.length === 0) return; // keep the "nothing yet" row
    body.textContent = "";
    rows.forEach(function (r) {
      var p = r[0], tr = body.insertRow(), at = Date.parse(p.at) / 1000;
      tr.dataset.at = at;
      if (r[1]) tr.dataset.hour = "true";
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = when(at) + (r[1] ? " (hour)" : "");
      tr.appendChild(th);
      names.forEach(function (n, i) {
        var td = tr.insertCell();
        td.className = "num";
        td.textContent = p[n] || 0;
        sums[i] += p[n] || 0;
      });
    });
    var foot = table.tFoot.rows[0];
    names.forEach(function (n, i) { foot.cells[i + 1].textContent = sums[i]; });
    return sums;
  }

  function change(id, c) {
    var tr = document.getElementById(id);
    if (!tr || !c) return;
    Array.prototype.forEach.call(tr.querySelectorAll("[data-field]"), function (td) {
      if (c[td.dataset.field] !== undefined) td.textContent = c[td.dataset.field];
    });
  }

  function set(id, v) { var e = document.getElementById(id); if (e) e.textContent = v; }

  function start() {
    if (window.uPlot) Array.prototype.forEach.call(document.querySelectorAll(".chart[data-table]"), draw);
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.u.setSize({ width: Math.max(c.el.clientWidth, 280), height: 220 }); });
    });
    var live = document.getElementById("live");
    if (!live) return;
    live.addEventListener("broadcast:progress", function (ev) {
      var p = ev.detail;
      fill(document.getElementById("deliveries-table"), p.deliveries);
      var reads = fill(document.getElementById("reads-table"), p.reads);
      set("reads-delivered", p.counts.sent);
      if (reads) { set("reads-read", reads[0]); set("reads-acknowledged", reads[1]); }
      charts.forEach(function (c) { c.u.setData(columns(c.table)); });
      change("change-edit", p.edit);
      change("change-recall", p.recall);
      // The edit and the recall are for a message someone got, and not recalled.
      ["edit-link", "recall-link"].forEach(function (id) {
        var a = document.getElementById(id);
        if (a) a.hidden = !(p.counts.sent > 0) || !!p.recall;
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
