"""JavaScript the browser controller runs in the page. Kept apart so it reads as JS."""

# The element under a point, described the way a test locator would name it.
ELEMENT_AT = r"""
([x, y, dpr]) => {
  const el = document.elementFromPoint(x, y);
  if (!el) return null;
  const text = (s) => (s || '').replace(/\s+/g, ' ').trim().slice(0, 200) || null;
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
    .map((id) => id && document.getElementById(id)).filter(Boolean)
    .map((node) => node.innerText).join(' ');
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
  return {tag: el.tagName.toLowerCase(), role, name, text: text(el.innerText || el.value),
    label, test_id: testId, input_type: el.tagName === 'INPUT' ? el.type : null,
    bbox: [r.left * dpr, r.top * dpr, r.right * dpr, r.bottom * dpr]};
}
"""

# A cheap summary of what the page shows; equal twice in a row (a frame apart) = settled.
SIGNATURE = r"""
async () => {
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const d = document.documentElement;
  const body = document.body;
  return [location.href, scrollX, scrollY, d ? d.scrollHeight : 0, d ? d.scrollWidth : 0,
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
