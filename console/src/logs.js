// The Logs tab: the function's log streams, their events, a search with
// FilterLogEvents, and follow (new events as they arrive).
import { html, useState, useEffect, useRef, ErrorMessage, formatDate } from './ui.js';
import { json11 } from './api.js';

export function LogsTab({ name }) {
  const group = '/aws/lambda/' + name;
  const [streams, setStreams] = useState(null);
  const [stream, setStream] = useState('');
  const [events, setEvents] = useState([]);
  const [pattern, setPattern] = useState('');
  const [follow, setFollow] = useState(false);
  const [error, setError] = useState(null);
  const [searched, setSearched] = useState(false);
  const lastTime = useRef(0);
  const loadStreams = () =>
    json11('Logs_20140328.DescribeLogStreams', { logGroupName: group, orderBy: 'LastEventTime', descending: true, limit: 50 })
      .then((r) => setStreams(r.logStreams || []))
      .catch((e) => (e.type === 'ResourceNotFoundException' ? setStreams([]) : setError(e)));
  useEffect(() => {
    loadStreams();
  }, [name]);
  const openStream = async (streamName) => {
    setStream(streamName);
    setSearched(false);
    setError(null);
    try {
      const r = await json11('Logs_20140328.GetLogEvents', { logGroupName: group, logStreamName: streamName, startFromHead: true, limit: 1000 });
      setEvents(r.events || []);
    } catch (e) {
      setError(e);
    }
  };
  const search = async (event) => {
    event && event.preventDefault();
    setError(null);
    try {
      const input = { logGroupName: group, limit: 1000, interleaved: true };
      if (pattern) input.filterPattern = pattern;
      if (stream) input.logStreamNames = [stream];
      const found = [];
      let token;
      do {
        const r = await json11('Logs_20140328.FilterLogEvents', token ? { ...input, nextToken: token } : input);
        found.push(...(r.events || []));
        token = r.nextToken;
      } while (token && found.length < 5000);
      setEvents(found);
      setSearched(true);
      lastTime.current = found.reduce((t, e) => Math.max(t, e.timestamp), 0);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    if (!follow) return undefined;
    const poll = async () => {
      try {
        const input = { logGroupName: group, limit: 1000, startTime: lastTime.current + 1 };
        if (pattern) input.filterPattern = pattern;
        if (stream) input.logStreamNames = [stream];
        const r = await json11('Logs_20140328.FilterLogEvents', input);
        const fresh = r.events || [];
        if (fresh.length) {
          lastTime.current = fresh.reduce((t, e) => Math.max(t, e.timestamp), lastTime.current);
          setEvents((old) => [...old, ...fresh]);
        }
      } catch (e) {
        setError(e);
      }
    };
    if (!lastTime.current) lastTime.current = Date.now() - 60_000;
    const timer = setInterval(poll, 2000);
    poll();
    return () => clearInterval(timer);
  }, [follow, pattern, stream]);
  return html`<div class="logs">
    <form class="row search" onSubmit=${search}>
      <label for="log-filter">Filter pattern</label>
      <input id="log-filter" type="search" value=${pattern} onInput=${(e) => setPattern(e.target.value)} placeholder='ERROR or "exact phrase"' />
      <button type="submit" id="log-search">Search</button>
      <span class="radio"><input type="checkbox" id="follow" checked=${follow} onChange=${(e) => setFollow(e.target.checked)} /><label for="follow">Follow</label></span>
      <button type="button" onClick=${loadStreams}>Refresh streams</button>
    </form>
    <${ErrorMessage} error=${error} />
    <div class="logs-grid">
      <nav aria-label="Log streams" class="streams">
        <h2>Log streams</h2>
        ${streams === null ? html`<p class="loading">Loading…</p>` : streams.length === 0 ? html`<p>No log streams yet: run the function.</p>` : html`<ul>
          <li><button class=${stream === '' ? 'file current' : 'file'} onClick=${() => { setStream(''); setEvents([]); }}>All streams</button></li>
          ${streams.map((s) => html`<li><button class=${s.logStreamName === stream ? 'file current' : 'file'} aria-current=${s.logStreamName === stream ? 'true' : null} onClick=${() => openStream(s.logStreamName)} title=${s.logStreamName}>
            ${s.logStreamName}<br /><small>${formatDate(s.lastEventTimestamp)}</small></button></li>`)}
        </ul>`}
      </nav>
      <div>
        <h2>${searched ? `Events matching ${pattern ? `“${pattern}”` : 'any'} (${events.length})` : stream ? 'Events in ' + stream : 'Events'}</h2>
        <table class="log-events" id="log-events">
          <thead><tr><th scope="col">Time</th><th scope="col">Message</th></tr></thead>
          <tbody>
            ${events.map((e) => html`<tr><td class="time">${formatDate(e.timestamp)}</td><td><pre>${e.message}</pre></td></tr>`)}
          </tbody>
        </table>
        ${events.length === 0 ? html`<p>Choose a stream, or search.</p>` : null}
      </div>
    </div>
  </div>`;
}
