// The compose page: the live preview, rendered by Microsoft's Adaptive
// Cards renderer with the Teams host config (light or dark) from the card
// the server renders as the senders do (POST /compose/render); the payload
// budget as you type; the API's problems at their fields; the audience's
// size (POST /compose/size); groups found by name (GET /compose/groups).
// The form works without it: it posts to the server, which answers with
// the same problems at the same fields.
(function () {
  "use strict";
  var MESSAGE = ["text", "card", "title", "summary", "imageUrl", "author", "buttonTitle", "buttonUrl", "ackTitle", "previewAs"];
  var AUDIENCE = ["audience", "groups", "users", "excludeGroups", "excludeUsers", "csv"];
  var WAIT = 300; // ms of quiet before asking the server

  function $(id) { return document.getElementById(id); }

  function debounce(f) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(f, WAIT); };
  }

  // formBody is the form's fields but files, URL-encoded.
  function formBody(form) {
    var p = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { if (typeof v === "string") p.append(k, v); });
    return p;
  }

  function post(form, url) {
    return fetch(url, {method: "POST", body: formBody(form), credentials: "same-origin",
      headers: {"X-CSRF-Token": document.body.dataset.csrf || ""}})
      .then(function (r) { return r.json(); });
  }

  // setProblem shows (or clears) the problem of one field, as the server's
  // page does: a message after it, the field marked invalid and described by it.
  function setProblem(name, msg) {
    var el = $(name);
    if (!el) return;
    var p = $(name + "-problem");
    if (!msg) {
      if (p) p.remove();
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
      return;
    }
    if (!p) {
      p = document.createElement("span");
      p.id = name + "-problem";
      p.className = "problem";
      el.insertAdjacentElement("afterend", p);
    }
    p.textContent = msg;
    el.setAttribute("aria-invalid", "true");
    el.setAttribute("aria-describedby", p.id);
  }

  function start() {
    var form = $("compose");
    if (!form || !window.AdaptiveCards) return;
    document.querySelectorAll("[data-js]").forEach(function (e) { e.hidden = false; });
    document.querySelectorAll("[data-nojs]").forEach(function (e) { e.hidden = true; });

    var touched = {};
    // Fields the server marked already count as touched: their problems stay until fixed.
    MESSAGE.concat(AUDIENCE).forEach(function (n) { if ($(n + "-problem")) touched[n] = true; });

    function kind() { var k = form.querySelector("input[name=kind]:checked"); return k ? k.value : "text"; }
    function showKind() {
      var k = kind();
      form.querySelectorAll("[data-kind]").forEach(function (e) { e.hidden = e.dataset.kind !== k; });
      $("ackTitle").closest("p").hidden = !$("acknowledge").checked;
    }

    // The preview.
    var hostConfigs = {};
    var last = null; // the last answer, rendered again when the theme changes
    var preview = $("preview");
    AdaptiveCards.AdaptiveCard.onProcessMarkdown = function (text, result) {
      result.outputHtml = window.markdownit({html: false, linkify: true, breaks: true}).render(text);
      result.didProcess = true;
    };
    ["light", "dark"].forEach(function (t) {
      fetch("/static/vendor/adaptivecards/microsoft-teams-" + t + ".json")
        .then(function (r) { return r.json(); })
        .then(function (c) { hostConfigs[t] = c; if (last) draw(last); });
    });
    function theme() { return $("theme-dark").checked ? "dark" : "light"; }

    function draw(ans) {
      var t = theme();
      preview.dataset.theme = t;
      preview.className = "teams-frame theme-" + t;
      if (!hostConfigs[t]) return;
      var card = ans.card;
      if (!card && ans.text !== undefined && ans.text !== "") {
        // A text message: Teams shows its markdown as a card's TextBlock does.
        card = {type: "AdaptiveCard", version: "1.4", body: [{type: "TextBlock", text: ans.text, wrap: true}]};
      }
      preview.textContent = "";
      if (!card) {
        var p = document.createElement("p");
        p.className = "hint";
        p.textContent = "Fix the problems shown to see the preview.";
        preview.appendChild(p);
        return;
      }
      var ac = new AdaptiveCards.AdaptiveCard();
      ac.hostConfig = new AdaptiveCards.HostConfig(hostConfigs[t]);
      ac.onExecuteAction = function () {}; // a preview's buttons do nothing
      ac.parse(card);
      var el = ac.render();
      if (el) {
        el.classList.add("teams-card");
        preview.appendChild(el);
      }
    }

    function budget(ans) {
      if (!ans.maxUnits) return;
      var kb = function (u) { return (u / 1024).toFixed(1); };
      var over = ans.units > ans.maxUnits;
      $("budget-text").textContent = kb(ans.units) + " KB of " + kb(ans.maxUnits) + " KB" +
        (over ? ": over Teams' budget" : "") + " (each placeholder counted at its longest)";
      var m = $("budget-meter");
      m.max = ans.maxUnits;
      m.value = Math.min(ans.units, ans.maxUnits);
      $("budget").classList.toggle("over", over);
    }

    function empty() {
      switch (kind()) {
        case "template": return !$("title").value.trim() && !$("summary").value.trim();
        case "card": return !$("card").value.trim();
      }
      return !$("text").value.trim();
    }

    var seq = 0;
    function renderNow() {
      if (empty()) return;
      var n = ++seq;
      post(form, form.dataset.render).then(function (ans) {
        if (n !== seq) return; // a later answer is coming
        MESSAGE.forEach(function (f) { if (touched[f]) setProblem(f, ans.problems[f]); });
        last = ans;
        draw(ans);
        budget(ans);
      }).catch(function () {});
    }
    var render = debounce(renderNow);

    // The audience's size.
    var sizeOut = $("audience-size");
    var sizeSeq = 0;
    var size = debounce(function () {
      var a = form.querySelector("input[name=audience]:checked");
      if (a && a.value === "csv") {
        sizeOut.textContent = "The CSV's users are counted when the broadcast is created.";
        return;
      }
      var n = ++sizeSeq;
      post(form, form.dataset.size).then(function (ans) {
        if (n !== sizeSeq) return;
        AUDIENCE.forEach(function (f) { if (touched[f]) setProblem(f, ans.problems[f]); });
        sizeOut.textContent = sizeText(ans);
      }).catch(function () {});
    });

    function sizeText(ans) {
      var s = ans.size;
      if (!s) return (ans.other || []).join(" ") || "The audience size is shown once the audience is valid.";
      var plural = function (n, one, many) { return n + " " + (n === 1 ? one : many); };
      if (s.exact) return "Audience: " + plural(s.size, "recipient", "recipients") + " (from the directory cache).";
      var parts = [];
      if (s.size > 0) parts.push(plural(s.size, "recipient", "recipients") + " known to the directory cache");
      if (s.countedGroups) parts.push("up to " + plural(s.groupMembers, "member", "members") + " of " + plural(s.countedGroups, "group", "groups") +
        " (as Microsoft Graph counts them: guests, disabled accounts and people in two groups included)");
      if (s.uncountedGroups) parts.push(plural(s.uncountedGroups, "group", "groups") + " not counted (their members are read from Microsoft Graph when it is sent)");
      if (s.unknownUsers) parts.push(plural(s.unknownUsers, "user", "users") + " the directory cache does not know (looked up when it is sent)");
      if (form.querySelector("#aud-all:checked") && !s.directorySyncedAt) parts.push("all users: the directory has not been synced yet");
      return "Audience, an estimate: " + parts.join("; plus ") + ". The exact number is known once it is sent.";
    }

    // Groups found by name.
    var results = $("group-results");
    var groupSeq = 0;
    var findGroups = debounce(function () {
      var q = $("group-search").value.trim();
      var n = ++groupSeq;
      if (!q) { results.textContent = ""; return; }
      fetch(form.dataset.groups + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (ans) {
          if (n !== groupSeq) return;
          results.textContent = "";
          if (!ans.groups || ans.groups.length === 0) {
            var li = document.createElement("li");
            li.textContent = ans.message || "No group of the directory cache is named so.";
            results.appendChild(li);
            return;
          }
          ans.groups.forEach(function (g) {
            var li = document.createElement("li");
            var name = document.createElement("span");
            name.textContent = g.displayName;
            li.appendChild(name);
            li.appendChild(groupButton("Include", g, "groups"));
            li.appendChild(groupButton("Exclude", g, "excludeGroups"));
            results.appendChild(li);
          });
        }).catch(function () {});
    });

    function groupButton(label, g, field) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = label;
      b.setAttribute("aria-label", label + " " + g.displayName);
      b.addEventListener("click", function () {
        var ta = $(field);
        var line = g.displayName + " (" + g.id + ")";
        if (ta.value.indexOf(g.id) < 0) ta.value = (ta.value.trim() ? ta.value.replace(/\s*$/, "\n") : "") + line;
        if (field === "groups") $("aud-groups").checked = true;
        touched[field] = true;
        size();
      });
      return b;
    }

    form.addEventListener("input", function (ev) {
      var n = ev.target.name || ev.target.id;
      touched[n] = true;
      if (ev.target.id === "group-search") { findGroups(); return; }
      if (MESSAGE.indexOf(n) >= 0 || n === "kind" || n === "acknowledge" || n === "silent") render();
      if (AUDIENCE.indexOf(n) >= 0 || n === "includeGuests") size();
    });
    form.addEventListener("change", function (ev) {
      var n = ev.target.name;
      if (n === "kind" || n === "acknowledge") { showKind(); render(); }
      if (n === "audience" || n === "includeGuests") size();
    });
    $("previewAs").addEventListener("input", function () { touched.previewAs = true; render(); });
    ["theme-light", "theme-dark"].forEach(function (id) {
      $(id).addEventListener("change", function () { if (last) draw(last); });
    });
    showKind();
    renderNow();
    size();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
