import { ApiError } from './api.js';
import { h } from './dom.js';

/** A page: its element, and how to bring it up to date in place (live pages). */
export interface Page {
  el: HTMLElement;
  refresh?: () => Promise<void>;
}

/** Shows an API error (its code and message) in place of `into`'s content. */
export function showError(error: unknown, into: HTMLElement): void {
  const message = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
  into.replaceChildren(h('p', { class: 'error', role: 'alert' }, message));
}
