// The doctor page: `GET /v1/doctor` (the checks of `mintflow doctor`, read-only), each finding
// with its workflows and the command to run about it, and what every check examined. Runs
// once when shown and again on request: a run makes node calls, so it does not poll.
import { api } from './api.js';
import { badge, errorBox, h, row, show, table, time, workflowLink } from './dom.js';

const CHECK_HEADERS = ['check', 'examined', 'findings', 'skipped because'];

export function render(root) {
  const report = h('div', { id: 'doctor' }, h('p', { class: 'muted' }, 'Running the checks…'));
  const again = h('button', { type: 'button', id: 'doctor-run', class: 'ghost small' }, 'Run again');
  let alive = true;
  const run = async () => {
    again.disabled = true;
    delete report.dataset.loaded;
    try {
      const r = await api('/v1/doctor');
      if (alive) draw(report, r);
    } catch (e) {
      if (!alive) return;
      report.replaceChildren(errorBox(e));
      report.dataset.loaded = 'error';
    } finally {
      again.disabled = false;
    }
  };
  again.addEventListener('click', run);
  root.append(h('section', { class: 'panel' },
    h('h2', {}, 'Doctor: the database against the chain and itself ', again),
    h('p', { class: 'muted' }, 'Read-only. Repairs that cannot lose or duplicate anything are made by ',
      h('code', {}, 'mintflow doctor --fix'), ' on the command line; the others take a person.'),
    report));
  run();
  return () => {
    alive = false;
  };
}

function draw(node, r) {
  const findings = r?.findings ?? [];
  const checks = r?.checks ?? [];
  node.replaceChildren(
    h('p', {},
      badge(r?.clean ? 'clean' : `${findings.length} finding(s)`, r?.clean ? 'completed' : 'failed'),
      ' ', h('span', { class: 'muted' }, `sample ${show(r?.sample)} · stuck after ${show(r?.stuckAfterMinutes)} min · run at `),
      time(r?.generatedAt)),
    findings.length
      ? h('ol', { id: 'doctor-findings', class: 'findings' }, findings.map(finding))
      : h('p', { class: 'ok' }, 'Nothing to report.'),
    h('h3', {}, 'Checks'),
    table(CHECK_HEADERS, checks.map((c) => row(CHECK_HEADERS,
      [h('strong', {}, show(c.name)), show(c.examined), show(c.findings), show(c.skipped)],
      { dataset: { check: c.name ?? '', findings: String(c.findings ?? '') } })), { id: 'doctor-checks' }));
  node.dataset.loaded = r?.generatedAt ?? 'yes';
}

function finding(f) {
  const ids = f.workflowIds ?? [];
  return h('li', { class: 'finding', dataset: { code: f.code ?? '', severity: f.severity ?? '' } },
    h('div', {}, badge(f.severity, f.severity === 'error' ? 'failed' : 'waiting'), ' ',
      h('code', {}, show(f.code)), f.fixable ? h('span', { class: 'muted' }, ' · repaired by --fix') : ''),
    h('p', {}, show(f.message)),
    ids.length
      ? h('p', { class: 'workflows' }, h('span', { class: 'muted' }, `Workflows (${ids.length}): `),
        ids.flatMap((id, i) => (i ? [' ', workflowLink(id)] : [workflowLink(id)])))
      : '',
    f.suggestedCommand
      ? h('pre', { class: 'command', title: 'What an operator can run about it' }, f.suggestedCommand)
      : h('p', { class: 'muted' }, 'No command: it takes a person (fund the signer, fix the node).'));
}
