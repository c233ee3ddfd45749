// Draws the dashboard's charts from the figures the page carries (json_script "dashboard-data").
// The same figures are in the tables below each chart; a click on a bar opens the same link as in the table.
(function () {
  "use strict";

  function bars(el, labels, series, extra) {
    const chart = echarts.init(el);
    // Marks the chart drawn once its first render has finished. Listened to before setOption: a chart with nothing
    // to animate (all bars zero) finishes within setOption itself.
    chart.on("finished", function () { el.dataset.rendered = "1"; });
    chart.setOption(Object.assign({
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0, right: 0 },
      grid: { left: 48, right: 24, bottom: 32, top: 40 },
      xAxis: { type: "category", data: labels },
      yAxis: { type: "value", minInterval: 1 },
      series: series,
    }, extra || {}));
    window.addEventListener("resize", function () { chart.resize(); });
    return chart;
  }

  // A click on a bar (or a point) opens the order list behind it.
  function drillDown(chart, urlOf) {
    chart.on("click", function (params) {
      const url = urlOf(params);
      if (url) { window.location.href = url; }
    });
  }

  const rotated = { axisLabel: { interval: 0, rotate: 30 } };

  function draw() {
    const data = JSON.parse(document.getElementById("dashboard-data").textContent);

    const ch = data.channels;
    const channelOrders = bars(document.getElementById("chart-channel-orders"), ch.days,
      ch.series.map(function (s) { return { name: s.name, type: "bar", stack: "orders", data: s.orders }; }),
      { title: { text: ch.ordersName, left: "left", textStyle: { fontSize: 13 } } });
    drillDown(channelOrders, function (p) { return ch.series[p.seriesIndex].urls[p.dataIndex]; });
    const channelGmv = bars(document.getElementById("chart-channel-gmv"), ch.days,
      ch.series.map(function (s) { return { name: s.name, type: "line", data: s.gmv.map(Number) }; }),
      { title: { text: ch.gmvName, left: "left", textStyle: { fontSize: 13 } },
        yAxis: { type: "value" } });
    drillDown(channelGmv, function (p) { return ch.series[p.seriesIndex].urls[p.dataIndex]; });

    const wh = data.warehouses;
    const warehouses = bars(document.getElementById("chart-warehouses"), wh.labels,
      [{ name: wh.name, type: "bar", data: wh.counts }]);
    drillDown(warehouses, function (p) { return wh.urls[p.dataIndex]; });

    const st = data.statuses;
    const statuses = bars(document.getElementById("chart-statuses"), st.labels,
      [{ name: st.name, type: "bar", data: st.counts }],
      { xAxis: Object.assign({ type: "category", data: st.labels }, rotated),
        grid: { left: 48, right: 24, bottom: 72, top: 40 } });
    drillDown(statuses, function (p) { return st.urls[p.dataIndex]; });

    const hr = data.hours;
    const hours = bars(document.getElementById("chart-hours"), hr.labels,
      [{ name: hr.name, type: "bar", data: hr.counts }]);
    drillDown(hours, function (p) { return hr.urls[p.dataIndex]; });

    const nd = data.nodes;
    const nodes = bars(document.getElementById("chart-nodes"), nd.labels,
      [{ name: nd.p50Name, type: "bar", data: nd.p50 }, { name: nd.p90Name, type: "bar", data: nd.p90 }],
      { xAxis: Object.assign({ type: "category", data: nd.labels }, rotated),
        yAxis: { type: "value" },
        grid: { left: 56, right: 24, bottom: 72, top: 40 } });
    drillDown(nodes, function (p) { return nd.urls[p.dataIndex]; });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
