/* The site page's chart and live totals. Data comes from the page's JSON block and then from
   the JSON API every few seconds; text from data is only ever set as text (textContent, or
   ECharts' canvas renderer with richText tooltips): nothing from data becomes HTML. */
(function () {
  "use strict";
  var block = document.getElementById("figures-data");
  if (!block) { return; }
  var data = JSON.parse(block.textContent);
  var chartEl = document.getElementById("chart");
  var chart = (window.echarts && chartEl) ? window.echarts.init(chartEl, null, { renderer: "canvas" }) : null;
  var locale = data.lang === "zh" ? "zh-CN" : "en";

  function fmtInt(n) { return new Intl.NumberFormat(locale).format(n); }
  function fmtPct(x) {
    return x === null || x === undefined ? "–" :
      new Intl.NumberFormat(locale, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(x);
  }

  var FIXED_COLOURS = { valid: "#7fa886", unaudited: "#c4c9d0" };
  var INVALID_PALETTE = ["#d1495b", "#edae49", "#8d5a97", "#00798c", "#e76f51", "#30638e", "#a44a3f", "#6d597a"];

  function categories(f) {
    var seen = {};
    f.series.forEach(function (p) { Object.keys(p.uv_by_category).forEach(function (c) { seen[c] = true; }); });
    return Object.keys(seen).sort();
  }

  function draw(f) {
    if (!chart) { return; }
    var xs = f.series.map(function (p) { return p.t; });
    var bars = categories(f).map(function (c) {
      var bar = { name: (data.names.categories[c] || c), type: "bar", stack: "uv",
                  data: f.series.map(function (p) { return p.uv_by_category[c] || 0; }) };
      // people in a calm colour, not yet audited in grey; each invalid category its own colour
      if (FIXED_COLOURS[c]) { bar.itemStyle = { color: FIXED_COLOURS[c] }; }
      return bar;
    });
    bars.push({ name: data.names.invalid_uv_share, type: "line", yAxisIndex: 1,
                itemStyle: { color: "#1f2937" }, lineStyle: { color: "#1f2937" },
                data: f.series.map(function (p) { return p.invalid_uv_share; }) });
    chart.setOption({
      animation: false,
      color: INVALID_PALETTE,
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { type: "scroll", top: 0, data: bars.map(function (s) { return s.name; }) },
      grid: { left: 60, right: 60, top: 60, bottom: 40 },
      xAxis: { type: "category", data: xs },
      yAxis: [{ type: "value", name: data.names.uv },
              { type: "value", min: 0, max: 1, axisLabel: { formatter: function (v) { return fmtPct(v); } } }],
      series: bars
    }, { replaceMerge: ["series"] });
  }

  function update(f) {
    var pv = document.getElementById("pv-total");
    if (pv) { pv.textContent = fmtInt(f.totals.pv); }
    var share = document.getElementById("invalid-share");
    if (share) { share.textContent = fmtPct(f.totals.audited_pv ? f.totals.invalid_pv / f.totals.audited_pv : null); }
    draw(f);
  }

  draw(data.figures);
  function poll() {
    if (document.hidden) { return; } /* a tab in the background costs the server nothing */
    fetch(data.api, { credentials: "same-origin", headers: { "accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (f) { if (f) { update(f); } })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }
  window.setInterval(poll, 10000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { poll(); } });
  window.addEventListener("resize", function () { if (chart) { chart.resize(); } });
}());
