// The Configuration tab: general settings, environment variables,
// reserved concurrency, and triggers (function URL, HTTP API route,
// schedule, SQS queue, S3 bucket notification).
import { html, useState, useEffect, ErrorMessage, Notice } from './ui.js';
import { call, lambda, json11, enc } from './api.js';

export function ConfigTab({ fn, readOnly, onSaved }) {
  const c = fn.Configuration;
  const [memory, setMemory] = useState(c.MemorySize);
  const [timeout, setTimeoutValue] = useState(c.Timeout);
  const [handler, setHandler] = useState(c.Handler || '');
  const [env, setEnv] = useState(Object.entries((c.Environment && c.Environment.Variables) || {}));
  const [reserved, setReserved] = useState(fn.Concurrency && fn.Concurrency.ReservedConcurrentExecutions !== undefined ? String(fn.Concurrency.ReservedConcurrentExecutions) : '');
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const name = c.FunctionName;
  const save = async (event) => {
    event.preventDefault();
    setError(null);
    setNotice('');
    try {
      await lambda('PUT', '/2015-03-31/functions/' + enc(name) + '/configuration', {
        MemorySize: Number(memory),
        Timeout: Number(timeout),
        Handler: handler,
        Environment: { Variables: Object.fromEntries(env.filter(([k]) => k.trim())) },
      });
      if (reserved === '') {
        if (fn.Concurrency) await lambda('DELETE', '/2017-10-31/functions/' + enc(name) + '/concurrency');
      } else {
        await lambda('PUT', '/2017-10-31/functions/' + enc(name) + '/concurrency', { ReservedConcurrentExecutions: Number(reserved) });
      }
      setNotice('Configuration saved.');
      onSaved && onSaved();
    } catch (e) {
      setError(e);
    }
  };
  const setPair = (i, at, value) => setEnv(env.map((pair, j) => (j === i ? (at === 0 ? [value, pair[1]] : [pair[0], value]) : pair)));
  return html`<div class="config">
    <form onSubmit=${save}>
      <h2>General</h2>
      <fieldset disabled=${readOnly}>
        <legend class="visually-hidden">General settings</legend>
        <div class="grid3">
          <div><label for="cfg-memory">Memory (MB)</label><input id="cfg-memory" type="number" min="128" max="10240" value=${memory} onInput=${(e) => setMemory(e.target.value)} /></div>
          <div><label for="cfg-timeout">Timeout (seconds)</label><input id="cfg-timeout" type="number" min="1" max="900" value=${timeout} onInput=${(e) => setTimeoutValue(e.target.value)} /></div>
          <div><label for="cfg-handler">Handler</label><input id="cfg-handler" value=${handler} onInput=${(e) => setHandler(e.target.value)} /></div>
          <div><label for="cfg-reserved">Reserved concurrency (empty: none)</label><input id="cfg-reserved" type="number" min="0" value=${reserved} onInput=${(e) => setReserved(e.target.value)} /></div>
        </div>
        <h2>Environment variables</h2>
        <table class="env">
          <thead><tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col"><span class="visually-hidden">Remove</span></th></tr></thead>
          <tbody>
            ${env.map(([k, v], i) => html`<tr>
              <td><input aria-label=${'Key of variable ' + (i + 1)} value=${k} onInput=${(e) => setPair(i, 0, e.target.value)} /></td>
              <td><input aria-label=${'Value of variable ' + (i + 1)} value=${v} onInput=${(e) => setPair(i, 1, e.target.value)} /></td>
              <td><button type="button" onClick=${() => setEnv(env.filter((_, j) => j !== i))} aria-label=${'Remove variable ' + (k || i + 1)}>Remove</button></td>
            </tr>`)}
          </tbody>
        </table>
        <button type="button" onClick=${() => setEnv([...env, ['', '']])}>Add variable</button>
      </fieldset>
      ${readOnly ? null : html`<div class="actions"><button type="submit" class="primary" id="save-config">Save configuration</button></div>`}
    </form>
    <${Notice} text=${notice} />
    <${ErrorMessage} error=${error} />
    <${Triggers} fn=${fn} readOnly=${readOnly} />
  </div>`;
}

function Triggers({ fn, readOnly }) {
  const c = fn.Configuration;
  const name = c.FunctionName;
  const arn = c.FunctionArn;
  const [url, setUrl] = useState(undefined);
  const [mappings, setMappings] = useState([]);
  const [rules, setRules] = useState([]);
  const [apis, setApis] = useState([]);
  const [queues, setQueues] = useState([]);
  const [buckets, setBuckets] = useState([]);
  const [notifications, setNotifications] = useState([]);
  const [error, setError] = useState(null);
  const [form, setForm] = useState({ kind: 'url', schedule: 'rate(5 minutes)', ruleName: name + '-schedule', queue: '', batchSize: 10, routeKey: 'ANY /' + name, apiName: name + '-api', bucket: '', s3Events: 's3:ObjectCreated:*', prefix: '', suffix: '' });
  const load = async () => {
    setError(null);
    try {
      const got = await lambda('GET', '/2021-10-31/functions/' + enc(name) + '/url').catch((e) => (e.status === 404 ? null : Promise.reject(e)));
      setUrl(got);
      const m = await lambda('GET', '/2015-03-31/event-source-mappings/?FunctionName=' + enc(name));
      setMappings(m.EventSourceMappings || []);
      const r = await json11('AWSEvents.ListRules', {});
      const mine = [];
      for (const rule of r.Rules || []) {
        const t = await json11('AWSEvents.ListTargetsByRule', { Rule: rule.Name });
        if ((t.Targets || []).some((x) => x.Arn === arn || x.Arn.startsWith(arn + ':'))) mine.push(rule);
      }
      setRules(mine);
      const a = await lambda('GET', '/v2/apis');
      const routed = [];
      for (const api of a.items || []) {
        const integrations = await lambda('GET', `/v2/apis/${api.apiId}/integrations`);
        const ids = (integrations.items || []).filter((i) => i.integrationUri === arn || (i.integrationUri || '').includes(':function:' + name)).map((i) => i.integrationId);
        if (!ids.length) continue;
        const routes = await lambda('GET', `/v2/apis/${api.apiId}/routes`);
        for (const route of routes.items || []) {
          if (ids.some((id) => route.target === 'integrations/' + id)) routed.push({ api, route });
        }
      }
      setApis(routed);
      const q = await json11('AmazonSQS.ListQueues', {});
      setQueues(q.QueueUrls || []);
      const s3 = await call('GET', '/s3/notifications?function=' + enc(name));
      setBuckets(s3.Buckets || []);
      setNotifications(s3.Notifications || []);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load();
  }, [name]);
  const act = (work) => async (event) => {
    event && event.preventDefault();
    setError(null);
    try {
      await work();
      await load();
    } catch (e) {
      setError(e);
    }
  };
  const add = act(async () => {
    if (form.kind === 'url') {
      await lambda('POST', '/2021-10-31/functions/' + enc(name) + '/url', { AuthType: 'NONE' });
    } else if (form.kind === 'api') {
      await lambda('POST', '/v2/apis', { name: form.apiName, protocolType: 'HTTP', target: arn, routeKey: form.routeKey });
    } else if (form.kind === 'schedule') {
      await json11('AWSEvents.PutRule', { Name: form.ruleName, ScheduleExpression: form.schedule, State: 'ENABLED' });
      await json11('AWSEvents.PutTargets', { Rule: form.ruleName, Targets: [{ Id: name, Arn: arn }] });
    } else if (form.kind === 'sqs') {
      const attributes = await json11('AmazonSQS.GetQueueAttributes', { QueueUrl: form.queue, AttributeNames: ['QueueArn'] });
      await lambda('POST', '/2015-03-31/event-source-mappings/', { FunctionName: name, EventSourceArn: attributes.Attributes.QueueArn, BatchSize: Number(form.batchSize) });
    } else if (form.kind === 's3') {
      const id = name + '-' + form.s3Events.replace(/[^A-Za-z]+/g, '-').replace(/-+$/, '');
      await call('PUT', `/s3/buckets/${enc(form.bucket)}/notifications/${enc(id)}`, {
        body: { Function: name, Events: [form.s3Events], Prefix: form.prefix, Suffix: form.suffix },
      });
    }
  });
  const set = (field) => (e) => setForm({ ...form, [field]: e.target.value });
  return html`<section class="triggers">
    <h2>Triggers</h2>
    <${ErrorMessage} error=${error} />
    <ul class="trigger-list">
      ${url ? html`<li><strong>Function URL</strong> <a href=${url.FunctionUrl}>${url.FunctionUrl}</a> (auth ${url.AuthType})
        ${readOnly ? null : html`<button onClick=${act(() => lambda('DELETE', '/2021-10-31/functions/' + enc(name) + '/url'))}>Remove</button>`}</li>` : null}
      ${apis.map(({ api, route }) => html`<li><strong>HTTP API</strong> ${api.name}: <code>${route.routeKey}</code> at <a href=${api.apiEndpoint}>${api.apiEndpoint}</a>
        ${readOnly ? null : html`<button onClick=${act(() => lambda('DELETE', `/v2/apis/${api.apiId}/routes/${route.routeId}`))}>Remove route</button>`}</li>`)}
      ${rules.map((rule) => html`<li><strong>Schedule</strong> ${rule.Name}: <code>${rule.ScheduleExpression || rule.EventPattern}</code> (${rule.State})
        ${readOnly ? null : html`<button onClick=${act(async () => {
          await json11('AWSEvents.RemoveTargets', { Rule: rule.Name, Ids: [name] });
          const left = await json11('AWSEvents.ListTargetsByRule', { Rule: rule.Name });
          if (!(left.Targets || []).length) await json11('AWSEvents.DeleteRule', { Name: rule.Name });
        })}>Remove</button>`}</li>`)}
      ${mappings.map((m) => html`<li><strong>SQS</strong> ${m.EventSourceArn} (batch ${m.BatchSize}, ${m.State})
        ${readOnly ? null : html`<button onClick=${act(() => lambda('DELETE', '/2015-03-31/event-source-mappings/' + m.UUID))}>Remove</button>`}</li>`)}
      ${notifications.map((n) => html`<li><strong>S3</strong> ${n.Bucket}: <code>${n.Events.join(', ')}</code>${n.Prefix ? html` prefix <code>${n.Prefix}</code>` : null}${n.Suffix ? html` suffix <code>${n.Suffix}</code>` : null}
        ${readOnly ? null : html`<button onClick=${act(() => call('DELETE', `/s3/buckets/${enc(n.Bucket)}/notifications/${enc(n.Id)}`))}>Remove</button>`}</li>`)}
      ${!url && !apis.length && !rules.length && !mappings.length && !notifications.length ? html`<li>No triggers.</li>` : null}
    </ul>
    ${readOnly ? null : html`<form class="add-trigger" onSubmit=${add}>
      <h3>Add a trigger</h3>
      <label for="trigger-kind">Kind</label>
      <select id="trigger-kind" value=${form.kind} onChange=${set('kind')}>
        <option value="url">Function URL</option>
        <option value="api">HTTP API route</option>
        <option value="schedule">Schedule (EventBridge rule)</option>
        <option value="sqs">SQS queue</option>
        <option value="s3">S3 bucket</option>
      </select>
      ${form.kind === 'api' ? html`<label for="trigger-api-name">API name</label><input id="trigger-api-name" value=${form.apiName} onInput=${set('apiName')} />
        <label for="trigger-route">Route key</label><input id="trigger-route" value=${form.routeKey} onInput=${set('routeKey')} />` : null}
      ${form.kind === 'schedule' ? html`<label for="trigger-rule">Rule name</label><input id="trigger-rule" value=${form.ruleName} onInput=${set('ruleName')} />
        <label for="trigger-schedule">Schedule expression</label><input id="trigger-schedule" value=${form.schedule} onInput=${set('schedule')} />` : null}
      ${form.kind === 'sqs' ? html`<label for="trigger-queue">Queue</label>
        <select id="trigger-queue" value=${form.queue} onChange=${set('queue')} required>
          <option value="">— choose a queue —</option>
          ${queues.map((q) => html`<option value=${q}>${q.split('/').pop()}</option>`)}
        </select>
        <label for="trigger-batch">Batch size</label><input id="trigger-batch" type="number" min="1" max="10000" value=${form.batchSize} onInput=${set('batchSize')} />` : null}
      ${form.kind === 's3' ? html`<label for="trigger-bucket">Bucket</label>
        <select id="trigger-bucket" value=${form.bucket} onChange=${set('bucket')} required>
          <option value="">— choose a bucket —</option>
          ${buckets.map((b) => html`<option value=${b}>${b}</option>`)}
        </select>
        <label for="trigger-s3-events">Event types</label>
        <select id="trigger-s3-events" value=${form.s3Events} onChange=${set('s3Events')}>
          <option value="s3:ObjectCreated:*">All object create events</option>
          <option value="s3:ObjectCreated:Put">PUT</option>
          <option value="s3:ObjectCreated:Copy">Copy</option>
          <option value="s3:ObjectCreated:CompleteMultipartUpload">Multipart upload completed</option>
          <option value="s3:ObjectRemoved:*">All object delete events</option>
        </select>
        <label for="trigger-prefix">Prefix (optional)</label><input id="trigger-prefix" value=${form.prefix} onInput=${set('prefix')} />
        <label for="trigger-suffix">Suffix (optional)</label><input id="trigger-suffix" value=${form.suffix} onInput=${set('suffix')} />` : null}
      <div class="actions"><button type="submit" class="primary">Add trigger</button></div>
    </form>`}
  </section>`;
}
