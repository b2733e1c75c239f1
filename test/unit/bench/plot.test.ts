/** The SVG plots of the benchmark report (bench/plot.ts): axes, series, CDF points. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cdfPoints, lineChart, seriesStyle, ticks } from '../../../bench/plot.js';

describe('bench plots', () => {
  it('a chart has one polyline per series with points, a legend entry each, and drops what a log axis cannot show', () => {
    const svg = lineChart({
      title: 'A & B',
      xLabel: 'size',
      yLabel: 'MB/s',
      xLog: true,
      yLog: true,
      series: [
        { name: 'a', points: [[64, 1], [4096, 100], [0, 5]] },
        { name: 'b<c', points: [[64, 2], [4096, 50]] },
        { name: 'empty', points: [] },
      ],
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(svg.match(/<polyline/g)?.length, 2);
    assert.match(svg, /A &amp; B/);
    assert.match(svg, />b&lt;c</);
    assert.doesNotMatch(svg, />empty</);
    assert.doesNotMatch(svg, /NaN|Infinity/);
    for (const [, pts] of svg.matchAll(/points="([^"]*)"/g)) assert.equal(pts!.split(' ').length, 2);
  });

  it('a chart without any point says so instead of drawing axes', () => {
    const svg = lineChart({ title: 'T', xLabel: 'x', yLabel: 'y', xLog: true, series: [{ name: 'a', points: [[0, 1]] }] });
    assert.match(svg, /T: no data in this run/);
    assert.doesNotMatch(svg, /<polyline/);
  });

  it('every series of a 13-transport chart has its own line style, and the legend fits the height', () => {
    const styles = Array.from({ length: 13 }, (_, i) => seriesStyle(i));
    assert.equal(new Set(styles).size, 13);
    const series = styles.map((_, i) => ({ name: `t${i}`, points: [[1, i + 1], [2, i + 2]] as [number, number][] }));
    const svg = lineChart({ title: 'T', xLabel: 'x', yLabel: 'y', series });
    const height = Number(/height="(\d+)"/.exec(svg)![1]);
    const legendYs = [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" dominant-baseline="middle">t\d+</g)].map((m) => Number(m[1]));
    assert.equal(legendYs.length, 13);
    assert.ok(Math.max(...legendYs) < height, 'the last legend entry is inside the picture');
    assert.match(svg, /stroke-dasharray/);
  });

  it('ticks: decades on log axes, round steps on linear ones', () => {
    assert.deepEqual(ticks(1, 10_000, true), [1, 10, 100, 1000, 10_000]);
    assert.deepEqual(ticks(1, 20, true), [1, 2, 5, 10, 20]);
    assert.deepEqual(ticks(0, 1, false), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('CDF points rise with the samples and end at the largest one with fraction 1', () => {
    const samples = Float64Array.from({ length: 10_000 }, (_, i) => (i % 100) + 1);
    const pts = cdfPoints(samples);
    for (let i = 1; i < pts.length; i++) {
      assert.ok(pts[i]![0] >= pts[i - 1]![0] && pts[i]![1] >= pts[i - 1]![1], `monotone at ${i}`);
    }
    assert.deepEqual(pts.at(-1), [100, 1]);
    assert.ok(pts.some(([, q]) => q > 0.999), 'the tail is drawn');
  });
});
