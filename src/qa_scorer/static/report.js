/* qa-scorer reports: sorting, filtering and audio seeking. Inline, no network. */
(function () {
  "use strict";
  function cellValue(row, i, type) {
    var c = row.cells[i];
    if (!c) return "";
    var v = c.hasAttribute("data-v") ? c.getAttribute("data-v") : c.textContent.trim();
    if (type === "num") { var n = parseFloat(v); return isNaN(n) ? -Infinity : n; }
    return v;
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var i = Array.prototype.indexOf.call(th.parentNode.children, th);
    var type = th.getAttribute("data-sort");
    var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", dir);
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (r) { return [cellValue(r, i, type), r]; });
    var coll = new Intl.Collator("zh-Hans-CN", { numeric: true });
    keyed.sort(function (a, b) {
      var x = a[0], y = b[0], c = type === "num" ? (x < y ? -1 : x > y ? 1 : 0) : coll.compare(x, y);
      return dir === "asc" ? c : -c;
    });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k[1]); });
    body.appendChild(frag);
  }
  function applyFilters(bar) {
    var table = document.getElementById(bar.getAttribute("data-table"));
    if (!table) return;
    var q = (bar.querySelector("[data-f=q]") || {}).value || "";
    var agent = (bar.querySelector("[data-f=agent]") || {}).value || "";
    var from = (bar.querySelector("[data-f=from]") || {}).value || "";
    var to = (bar.querySelector("[data-f=to]") || {}).value || "";
    var fatalEl = bar.querySelector("[data-f=fatal]"), fatal = fatalEl && fatalEl.checked;
    var failedEl = bar.querySelector("[data-f=item]"), item = failedEl ? failedEl.value : "";
    q = q.trim().toLowerCase();
    var shown = 0, rows = table.tBodies[0].rows;
    for (var r = 0; r < rows.length; r++) {
      var row = rows[r], ok = true, d = row.getAttribute("data-date") || "";
      if (q && row.textContent.toLowerCase().indexOf(q) < 0) ok = false;
      if (ok && agent && row.getAttribute("data-agent") !== agent) ok = false;
      if (ok && from && d < from) ok = false;
      if (ok && to && d > to) ok = false;
      if (ok && fatal && row.getAttribute("data-fatal") !== "1") ok = false;
      if (ok && item && (" " + (row.getAttribute("data-items") || "") + " ").indexOf(" " + item + " ") < 0) ok = false;
      row.hidden = !ok;
      if (ok) shown++;
    }
    var count = bar.querySelector(".count");
    if (count) count.textContent = shown + " / " + rows.length;
  }
  document.addEventListener("click", function (e) {
    var th = e.target.closest("th[data-sort]");
    if (th) { sortBy(th); return; }
    var seek = e.target.closest("a.seek");
    var audio = document.getElementById("player");
    if (seek && audio) {
      e.preventDefault();
      audio.currentTime = parseFloat(seek.getAttribute("data-t")) || 0;
      var p = audio.play(); if (p && p.catch) p.catch(function () {});
      var seg = document.getElementById(seek.getAttribute("data-seg") || "");
      if (seg) { seg.scrollIntoView({ block: "center" }); }
    }
    var evl = e.target.closest("a.evlink");
    if (evl) {
      var m = document.getElementById(evl.getAttribute("href").slice(1));
      var mark = m && (m.closest("mark") || m.nextElementSibling);
      if (mark) { mark.classList.add("flash"); setTimeout(function () { mark.classList.remove("flash"); }, 1600); }
    }
  });
  function wire() {
    Array.prototype.forEach.call(document.querySelectorAll(".toolbar[data-table]"), function (bar) {
      bar.addEventListener("input", function () { applyFilters(bar); });
      bar.addEventListener("change", function () { applyFilters(bar); });
      applyFilters(bar);
    });
    var toggle = document.getElementById("only-flagged");
    if (toggle) toggle.addEventListener("change", function () {
      document.getElementById("items").classList.toggle("only-flagged", toggle.checked);
    });
    var audio = document.getElementById("player");
    if (audio) {
      var turns = Array.prototype.slice.call(document.querySelectorAll(".turn[data-start]"));
      audio.addEventListener("timeupdate", function () {
        var t = audio.currentTime;
        turns.forEach(function (el) {
          var on = t >= parseFloat(el.getAttribute("data-start")) && t < parseFloat(el.getAttribute("data-end"));
          el.classList.toggle("playing", on);
        });
      });
    }
  }
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire); else wire();
})();
