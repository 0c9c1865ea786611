// The list of lifecycle events, newest first. Events arrive in bursts (a sweep
// ends hundreds at once): they are queued and written once per frame, and only
// the newest SHOWN stay in the page.

import { clock } from './format.js';

const SHOWN = 200;

const LABELS = {
  created: 'created',
  initialized: 'initialized',
  stateChanged: 'state',
  disconnected: 'disconnected',
  resumed: 'resumed',
  closed: 'closed',
  expired: 'expired',
  evicted: 'evicted',
  restored: 'restored',
  renewed: 'renewed',
  handleCreated: 'created',
  handleDestroyed: 'destroyed',
  handleExpired: 'expired',
};

export class EventList {
  #list;
  #counter;
  #queue = [];
  #total = 0;

  constructor(list, counter) {
    this.#list = list;
    this.#counter = counter;
  }

  /** Queues an event for the next frame. Frames stop in a background tab, so the
   * queue holds at most the newest 2 * SHOWN (a frame writes SHOWN at most): a tab left
   * open behind others does not grow without bound. */
  push(event) {
    this.#queue.push(event);
    this.#total++;
    if (this.#queue.length > 2 * SHOWN) this.#queue.splice(0, this.#queue.length - SHOWN);
  }

  /** Writes what was queued since the last frame. */
  flush() {
    if (this.#queue.length === 0) return;
    const fresh = this.#queue.slice(-SHOWN);
    this.#queue = [];
    const fragment = document.createDocumentFragment();
    for (let i = fresh.length - 1; i >= 0; i--) fragment.append(item(fresh[i]));
    this.#list.prepend(fragment);
    while (this.#list.childElementCount > SHOWN) this.#list.lastElementChild.remove();
    this.#counter.textContent = `${this.#total.toLocaleString('en')} since load`;
  }
}

/** What the type does not say already: why it ended, where a renewal came from, the new version. */
function detail(event) {
  if (event.type === 'renewed') return `from ${event.reason}`;
  if (event.stateVersion !== null) return `v${event.stateVersion}`;
  return event.reason === null || event.reason === LABELS[event.type] ? '' : event.reason;
}

function item(event) {
  const li = document.createElement('li');
  li.dataset.type = event.type;
  li.className = `event ${event.kind}`;
  const cells = [
    ['time', clock(event.at)],
    ['type', LABELS[event.type] ?? event.type],
    ['kind', event.kind],
    ['id', event.id],
    ['principal', event.principal ?? 'anonymous'],
    ['reason', detail(event)],
  ];
  for (const [name, text] of cells) {
    const span = document.createElement('span');
    span.className = name;
    span.textContent = text;
    li.append(span);
  }
  return li;
}
