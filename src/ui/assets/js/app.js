// The dashboard's shell: hash routes to views, the tab bar and the admin token button.
import { forgetToken, hasToken } from './api.js';
import { errorBox, h } from './dom.js';
import * as overview from './overview.js';
import * as workflows from './workflows.js';
import * as timeline from './timeline.js';
import * as deadLetters from './dead_letters.js';
import * as settings from './settings.js';
import * as webhooks from './webhooks.js';
import * as health from './health.js';

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

function showToken() {
  const b = document.getElementById('token-button');
  b.textContent = hasToken() ? 'admin token: set (forget)' : 'admin token: none';
  b.disabled = !hasToken();
}

document.getElementById('token-button').addEventListener('click', forgetToken);
window.addEventListener('mintflow:token', showToken);
window.addEventListener('hashchange', route);
showToken();
route();
