// Renders every chart on the page: each <script type="application/json" class="chart-spec"
// data-target="ID"> holds a Vega-Lite spec (data inline) drawn into the element #ID.
// CSP-safe (no eval, no inline style): `ast: true` makes vega-embed evaluate expressions with its
// bundled vega-interpreter instead of compiling them with new Function; defaultStyle: false and the
// tooltip's disableDefaultStyle keep it from injecting <style> (their CSS is in charts.css).
(function () {
  "use strict";

  var OPTIONS = {
    ast: true,
    actions: false,
    defaultStyle: false,
    renderer: "svg",
    tooltip: { disableDefaultStyle: true, theme: "light" },
  };

  function showNumbers(target, message) {
    var panel = target.closest(".chart-panel");
    var details = panel && panel.querySelector("details.numbers");
    if (details) { details.open = true; }
    target.classList.add("chart-error");
    target.textContent = message;
  }

  function render(block) {
    var target = document.getElementById(block.dataset.target);
    if (!target) { return; }
    if (typeof window.vegaEmbed !== "function") {
      showNumbers(target, "Charts could not be loaded; the numbers are below.");
      return;
    }
    var spec;
    try {
      spec = JSON.parse(block.textContent);
    } catch (err) {
      showNumbers(target, "This chart's data could not be read; the numbers are below.");
      return;
    }
    window.vegaEmbed(target, spec, OPTIONS).then(function () {
      target.classList.add("chart-ready");
    }).catch(function (err) {
      showNumbers(target, "This chart could not be drawn (" + err.message + "); the numbers are below.");
    });
  }

  function renderAll() {
    document.querySelectorAll("script.chart-spec[data-target]").forEach(render);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
