// Drives the dashboard (`/ui`) of a running `mintflow dev` in headless Debian Chromium, as an
// operator would: enters a read,mint key when the page asks and sees its scopes, queues a mint
// from the page and watches it reach `confirmed` live (the fetch-based event stream, with the
// key in a header and never in a URL), opens its timeline, retries a failed workflow (refused
// for the read,mint key, then a wrong admin token, then the right one), redelivers a webhook's
// given-up deliveries, changes a setting, reads the signer's health, checks the overview's
// last-hour charts against `/v1/stats/activity`, finds a forged mint on the doctor page, and
// checks the layout at phone width. Screenshots go to UI_OUT_DIR and are checked not to be blank. Exits 1 with the
// failed expectation.
//
//   UI_URL=http://127.0.0.1:4021 UI_KEY=mf_... UI_ADMIN_TOKEN=... UI_FAILED_ID=<uuid> \
//   UI_PAYER=0x... UI_SIGNER=0x... UI_WEBHOOK_ID=<uuid> UI_FORGED_ID=<uuid> \
//   UI_OUT_DIR=/tmp/shots node tools/ui-test.mjs
//
// tests/ui.rs starts the server, reads the key dev printed, makes the failed workflow and a
// webhook to an address where nothing listens (one attempt per delivery), forges the on-chain
// id of a confirmed mint (UI_FORGED_ID) for the doctor to find, and runs this.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
/** Longest wait for any one condition (a mint takes a batch and a block). */
const WAIT_MS = Number(process.env.UI_WAIT_MS || 60_000);
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const base = env('UI_URL').replace(/\/$/, '');
const key = env('UI_KEY');
const adminToken = env('UI_ADMIN_TOKEN');
const failedId = env('UI_FAILED_ID');
const payer = env('UI_PAYER');
const signer = env('UI_SIGNER');
const webhookId = env('UI_WEBHOOK_ID');
const forgedId = env('UI_FORGED_ID');
const outDir = env('UI_OUT_DIR');

const log = (...a) => console.log('ui-test:', ...a);

/** Runs one expectation; its name leads the error when it fails. */
async function step(name, fn) {
  log(name);
  try {
    return await fn();
  } catch (e) {
    throw new Error(`${name}: ${e.message.split('\n')[0]}`);
  }
}

function expect(ok, message) {
  if (!ok) throw new Error(message);
}

/** Waits until `fn(arg)` is truthy in the page, with the standard deadline. */
function until(page, fn, arg) {
  return page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 100 });
}

/** Shows another view and waits until it is drawn (`loaded`: a selector in it). */
async function go(page, hash, loaded) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await until(page, (route) => document.getElementById('view').dataset.route === route, hash.replace(/^#/, ''));
  await page.waitForSelector(loaded, { timeout: WAIT_MS });
}

/** Distinct colours and the share of pixels unlike the commonest, decoded by the browser. */
async function pixels(page, png) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, img.width, img.height).data;
    const counts = new Map();
    for (let i = 0; i < data.length; i += 4) {
      const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const total = data.length / 4;
    const top = Math.max(...counts.values());
    return { width: img.width, height: img.height, colours: counts.size, other: 1 - top / total };
  }, png.toString('base64'));
}

async function screenshot(page, checker, name, viewport) {
  const png = await page.screenshot({ fullPage: true });
  const file = join(outDir, name);
  writeFileSync(file, png);
  const p = await pixels(checker, png);
  log(`  ${name}: ${p.width}x${p.height}, ${p.colours} colours, ${(p.other * 100).toFixed(1)}% off the background`);
  expect(p.width === viewport.width, `${name} is ${p.width} px wide, not ${viewport.width}`);
  expect(p.colours >= 32 && p.other >= 0.05, `${name} looks blank: ${p.colours} colours, ${(p.other * 100).toFixed(1)}% off the background`);
}

/** A screenshot of one element (`selector`), checked not to be blank. */
async function elementShot(page, checker, name, selector) {
  const png = await page.locator(selector).screenshot();
  writeFileSync(join(outDir, name), png);
  const p = await pixels(checker, png);
  log(`  ${name}: ${p.width}x${p.height}, ${p.colours} colours, ${(p.other * 100).toFixed(1)}% off the background`);
  expect(p.colours >= 16 && p.other >= 0.03, `${name} looks blank: ${p.colours} colours`);
}

/** What the overview's mint charts should show: per series, the minutes (ISO) with a value
 * other than 0 and that value, as `/v1/stats/activity` answers now. */
async function expectedDots() {
  const res = await fetch(`${base}/v1/stats/activity`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.ok, `GET /v1/stats/activity answered ${res.status}`);
  const a = await res.json();
  const dots = (field) => a.minutes.filter((m) => m[field]).map((m) => [new Date(m.minute).toISOString(), String(m[field])]);
  return { requested: dots('requested'), confirmed: dots('confirmed'), failed: dots('failed'), p50: dots('p50ConfirmMs') };
}

async function noHorizontalScroll(page, what) {
  const { scroll, inner, widest } = await page.evaluate(() => {
    let widest = '';
    let max = 0;
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.right > max) {
        max = r.right;
        widest = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className ? `.${String(el.className).split(' ').join('.')}` : ''}`;
      }
    }
    return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth, widest };
  });
  expect(scroll <= inner, `${what} scrolls sideways at ${inner} px: scrollWidth ${scroll} (widest: ${widest})`);
}

async function main() {
  const profile = mkdtempSync(join(tmpdir(), 'mintflow-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: DESKTOP,
  });
  const pageErrors = [];
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') log(`  browser console: ${m.text()}`);
  });
  // Every request the page makes: keys go in headers, never in URLs (URLs end up in logs).
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), authorization: r.headers().authorization }));
  const checker = await context.newPage();
  try {
    await run(page, checker, requests);
    const leaked = requests.filter((r) => r.url.includes(key) || r.url.includes(adminToken));
    expect(leaked.length === 0, `a key is in the URL of ${leaked.length} request(s)`);
    expect(pageErrors.length === 0, `uncaught errors in the page: ${pageErrors.join('; ')}`);
  } catch (e) {
    await page.screenshot({ path: join(outDir, 'failure.png'), fullPage: true }).catch(() => {});
    const text = await page.locator('#view').innerText().catch(() => '');
    throw new Error(`${e.message}\n--- page text at failure (failure.png) ---\n${text.slice(0, 3000)}`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** The header's key button once it reads `text`. */
async function keyShown(page, text) {
  try {
    await until(page, (t) => document.getElementById('token-button').textContent === t, text);
  } catch {
    throw new Error(`the header shows "${await page.innerText('#token-button')}", not "${text}"`);
  }
}

async function run(page, checker, requests) {
  /** The failed workflow's `updated_at` before the first retry. */
  let before = null;
  await step('the overview asks for a key once; the read,mint key is shown with its scopes', async () => {
    const res = await page.goto(`${base}/ui`);
    expect(res.ok(), `GET /ui answered ${res.status()}`);
    expect(res.headers()['content-type']?.startsWith('text/html'), `GET /ui is ${res.headers()['content-type']}`);
    await page.waitForSelector('#token-dialog[open] #token-error:not([hidden])');
    const refusal = await page.innerText('#token-error');
    expect(refusal.includes('missing_credentials'), `the 401 is not shown: ${refusal}`);
    await keyShown(page, 'key: none (enter one)');
    await page.fill('#token-input', key);
    await page.click('#token-ok');
    await keyShown(page, 'key dev: read, mint');
    expect(await page.isVisible('#token-forget'), 'no way to forget the key');
    // Stats, batches and the event stream were all refused without a key: one answer to one
    // dialog let every one of them through.
    await page.waitForSelector('#view[data-view="overview"] #stats[data-loaded]');
    const stats = await page.getAttribute('#stats', 'data-loaded');
    expect(stats !== 'error', `stats failed: ${await page.innerText('#stats')}`);
    await page.waitForSelector('#batches p');
    expect(!(await page.locator('#batches p.error').count()), `batches failed: ${await page.innerText('#batches')}`);
    await page.waitForSelector('#live[data-state="open"]');
    expect(!(await page.isVisible('#token-dialog[open]')), 'the key was asked again');
    const stream = requests.filter((r) => new URL(r.url).pathname === '/v1/events');
    expect(stream.length > 0 && stream.at(-1).authorization === `Bearer ${key}`, 'the event stream was not opened with the key');
    await page.evaluate(() => { window.mintflowNotReloaded = true; });
  });

  await step('the stream reader parses the event-stream format and resumes with Last-Event-ID', async () => {
    const parsed = await page.evaluate(async () => {
      const { EventStreamParser } = await import('/ui/js/events.js');
      const p = new EventStreamParser();
      const chunks = ['\uFEFFid: 7\r', '\nevent: transition\ndata: {"a":', '1}\ndata: second line\r\n\r\n',
        ': keep-alive\n\n', 'data:x\rretry: 250\r\r', 'id: 9\n\n', 'data: never ended'];
      return { events: chunks.flatMap((c) => p.feed(c)), retry: p.retry, resumeId: p.resumeId };
    });
    expect(JSON.stringify(parsed) === JSON.stringify({
      events: [{ type: 'transition', data: '{"a":1}\nsecond line', id: '7' }, { type: 'message', data: 'x', id: '7' }],
      retry: 250,
      resumeId: '9',
    }), `parsed ${JSON.stringify(parsed)}`);
    // A stream that ends after one event each time: the reader connects again after the last
    // id it saw, with the key.
    const asked = [];
    await page.route('**/ui-test/stream', (route) => {
      asked.push(route.request().headers());
      route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body: `id: ${asked.length * 10}\nevent: transition\ndata: ${asked.length}\n\n`,
      });
    });
    const got = await page.evaluate(async (ms) => {
      const { EventStream } = await import('/ui/js/events.js');
      const s = new EventStream('/ui-test/stream');
      const seen = [];
      await new Promise((resolve, reject) => {
        setTimeout(() => reject(new Error(`saw only ${JSON.stringify(seen)}`)), ms);
        s.addEventListener('transition', (ev) => {
          seen.push([ev.data, ev.lastEventId]);
          if (seen.length === 2) resolve();
        });
      }).finally(() => s.close());
      return seen;
    }, WAIT_MS);
    await page.unroute('**/ui-test/stream');
    expect(JSON.stringify(got) === '[["1","10"],["2","20"]]', `events ${JSON.stringify(got)}`);
    expect(asked[0]['last-event-id'] === undefined && asked[1]['last-event-id'] === '10',
      `Last-Event-ID sent: ${asked.map((h) => h['last-event-id']).join(', ')}`);
    expect(asked.every((h) => h.authorization === `Bearer ${key}`), 'a reconnection went without the key');
  });

  const mintId = await step('a mint queued from the form reaches confirmed live, without reload', async () => {
    await page.fill('#mint-payer', payer);
    await page.click('#mint-submit');
    await page.waitForSelector('#mint-result[data-id]:not([data-id=""])');
    const id = await page.getAttribute('#mint-result', 'data-id');
    try {
      await until(page, (i) => document.querySelector(`#tracked li[data-id="${i}"]`)?.dataset.state === 'confirmed', id);
    } catch {
      const state = await page.getAttribute(`#tracked li[data-id="${id}"]`, 'data-state').catch(() => 'absent');
      throw new Error(`mint ${id} is shown as ${state}, not confirmed`);
    }
    expect(await page.evaluate(() => window.mintflowNotReloaded === true), 'the page was reloaded');
    expect(await page.locator(`#feed li[data-workflow="${id}"]`).count() > 0, 'the live feed shows none of its transitions');
    await until(page, () => Number(document.querySelector('#stats [data-kind="mint"] li[data-state="confirmed"]')?.dataset.count) >= 1);
    return id;
  });

  await step('the mint\'s timeline shows its transitions', async () => {
    await page.click(`#tracked li[data-id="${mintId}"] a`);
    await page.waitForSelector(`#timeline[data-id="${mintId}"][data-status="completed"]`);
    await page.waitForSelector('#events-table tr[data-event="created"]');
    const rows = await page.locator('#events-table tbody tr').count();
    expect(rows >= 3, `${rows} transitions shown`);
    expect((await page.innerText('#events-table')).includes('confirmed'), 'no transition to confirmed');
    await page.waitForSelector('#timeline-live[data-state="ended"]');
    await screenshot(page, checker, 'desktop-timeline.png', DESKTOP);
  });

  await step('the workflow list finds the failed mint by kind and status', async () => {
    await go(page, '#/workflows', '#workflow-results[data-loaded]');
    await page.fill('#f-kind', 'mint');
    await page.selectOption('#f-status', 'failed');
    await page.click('#workflow-filters button[type="submit"]');
    await until(page, () => document.getElementById('view').dataset.route === '/workflows?kind=mint&status=failed');
    await page.waitForSelector(`#workflow-table tr[data-id="${failedId}"]`);
    const statuses = await page.locator('#workflow-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.status));
    expect(statuses.every((s) => s === 'failed'), `the filter shows statuses ${statuses}`);
  });

  await step('a dead letter\'s retry is refused for the read,mint key; a wrong admin token too; the right one works', async () => {
    await go(page, '#/dead-letters', '#dead-letters[data-loaded]');
    const row = `#dead-letters-table tr[data-id="${failedId}"]`;
    await page.waitForSelector(row);
    before = await page.getAttribute(row, 'data-updated');
    await page.click(`button[data-retry="${failedId}"]`);
    await page.waitForSelector('#token-dialog[open] #token-error:not([hidden])');
    const scope = await page.innerText('#token-error');
    expect(scope.includes('insufficient_scope') && scope.includes('admin'), `the 403 is not shown: ${scope}`);
    // Given up, the refusal stays on the page; pressing retry again offers the dialog again.
    await page.click('#token-cancel');
    await until(page, () => document.getElementById('dead-letters-message').innerText.includes('insufficient_scope'));
    await page.click(`button[data-retry="${failedId}"]`);
    await page.waitForSelector('#token-dialog[open] #token-error:not([hidden])');
    await screenshot(page, checker, 'desktop-key-dialog.png', DESKTOP);
    await page.fill('#token-input', 'not-the-admin-token');
    await page.click('#token-ok');
    await until(page, () => document.getElementById('token-error').textContent.includes('invalid_credentials'));
    expect(await page.isVisible('#token-dialog[open]'), 'the dialog closed on a wrong token');
    await keyShown(page, 'key dev: read, mint');
    await page.fill('#token-input', adminToken);
    await page.click('#token-ok');
    await page.waitForSelector('#dead-letters-result');
    expect((await page.innerText('#dead-letters-result')).startsWith('retry'), await page.innerText('#dead-letters-result'));
    await keyShown(page, 'admin token: read, mint, admin, facilitate');
    expect(await page.evaluate(() => Boolean(sessionStorage.getItem('mintflow.key'))), 'the key is not kept in sessionStorage');
  });

  await step('it fails again, comes back to the list live, and is retried in bulk', async () => {
    // The retried mint still exceeds its token's supply: it fails again and the list, which
    // follows the event stream, shows it again.
    await until(page, ([id, was]) => {
      const row = document.querySelector(`#dead-letters-table tr[data-id="${id}"]`);
      return row && row.dataset.updated !== was;
    }, [failedId, before]);
    await page.check(`input[data-select="${failedId}"]`);
    await page.click('#retry-selected');
    await until(page, () => /^Retried 1 of 1/.test(document.querySelector('#dead-letters-result')?.innerText ?? ''));
    expect(!(await page.isVisible('#token-dialog[open]')), 'the token was asked again');
  });

  await step('the timeline records the retries, and retries it once more', async () => {
    await go(page, `#/workflows/${failedId}`, `#timeline[data-id="${failedId}"][data-status]`);
    await until(page, () => document.querySelectorAll('#events-table tr[data-event="retried"]').length >= 2);
    await page.waitForSelector(`#timeline[data-status="failed"]`);
    await page.fill('#action-reason', 'ui test');
    await page.click('#retry-button');
    await page.waitForSelector('#action-result');
    await until(page, () => [...document.querySelectorAll('#events-table tr[data-event="retried"]')]
      .some((r) => r.innerText.includes('ui test')));
  });

  await step('a webhook\'s given-up deliveries are listed and redelivered', async () => {
    await go(page, '#/webhooks', '#webhooks[data-loaded]');
    await page.click(`#webhooks-table tr[data-id="${webhookId}"] a`);
    await page.waitForSelector('#deliveries[data-loaded]');
    await page.selectOption('#delivery-status', 'failed');
    await until(page, (id) => document.getElementById('view').dataset.route === `/webhooks/${id}?status=failed`, webhookId);
    await page.waitForSelector('#deliveries-table tr[data-status="failed"]');
    const statuses = await page.locator('#deliveries-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.status));
    expect(statuses.every((s) => s === 'failed'), `the filter shows statuses ${statuses}`);
    expect((await page.innerText('#deliveries-table')).includes('could not deliver'), 'no delivery error shown');
    await page.click('#redeliver-failed');
    await until(page, () => /^Requeued [1-9]/.test(document.querySelector('#deliveries-result')?.innerText ?? ''));
    await screenshot(page, checker, 'desktop-webhook.png', DESKTOP);
  });

  await step('a setting is validated in the page, then saved', async () => {
    await go(page, '#/settings', '#settings[data-loaded="yes"]');
    const form = page.locator('form[data-key="max_batch_wait_ms"]');
    await form.locator('input').fill('-5');
    await form.locator('.note.error').waitFor();
    expect(await form.locator('button').isDisabled(), 'an out-of-range value can be saved');
    await form.locator('input').fill('750');
    await form.locator('button').click();
    await form.locator('.note.ok').waitFor();
    expect((await form.locator('.note').innerText()).includes('750'), await form.locator('.note').innerText());
  });

  await step('signer and readiness are shown', async () => {
    await go(page, '#/health', '#signer[data-loaded]');
    await page.waitForSelector('#ready[data-loaded]');
    await page.waitForSelector('#health[data-loaded="yes"]');
    const text = (await page.innerText('#signer')).toLowerCase();
    expect(text.includes(signer.toLowerCase()), `the signer ${signer} is not shown: ${text}`);
    expect(await page.getAttribute('#ready', 'data-loaded') === 'yes', `readiness: ${await page.innerText('#ready')}`);
    await page.waitForSelector('#nonce-drift');
  });

  await step('the overview charts each minute with mints, the median wait and the signer balance', async () => {
    await go(page, '#/', '#activity[data-loaded]');
    const want = await expectedDots();
    expect(want.requested.length >= 1 && want.confirmed.length >= 1 && want.failed.length >= 1 && want.p50.length >= 1,
      `the API shows too little to chart: ${JSON.stringify(want)}`);
    // In the page: what the charts draw (dots per series, points of the polylines).
    const shown = () => {
      const dots = (sel) => [...document.querySelectorAll(`${sel} circle`)].map((c) => [c.dataset.t, c.dataset.v]);
      const points = (sel) => (document.querySelector(`${sel} polyline`)?.getAttribute('points') ?? '').split(' ').filter(Boolean).length;
      return {
        requested: dots('#chart-mints g[data-series="requested"]'),
        confirmed: dots('#chart-mints g[data-series="confirmed"]'),
        failed: dots('#chart-mints g[data-series="failed"]'),
        p50: dots('#chart-p50 g[data-series="p50"]'),
        minutes: points('#chart-mints g[data-series="requested"]'),
        balance: points('svg[id^="chart-balance-"] g[data-series="ETH"]'),
      };
    };
    const dotsOf = ({ requested, confirmed, failed, p50 }) => JSON.stringify({ requested, confirmed, failed, p50 });
    // The charts are redrawn every 10 s: polled until they match, with the standard deadline.
    const deadline = Date.now() + WAIT_MS;
    let got = await page.evaluate(shown);
    while (dotsOf(got) !== dotsOf(want)) {
      expect(Date.now() < deadline, `the charts show ${dotsOf(got)}, the API ${dotsOf(want)}`);
      await page.waitForTimeout(200);
      got = await page.evaluate(shown);
    }
    expect(got.minutes === 60, `the mint chart has ${got.minutes} points, not one per minute`);
    expect(got.balance >= 1, 'the signer balance chart has no point');
    await elementShot(page, checker, 'desktop-charts.png', '#activity');
  });

  await step('the doctor page shows the forged mint with its workflow and command', async () => {
    await go(page, '#/doctor', '#doctor[data-loaded]');
    expect(await page.getAttribute('#doctor', 'data-loaded') !== 'error', `doctor failed: ${await page.innerText('#doctor')}`);
    const item = page.locator('#doctor-findings li[data-code="mint_not_on_chain"]');
    expect(await item.count() === 1, `no mint_not_on_chain finding: ${await page.innerText('#doctor')}`);
    expect(await item.locator(`a[href="#/workflows/${forgedId}"]`).count() === 1, 'the finding does not link its workflow');
    const command = await item.locator('pre.command').innerText();
    expect(command === `mintflow workflows history ${forgedId}`, `suggested: ${command}`);
    expect(await page.getAttribute('#doctor-checks tr[data-check="confirmed_mints"]', 'data-findings') === '1', 'the checks table does not count it');
    await screenshot(page, checker, 'desktop-doctor.png', DESKTOP);
    await page.click('#doctor-run');
    await page.waitForSelector('#doctor[data-loaded]:not([data-loaded="error"]) #doctor-findings');
  });

  await step('desktop screenshot of the overview', async () => {
    await go(page, '#/', '#stats[data-loaded]');
    await page.waitForSelector('#batches table');
    await screenshot(page, checker, 'desktop.png', DESKTOP);
  });

  await step('every view fits a phone (390 px) without sideways scrolling', async () => {
    await page.setViewportSize(PHONE);
    const views = [
      ['#/', '#stats[data-loaded]'],
      ['#/workflows', '#workflow-results[data-loaded]'],
      [`#/workflows/${mintId}`, '#events-table'],
      ['#/dead-letters', '#dead-letters[data-loaded]'],
      ['#/webhooks', '#webhooks[data-loaded]'],
      [`#/webhooks/${webhookId}`, '#deliveries[data-loaded]'],
      ['#/settings', '#settings[data-loaded]'],
      ['#/health', '#signer[data-loaded]'],
      ['#/doctor', '#doctor[data-loaded]'],
    ];
    for (const [hash, loaded] of views) {
      await go(page, hash, loaded);
      await noHorizontalScroll(page, hash);
      if (hash === '#/') await screenshot(page, checker, 'phone.png', PHONE);
      if (hash.startsWith('#/workflows/')) await screenshot(page, checker, 'phone-timeline.png', PHONE);
    }
  });

  await step('"forget" drops the key from the tab', async () => {
    await page.click('#token-forget');
    await keyShown(page, 'key: none (enter one)');
    expect(await page.evaluate(() => sessionStorage.length === 0), 'sessionStorage still holds something');
    expect(!(await page.isVisible('#token-forget')), 'forget is still offered');
  });
}

main().then(() => {
  log('all expectations met');
}, (e) => {
  console.error(`ui-test: FAILED: ${e.message}`);
  process.exit(1);
});
