// Live progress of a broadcast's page: one EventSource on the console's
// feed (server-sent events), updating the counters in place. The page
// shows the counters of its rendering without script.
(function () {
  "use strict";
  function start() {
    var live = document.getElementById("live");
    if (!live || live.dataset.final === "true" || !window.EventSource) return;
    var src = new EventSource(live.dataset.live);
    function set(id, v) { var e = document.getElementById(id); if (e) e.textContent = v; }
    src.addEventListener("progress", function (ev) {
      var p = JSON.parse(ev.data), c = p.counts;
      ["pending", "installing", "sending", "sent", "blocked", "failed", "canceled"].forEach(function (s) { set("count-" + s, c[s]); });
      var done = c.sent + c.blocked + c.failed + c.canceled;
      var bar = document.getElementById("live-progress");
      if (bar) { bar.max = Math.max(c.total, 1); bar.value = done; bar.textContent = done + " of " + c.total; }
      set("live-done", done);
      set("live-total", c.total);
      set("live-status", p.status);
      set("live-rate", p.rate);
      set("live-eta", p.eta || "–");
      live.dispatchEvent(new CustomEvent("broadcast:progress", { detail: p })); // report.js
      if (p.final) {
        live.dataset.final = "true";
        var cancel = document.getElementById("cancel-link");
        if (cancel) cancel.hidden = true; // nothing left to cancel
      }
    });
    src.addEventListener("done", function () { src.close(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
