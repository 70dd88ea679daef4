// The console's one way to the server: /_rayo/console/api/…, with the
// session's CSRF token on every request that is not a GET.

const BASE = '/_rayo/console/api';
let csrfToken = '';

export function setCsrfToken(token) {
  csrfToken = token || '';
}

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message || type || `HTTP ${status}`);
    this.status = status;
    this.type = type || '';
  }
}

export async function call(method, path, { body, headers = {}, raw = false } = {}) {
  const h = { ...headers };
  if (method !== 'GET' && method !== 'HEAD') h['X-Rayo-Console-Token'] = csrfToken;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    body = JSON.stringify(body);
    if (!h['Content-Type']) h['Content-Type'] = 'application/json';
  }
  const response = await fetch(BASE + path, { method, headers: h, body, credentials: 'same-origin' });
  if (raw) return response;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const headerType = (response.headers.get('x-amzn-errortype') || '').split(':')[0];
    // Lambda names the exception in a header; its body's Type is User or Service.
    const type = (data && data.__type) || headerType || (data && data.Type);
    const message = (data && (data.message || data.Message)) || text;
    throw new ApiError(response.status, String(type).split('#').pop(), message);
  }
  return data;
}

export const lambda = (method, path, body) => call(method, '/aws' + path, { body });

export const json11 = (target, body) =>
  call('POST', '/aws/', {
    body: JSON.stringify(body || {}),
    headers: { 'X-Amz-Target': target, 'Content-Type': 'application/x-amz-json-1.1' },
  });

export const enc = encodeURIComponent;

export function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// Every function, a thousand at a time.
export async function listAllFunctions() {
  const functions = [];
  let marker = '';
  do {
    const page = await lambda('GET', `/2015-03-31/functions?MaxItems=1000${marker ? '&Marker=' + enc(marker) : ''}`);
    functions.push(...(page.Functions || []));
    marker = page.NextMarker || '';
  } while (marker);
  return functions;
}

// The summary of a REPORT line, as the Test tab shows it.
export function parseReport(log) {
  const line = (log || '').split('\n').find((l) => l.startsWith('REPORT '));
  if (!line) return null;
  const field = (name) => {
    const m = line.match(new RegExp('(?:^|\\t|REPORT )' + name + ': ([^\\t]+)'));
    return m ? m[1].trim() : '';
  };
  return {
    requestId: field('RequestId'),
    duration: field('Duration'),
    billedDuration: field('Billed Duration'),
    memorySize: field('Memory Size'),
    maxMemoryUsed: field('Max Memory Used'),
    initDuration: field('Init Duration'),
  };
}
