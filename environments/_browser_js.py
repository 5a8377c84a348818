"""JavaScript the browser controller runs in the page. Kept apart so it reads as JS."""

from ._settle_js import SCROLL_ARM

# How an element is described (ELEMENT_AT, FOCUSED): the way a test locator would name it.
# Never the value of a password input or of a field that holds a secret (SECRET_MARKS):
# a locator needs neither, and what is never read cannot leak.
_DESCRIBE = r"""
const SECRET_MARKS = Symbol.for('pixelpilot.secret-fields');
const secretHeld = (el) => (window[SECRET_MARKS] || new Set()).has(el) ||
  (el.tagName === 'INPUT' && el.type === 'password');
const squash = (s) => (s || '').replace(/\s+/g, ' ').trim().slice(0, 200) || null;
const IMPLICIT_ROLES = {BUTTON: 'button', SELECT: 'combobox', TEXTAREA: 'textbox', IMG: 'img',
  H1: 'heading', H2: 'heading', H3: 'heading', H4: 'heading', H5: 'heading', H6: 'heading',
  LI: 'listitem', NAV: 'navigation', OPTION: 'option', SUMMARY: 'button', DIALOG: 'dialog'};
const INPUT_ROLES = {checkbox: 'checkbox', radio: 'radio', button: 'button', submit: 'button',
  reset: 'button', range: 'slider', search: 'searchbox', number: 'spinbutton'};
const roleOf = (el) => {
  const given = el.getAttribute('role');
  if (given) return given;
  if (el.tagName === 'A') return el.hasAttribute('href') ? 'link' : null;
  if (el.tagName === 'INPUT') return INPUT_ROLES[el.type] || 'textbox';
  return IMPLICIT_ROLES[el.tagName] || null;
};
// `labels` (an element's labels, in document order) defaults to el.labels; a caller asking
// of thousands of elements passes its own index (el.labels rebuilds a document-wide cache
// after every change to the page: 20 ms on a page of 2,000 elements)
const labelOf = (el, labels = el.labels) => labels && labels.length
  ? squash(labels[0].innerText)
  : el.closest('label') ? squash(el.closest('label').innerText) : null;
const labelIndex = (doc) => {
  const index = new Map();
  for (const label of doc.querySelectorAll('label')) {
    const control = label.control;
    if (!control) continue;
    if (!index.has(control)) index.set(control, []);
    index.get(control).push(label);
  }
  return index;
};
const nameOf = (el, role, label) => {
  const doc = el.ownerDocument;
  const labelledBy = (el.getAttribute('aria-labelledby') || '').split(/\s+/)
    .map((id) => id && doc.getElementById(id)).filter(Boolean)
    .map((node) => node.innerText).join(' ');
  return squash(el.getAttribute('aria-label')) || squash(labelledBy) || label ||
    squash(el.getAttribute('alt')) || squash(el.getAttribute('title')) ||
    squash(el.getAttribute('placeholder')) ||
    (['BUTTON', 'A', 'OPTION', 'SUMMARY', 'LABEL'].includes(el.tagName) || role === 'button'
      ? squash(el.innerText) : null) ||
    (el.tagName === 'INPUT' && ['button', 'submit', 'reset'].includes(el.type)
      ? squash(el.value) : null);
};
const describe = (el, dpr, offset, values) => {
  const role = roleOf(el);
  const label = labelOf(el);
  const held = secretHeld(el);
  const testId = el.getAttribute('data-testid') || el.getAttribute('data-test-id') ||
    el.getAttribute('data-test') || el.getAttribute('data-qa');
  const r = el.getBoundingClientRect();
  const [dx, dy] = offset;
  return {tag: el.tagName.toLowerCase(), role, name: nameOf(el, role, label),
    text: held || el.isContentEditable ? null : squash(el.innerText || (values ? el.value : '')),
    label, test_id: testId, input_type: el.tagName === 'INPUT' ? el.type : null,
    placeholder: squash(el.getAttribute('placeholder')), alt: squash(el.getAttribute('alt')),
    title: squash(el.getAttribute('title')), css_id: el.id || null,
    bbox: [(r.left + dx) * dpr, (r.top + dy) * dpr, (r.right + dx) * dpr,
      (r.bottom + dy) * dpr]};
};
"""

# How many elements of the document each candidate locator of `el` matches, by Playwright's
# default (not exact) semantics as near as the page can tell: a name, label, placeholder,
# alt, text or title matches when it holds the value, case and runs of spaces ignored; roles
# count only rendered elements. Test generation keeps a locator only if it matched one.
# No field's value is read: only attributes, labels and rendered text.
# It runs before every recorded action, so it is kept cheap on a page of thousands of
# elements: the role and the rendered text (`innerText`, which lays text out) are asked only
# of elements a cheap test has not ruled out: a tag or role attribute that can carry the
# role; a `textContent` (no layout) that holds every word of the value. `innerText` holds
# no text `textContent` lacks, bar what `text-transform` rewrites (a folded "ß" is "ss").
_COUNTS = r"""
const countMatches = (el, info) => {
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  const holds = (s, v) => norm(s).includes(norm(v));
  const all = Array.from(el.ownerDocument.querySelectorAll('*')).slice(0, 20000);
  const shown = (n) => n.getClientRects().length > 0 &&
    getComputedStyle(n).visibility !== 'hidden';
  const counts = {}, nth = {};
  // how many elements a candidate matches, and where `el` stands among them (document
  // order, as Playwright's nth() counts): a locator unique nowhere is narrowed by that index
  const count = (key, pred) => {
    let c = 0;
    for (const n of all) {
      let ok = false;
      try { ok = pred(n); } catch (e) { ok = false; }
      if (ok) { if (n === el) nth[key] = c; c += 1; }
    }
    counts[key] = c;
  };
  if (el.hasAttribute('data-testid'))
    count('test_id', (n) => n.getAttribute('data-testid') === el.getAttribute('data-testid'));
  const labelled = labelIndex(el.ownerDocument);
  const labels = (n) => labelled.get(n) || [];
  const fold = (s) => (s || '').toLowerCase().replace(/\u00df/g, 'ss');
  const wordsIn = (v) => { const w = fold(v).split(/\s+/).filter(Boolean);
    return (s) => { const f = fold(s); return w.every((x) => f.includes(x)); }; };
  // a name from none of an element's labels holds only what its attributes or its text do
  const nameMay = (n, has) => labelled.has(n) || n.closest('label') ||
    n.hasAttribute('aria-labelledby') || has([n.getAttribute('aria-label'), n.textContent,
      n.getAttribute('alt'), n.getAttribute('title'), n.getAttribute('placeholder'),
      n.tagName === 'INPUT' && ['button', 'submit', 'reset'].includes(n.type) ? n.value : '']
      .join(' '));
  if (info.role && info.name) {
    const has = wordsIn(info.name);
    count('role', (n) => n === el || (roleOf(n) === info.role && nameMay(n, has) && shown(n) &&
      holds(nameOf(n, info.role, labelOf(n, labels(n))), info.name)));
  }
  if (info.placeholder)
    count('placeholder', (n) => n.hasAttribute('placeholder') &&
      holds(n.getAttribute('placeholder'), info.placeholder));
  if (info.label) count('label', (n) => {
    const texts = labels(n).map((l) => l.innerText);
    if (n.hasAttribute('aria-label')) texts.push(n.getAttribute('aria-label'));
    return texts.some((l) => holds(l, info.label));
  });
  if (info.alt)
    count('alt', (n) => n.hasAttribute('alt') && holds(n.getAttribute('alt'), info.alt));
  if (info.text) {
    // `may`: a textContent holding every word; an element's textContent is part of its
    // parent's, so the children of one that failed are not asked (document order: a
    // parent comes first)
    const has = wordsIn(info.text);
    const may = new Set();
    for (const n of all) {
      const up = n.parentElement;
      if ((!up || may.has(up)) && has(n.textContent)) may.add(n);
    }
    // whether `n`'s rendered text holds the value: it does when a rendered child's does
    // (the child's text is part of it), so a large element's innerText is rarely needed
    const memo = new Map();
    const rendered = (n) => n.getClientRects().length > 0;
    const held = (n) => {
      if (!may.has(n)) return false;
      if (!memo.has(n)) {
        memo.set(n, Array.from(n.children).some((c) => held(c) && rendered(c)) ||
          holds(n.innerText, info.text));
      }
      return memo.get(n);
    };
    count('text', (n) => !['SCRIPT', 'STYLE', 'HEAD'].includes(n.tagName) &&
      !Array.from(n.children).some(held) && held(n));
  }
  if (info.title)
    count('title', (n) => n.hasAttribute('title') &&
      holds(n.getAttribute('title'), info.title));
  if (info.css_id) count('css_id', (n) => n.id === info.css_id);
  return {counts, nth};
};
"""

# The element under a point (CSS pixels of the top document), its box in screenshot pixels,
# how many elements each of its candidate locators matched (`counts`) and its index among
# them (`nth`).
ELEMENT_AT = (
    r"""
([x, y, dpr]) => {
  const el = document.elementFromPoint(x, y);
  if (!el) return null;
"""
    + _DESCRIBE
    + _COUNTS
    + r"""
  const info = describe(el, dpr, [0, 0], true);
  const {counts, nth} = countMatches(el, info);
  return {...info, counts, nth};
}
"""
)

# A scroll's first look: the element under the point and, in the same round trip, the
# wheel watch armed with the offsets under the point (`_settle_js.SCROLL_ARM`).
SCROLL_TARGET = "([x, y, dpr]) => [(" + ELEMENT_AT + ")([x, y, dpr]), (" + SCROLL_ARM + ")([x, y])]"

# The deepest element with the keyboard focus, no field's value read (only its kind
# matters): through open shadow roots and frames of the same origin; a frame of another
# origin (its document out of reach) is where the search ends. `offset` is the frame's
# place in the top viewport (CSS px); `url` is where the keys go: the focused document's
# address, its origin for about:srcdoc and the like, null for a frame out of reach.
_DEEP_FOCUS = r"""
const deepFocus = () => {
  let doc = document, el = document.activeElement, dx = 0, dy = 0, reachable = true;
  for (let depth = 0; el && depth < 32; depth++) {
    const inShadow = el.shadowRoot && el.shadowRoot.activeElement;
    if (inShadow) { el = inShadow; continue; }
    if (el.tagName !== 'IFRAME' && el.tagName !== 'FRAME') break;
    let inner = null;
    try { inner = el.contentDocument; } catch (e) { inner = null; }
    if (!inner) { reachable = false; break; }
    const r = el.getBoundingClientRect();
    dx += r.left + el.clientLeft; dy += r.top + el.clientTop;
    doc = inner; el = inner.activeElement;
  }
  const where = doc.location ? doc.location.href : '';
  const origin = doc.defaultView ? doc.defaultView.origin : 'null';
  const url = !reachable ? null
    : /^https?:/.test(where) ? where : origin !== 'null' ? origin : where;
  return {el, dx, dy, url, reachable};
};
"""

FOCUSED = (
    r"""
([dpr]) => {
"""
    + _DESCRIBE
    + _DEEP_FOCUS
    + r"""
  const {el, dx, dy, url, reachable} = deepFocus();
  if (!el) return {url};
  return {...describe(el, dpr, [dx, dy], false), url, frame_reachable: reachable};
}
"""
)

# Typing a secret begins (`start` true) or ends. The element with the focus is marked as
# holding a secret, and, while the typing lasts, every element an `input` or `keydown`
# event reaches (fields that move the focus on as they fill, one digit each), in this
# document and its same-origin frames. A frame of another origin is marked as a whole.
# A marked field gets autocomplete=off, so Chromium does not restore its value when the
# page is opened again from history (it restores no password fields either).
MARK_SECRET = (
    r"""
([start]) => {
  const SECRET_MARKS = Symbol.for('pixelpilot.secret-fields');
  const LISTENER = Symbol.for('pixelpilot.secret-listener');
  if (!window[SECRET_MARKS]) {
    Object.defineProperty(window, SECRET_MARKS, {value: new Set(), enumerable: false});
  }
  const marks = window[SECRET_MARKS];
  const mark = (el) => {
    if (!el || el.nodeType !== 1 || el === el.ownerDocument.documentElement) return;
    if (el.tagName === 'BODY' && !el.isContentEditable) return;  // nothing has the focus
    marks.add(el);
    if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') el.setAttribute('autocomplete', 'off');
  };
"""
    + _DEEP_FOCUS
    + r"""
  mark(deepFocus().el);
  const docs = [document];
  for (let i = 0; i < docs.length && i < 64; i++) {
    for (const frame of docs[i].querySelectorAll('iframe, frame')) {
      try { if (frame.contentDocument) docs.push(frame.contentDocument); } catch (e) {}
    }
  }
  const previous = window[LISTENER];
  if (previous) {
    for (const doc of previous.docs) {
      for (const type of ['input', 'keydown']) doc.removeEventListener(type, previous.on, true);
    }
    window[LISTENER] = null;
  }
  if (!start) return marks.size;
  const on = (event) => mark(event.composedPath ? event.composedPath()[0] : event.target);
  for (const doc of docs) {
    for (const type of ['input', 'keydown']) doc.addEventListener(type, on, true);
  }
  Object.defineProperty(window, LISTENER, {value: {on, docs}, writable: true,
    configurable: true, enumerable: false});
  return marks.size;
}
"""
)

# Boxes (screenshot pixels) of the marked fields that show something now: connected,
# rendered, not empty (for inputs only the length of the value is looked at, never the
# value). A frame's box is clipped to the frame.
SECRET_BOXES = r"""
([dpr]) => {
  const marks = window[Symbol.for('pixelpilot.secret-fields')];
  if (!marks) return [];
  const boxes = [];
  for (const el of marks) {
    if (!el.isConnected) continue;
    const win = el.ownerDocument.defaultView;
    if (!win) continue;
    const field = el.tagName === 'INPUT' || el.tagName === 'TEXTAREA';
    const frame = el.tagName === 'IFRAME' || el.tagName === 'FRAME';
    const empty = field ? el.value.length === 0 : !frame && (el.textContent || '').length === 0;
    if (empty) continue;
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) continue;
    const r = el.getBoundingClientRect();
    let [x1, y1, x2, y2] = [r.left, r.top, r.right, r.bottom];
    for (let w = win; w !== window && w; w = w.parent) {
      const host = w.frameElement;
      if (!host) break;
      const f = host.getBoundingClientRect();
      const dx = f.left + host.clientLeft, dy = f.top + host.clientTop;
      x1 = Math.max(x1 + dx, f.left); y1 = Math.max(y1 + dy, f.top);
      x2 = Math.min(x2 + dx, f.right); y2 = Math.min(y2 + dy, f.bottom);
    }
    if (x2 > x1 && y2 > y1) boxes.push([x1 * dpr, y1 * dpr, x2 * dpr, y2 * dpr]);
  }
  return boxes;
}
"""
