// Building the page: every text from the API goes in as a text node (never as HTML), so a job
// named `<script>` shows as that text.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** A link inside the page (hash route). */
export const link = (route: string, text: Child, attrs: Attrs = {}) => h('a', { href: `#${route}`, ...attrs }, text);

export const when = (d: string | null | undefined) => (d ? new Date(d).toLocaleString() : '—');

export function ago(d: string | null | undefined): string {
  if (!d) return '—';
  const s = Math.round((Date.now() - new Date(d).getTime()) / 1000);
  if (Math.abs(s) < 90) return `${s} s`;
  if (Math.abs(s) < 5400) return `${Math.round(s / 60)} min`;
  if (Math.abs(s) < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export const stateBadge = (state: string) => h('span', { class: `badge state-${state}`, 'data-state': state }, state);

export function table(headers: string[], rows: Child[][], attrs: Attrs = {}): HTMLTableElement {
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

export const pretty = (value: unknown) => h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
