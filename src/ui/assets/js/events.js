// Server-sent events over `fetch`, because `EventSource` cannot send an `Authorization`
// header and the streams need a key (which must never go into a URL: URLs end up in logs).
// `EventStream` offers the part of `EventSource` the views use: `onopen`, `onerror`,
// `addEventListener(type, fn)` (with `ev.data` and `ev.lastEventId`), `readyState` and
// `close()`. Like `EventSource` it reconnects after an error or the end of a stream, sending
// `Last-Event-ID` so the server resumes after the last event seen.
import { request } from './api.js';

/** First wait before reconnecting; the server's `retry:` field replaces it. */
const FIRST_RETRY_MS = 500;
/** Longest wait between attempts while the server stays away. */
const MAX_RETRY_MS = 5000;

/** Parses `text/event-stream` as it arrives: `feed(chunk)` answers the complete events in it
 * (`{type, data, id}`); a field split across chunks waits for the rest. The format is the
 * HTML standard's: lines end in CRLF, LF or CR, `:` starts a comment, data lines join with
 * LF, a blank line ends an event, and `id` (kept across events) is its `lastEventId`. */
export class EventStreamParser {
  /** `lastEventId`: the id events carry until an `id:` line changes it. */
  constructor(lastEventId = '') {
    this.buffer = '';
    this.started = false;
    this.type = '';
    this.data = [];
    this.lastEventId = lastEventId;
    /** Where to resume: the id as of the last blank line, even one that ended no event. */
    this.resumeId = lastEventId;
    /** The server's `retry:` in ms, or null. */
    this.retry = null;
  }

  feed(chunk) {
    let text = this.buffer + chunk;
    if (!this.started && text) {
      text = text.replace(/^\uFEFF/, '');
      this.started = true;
    }
    const events = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c !== '\n' && c !== '\r') continue;
      // A CR at the end of a chunk may be the first half of a CRLF.
      if (c === '\r' && i + 1 === text.length) break;
      const event = this.line(text.slice(start, i));
      if (event) events.push(event);
      if (c === '\r' && text[i + 1] === '\n') i++;
      start = i + 1;
    }
    this.buffer = text.slice(start);
    return events;
  }

  /** One line; answers the event a blank line completes. */
  line(line) {
    if (line === '') {
      this.resumeId = this.lastEventId;
      const event = this.data.length
        ? { type: this.type || 'message', data: this.data.join('\n'), id: this.lastEventId }
        : null;
      this.type = '';
      this.data = [];
      return event;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    return null;
  }
}

export class EventStream extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;

  constructor(url) {
    super();
    this.url = url;
    this.readyState = EventStream.CONNECTING;
    this.onopen = null;
    this.onerror = null;
    this.lastEventId = '';
    this.retryMs = FIRST_RETRY_MS;
    this.abort = new AbortController();
    this.run();
  }

  close() {
    this.readyState = EventStream.CLOSED;
    this.abort.abort();
  }

  /** Connects, reads, and reconnects until closed or refused for good. */
  async run() {
    let wait = this.retryMs;
    while (this.readyState !== EventStream.CLOSED) {
      this.readyState = EventStream.CONNECTING;
      let res;
      try {
        const headers = { accept: 'text/event-stream' };
        if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
        res = await request(this.url, { headers, cache: 'no-store', signal: this.abort.signal });
      } catch (e) {
        if (this.readyState === EventStream.CLOSED) return;
        // Refused (a bad key after the dialog, a forgotten position): trying again would
        // be refused again, as `EventSource` gives up on such answers.
        if (e.status >= 400 && e.status < 500 && e.status !== 429) {
          this.readyState = EventStream.CLOSED;
          this.fire('error', e);
          return;
        }
        this.fire('error', e);
        wait = await this.pause(wait);
        continue;
      }
      this.readyState = EventStream.OPEN;
      this.fire('open');
      const error = await this.read(res.body).catch((e) => e);
      if (this.readyState === EventStream.CLOSED) return;
      this.readyState = EventStream.CONNECTING;
      this.fire('error', error ?? new Error('the stream ended'));
      // It was up: the first wait again, not the backoff of earlier failures.
      wait = await this.pause(this.retryMs);
    }
  }

  /** Dispatches every event of one response until it ends. */
  async read(body) {
    const parser = new EventStreamParser(this.lastEventId);
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      for (const e of parser.feed(value)) {
        if (this.readyState === EventStream.CLOSED) return null;
        this.dispatchEvent(new MessageEvent(e.type, { data: e.data, lastEventId: e.id }));
      }
      this.lastEventId = parser.resumeId;
      if (parser.retry !== null) this.retryMs = parser.retry;
    }
  }

  /** Waits `ms` (unless closed meanwhile); answers the next, longer wait. */
  pause(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(Math.min(ms * 2, MAX_RETRY_MS)), ms);
      this.abort.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(ms);
      }, { once: true });
    });
  }

  /** `open` or `error` to the listeners and the `on…` handler; `error` carries the cause. */
  fire(type, cause) {
    const ev = new Event(type);
    if (cause) ev.error = cause;
    this.dispatchEvent(ev);
    this[`on${type}`]?.call(this, ev);
  }
}
