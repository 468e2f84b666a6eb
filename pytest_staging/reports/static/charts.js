/* pytest-staging: draw the chart specs of this page with uPlot (inlined above this script).
 * The specs come from pytest_staging/reports/charts.py as JSON in
 * <script type="application/json" id="staging-charts">; this file only maps them onto uPlot's
 * options: axes with labels, a legend that shows each series' value under the cursor, bars,
 * points, dashed threshold lines. window.stagingCharts lists the charts drawn. */
(function () {
  "use strict";
  var holder = document.getElementById("staging-charts");
  var specs = holder ? JSON.parse(holder.textContent) : [];
  var charts = [];
  window.stagingCharts = charts;

  function fmt(value, unit, labels) {
    if (value === null || value === undefined) { return "–"; }
    if (labels && labels[String(value)] !== undefined) { return labels[String(value)]; }
    var text = Math.abs(value) >= 100 || value === Math.round(value)
      ? String(Math.round(value * 10) / 10) : value.toFixed(2);
    return unit ? text + " " + unit : text;
  }

  function xText(spec, value, short) {
    if (value === null || value === undefined) { return "–"; }
    var labels = short && spec.x.short ? spec.x.short : spec.x.labels;
    if (labels) {
      var label = labels[Math.round(value)];
      return label === undefined ? "" : label;
    }
    return fmt(value, spec.x.unit);
  }

  function pathsOf(style) {
    if (style === "bars") { return uPlot.paths.bars({size: [0.7, 60]}); }
    if (style === "step") { return uPlot.paths.stepped({align: 1}); }
    if (style === "points") { return function () { return null; }; }
    return undefined; // uPlot's default: straight lines
  }

  function seriesOf(spec, s) {
    var out = {
      label: s.label,
      scale: s.scale,
      stroke: s.color,
      width: s.style === "points" ? 0 : (s.width || 2),
      spanGaps: s.style === "step",
      value: function (u, v) { return fmt(v, s.unit, s.labels); }
    };
    var paths = pathsOf(s.style);
    if (paths) { out.paths = paths; }
    if (s.style === "bars") { out.fill = s.color; }
    if (s.dash) { out.dash = s.dash; }
    out.points = s.style === "points"
      ? {show: true, size: 9, width: 1, stroke: s.color, fill: s.color}
      : {show: s.style !== "bars" && s.style !== "step" && !s.dash};
    return out;
  }

  function axisOf(spec, scale, side) {
    var def = spec.scales[scale];
    var axis = {scale: scale, side: side, label: def.label, labelSize: 22,
                stroke: "#5f6368", grid: {show: side === 3, stroke: "#eceff1"}};
    if (def.hidden) { axis.show = false; return axis; }
    if (def.ticks) {
      axis.splits = def.ticks.map(function (t) { return t[0]; });
      axis.values = function () { return def.ticks.map(function (t) { return t[1]; }); };
      axis.size = 60;
    } else {
      axis.values = function (u, splits) {
        return splits.map(function (v) { return fmt(v, "", null); });
      };
    }
    return axis;
  }

  function draw(spec) {
    var el = document.getElementById(spec.id);
    if (!el) { return; }
    var series = [{label: spec.x.label, value: function (u, v) { return xText(spec, v); }}];
    var data = [spec.x.values];
    spec.series.forEach(function (s) { series.push(seriesOf(spec, s)); data.push(s.values); });
    var scales = {x: {time: false}};
    var xLabel = spec.x.axisLabel !== undefined ? spec.x.axisLabel : spec.x.label;
    var axes = [{label: xLabel, labelSize: xLabel ? 22 : 0, stroke: "#5f6368",
                 grid: {stroke: "#eceff1"},
                 values: function (u, splits) {
                   return splits.map(function (v) { return xText(spec, v, true); });
                 }}];
    if (spec.x.labels) {
      // One tick per run at most: labels belong to whole indexes.
      scales.x.range = function (u, min, max) { return [min - 0.5, max + 0.5]; };
      axes[0].incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
      axes[0].space = 70;
    }
    var side = 3;
    Object.keys(spec.scales).forEach(function (name) {
      var def = spec.scales[name];
      scales[name] = def.range ? {range: def.range} : {};
      axes.push(axisOf(spec, name, side));
      side = 1;
    });
    var width = Math.max(320, Math.min(el.clientWidth || 900, 1100));
    var chart = new uPlot({
      title: spec.title,
      width: width,
      height: spec.height || 240,
      scales: scales,
      series: series,
      axes: axes,
      legend: {live: true},
      cursor: {points: {size: 7}}
    }, data, el);
    chart.spec = spec;
    charts.push(chart);
  }

  specs.forEach(draw);
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      charts.forEach(function (chart) {
        var width = Math.max(320, Math.min(chart.root.parentNode.clientWidth || 900, 1100));
        chart.setSize({width: width, height: chart.spec.height || 240});
      });
    }, 150);
  });
})();
