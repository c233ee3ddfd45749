// Draws the dashboard's charts from the figures the page carries (json_script "dashboard-data").
// The same figures are in the tables below each chart.
(function () {
  "use strict";

  function bars(el, labels, series, extra) {
    const chart = echarts.init(el);
    chart.setOption(Object.assign({
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0, right: 0 },
      grid: { left: 48, right: 24, bottom: 32, top: 40 },
      xAxis: { type: "category", data: labels },
      yAxis: { type: "value", minInterval: 1 },
      series: series,
    }, extra || {}));
    // Marks the chart drawn once its first render (animation included) has finished.
    chart.on("finished", function () { el.dataset.rendered = "1"; });
    window.addEventListener("resize", function () { chart.resize(); });
    return chart;
  }

  // A click on a bar opens the order list behind it (the same links as in the tables).
  function drillDown(chart, urlOf) {
    chart.on("click", function (params) {
      const url = urlOf(params);
      if (url) { window.location.href = url; }
    });
  }

  function draw() {
    const data = JSON.parse(document.getElementById("dashboard-data").textContent);
    bars(document.getElementById("chart-hours"), data.hours.labels,
      [{ name: data.hours.name, type: "bar", data: data.hours.counts }]);
    const statuses = bars(document.getElementById("chart-statuses"), data.statuses.labels,
      [{ name: data.hours.name, type: "bar", data: data.statuses.counts }],
      { xAxis: { type: "category", data: data.statuses.labels, axisLabel: { interval: 0, rotate: 30 } },
        grid: { left: 48, right: 24, bottom: 72, top: 40 } });
    drillDown(statuses, function (p) { return data.statuses.urls[p.dataIndex]; });
    const ch = data.channels;
    const channelOrders = bars(document.getElementById("chart-channel-orders"), ch.days,
      ch.series.map(function (s) { return { name: s.name, type: "bar", stack: "orders", data: s.orders }; }),
      { title: { text: ch.ordersName, left: "left", textStyle: { fontSize: 13 } } });
    drillDown(channelOrders, function (p) { return ch.series[p.seriesIndex].urls[p.dataIndex]; });
    bars(document.getElementById("chart-channel-gmv"), ch.days,
      ch.series.map(function (s) { return { name: s.name, type: "line", data: s.gmv.map(Number) }; }),
      { title: { text: ch.gmvName, left: "left", textStyle: { fontSize: 13 } },
        yAxis: { type: "value" } });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
