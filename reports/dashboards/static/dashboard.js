/* Draws the figures of the staff chart pages (study dashboard, patient page) and redraws the
   dashboard when its filters change. The only script of these pages besides plotly.js: figure
   data comes from <script type="application/json" id="dashboard-figures">, never inline code. */
(function () {
  "use strict";
  // No mode bar: it would add per-chart <style> elements that the strict CSP refuses. The tables
  // under each chart carry the numbers; zoom by dragging, double-click to reset.
  var CONFIG = { responsive: true, displayModeBar: false };

  function draw(id, figure) {
    var slot = document.getElementById("fig-" + id);
    if (!slot) { return; }
    var none = document.getElementById("none-" + id);
    if (!figure) {
      if (slot.data) { window.Plotly.purge(slot); }
      slot.hidden = true;
      if (none) { none.hidden = false; }
      return;
    }
    slot.hidden = false;
    if (none) { none.hidden = true; }
    window.Plotly.react(slot, figure.data, figure.layout, CONFIG);
    slot.dataset.draws = String(Number(slot.dataset.draws || "0") + 1);
  }

  function drawAll(figures) {
    Object.keys(figures).forEach(function (id) { draw(id, figures[id]); });
  }

  function query(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (String(value).trim() !== "") { params.append(key, value); }
    });
    return params.toString();
  }

  function refresh(form, status) {
    var search = query(form);
    status.textContent = "Updating…";
    document.body.setAttribute("aria-busy", "true");
    fetch(form.dataset.json + (search ? "?" + search : ""), {
      headers: { Accept: "application/json" }, credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (!result.ok) {
        status.textContent = result.body.message || "The dashboard could not be updated.";
        return;
      }
      var body = result.body;
      document.getElementById("dashboard-summary").innerHTML = body.summary;
      Object.keys(body.alts).forEach(function (id) {
        var holder = document.getElementById("alt-" + id);
        if (holder) { holder.innerHTML = body.alts[id]; }
      });
      drawAll(body.figures);
      window.history.replaceState(null, "", window.location.pathname + (search ? "?" + search : ""));
      status.textContent = body.suppressed ? "Updated: fewer than 5 patients, results suppressed."
        : "Updated: " + body.patients + " patients.";
    }).catch(function () {
      status.textContent = "The dashboard could not be updated; use the Apply button to reload.";
    }).finally(function () {
      document.body.removeAttribute("aria-busy");
    });
  }

  function start() {
    var store = document.getElementById("dashboard-figures");
    if (!store || !window.Plotly) { return; }
    drawAll(JSON.parse(store.textContent));
    var form = document.getElementById("dashboard-filters");
    var status = document.getElementById("filter-status");
    if (!form || !status || !window.fetch || !document.getElementById("dashboard-summary")) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      refresh(form, status);
    });
    form.addEventListener("change", function () { refresh(form, status); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
