import uPlot from 'uplot';
import { h } from './dom.js';

export interface Bucket { at: string; completed: number; failed: number; cancelled: number }

/** Finished jobs per bucket: completed, failed, cancelled, drawn by uPlot. */
export function finishedChart(title: string, buckets: Bucket[], width = 560): HTMLElement {
  const box = h('div', { class: 'chart', 'data-chart': title });
  const data: uPlot.AlignedData = [
    buckets.map((b) => new Date(b.at).getTime() / 1000),
    buckets.map((b) => b.completed),
    buckets.map((b) => b.failed),
    buckets.map((b) => b.cancelled),
  ];
  // uPlot measures its box: draw once the element is in the page.
  requestAnimationFrame(() => {
    new uPlot({
      title, width, height: 220,
      series: [{}, { label: 'completed', stroke: '#2e8540' }, { label: 'failed', stroke: '#c62828' }, { label: 'cancelled', stroke: '#7b5ea7' }],
      axes: [{}, { size: 50 }],
    }, data, box);
  });
  return box;
}
