// The Code tab: the package's files in CodeMirror; Save zips them again
// and calls UpdateFunctionCode.
import { html, useState, useEffect, useRef, ErrorMessage, Notice } from './ui.js';
import { call, lambda, enc, toBase64 } from './api.js';
import { unzipSync, zipSync, strToU8, strFromU8 } from 'fflate';
import { EditorView, keymap, lineNumbers, highlightActiveLine } from '@codemirror/view';
import { EditorState } from '@codemirror/state';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching } from '@codemirror/language';
import { python } from '@codemirror/lang-python';
import { json } from '@codemirror/lang-json';

// Packages larger than this are not opened in the browser.
const MAX_EDITABLE_BYTES = 10 * 1024 * 1024;

function isText(bytes) {
  const n = Math.min(bytes.length, 8000);
  for (let i = 0; i < n; i++) if (bytes[i] === 0) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function languageFor(path) {
  if (path.endsWith('.py')) return [python()];
  if (path.endsWith('.json')) return [json()];
  return [];
}

export function Editor({ path, text, onChange, readOnly, label }) {
  const parent = useRef(null);
  const view = useRef(null);
  useEffect(() => {
    const state = EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        highlightActiveLine(),
        history(),
        indentOnInput(),
        bracketMatching(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorState.readOnly.of(!!readOnly),
        EditorView.contentAttributes.of({ 'aria-label': label || path }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange(update.state.doc.toString());
        }),
        ...languageFor(path),
      ],
    });
    view.current = new EditorView({ state, parent: parent.current });
    return () => view.current.destroy();
  }, [path]);
  return html`<div class="editor" ref=${parent}></div>`;
}

export function CodeTab({ fn, readOnly, onSaved }) {
  const name = fn.Configuration.FunctionName;
  const [files, setFiles] = useState(null);
  const [current, setCurrent] = useState('');
  const [dirty, setDirty] = useState(false);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const [newName, setNewName] = useState('');
  useEffect(() => {
    (async () => {
      try {
        if ((fn.Configuration.CodeSize || 0) > MAX_EDITABLE_BYTES) {
          setError({ message: `The package is ${fn.Configuration.CodeSize} bytes, too large to edit in the browser.` });
          return;
        }
        const url = new URL(fn.Code.Location, location.href);
        const response = await call('GET', '/aws' + url.pathname + url.search, { raw: true });
        if (!response.ok) throw new Error(`downloading the package failed: HTTP ${response.status}`);
        const entries = unzipSync(new Uint8Array(await response.arrayBuffer()));
        const loaded = {};
        for (const [path, bytes] of Object.entries(entries)) {
          if (path.endsWith('/')) continue;
          loaded[path] = isText(bytes) ? { text: strFromU8(bytes), bytes } : { bytes };
        }
        setFiles(loaded);
        const handlerFile = fn.Configuration.Handler ? fn.Configuration.Handler.split('.').slice(0, -1).join('/') + '.py' : '';
        const paths = Object.keys(loaded).sort();
        setCurrent(loaded[handlerFile] ? handlerFile : paths.find((p) => 'text' in loaded[p]) || paths[0] || '');
      } catch (e) {
        setError(e);
      }
    })();
  }, [fn.Configuration.CodeSha256]);
  if (error) return html`<${ErrorMessage} error=${error} />`;
  if (!files) return html`<p class="loading">Loading the package…</p>`;
  const edit = (text) => {
    files[current] = { ...files[current], text };
    setDirty(true);
    setNotice('');
  };
  const save = async () => {
    setError(null);
    setNotice('Saving…');
    try {
      const zip = {};
      for (const [path, file] of Object.entries(files)) zip[path] = 'text' in file ? strToU8(file.text) : file.bytes;
      await lambda('PUT', '/2015-03-31/functions/' + enc(name) + '/code', { ZipFile: toBase64(zipSync(zip)) });
      setDirty(false);
      setNotice('Saved: the function runs the new code from its next invocation.');
      onSaved && onSaved();
    } catch (e) {
      setNotice('');
      setError(e);
    }
  };
  const addFile = (event) => {
    event.preventDefault();
    const path = newName.trim().replace(/^\/+/, '');
    if (!path || files[path]) return;
    setFiles({ ...files, [path]: { text: '', bytes: new Uint8Array() } });
    setCurrent(path);
    setNewName('');
    setDirty(true);
  };
  const paths = Object.keys(files).sort();
  const file = files[current];
  return html`<div class="code">
    <nav class="files" aria-label="Files in the package">
      <h2>Files</h2>
      <ul>
        ${paths.map((p) => html`<li><button class=${p === current ? 'file current' : 'file'} aria-current=${p === current ? 'true' : null} onClick=${() => setCurrent(p)}>${p}</button></li>`)}
      </ul>
      ${readOnly ? null : html`<form onSubmit=${addFile} class="add-file">
        <label for="new-file">New file</label>
        <input id="new-file" value=${newName} onInput=${(e) => setNewName(e.target.value)} placeholder="utils.py" />
        <button type="submit">Add</button>
      </form>`}
    </nav>
    <div class="editor-pane">
      <div class="toolbar">
        <h2 class="path">${current}${dirty ? ' •' : ''}</h2>
        ${readOnly ? null : html`<button class="primary" id="save-code" onClick=${save} disabled=${!dirty}>Save</button>`}
      </div>
      <${Notice} text=${notice} />
      ${file && 'text' in file
        ? html`<${Editor} key=${current} path=${current} text=${file.text} onChange=${edit} readOnly=${readOnly} label=${'Contents of ' + current} />`
        : html`<p>${current ? 'A binary file: kept as it is.' : 'The package is empty.'}</p>`}
    </div>
  </div>`;
}
