// VAS viewer: the Manage panel. Enable, disable and re-check cameras (the selection or a label
// selector), export as YAML, import YAML with a server-side dry run first. Every write goes
// to the facade, which performs it AS THE SIGNED-IN USER (impersonation): Kubernetes RBAC
// decides. Controls are disabled where the user may not patch, hidden where the facade serves
// no writes. Server text (names, messages) is rendered with textContent only.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const opener = $('manage-open'), panel = $('manage');
  if (!opener || !panel) return;
  const css = document.createElement('link');
  css.rel = 'stylesheet'; css.href = '/static/manage.css';
  document.head.appendChild(css);

  const api = window.vasManage = { ready: false, permissions: null, chosen: null,
    selection(names) { api.chosen = names ? Array.from(names) : null; refresh(); },
    open() { panel.hidden = false; load(); }, close() { panel.hidden = true; } };

  async function call(path, init) {
    const token = sessionStorage.getItem('vas-token') || '';
    const headers = Object.assign({}, (init && init.headers) || {});
    if (token) headers.Authorization = 'Bearer ' + token;
    const res = await fetch(path, Object.assign({}, init || {}, { headers }));
    let body = null;
    const type = res.headers.get('content-type') || '';
    if (type.includes('json')) body = await res.json(); else body = await res.text();
    if (!res.ok) {
      const msg = body && body.error ? body.error.message : res.statusText;
      const err = new Error(msg); err.code = res.status; err.body = body; throw err;
    }
    return { res, body };
  }
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v; else if (k === 'on') e.addEventListener('click', v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids) e.appendChild(kid);
    return e;
  }

  // The panel, built once.
  const ns = el('select', { id: 'm-ns', 'aria-label': 'Namespace' });
  const modeSel = el('input', { type: 'radio', name: 'm-target', value: 'selection', id: 'm-t-sel' });
  const modeLab = el('input', { type: 'radio', name: 'm-target', value: 'selector', id: 'm-t-lab' });
  const selector = el('input', { id: 'm-selector', type: 'text', placeholder: 'e.g. site=hq' });
  const count = el('span', { id: 'm-count' });
  const enable = el('button', { id: 'm-enable', text: 'Enable', on: () => act('enable') });
  const disable = el('button', { id: 'm-disable', text: 'Disable', on: () => act('disable') });
  const recheck = el('button', { id: 'm-recheck', text: 'Re-check now', on: () => act('recheck') });
  const group = el('input', { id: 'm-group', type: 'text', placeholder: 'group name' });
  const exportBtn = el('button', { id: 'm-export', text: 'Export YAML', on: exportYaml });
  const yamlBox = el('textarea', { id: 'm-yaml', rows: '8', spellcheck: 'false',
    placeholder: 'Paste Camera / CameraGroup YAML (vas.io/v1alpha1), or choose a file' });
  const file = el('input', { id: 'm-file', type: 'file', accept: '.yaml,.yml,text/yaml' });
  const dry = el('button', { id: 'm-dry', text: 'Dry run', on: () => importYaml(true) });
  const apply = el('button', { id: 'm-apply', text: 'Apply', on: () => importYaml(false) });
  const status = el('p', { id: 'm-status', role: 'status' });
  const results = el('ul', { id: 'm-results' });
  const writeBox = el('fieldset', { id: 'm-writes' }, el('legend', { text: 'Start / stop' }),
    el('div', { class: 'm-row' }, enable, disable, recheck));
  const importBox = el('fieldset', { id: 'm-import' }, el('legend', { text: 'Import' }), yamlBox,
    el('div', { class: 'm-row' }, file, dry, apply));
  panel.classList.add('manage');
  panel.append(
    el('div', { class: 'm-head' }, el('h2', { text: 'Manage cameras' }),
      el('button', { class: 'ghost', text: '✕', 'aria-label': 'Close', on: () => api.close() })),
    el('div', { class: 'm-row' }, el('label', { for: 'm-ns', text: 'Namespace ' }), ns),
    el('div', { class: 'm-row' }, modeSel, el('label', { for: 'm-t-sel', text: 'Selected cameras ' }),
      count, modeLab, el('label', { for: 'm-t-lab', text: 'Label selector ' }), selector),
    writeBox,
    el('fieldset', {}, el('legend', { text: 'Export' }),
      el('div', { class: 'm-row' }, el('label', { for: 'm-group', text: 'or a group ' }), group,
        exportBtn)),
    importBox, status, results);
  modeSel.checked = true;
  let dryRunOk = null; // the text whose dry run succeeded: Apply sends only that

  opener.addEventListener('click', () => (panel.hidden ? api.open() : api.close()));
  ns.addEventListener('change', refresh);
  selector.addEventListener('input', () => { modeLab.checked = true; refresh(); });
  for (const r of [modeSel, modeLab]) r.addEventListener('change', refresh);
  yamlBox.addEventListener('input', () => { dryRunOk = null; refresh(); });
  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (!f) return;
    if (f.size > 1024 * 1024) { say('That file is larger than 1 MiB.', true); return; }
    yamlBox.value = await f.text(); dryRunOk = null; refresh();
  });

  // The selection: set through vasManage.selection(), else the grid's (window.vas.selection).
  function selected() {
    let raw = api.chosen;
    if (!raw && window.vas && window.vas.selection) raw = Array.from(window.vas.selection);
    const byNs = {};
    for (const item of raw || []) {
      let n = '', name = '';
      if (typeof item === 'string') [n, name] = item.includes('/') ? item.split('/', 2) : [ns.value, item];
      else if (item && item.name) { n = item.namespace || ns.value; name = item.name; }
      if (name) (byNs[n] = byNs[n] || []).push(name);
    }
    return byNs;
  }
  const perm = () => (api.permissions && api.permissions.items || []).find((p) => p.namespace === ns.value);

  function refresh() {
    const p = perm(), writes = !!(api.permissions && api.permissions.writes);
    const mayPatch = writes && !!(p && p.patch);
    const names = selected()[ns.value] || [];
    count.textContent = `(${names.length})`;
    writeBox.hidden = importBox.hidden = !writes;
    const target = modeLab.checked ? !!selector.value.trim() : names.length > 0;
    for (const b of [enable, disable, recheck]) {
      b.disabled = !mayPatch || !target;
      b.title = mayPatch ? '' : `You may not patch cameras in ${ns.value || 'this namespace'}`;
    }
    opener.dataset.canPatch = String(mayPatch);
    dry.disabled = !writes || !p || !p.patch || !yamlBox.value.trim();
    apply.disabled = dry.disabled || dryRunOk === null || dryRunOk !== yamlBox.value;
    exportBtn.disabled = !ns.value;
  }
  function say(text, bad) { status.textContent = text; status.className = bad ? 'm-bad' : ''; }
  function show(items) {
    results.replaceChildren(...items.map((r) => el('li', { class: r.code >= 400 ? 'm-bad' : 'm-ok',
      text: `${r.kind || 'Camera'} ${r.name || '?'}: ${r.code >= 400 ? r.code + ' ' + r.message : r.result}` })));
  }

  async function act(action) {
    const body = { action };
    if (modeLab.checked) body.labelSelector = selector.value.trim();
    else body.names = selected()[ns.value] || [];
    say(`${action}…`); results.replaceChildren();
    try {
      const { body: out } = await call(`/api/v1/namespaces/${encodeURIComponent(ns.value)}/cameras:bulk`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      say(`${action}: ${out.succeeded} done, ${out.failed} refused`, out.failed > 0); show(out.items);
    } catch (e) { say(`${action} refused (${e.code}): ${e.message}`, true); }
  }

  async function exportYaml() {
    const params = new URLSearchParams();
    const names = selected()[ns.value] || [];
    if (group.value.trim()) params.set('group', group.value.trim());
    else if (modeLab.checked && selector.value.trim()) params.set('labelSelector', selector.value.trim());
    else if (!modeLab.checked && names.length) params.set('names', names.join(','));
    try {
      const { res, body } = await call(`/api/v1/namespaces/${encodeURIComponent(ns.value)}/export?${params}`);
      const m = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') || '');
      const a = el('a', { href: URL.createObjectURL(new Blob([body], { type: 'application/yaml' })),
        download: m ? m[1] : 'vas-export.yaml' });
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      say('Exported.');
    } catch (e) { say(`Export refused (${e.code}): ${e.message}`, true); }
  }

  async function importYaml(dryRun) {
    const text = yamlBox.value;
    say(dryRun ? 'Dry run…' : 'Applying…'); results.replaceChildren();
    try {
      const { body } = await call(`/api/v1/namespaces/${encodeURIComponent(ns.value)}/import?dryRun=${dryRun}`,
        { method: 'POST', headers: { 'Content-Type': 'application/yaml' }, body: text });
      const bad = body.results.filter((r) => r.code >= 400).length;
      dryRunOk = dryRun && !bad ? text : null;
      say(dryRun ? (bad ? `Dry run: ${bad} object(s) refused; fix them to apply.` : 'Dry run passed: Apply to make it so.')
        : `Applied ${body.results.length} object(s).`, bad > 0);
      show(body.results);
    } catch (e) {
      dryRunOk = null;
      say(`Import refused (${e.code}): ${e.message}`, true);
      if (e.body && e.body.results) show(e.body.results);
    }
    refresh();
  }

  async function load() {
    try {
      const { body } = await call('/api/v1/permissions');
      api.permissions = body;
      const keep = ns.value;
      ns.replaceChildren(...body.items.map((p) => el('option', { value: p.namespace, text: p.namespace })));
      const firstPatch = body.items.find((p) => p.patch);
      ns.value = keep || (firstPatch ? firstPatch.namespace : (body.items[0] || {}).namespace || '');
    } catch (e) { api.permissions = null; }
    refresh(); api.ready = true;
  }
  load();
  window.addEventListener('storage', load);
  setInterval(() => { if (!panel.hidden) refresh(); }, 1000); // the grid's selection changes
})();
