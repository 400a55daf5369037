// The dashboard's shell: hash routes to views, the tab bar and the key button.
import { askKey, forgetKey, keptWho } from './api.js';
import { errorBox, h } from './dom.js';
import * as overview from './overview.js';
import * as workflows from './workflows.js';
import * as timeline from './timeline.js';
import * as deadLetters from './dead_letters.js';
import * as settings from './settings.js';
import * as webhooks from './webhooks.js';
import * as health from './health.js';
import * as doctor from './doctor.js';

// Each view's `render(root, params)` fills `root` and returns a function that stops what it
// started (event streams, timers), called when another view is shown.
const ROUTES = [
  { pattern: /^\/?$/, tab: 'overview', view: overview },
  { pattern: /^\/workflows\/([^/?]+)$/, tab: 'workflows', view: timeline },
  { pattern: /^\/workflows$/, tab: 'workflows', view: workflows },
  { pattern: /^\/dead-letters$/, tab: 'dead-letters', view: deadLetters },
  { pattern: /^\/webhooks\/([^/?]+)$/, tab: 'webhooks', view: webhooks },
  { pattern: /^\/webhooks$/, tab: 'webhooks', view: webhooks },
  { pattern: /^\/settings$/, tab: 'settings', view: settings },
  { pattern: /^\/health$/, tab: 'health', view: health },
  { pattern: /^\/doctor$/, tab: 'doctor', view: doctor },
];

let stop = () => {};

function route() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, search = ''] = raw.split('?');
  const params = new URLSearchParams(search);
  const root = document.getElementById('view');
  stop();
  stop = () => {};
  root.replaceChildren();
  root.dataset.route = raw;
  for (const r of ROUTES) {
    const m = path.match(r.pattern);
    if (!m) continue;
    for (const a of document.querySelectorAll('#nav a')) {
      a.classList.toggle('active', a.dataset.tab === r.tab);
      if (a.dataset.tab === r.tab) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    root.dataset.view = r.tab;
    if (m[1]) params.set('id', decodeURIComponent(m[1]));
    try {
      stop = r.view.render(root, params) ?? (() => {});
    } catch (e) {
      root.append(errorBox(e));
    }
    return;
  }
  root.dataset.view = 'none';
  root.append(h('p', { class: 'error' }, `No page ${path}. `), h('a', { href: '#/' }, 'Overview'));
}

/** The kept key as `key dev: read, mint` (`admin token: …` for the ADMIN_TOKEN). */
function showKey() {
  const who = keptWho();
  const button = document.getElementById('token-button');
  if (!who) {
    button.textContent = 'key: none (enter one)';
  } else {
    const scopes = who.scopes?.length ? who.scopes.join(', ') : 'no scopes';
    button.textContent = who.keyId ? `key ${who.name}: ${scopes}` : `admin token: ${scopes}`;
  }
  button.dataset.scopes = who?.scopes?.join(',') ?? '';
  document.getElementById('token-forget').hidden = !who;
}

// A key entered from the header shows the current view again with it, since what it shows
// may have been refused without.
document.getElementById('token-button').addEventListener('click', async () => {
  if (await askKey()) route();
});
document.getElementById('token-forget').addEventListener('click', forgetKey);
window.addEventListener('mintflow:token', showKey);
window.addEventListener('hashchange', route);
showKey();
route();
