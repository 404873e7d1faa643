// Records per run as inline SVG: for each run (oldest left) a stacked bar of created,
// updated and (optionally) unchanged records, and beside it a red bar of failed records,
// on one linear scale. Each bar pair links to its run. No library.

import { fmtNum, fmtTime, s } from './ui.js';

const HEIGHT = 240;
const PAD = { top: 14, right: 12, bottom: 42, left: 52 };

// A tick step of 1, 2 or 5 × 10^k giving about four intervals up to max.
function niceStep(max) {
  const raw = Math.max(max, 1) / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return Math.max(1, m * p);
  return 10 * p;
}

// runs: newest first, as GET /api/runs gives them.
// width: the pixels available; the drawing is made for it (not scaled), so text keeps its
// size. With many runs it grows wider and the box scrolls.
export function runsChart(runs, { showUnchanged = true, width: available = 800 } = {}) {
  const list = [...runs].reverse();
  const stackKeys = showUnchanged ? ['created', 'updated', 'unchanged'] : ['created', 'updated'];
  const c = (r, k) => Number((r.counts || {})[k] || 0);
  const maxStack = Math.max(0, ...list.map((r) => stackKeys.reduce((a, k) => a + c(r, k), 0)));
  const maxFailed = Math.max(0, ...list.map((r) => c(r, 'failed')));
  const step = niceStep(Math.max(maxStack, maxFailed, 1));
  const top = step * Math.max(1, Math.ceil(Math.max(maxStack, maxFailed, 1) / step));

  const plotW = Math.max(200, available - PAD.left - PAD.right);
  const slot = Math.max(16, Math.min(48, plotW / Math.max(list.length, 1)));
  const width = Math.max(available, PAD.left + PAD.right + slot * list.length);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const barW = Math.max(5, (slot - 6) * 0.62);
  const failW = Math.max(3, (slot - 6) * 0.32);

  const svg = s('svg', {
    viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, role: 'img', 'data-test': 'runs-chart',
    'aria-label': `Records per run for ${list.length} runs: stacked ${stackKeys.join(', ')}; failed beside each bar`,
  });

  // grid and y axis labels
  for (let v = 0; v <= top; v += step) {
    const yy = y(v);
    svg.append(s('line', { class: 'grid', x1: PAD.left, x2: width - PAD.right, y1: yy, y2: yy }));
    svg.append(s('text', { x: PAD.left - 6, y: yy + 4, 'text-anchor': 'end' }, fmtNum(v)));
  }
  svg.append(s('line', { class: 'axis', x1: PAD.left, x2: width - PAD.right, y1: y(0), y2: y(0) }));

  const labelEvery = Math.ceil(list.length / Math.max(1, Math.floor((width - PAD.left) / 48)));
  list.forEach((r, i) => {
    const x0 = PAD.left + i * slot + 3;
    const parts = [];
    let acc = 0;
    for (const k of stackKeys) {
      const v = c(r, k);
      if (v > 0) {
        parts.push(s('rect', { class: `seg-${k}`, x: x0, width: barW, y: y(acc + v), height: Math.max(1, y(acc) - y(acc + v)) }));
      }
      acc += v;
    }
    const f = c(r, 'failed');
    if (f > 0) {
      parts.push(s('rect', { class: 'seg-failed', x: x0 + barW + 1, width: failW, y: y(f), height: Math.max(1, y(0) - y(f)) }));
    }
    // a run that did not simply succeed gets a mark under its bar, coloured by its status
    if (r.status && r.status !== 'succeeded' && r.status !== 'running') {
      parts.push(s('rect', { class: `status-mark status-mark-${r.status}`, 'data-status': r.status, x: x0, width: barW + failW + 1, y: y(0) + 2, height: 3 }));
    }
    // an invisible full-height target so that empty runs can be hovered and clicked too
    parts.unshift(s('rect', { x: x0, width: barW + failW + 1, y: PAD.top, height: plotH, fill: 'transparent' }));
    const tip = `Run ${r.id} (${r.process}, ${String(r.status).replace(/_/g, ' ')}) ${fmtTime(r.started)}: `
      + `${c(r, 'created')} created, ${c(r, 'updated')} updated, ${c(r, 'unchanged')} unchanged, ${c(r, 'failed')} failed`;
    svg.append(s('a', { href: `#/runs/${r.id}`, 'data-run-id': r.id, 'aria-label': tip },
      s('title', null, tip), parts));
    if (i % labelEvery === 0) {
      svg.append(s('text', { x: x0 + barW / 2, y: y(0) + 14, 'text-anchor': 'middle' }, String(r.id)));
    }
  });
  svg.append(s('text', { x: PAD.left, y: HEIGHT - 6 }, 'run id (oldest left)'));
  return svg;
}
