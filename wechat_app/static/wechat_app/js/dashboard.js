/* Dashboard charts (Chart.js, served from this app's static files). */
(function () {
  "use strict";
  function data(id) { var el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; }
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.Chart) return;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    var days = data("wx-days-data"), canvas = document.getElementById("wx-chart-days");
    if (days && canvas) {
      new Chart(canvas, {
        type: "bar",
        data: { labels: days.labels, datasets: days.datasets.map(function (d) { return Object.assign({ borderRadius: 3, maxBarThickness: 22 }, d); }) },
        options: { maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false },
                   scales: { x: { stacked: true, grid: { display: false } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
                   plugins: { legend: { position: "bottom" } } },
      });
    }
    var rules = data("wx-rules-data"), rulesCanvas = document.getElementById("wx-chart-rules");
    if (rules && rulesCanvas && rules.labels.length) {
      new Chart(rulesCanvas, {
        type: "bar",
        data: { labels: rules.labels, datasets: [{ label: "matches", data: rules.data, backgroundColor: "#07c160", borderRadius: 3 }] },
        options: { indexAxis: "y", maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } },
                   scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false } } } },
      });
    }
  });
})();
