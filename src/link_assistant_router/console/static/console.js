// Link.Assistant.Router console: local times, copy buttons and charts. No inline script, no
// eval: the page's data comes as JSON in <script type="application/json"> blocks.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      el.title = el.getAttribute("datetime").replace("T", " ").replace("Z", " UTC");
      el.textContent = at.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      });
    });
  }

  function copyButtons(root) {
    root.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      if (button.dataset.ready) return;
      button.dataset.ready = "1";
      button.addEventListener("click", function () {
        var text = button.getAttribute("data-copy");
        var done = function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () {});
        } else {
          var range = document.createRange();
          range.selectNodeContents(button.parentElement.querySelector("code"));
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          button.textContent = "Selected: press Ctrl+C";
        }
      });
    });
  }

  function human(value) {
    if (value == null) return "-";
    var sizes = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < sizes.length; i++) {
      if (Math.abs(value) >= sizes[i][0]) return (value / sizes[i][0]).toFixed(1) + " " + sizes[i][1];
    }
    return String(Math.round(value));
  }

  function color(index) {
    var css = getComputedStyle(document.documentElement);
    return css.getPropertyValue("--c" + ((index % 6) + 1)).trim() || "#4c78a8";
  }

  function draw(figure) {
    var source = figure.querySelector('script[type="application/json"]');
    if (!source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent);
    var kind = figure.getAttribute("data-chart");
    var raw = data.series.map(function (s) { return s.values; });
    var shown = raw;
    var order = raw.map(function (_, i) { return i; });
    if (kind === "stacked") {
      // Each series drawn as the sum of itself and those before it, the largest first, so
      // the fills stack; the legend shows each series' own value.
      var sums = [];
      raw.forEach(function (values, i) {
        sums.push(values.map(function (v, j) { return v + (i ? sums[i - 1][j] : 0); }));
      });
      order = order.reverse();
      shown = order.map(function (i) { return sums[i]; });
    }
    var muted = getComputedStyle(document.body).color;
    var grid = { stroke: "rgba(128,128,128,0.18)" };
    var options = {
      width: Math.max(figure.clientWidth - 24, 240),
      height: 220,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: muted, grid: grid },
        { stroke: muted, grid: grid, values: function (u, ticks) { return ticks.map(human); }, size: 60 },
      ],
      series: [{}].concat(order.map(function (i) {
        var line = { label: data.series[i].label, stroke: color(i), width: 1.5 };
        if (kind === "stacked") line.fill = color(i) + "cc";
        line.value = function (u, v, si, di) { return di == null ? "-" : human(raw[i][di]); };
        return line;
      })),
    };
    figure.querySelectorAll(".uplot").forEach(function (old) { old.remove(); });
    var plot = new uPlot(options, [data.x].concat(shown), figure);
    figure._plot = plot;
  }

  function charts(root) {
    root.querySelectorAll("figure.chart").forEach(draw);
  }

  function init(root) {
    localTimes(root);
    copyButtons(root);
    charts(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function () { init(document); });
  var resizing;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      document.querySelectorAll("figure.chart").forEach(function (figure) {
        if (figure._plot) figure._plot.setSize({ width: Math.max(figure.clientWidth - 24, 240), height: 220 });
      });
    }, 150);
  });
})();
