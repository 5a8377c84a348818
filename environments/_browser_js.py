"""JavaScript the browser controller runs in the page. Kept apart so it reads as JS."""

# How an element is described (ELEMENT_AT, FOCUSED): the way a test locator would name it.
# Never the value of a password input or of a field that holds a secret (SECRET_MARKS):
# a locator needs neither, and what is never read cannot leak.
_DESCRIBE = r"""
const SECRET_MARKS = Symbol.for('pixelpilot.secret-fields');
const secretHeld = (el) => (window[SECRET_MARKS] || new Set()).has(el) ||
  (el.tagName === 'INPUT' && el.type === 'password');
const describe = (el, dpr, offset, values) => {
  const text = (s) => (s || '').replace(/\s+/g, ' ').trim().slice(0, 200) || null;
  const doc = el.ownerDocument;
  const implicit = {A: el.hasAttribute('href') ? 'link' : null, BUTTON: 'button',
    SELECT: 'combobox', TEXTAREA: 'textbox', IMG: 'img', H1: 'heading', H2: 'heading',
    H3: 'heading', H4: 'heading', H5: 'heading', H6: 'heading', LI: 'listitem',
    NAV: 'navigation', OPTION: 'option', SUMMARY: 'button', DIALOG: 'dialog'};
  const inputRoles = {checkbox: 'checkbox', radio: 'radio', button: 'button', submit: 'button',
    reset: 'button', range: 'slider', search: 'searchbox', number: 'spinbutton'};
  let role = el.getAttribute('role') || implicit[el.tagName] || null;
  if (!role && el.tagName === 'INPUT') role = inputRoles[el.type] || 'textbox';
  let label = null;
  if (el.labels && el.labels.length) label = text(el.labels[0].innerText);
  else if (el.closest('label')) label = text(el.closest('label').innerText);
  const labelledBy = (el.getAttribute('aria-labelledby') || '').split(/\s+/)
    .map((id) => id && doc.getElementById(id)).filter(Boolean)
    .map((node) => node.innerText).join(' ');
  const held = secretHeld(el);
  const name = text(el.getAttribute('aria-label')) || text(labelledBy) || label ||
    text(el.getAttribute('alt')) || text(el.getAttribute('title')) ||
    text(el.getAttribute('placeholder')) ||
    (['BUTTON', 'A', 'OPTION', 'SUMMARY', 'LABEL'].includes(el.tagName) || role === 'button'
      ? text(el.innerText) : null) ||
    (el.tagName === 'INPUT' && ['button', 'submit', 'reset'].includes(el.type)
      ? text(el.value) : null);
  const testId = el.getAttribute('data-testid') || el.getAttribute('data-test-id') ||
    el.getAttribute('data-test') || el.getAttribute('data-qa');
  const r = el.getBoundingClientRect();
  const [dx, dy] = offset;
  return {tag: el.tagName.toLowerCase(), role, name,
    text: held || el.isContentEditable ? null : text(el.innerText || (values ? el.value : '')),
    label, test_id: testId, input_type: el.tagName === 'INPUT' ? el.type : null,
    placeholder: text(el.getAttribute('placeholder')), alt: text(el.getAttribute('alt')),
    title: text(el.getAttribute('title')), css_id: el.id || null,
    bbox: [(r.left + dx) * dpr, (r.top + dy) * dpr, (r.right + dx) * dpr,
      (r.bottom + dy) * dpr]};
};
"""

# How many elements of the document each candidate locator of `el` matches, by Playwright's
# default (not exact) semantics as near as the page can tell: a name, label, placeholder,
# alt, text or title matches when it holds the value, case and runs of spaces ignored; roles
# count only rendered elements. Test generation keeps a locator only if it matched one.
# No field's value is read: only attributes, labels and rendered text.
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
  // a cheap superset of describe()'s role rule first: describe is costly on a large page
  const tagRoles = {A: 'link', BUTTON: 'button', SELECT: 'combobox', TEXTAREA: 'textbox',
    IMG: 'img', H1: 'heading', H2: 'heading', H3: 'heading', H4: 'heading', H5: 'heading',
    H6: 'heading', LI: 'listitem', NAV: 'navigation', OPTION: 'option', SUMMARY: 'button',
    DIALOG: 'dialog'};
  const mayBe = (n, role) => n.hasAttribute('role') ? n.getAttribute('role') === role
    : n.tagName === 'INPUT' || tagRoles[n.tagName] === role;
  if (info.role && info.name) count('role', (n) => {
    if (n === el) return true;
    if (!mayBe(n, info.role) || !shown(n)) return false;
    const d = describe(n, 1, [0, 0], false);
    return d.role === info.role && d.name && holds(d.name, info.name);
  });
  if (info.placeholder)
    count('placeholder', (n) => n.hasAttribute('placeholder') &&
      holds(n.getAttribute('placeholder'), info.placeholder));
  if (info.label) count('label', (n) => {
    const labels = n.labels ? Array.from(n.labels).map((l) => l.innerText) : [];
    if (n.hasAttribute('aria-label')) labels.push(n.getAttribute('aria-label'));
    return labels.some((l) => holds(l, info.label));
  });
  if (info.alt)
    count('alt', (n) => n.hasAttribute('alt') && holds(n.getAttribute('alt'), info.alt));
  if (info.text) count('text', (n) => {
    if (!holds(n.innerText, info.text) || ['SCRIPT', 'STYLE', 'HEAD'].includes(n.tagName))
      return false;
    return !Array.from(n.children).some((c) => holds(c.innerText, info.text));
  });
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

# A cheap summary of what the page shows; equal twice in a row (a frame apart) = settled.
# A page that never paints again (it navigated itself away while loading and that
# navigation was blocked) gives no frame: after 200 ms it is marked "no-frame".
SIGNATURE = r"""
async () => {
  const painted = await new Promise((done) => {
    requestAnimationFrame(() => requestAnimationFrame(() => done(true)));
    setTimeout(() => done(false), 200);
  });
  const d = document.documentElement;
  const body = document.body;
  return [painted ? 'frame' : 'no-frame', location.href, scrollX, scrollY,
    d ? d.scrollHeight : 0, d ? d.scrollWidth : 0,
    document.getElementsByTagName('*').length, body ? body.innerText.length : 0,
    document.activeElement ? document.activeElement.tagName : '', document.readyState].join('|');
}
"""

# Scroll offsets of the window and of every scrollable box under a point.
SCROLL_STATE = r"""
([x, y]) => {
  const out = [scrollX, scrollY];
  for (let el = document.elementFromPoint(x, y); el; el = el.parentElement) {
    if (el.scrollHeight > el.clientHeight || el.scrollWidth > el.clientWidth) {
      out.push(el.scrollTop, el.scrollLeft);
    }
  }
  return out.join(',');
}
"""

# Resolves once Chromium draws the next frame of the page.
FRAME = "() => new Promise((done) => requestAnimationFrame(() => done(true)))"

# The page's rendered text, one trimmed line per line of `innerText` (hidden elements and
# field values are not in it), first occurrences only, bounded: what UI test generation
# asserts on after the last action. Records are redacted before they are written.
VISIBLE_TEXT = r"""
([maxLines, maxChars]) => {
  const body = document.body;
  if (!body) return [];
  const seen = new Set();
  const out = [];
  for (const raw of body.innerText.split('\n')) {
    const line = raw.replace(/\s+/g, ' ').trim().slice(0, maxChars);
    if (!line || seen.has(line)) continue;
    seen.add(line);
    out.push(line);
    if (out.length >= maxLines) break;
  }
  return out;
}
"""
