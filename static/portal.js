// Draws the usage page's daily spend chart (Apache ECharts, vendored) from
// the JSON endpoint named in the chart element's data-src. No inline
// scripts: the CSP allows only our own files.
(function () {
  function draw(el) {
    if (typeof echarts === "undefined") return;
    fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        el.dataset.series = String(data.series.length);
        el.dataset.total = data.total;
        if (data.series.length === 0) {
          // Nothing spent in the range: say so instead of an empty frame.
          var old = echarts.getInstanceByDom(el);
          if (old) old.dispose();
          el.textContent = el.dataset.empty || "";
          el.classList.add("chart-empty");
          el.dataset.loaded = "true";
          return;
        }
        el.classList.remove("chart-empty");
        var chart = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: "svg" });
        chart.setOption({
          animation: false,
          tooltip: { trigger: "axis" },
          legend: { type: "scroll", top: 0 },
          // Room on both sides so the first and last dates are not clipped.
          grid: { left: 12, right: 24, top: 36, bottom: 8, containLabel: true },
          xAxis: { type: "category", data: data.days, axisLabel: { hideOverlap: true } },
          yAxis: { type: "value" },
          series: data.series.map(function (s) {
            return { name: s.model, type: "bar", stack: "spend", data: s.data.map(Number) };
          })
        }, true);
        el.dataset.loaded = "true";
        window.addEventListener("resize", function () { chart.resize(); });
      })
      .catch(function () { el.dataset.loaded = "error"; });
  }
  // The budgets page's spend by project and key: one horizontal bar per
  // label, most spent first.
  function drawLabels(el) {
    if (typeof echarts === "undefined") return;
    fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        el.dataset.series = String(data.labels.length);
        el.dataset.total = data.total;
        if (data.labels.length === 0) {
          el.textContent = el.dataset.empty || "";
          el.classList.add("chart-empty");
          el.dataset.loaded = "true";
          return;
        }
        var labels = data.labels.slice().reverse(), values = data.values.map(Number).reverse();
        var chart = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: "svg" });
        chart.setOption({
          animation: false,
          tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
          grid: { left: 12, right: 24, top: 8, bottom: 8, containLabel: true },
          xAxis: { type: "value" },
          yAxis: { type: "category", data: labels, axisLabel: { width: 120, overflow: "truncate" } },
          series: [{ type: "bar", data: values }]
        }, true);
        el.dataset.loaded = "true";
        window.addEventListener("resize", function () { chart.resize(); });
      })
      .catch(function () { el.dataset.loaded = "error"; });
  }
  function init() {
    var el = document.getElementById("usage-chart");
    if (el) draw(el);
    var labels = document.getElementById("label-chart");
    if (labels) drawLabels(labels);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
