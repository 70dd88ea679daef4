// Shared bits: preact with htm, tabs, messages, formatting.
import { h, render } from 'preact';
import { useState, useEffect, useRef, useCallback } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);
export { h, render, useState, useEffect, useRef, useCallback };

// A tab list as WAI-ARIA describes it: arrow keys, Home and End move
// between tabs, only the selected tab is in the Tab order.
export function Tabs({ label, tabs, selected, onSelect }) {
  const refs = useRef({});
  const keydown = (event) => {
    const ids = tabs.map((t) => t.id);
    const index = ids.indexOf(selected);
    let next = null;
    if (event.key === 'ArrowRight') next = ids[(index + 1) % ids.length];
    else if (event.key === 'ArrowLeft') next = ids[(index - 1 + ids.length) % ids.length];
    else if (event.key === 'Home') next = ids[0];
    else if (event.key === 'End') next = ids[ids.length - 1];
    if (next) {
      event.preventDefault();
      onSelect(next);
      requestAnimationFrame(() => refs.current[next] && refs.current[next].focus());
    }
  };
  return html`<div role="tablist" aria-label=${label} class="tabs" onKeyDown=${keydown}>
    ${tabs.map(
      (t) => html`<button
        role="tab"
        id=${'tab-' + t.id}
        aria-controls=${'panel-' + t.id}
        aria-selected=${t.id === selected ? 'true' : 'false'}
        tabindex=${t.id === selected ? 0 : -1}
        ref=${(el) => (refs.current[t.id] = el)}
        onClick=${() => onSelect(t.id)}
      >${t.label}</button>`
    )}
  </div>`;
}

export function ErrorMessage({ error }) {
  if (!error) return null;
  const text = error.type ? `${error.type}: ${error.message}` : String(error.message || error);
  return html`<p class="error" role="alert">${text}</p>`;
}

export function Notice({ text }) {
  if (!text) return null;
  return html`<p class="notice" role="status">${text}</p>`;
}

export function formatDate(value) {
  if (!value) return '';
  const date = new Date(value);
  if (isNaN(date)) return String(value);
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/\+0000$/, ' UTC');
}

export function navigate(hash) {
  location.hash = hash;
}
