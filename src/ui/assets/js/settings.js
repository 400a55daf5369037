// Hot settings: `/v1/settings`, each changed with `PUT /v1/settings/{key}` (admin) after the
// same range check the server makes.
import { api } from './api.js';
import { errorBox, h, row, show, table, time } from './dom.js';

const HEADERS = ['setting', 'value', 'default', 'range', 'last change'];

export function render(root) {
  const list = h('div', { id: 'settings' }, h('p', { class: 'muted' }, 'Loading…'));
  root.append(h('section', { class: 'panel' },
    h('h2', {}, 'Settings'),
    h('p', { class: 'muted' }, 'Changes take effect within seconds in every process, without a restart. Saving needs a key with the admin scope (or the admin token).'),
    list));
  api('/v1/settings').then((settings) => {
    const rows = (Array.isArray(settings) ? settings : []).map((s) => settingRow(s));
    list.replaceChildren(table(HEADERS, rows, { id: 'settings-table' }));
    list.dataset.loaded = 'yes';
  }, (e) => {
    list.replaceChildren(errorBox(e));
    list.dataset.loaded = 'error';
  });
  return () => {};
}

/** The value as an integer within the setting's range, or why not. */
function check(raw, min, max) {
  const text = String(raw).trim();
  if (!/^-?\d+$/.test(text)) return { error: 'must be a whole number' };
  const value = Number(text);
  if (!Number.isSafeInteger(value)) return { error: 'is too large' };
  if (Number.isFinite(min) && value < min) return { error: `must be at least ${min}` };
  if (Number.isFinite(max) && value > max) return { error: `must be at most ${max}` };
  return { value };
}

function settingRow(s) {
  const min = typeof s.min === 'number' ? s.min : undefined;
  const max = typeof s.max === 'number' ? s.max : undefined;
  const input = h('input', { type: 'number', name: s.key, id: `setting-${s.key}`, value: s.value ?? '', min, max, step: 1, required: true });
  const save = h('button', { type: 'submit', class: 'small' }, 'Save');
  const note = h('p', { class: 'note', 'aria-live': 'polite' });
  const changed = h('span', {}, time(s.updatedAt), s.updatedBy ? ` by ${s.updatedBy}` : '');
  const validate = () => {
    const r = check(input.value, min, max);
    input.setCustomValidity(r.error ?? '');
    save.disabled = Boolean(r.error);
    note.className = r.error ? 'note error' : 'note';
    note.textContent = r.error ? `${s.key} ${r.error}` : '';
    return r;
  };
  input.addEventListener('input', validate);
  const form = h('form', {
    class: 'setting',
    dataset: { key: s.key },
    novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const r = validate();
      if (r.error) return;
      save.disabled = true;
      try {
        const updated = await api(`/v1/settings/${encodeURIComponent(s.key)}`, { method: 'PUT', body: { value: r.value } });
        input.value = updated?.value ?? r.value;
        note.className = 'note ok';
        note.textContent = `saved: ${show(updated?.value)}`;
        changed.replaceChildren(time(updated?.updatedAt), updated?.updatedBy ? ` by ${updated.updatedBy}` : '');
      } catch (e) {
        note.className = 'note error';
        note.textContent = `${e.code}: ${e.message}`;
      } finally {
        save.disabled = false;
      }
    },
  }, h('div', { class: 'row' }, input, save), note);
  return row(HEADERS, [
    h('div', {}, h('strong', { class: 'mono' }, show(s.key)), h('div', { class: 'muted' }, show(s.description))),
    form, show(s.default), `${show(s.min)} … ${show(s.max)}`, changed,
  ], { dataset: { key: s.key } });
}
