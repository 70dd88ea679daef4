// A function's page: its tabs (Code, Test, Monitor, Logs, Configuration).
import { html, useState, useEffect, Tabs, ErrorMessage, formatDate, navigate } from './ui.js';
import { lambda, enc } from './api.js';
import { CodeTab } from './code.js';
import { TestTab } from './testtab.js';
import { MonitorTab } from './monitor.js';
import { LogsTab } from './logs.js';
import { ConfigTab } from './config.js';

const TABS = [
  { id: 'code', label: 'Code' },
  { id: 'test', label: 'Test' },
  { id: 'monitor', label: 'Monitor' },
  { id: 'logs', label: 'Logs' },
  { id: 'configuration', label: 'Configuration' },
];

export function FunctionPage({ name, tab, readOnly }) {
  const [fn, setFn] = useState(null);
  const [error, setError] = useState(null);
  const reload = () =>
    lambda('GET', '/2015-03-31/functions/' + enc(name))
      .then(setFn)
      .catch(setError);
  useEffect(() => {
    reload();
  }, [name]);
  const selected = TABS.some((t) => t.id === tab) ? tab : 'code';
  const select = (id) => navigate('#/functions/' + encodeURIComponent(name) + '/' + id);
  const remove = async () => {
    if (!confirm(`Delete the function ${name}?`)) return;
    try {
      await lambda('DELETE', '/2015-03-31/functions/' + enc(name));
      navigate('#/');
    } catch (e) {
      setError(e);
    }
  };
  const config = fn && fn.Configuration;
  const panels = {
    code: () => html`<${CodeTab} fn=${fn} readOnly=${readOnly} onSaved=${reload} />`,
    test: () => html`<${TestTab} name=${name} readOnly=${readOnly} />`,
    monitor: () => html`<${MonitorTab} name=${name} />`,
    logs: () => html`<${LogsTab} name=${name} />`,
    configuration: () => html`<${ConfigTab} fn=${fn} readOnly=${readOnly} onSaved=${reload} />`,
  };
  return html`<section>
    <p class="crumbs"><a href="#/">Functions</a> › ${name}</p>
    <div class="title-row">
      <h1>${name}</h1>
      ${readOnly || !fn ? null : html`<button class="danger" onClick=${remove}>Delete</button>`}
    </div>
    <${ErrorMessage} error=${error} />
    ${config
      ? html`<dl class="facts">
          <div><dt>Runtime</dt><dd>${config.Runtime}</dd></div>
          <div><dt>Handler</dt><dd>${config.Handler}</dd></div>
          <div><dt>Memory</dt><dd>${config.MemorySize} MB</dd></div>
          <div><dt>Timeout</dt><dd>${config.Timeout} s</dd></div>
          <div><dt>Last modified</dt><dd>${formatDate(config.LastModified)}</dd></div>
          <div><dt>State</dt><dd>${config.State || 'Active'}</dd></div>
        </dl>`
      : null}
    <${Tabs} label="Function" tabs=${TABS} selected=${selected} onSelect=${select} />
    <div role="tabpanel" id=${'panel-' + selected} aria-labelledby=${'tab-' + selected} tabindex="0" class="panel">
      ${fn ? panels[selected]() : error ? null : html`<p class="loading">Loading…</p>`}
    </div>
  </section>`;
}
