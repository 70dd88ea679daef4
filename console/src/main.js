// rayo's web console: the app shell, sign-in, the function list and the
// create page. Routes live in the URL's hash (#/functions/NAME/test).
import { html, render, useState, useEffect, ErrorMessage, formatDate, navigate } from './ui.js';
import { call, lambda, listAllFunctions, setCsrfToken, toBase64, ApiError } from './api.js';
import { zipSync, strToU8 } from 'fflate';
import { STARTER_HANDLER } from './templates.js';
import { FunctionPage } from './function.js';

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

function App() {
  const [session, setSession] = useState(null);
  const [error, setError] = useState(null);
  const hash = useHash();
  const load = () =>
    call('GET', '/session')
      .then((s) => {
        setCsrfToken(s.csrfToken);
        setSession(s);
      })
      .catch(setError);
  useEffect(() => {
    load();
  }, []);
  if (error) return html`<main><${ErrorMessage} error=${error} /></main>`;
  if (!session) return html`<p class="loading">Loading…</p>`;
  if (!session.signedIn) return html`<${SignIn} onSignedIn=${(s) => { setCsrfToken(s.csrfToken); setSession(s); }} />`;
  const readOnly = session.role === 'read-only';
  const signOut = async () => {
    await call('DELETE', '/session');
    setCsrfToken('');
    location.hash = '';
    location.reload();
  };
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  let page;
  if (parts[0] === 'functions' && parts[1]) {
    page = html`<${FunctionPage} key=${parts[1]} name=${parts[1]} tab=${parts[2] || 'code'} readOnly=${readOnly} />`;
  } else if (parts[0] === 'create') {
    page = html`<${CreateFunction} />`;
  } else {
    page = html`<${FunctionList} readOnly=${readOnly} />`;
  }
  return html`
    <header class="top">
      <a class="brand" href="#/">rayo</a>
      <nav aria-label="Main"><a href="#/">Functions</a></nav>
      <span class="who">
        ${session.accessKeyId ? html`Signed in as <strong>${session.accessKeyId}</strong>` : 'Local console'}
        ${' '}<span class=${'role role-' + session.role}>${session.role}</span>
        ${session.open ? null : html` <button class="link" onClick=${signOut}>Sign out</button>`}
      </span>
    </header>
    <main id="main">${page}</main>`;
}

function SignIn({ onSignedIn }) {
  const [key, setKey] = useState('');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      onSignedIn(await call('POST', '/session', { body: { accessKeyId: key, secretAccessKey: secret } }));
    } catch (e) {
      setError(e);
    }
  };
  return html`<main class="signin">
    <h1>Sign in to rayo</h1>
    <p>This server is reachable from other machines, so the console asks for an access key (<code>--console-credentials</code>).</p>
    <form onSubmit=${submit}>
      <label for="access-key-id">Access key ID</label>
      <input id="access-key-id" autocomplete="username" value=${key} onInput=${(e) => setKey(e.target.value)} required />
      <label for="secret-access-key">Secret access key</label>
      <input id="secret-access-key" type="password" autocomplete="current-password" value=${secret} onInput=${(e) => setSecret(e.target.value)} required />
      <button type="submit" class="primary">Sign in</button>
    </form>
    <${ErrorMessage} error=${error} />
  </main>`;
}

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);

// The rows are one HTML string, escaped, parsed by the browser in one go:
// with a thousand functions that is several times faster than building
// each element from script.
export function FunctionTable({ functions, metrics }) {
  const count = (name, field) => {
    if (!metrics) return '—';
    const m = metrics.get(name);
    return m ? String(m[field] ?? 0) : '0';
  };
  const rows = functions
    .map((f) => {
      const name = escapeHtml(f.FunctionName);
      return `<tr><th scope="row"><a href="#/functions/${escapeHtml(encodeURIComponent(f.FunctionName))}">${name}</a></th><td>${escapeHtml(f.Runtime || f.PackageType)}</td><td class="num">${escapeHtml(f.MemorySize)}</td><td>${escapeHtml(formatDate(f.LastModified))}</td><td class="num">${escapeHtml(count(f.FunctionName, 'invocations'))}</td><td class="num">${escapeHtml(count(f.FunctionName, 'errors'))}</td></tr>`;
    })
    .join('');
  return html`<table class="functions">
    <caption class="visually-hidden">Functions</caption>
    <thead><tr>
      <th scope="col">Name</th><th scope="col">Runtime</th><th scope="col">Memory (MB)</th>
      <th scope="col">Last modified</th><th scope="col">Invocations (1h)</th><th scope="col">Errors (1h)</th>
    </tr></thead>
    <tbody dangerouslySetInnerHTML=${{ __html: rows }}></tbody>
  </table>`;
}

function FunctionList({ readOnly }) {
  const [functions, setFunctions] = useState(null);
  const [metrics, setMetrics] = useState(null);
  const [filter, setFilter] = useState('');
  const [error, setError] = useState(null);
  useEffect(() => {
    listAllFunctions()
      .then((listed) => {
        // The list benchmark measures from here to the rendered table.
        window.__rayoListDataAt = performance.now();
        setFunctions(listed);
      })
      .catch(setError);
    call('GET', '/metrics/summary?range=1h')
      .then((summary) => setMetrics(new Map((summary.functions || []).map((f) => [f.name, f]))))
      .catch(() => setMetrics(null));
  }, []);
  useEffect(() => {
    // The list benchmark's end mark: the first frame after the table.
    if (functions) {
      requestAnimationFrame(() => setTimeout(() => (window.__rayoListRenderedAt = performance.now()), 0));
    }
  }, [functions]);
  const shown = functions ? functions.filter((f) => f.FunctionName.toLowerCase().includes(filter.toLowerCase())) : [];
  return html`<section>
    <div class="title-row">
      <h1>Functions${functions ? html` <span class="count">(${functions.length})</span>` : null}</h1>
      ${readOnly ? null : html`<a class="button primary" href="#/create">Create function</a>`}
    </div>
    <${ErrorMessage} error=${error} />
    <label for="filter" class="inline">Filter by name</label>
    <input id="filter" type="search" value=${filter} onInput=${(e) => setFilter(e.target.value)} />
    ${functions === null
      ? html`<p class="loading">Loading functions…</p>`
      : functions.length === 0
        ? html`<p class="empty">No functions yet.</p>`
        : html`<${FunctionTable} functions=${shown} metrics=${metrics} />`}
  </section>`;
}

function CreateFunction() {
  const [runtimes, setRuntimes] = useState([]);
  const [form, setForm] = useState({ name: '', runtime: '', handler: 'lambda_function.lambda_handler', memory: 128, timeout: 3, source: 'starter', bucket: '', key: '' });
  const [zipFile, setZipFile] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    call('GET', '/runtimes').then((r) => {
      setRuntimes(r.runtimes);
      setForm((f) => ({ ...f, runtime: r.runtimes[r.runtimes.length - 1] || 'python3.11' }));
    }).catch(setError);
  }, []);
  const set = (field) => (e) => setForm({ ...form, [field]: e.target.value });
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let code;
      if (form.source === 'starter') {
        const module = form.handler.split('.')[0] || 'lambda_function';
        code = { ZipFile: toBase64(zipSync({ [module + '.py']: strToU8(STARTER_HANDLER) })) };
      } else if (form.source === 'zip') {
        if (!zipFile) throw new ApiError(0, 'ValidationException', 'choose a .zip file');
        code = { ZipFile: toBase64(new Uint8Array(await zipFile.arrayBuffer())) };
      } else {
        code = { S3Bucket: form.bucket, S3Key: form.key };
      }
      await lambda('POST', '/2015-03-31/functions', {
        FunctionName: form.name,
        Runtime: form.runtime,
        Handler: form.handler,
        Role: 'arn:aws:iam::000000000000:role/rayo-console',
        MemorySize: Number(form.memory),
        Timeout: Number(form.timeout),
        Code: code,
      });
      navigate('#/functions/' + encodeURIComponent(form.name) + '/code');
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return html`<section>
    <h1>Create function</h1>
    <form class="create" onSubmit=${submit}>
      <label for="fn-name">Function name</label>
      <input id="fn-name" required value=${form.name} onInput=${set('name')} pattern="[A-Za-z0-9_-]{1,64}" />
      <label for="fn-runtime">Runtime</label>
      <select id="fn-runtime" value=${form.runtime} onChange=${set('runtime')}>
        ${runtimes.map((r) => html`<option value=${r}>${r}</option>`)}
      </select>
      <label for="fn-handler">Handler</label>
      <input id="fn-handler" required value=${form.handler} onInput=${set('handler')} />
      <label for="fn-memory">Memory (MB)</label>
      <input id="fn-memory" type="number" min="128" max="10240" value=${form.memory} onInput=${set('memory')} />
      <label for="fn-timeout">Timeout (seconds)</label>
      <input id="fn-timeout" type="number" min="1" max="900" value=${form.timeout} onInput=${set('timeout')} />
      <fieldset>
        <legend>Code</legend>
        ${[
          ['starter', 'Start from a hello-world handler'],
          ['zip', 'Upload a .zip file'],
          ['s3', 'From a bucket object (S3Bucket/S3Key)'],
        ].map(([value, label]) => html`<div class="radio">
          <input type="radio" id=${'src-' + value} name="source" value=${value} checked=${form.source === value} onChange=${set('source')} />
          <label for=${'src-' + value}>${label}</label>
        </div>`)}
        ${form.source === 'zip' ? html`<label for="fn-zip">Deployment package (.zip)</label>
          <input id="fn-zip" type="file" accept=".zip,application/zip" onChange=${(e) => setZipFile(e.target.files[0])} />` : null}
        ${form.source === 's3' ? html`<label for="fn-bucket">Bucket (S3Bucket)</label>
          <input id="fn-bucket" required value=${form.bucket} onInput=${set('bucket')} />
          <label for="fn-key">Key (S3Key)</label>
          <input id="fn-key" required value=${form.key} onInput=${set('key')} />` : null}
      </fieldset>
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>${busy ? 'Creating…' : 'Create function'}</button>
        <a class="button" href="#/">Cancel</a>
      </div>
    </form>
    <${ErrorMessage} error=${error} />
  </section>`;
}

render(html`<${App} />`, document.getElementById('app'));
