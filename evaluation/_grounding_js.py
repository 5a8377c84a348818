"""JavaScript the grounding-set builder runs in the page: which elements to keep, how
they are described, when the page is ready to be photographed."""

ELEMENTS_JS = r"""({minSide, maxName, links}) => {
  const root = document.documentElement, vw = root.clientWidth, vh = root.clientHeight;
  const dropped = {}, kept = [];
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const style = (el) => getComputedStyle(el);
  const memo = (f) => {
    const m = new Map();
    return (k) => m.has(k) ? m.get(k) : (m.set(k, f(k)), m.get(k));
  };
  const clips = memo((el) => {  // shows nothing of what it holds (govuk-visually-hidden)
    const cs = style(el), r = el.getBoundingClientRect();
    return cs.display === 'none' || cs.clipPath === 'inset(50%)' ||
      cs.clip === 'rect(0px, 0px, 0px, 0px)' ||
      ((r.width <= 1 || r.height <= 1) && cs.overflow !== 'visible');
  });
  const opacity = memo((el) =>
    parseFloat(style(el).opacity) * (el.parentElement ? opacity(el.parentElement) : 1));
  const clipped = (el, top) => {
    for (let e = el; e && e !== top; e = e.parentElement) if (clips(e)) return true;
    return false;
  };
  const blockOf = (node, top) => {
    for (let e = node.parentElement; e && e !== top; e = e.parentElement) {
      if (!style(e).display.startsWith('inline')) return e;
    }
    return top;
  };
  const SKIP = new Set(['title', 'desc', 'script', 'style', 'template', 'noscript', 'option']);
  const visibleText = (el) => {  // what the eye reads; text in different blocks is apart
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let text = '', last = null;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const p = n.parentElement;
      if (SKIP.has(p.localName) || style(p).visibility !== 'visible' || opacity(p) < 0.1 ||
          clipped(p, el.parentElement)) continue;
      const block = blockOf(n, el);
      text += (last && block !== last ? ' ' : '') + n.data;
      last = block;
    }
    return norm(text);
  };
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 48;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const ink = memo((key) => {
    const [font, s] = key.split('\n');
    ctx.clearRect(0, 0, 48, 48);
    ctx.font = font;
    ctx.fillText(s, 4, 36);
    return ctx.getImageData(0, 0, 48, 48).data.join();
  });
  const drawable = (text, el) => {  // no character is drawn as the missing-glyph box
    const cs = style(el), font = `${cs.fontStyle} ${cs.fontWeight} 32px ${cs.fontFamily}`;
    const tofu = ink(font + '\n\u{10FFFD}');
    if (tofu === ink(font + '\n ')) return true;  // a blank missing glyph: nothing to tell
    return [...text].every(ch => ch.codePointAt(0) < 0x80 || /[\s\p{M}\p{Cf}]/u.test(ch) ||
      ink(font + '\n' + ch) !== tofu);
  };
  const isToggle = (el) => el.localName === 'input' && ['checkbox', 'radio'].includes(el.type);
  const shownLabel = (el) => [...(el.labels || [])].find(l =>
    l.getClientRects().length && opacity(l) >= 0.1 && visibleText(l));
  const WORDS = {checkbox: 'checkbox', radio: 'radio button', password: 'password field',
    search: 'search field', file: 'file input', range: 'slider', color: 'colour picker',
    date: 'date field', number: 'number field', summary: 'expandable section',
    select: 'dropdown', textarea: 'text area'};
  const roleOf = (el) => {
    const r = el.getAttribute('role'), tag = el.localName, type = (el.type || '').toLowerCase();
    if (['tab', 'button', 'link'].includes(r)) return r;
    if (tag === 'a' || el.matches(links)) return 'link';
    const pressed = ['button', 'submit', 'reset', 'image'].includes(type);
    if (tag === 'button' || (tag === 'input' && pressed)) return 'button';
    return WORDS[tag] || WORDS[type] || 'text field';
  };
  const nameOf = (el) => {  // [name, whether the element shows it as its own text]
    const tag = el.localName, type = (el.type || '').toLowerCase();
    const field = ['input', 'select', 'textarea'].includes(tag), labels = [...(el.labels || [])];
    if (tag === 'input' && ['button', 'submit', 'reset'].includes(type)) {
      return [norm(el.value), true];
    }
    const own = field ? '' : visibleText(el);
    if (own) return [own, true];
    const ids = (el.getAttribute('aria-labelledby') || '').split(/\s+/);
    const byId = ids.map(id => document.getElementById(id)).filter(Boolean);
    const img = el.querySelector('img[alt], svg[aria-label], svg title');
    const names = [labels.map(visibleText).join(' '), byId.map(visibleText).join(' '),
      ...['aria-label', 'placeholder', 'title', 'alt'].map(a => el.getAttribute(a)),
      img && (img.getAttribute('alt') || img.getAttribute('aria-label') || img.textContent),
      labels.map(l => l.textContent).join(' ')];
    return [norm(names.find(n => norm(n))), false];
  };
  const selectorOf = (el) => {  // its id, or a child path from the nearest unique id
    const only = (s, e) => {
      const m = document.querySelectorAll(s);
      return m.length === 1 && m[0] === e;
    };
    const id = (e) => e.id && only('#' + CSS.escape(e.id), e) ? '#' + CSS.escape(e.id) : null;
    const parts = [];
    for (let n = el; n && n !== root; n = n.parentElement) {
      if (id(n)) { parts.unshift(id(n)); break; }
      const same = [...n.parentElement.children].filter(c => c.localName === n.localName);
      parts.unshift(n.localName + (same.length > 1 ? `:nth-of-type(${same.indexOf(n) + 1})` : ''));
    }
    const s = parts.join(' > ');
    return only(s, el) ? s : null;
  };
  const reaches = (el, target, x, y) => {  // a click at (x, y) gets el, inside it or its label
    const hit = document.elementFromPoint(x, y);
    return !!hit &&
      (target.contains(hit) || el.contains(hit) || hit.closest('label')?.control === el);
  };
  const check = (el) => {  // [target, box] or the reason to leave el out
    if (el.matches(':disabled') || el.closest('[inert]')) return 'disabled';
    const rects = [...el.getClientRects()].filter(r => r.width > 0 && r.height > 0);
    if (!rects.length || style(el).visibility !== 'visible' || clipped(el, null)) return 'hidden';
    let target = el, box = el.getBoundingClientRect();
    const area = (r) => r.width * r.height;  // text wrapped over lines leaves its box half empty
    if (rects.reduce((sum, r) => sum + area(r), 0) < 0.8 * area(box)) return 'wrapped over lines';
    if (opacity(el) < 0.1 && !(isToggle(el) && shownLabel(el))) return 'transparent';
    if (box.width < minSide || box.height < minSide) {  // a tiny input drawn on its label
      target = isToggle(el) && shownLabel(el);
      box = target && target.getBoundingClientRect();
      if (!target || box.width < minSide || box.height < minSide) return 'too small';
    }
    if (box.left < 0 || box.top < 0 || box.right > vw || box.bottom > vh) {
      return 'outside the viewport';
    }
    const points = [[0.5, 0.5], [0.25, 0.5], [0.75, 0.5], [0.5, 0.25], [0.5, 0.75]];
    const at = ([fx, fy]) => [box.left + fx * box.width, box.top + fy * box.height];
    return points.every(p => reaches(el, target, ...at(p))) ? [target, box] : 'covered';
  };
  const describe = (el) => {  // [instruction, data type] or the reason to leave el out
    const [name, own] = nameOf(el);
    if (!name) return 'no name';
    if (name.length > maxName) return 'description too long';
    if (!drawable(name, el)) return 'glyphs missing from the installed fonts';
    return [`the "${name}" ${roleOf(el)}`, own ? 'text' : 'icon'];
  };
  const CANDIDATES = 'a[href], button, input:not([type=hidden]), select, textarea, summary, ' +
    '[role=button], [role=tab], [role=link], ' + links;
  for (const el of document.querySelectorAll(CANDIDATES)) {
    const checked = check(el), said = typeof checked === 'string' ? checked : describe(el);
    const selector = typeof said === 'string' ? null : selectorOf(el);
    const why = [checked, said].find(r => typeof r === 'string') ||
      (selector ? null : 'no unique selector');
    if (why) {
      dropped[why] = (dropped[why] || 0) + 1;
      continue;
    }
    const {left, top, right, bottom} = checked[1];
    const box = [left, top, right, bottom];
    kept.push({instruction: said[0], base: said[0], data_type: said[1], selector, box, el});
  }
  // Two "Yes" radio buttons: each is named by what a reader would add, the group's legend
  // or the heading it sits under (both on screen), else it is dropped; it must say which.
  const onScreen = (e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= vh && r.right <= vw &&
      style(e).visibility === 'visible' && !clipped(e, null);
  };
  const readable = (e) => {
    const text = visibleText(e);
    return text && text.length <= maxName && onScreen(e) && drawable(text, e) ? text : null;
  };
  const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6, [role=heading]')];
  const legendOf = (el) => {
    const legend = el.closest('fieldset')?.querySelector(':scope > legend');
    const text = legend && readable(legend);
    return text && `in the "${text}" group`;
  };
  const headingOf = (el) => {
    const before = headings.filter(h => h.compareDocumentPosition(el) &
      Node.DOCUMENT_POSITION_FOLLOWING && !h.contains(el));
    const text = before.length && readable(before[before.length - 1]);
    return text && `under the "${text}" heading`;
  };
  const key = (k) => k.instruction.toLowerCase();
  const colliding = () => {
    const counts = new Map();
    for (const k of kept) counts.set(key(k), (counts.get(key(k)) || 0) + 1);
    return kept.filter(k => counts.get(key(k)) > 1);
  };
  for (const qualify of [legendOf, headingOf]) {
    for (const k of colliding()) {
      const extra = qualify(k.el);
      if (extra) k.instruction = `${k.base} ${extra}`;
    }
  }
  const ambiguous = new Set(colliding());
  if (ambiguous.size) dropped['same description'] = ambiguous.size;
  const elements = kept.filter(k => !ambiguous.has(k))
    .map(({instruction, data_type, selector, box}) => ({instruction, data_type, selector, box}));
  return {elements, dropped};
}"""

# Settles a freshly loaded page: web fonts, CSS images (the footer's crest is a mask
# image, which no load event waits for), then two frames so the paint holds all of it.
READY_JS = r"""async () => {
  await document.fonts.ready;
  const urls = new Set();
  for (const el of document.querySelectorAll('*')) {
    for (const pseudo of [null, '::before', '::after']) {
      const cs = getComputedStyle(el, pseudo);
      for (const v of [cs.backgroundImage, cs.maskImage, cs.webkitMaskImage]) {
        for (const m of (v || '').matchAll(/url\("?([^")]+)"?\)/g)) urls.add(m[1]);
      }
    }
  }
  await Promise.all([...urls].map(u => new Promise(done => {
    const img = new Image(); img.onload = img.onerror = done; img.src = u; })));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return [...document.fonts].filter(f => f.status === 'error').map(f => f.family);
}"""
SCROLL_JS = """async (y) => {
  window.scrollTo({top: y, left: 0, behavior: 'instant'});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return window.scrollY;
}"""
