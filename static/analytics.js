// Draws the operator dashboard's charts (/admin/analytics, Apache ECharts,
// vendored) from the one JSON answer named in each chart's data-src. No
// inline scripts: the CSP allows only our own files.
(function () {
  var answers = {};
  function load(src) {
    if (!answers[src]) {
      answers[src] = fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
    }
    return answers[src];
  }
  function option(c) {
    var series = c.series.map(function (s) {
      return { name: s.name, data: s.data.map(Number) };
    });
    if (c.kind === "rank") {
      // Highest first, from the top: ECharts draws categories bottom-up.
      return {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        grid: { left: 12, right: 24, top: 8, bottom: 8, containLabel: true },
        xAxis: { type: "value" },
        yAxis: { type: "category", data: c.labels.slice().reverse(), axisLabel: { width: 110, overflow: "truncate" } },
        series: series.map(function (s) { return { name: s.name, type: "bar", data: s.data.slice().reverse() }; })
      };
    }
    if (c.kind === "stack") {
      // Subscribers by plan stacked, ended subscriptions as a line.
      return {
        tooltip: { trigger: "axis" },
        legend: { type: "scroll", top: 0 },
        grid: { left: 12, right: 24, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: c.labels, axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", minInterval: 1 },
        series: series.map(function (s, i) {
          return c.series[i].key === "ended"
            ? { name: s.name, type: "line", data: s.data }
            : { name: s.name, type: "bar", stack: "subscribers", data: s.data };
        })
      };
    }
    return {
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 12, right: 24, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: c.labels, axisLabel: { hideOverlap: true } },
      // A count (paying customers) beside yuan (ARPU) gets its own axis.
      yAxis: c.series.length > 1 && c.series[0].key === "paying_customers"
        ? [{ type: "value", minInterval: 1 }, { type: "value" }]
        : { type: "value" },
      series: series.map(function (s, i) {
        var o = { name: s.name, type: c.kind === "line" ? "line" : "bar", data: s.data };
        if (c.series[0].key === "paying_customers" && i === 1) { o.type = "line"; o.yAxisIndex = 1; }
        return o;
      })
    };
  }
  function draw(el) {
    if (typeof echarts === "undefined") return;
    load(el.dataset.src)
      .then(function (data) {
        var c = data.charts[el.dataset.chart];
        var empty = !c || c.labels.length === 0 || c.series.every(function (s) {
          return s.data.every(function (v) { return Number(v) === 0; });
        });
        el.dataset.labels = c ? String(c.labels.length) : "0";
        if (empty) {
          el.textContent = el.dataset.empty || "";
          el.classList.add("chart-empty");
          el.dataset.loaded = "true";
          return;
        }
        var chart = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: "svg" });
        var o = option(c);
        o.animation = false;
        chart.setOption(o, true);
        el.dataset.loaded = "true";
        window.addEventListener("resize", function () { chart.resize(); });
      })
      .catch(function () { el.dataset.loaded = "error"; });
  }
  function init() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
