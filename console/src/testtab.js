// The Test tab: saved test events (kept by the server, ten per function),
// templates, and a run's result, REPORT summary and log output.
import { html, useState, useEffect, ErrorMessage, Notice } from './ui.js';
import { call, enc, fromBase64, parseReport } from './api.js';
import { TEMPLATES, TEMPLATE_LABELS } from './templates.js';

export function TestTab({ name, readOnly }) {
  const [events, setEvents] = useState([]);
  const [eventName, setEventName] = useState('');
  const [text, setText] = useState(JSON.stringify(TEMPLATES['hello-world'](), null, 2));
  const [template, setTemplate] = useState('hello-world');
  const [result, setResult] = useState(null);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const base = '/functions/' + enc(name) + '/test-events';
  const load = () => call('GET', base).then((r) => setEvents(r.TestEvents)).catch(setError);
  useEffect(() => {
    load();
  }, [name]);
  const pick = (value) => {
    const saved = events.find((e) => e.Name === value);
    if (saved) {
      setEventName(saved.Name);
      setText(JSON.stringify(saved.Event, null, 2));
    }
  };
  const applyTemplate = () => setText(JSON.stringify(TEMPLATES[template](), null, 2));
  const parsed = () => {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw { type: 'InvalidRequestContentException', message: 'the event is not valid JSON: ' + e.message };
    }
  };
  const save = async () => {
    setError(null);
    setNotice('');
    try {
      await call('PUT', base + '/' + enc(eventName), { body: { Event: parsed() } });
      setNotice(`Saved the test event ${eventName}.`);
      await load();
    } catch (e) {
      setError(e);
    }
  };
  const remove = async () => {
    setError(null);
    try {
      await call('DELETE', base + '/' + enc(eventName));
      setNotice(`Deleted the test event ${eventName}.`);
      setEventName('');
      await load();
    } catch (e) {
      setError(e);
    }
  };
  const run = async () => {
    setError(null);
    setRunning(true);
    try {
      const payload = JSON.stringify(parsed());
      const response = await call('POST', '/aws/2015-03-31/functions/' + enc(name) + '/invocations', {
        body: payload,
        headers: { 'X-Amz-Log-Type': 'Tail', 'Content-Type': 'application/json' },
        raw: true,
      });
      const body = await response.text();
      if (!response.ok) {
        let message = body;
        try {
          const data = JSON.parse(body);
          message = data.message || data.Message || body;
        } catch {}
        throw { type: response.headers.get('x-amzn-errortype') || `HTTP ${response.status}`, message };
      }
      const tail = response.headers.get('x-amz-log-result');
      const log = tail ? new TextDecoder().decode(fromBase64(tail)) : '';
      let pretty = body;
      try {
        pretty = JSON.stringify(JSON.parse(body), null, 2);
      } catch {}
      setResult({
        failed: response.headers.get('x-amz-function-error'),
        body: pretty,
        log,
        report: parseReport(log),
        requestId: response.headers.get('x-amzn-requestid'),
      });
    } catch (e) {
      setError(e);
      setResult(null);
    } finally {
      setRunning(false);
    }
  };
  const report = result && result.report;
  return html`<div class="test">
    <h2>Test event</h2>
    <div class="grid2">
      <div>
        <label for="saved-events">Saved events (${events.length} of 10)</label>
        <select id="saved-events" value=${events.some((e) => e.Name === eventName) ? eventName : ''} onChange=${(e) => pick(e.target.value)}>
          <option value="">— choose a saved event —</option>
          ${events.map((e) => html`<option value=${e.Name}>${e.Name}</option>`)}
        </select>
      </div>
      <div>
        <label for="template">Template</label>
        <div class="row">
          <select id="template" value=${template} onChange=${(e) => setTemplate(e.target.value)}>
            ${Object.keys(TEMPLATES).map((t) => html`<option value=${t}>${TEMPLATE_LABELS[t]}</option>`)}
          </select>
          <button onClick=${applyTemplate}>Use template</button>
        </div>
      </div>
    </div>
    <label for="event-name">Event name</label>
    <input id="event-name" value=${eventName} maxlength="25" onInput=${(e) => setEventName(e.target.value)} placeholder="letters, digits, . - _" />
    <label for="event-json">Event JSON</label>
    <textarea id="event-json" class="json" rows="12" spellcheck="false" value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
    <div class="actions">
      ${readOnly ? null : html`
        <button class="primary" id="run-test" onClick=${run} disabled=${running}>${running ? 'Running…' : 'Test'}</button>
        <button id="save-event" onClick=${save} disabled=${!eventName}>Save event</button>
        <button id="delete-event" class="danger" onClick=${remove} disabled=${!events.some((e) => e.Name === eventName)}>Delete event</button>`}
    </div>
    <${Notice} text=${notice} />
    <${ErrorMessage} error=${error} />
    ${result
      ? html`<section class=${result.failed ? 'result failed' : 'result succeeded'} aria-live="polite" id="test-result">
          <h2>${result.failed ? `Execution result: failed (${result.failed})` : 'Execution result: succeeded'}</h2>
          <h3>Response</h3>
          <pre class="output" id="test-response">${result.body}</pre>
          <h3>Summary</h3>
          <dl class="summary" id="test-summary">
            <div><dt>Request ID</dt><dd>${(report && report.requestId) || result.requestId}</dd></div>
            <div><dt>Duration</dt><dd>${report ? report.duration : '—'}</dd></div>
            <div><dt>Billed duration</dt><dd>${report ? report.billedDuration : '—'}</dd></div>
            <div><dt>Resources configured</dt><dd>${report ? report.memorySize : '—'}</dd></div>
            <div><dt>Max memory used</dt><dd>${report ? report.maxMemoryUsed : '—'}</dd></div>
            <div><dt>Init duration</dt><dd>${report && report.initDuration ? report.initDuration : '— (warm start)'}</dd></div>
          </dl>
          <h3>Log output</h3>
          <pre class="output log" id="test-log">${result.log}</pre>
        </section>`
      : null}
  </div>`;
}
