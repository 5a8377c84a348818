"""JavaScript that settling runs in the page (see `_settle.py`). Kept apart so it reads as JS.

Settling is driven by what the page does, not by a fixed quiet window: one look waits for
the next frame the page draws and says whether anything happened meanwhile. What counts
as something: a DOM mutation (a MutationObserver kept per document, over the whole
document, attributes and text included), a scroll of any box (a capturing `scroll`
listener), the URL, scroll extent, focus or ready state changing, or a finite CSS
animation or transition still running. An endless one (a spinner) is not waited for: it
would keep every step at the cap. Requests and navigations are counted on the Python side
(Playwright's events), where the page cannot hide them.
"""

# The document's change counter, installed once per document; mutations still queued for
# the observer's callback are taken at once, so a look never misses the last ones.
_WATCH = r"""
const KEY = Symbol.for('pixelpilot.settle');
let watch = window[KEY];
if (!watch) {
  watch = {changes: 0, observer: null};
  const bump = () => { watch.changes += 1; };
  try {
    watch.observer = new MutationObserver((records) => { watch.changes += records.length; });
    watch.observer.observe(document, {subtree: true, childList: true, attributes: true,
      characterData: true});
  } catch (e) { watch.observer = null; }
  addEventListener('scroll', bump, {capture: true, passive: true});
  // a form submitted or a link followed (its default not prevented): the navigation it
  // starts comes a task later, after the look that follows the action may have ended
  watch.leaving = -1;
  const leave = () => { watch.leaving = performance.now(); };
  addEventListener('submit', (e) => { if (!e.defaultPrevented) leave(); });
  addEventListener('click', (e) => {
    const a = e.target && e.target.closest ? e.target.closest('a[href]') : null;
    const href = a ? a.getAttribute('href') || '' : '';
    if (a && !e.defaultPrevented && !/^\s*(javascript:|#)/i.test(href) &&
        (!a.target || a.target === '_self')) leave();
  });
  // short timers (<= 50 ms) still to fire: a click handler's setTimeout(update, 20) draws
  // nothing until it fires, and a frame may come first on a loaded machine
  watch.timers = new Set();
  try {
    const realSet = window.setTimeout, realClear = window.clearTimeout;
    window.setTimeout = function (fn, ms, ...rest) {
      const delay = ms === undefined ? 0 : Number(ms);
      if (typeof fn !== 'function' || !(delay <= 50)) return realSet.call(window, fn, ms, ...rest);
      let id = null;
      id = realSet.call(window, function (...args) {
        watch.timers.delete(id);
        return fn.apply(this, args);
      }, ms, ...rest);
      watch.timers.add(id);
      return id;
    };
    window.clearTimeout = function (id) {
      watch.timers.delete(id);
      return realClear.call(window, id);
    };
  } catch (e) {}
  try { Object.defineProperty(window, KEY, {value: watch, enumerable: false}); } catch (e) {}
}
const leaving = () => {
  const age = watch.leaving < 0 ? null : performance.now() - watch.leaving;
  if (age !== null && age > 2000) watch.leaving = -1;
  return age;
};
const changes = () => {
  if (watch.observer) watch.changes += watch.observer.takeRecords().length;
  return watch.changes;
};
const state = () => {
  const d = document.documentElement;
  return [changes(), location.href, scrollX, scrollY, d ? d.scrollHeight : 0,
    d ? d.scrollWidth : 0, document.activeElement ? document.activeElement.tagName : '',
    document.readyState].join('|');
};
"""

# The same counter installed by the browser context before any script of a document runs
# (Playwright's init script): a handler's first timer or form submission is seen even in a
# document no look has visited yet.
WATCH_INIT = "(() => {" + _WATCH + "})();"

# Resolves true once the page has drawn its next frame: a requestAnimationFrame callback
# runs at the start of a frame's rendering, and a message posted from it is handled once
# that rendering (style, layout, paint, and the ResizeObservers and transitions it starts)
# is done. False after 200 ms without a frame: a page that never draws again.
_NEXT_FRAME = r"""
const nextFrame = () => new Promise((done) => {
  const timer = setTimeout(() => done(false), 200);
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => { clearTimeout(timer); done(true); };
    channel.port2.postMessage(0);
  });
});
"""

# Whether a finite CSS animation or transition is running (an endless one is not waited for).
_ANIMATING = r"""
const animating = () => (document.getAnimations ? document.getAnimations() : []).some((a) =>
  a.playState === 'running' && a.effect &&
  Number.isFinite(a.effect.getComputedTiming().endTime));
"""

# The rendered text lines an observation carries: one trimmed line per line of `innerText`
# (hidden elements and field values are not in it), first occurrences only, at most
# `maxLines` of `maxChars`; what UI test generation asserts on (records are redacted before
# they are written); null when the page broke what they are read with.
_TEXT = r"""
const text = (maxLines, maxChars) => {
  try {
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
  } catch (e) { return null; }
};
"""

# One look: [drew a frame, nothing changed across it, the document's title, ms since a form
# was submitted or a link followed on this document (null: none lately), short timers
# still to fire, the URL, the rendered text lines (`_TEXT`) when the look was quiet with
# nothing pending (else null), the change state (`state()`) before the frame]. The
# settle's last look is then what the next observation would have asked its probe, for as
# long as the state stays the same (see `Settling._fresh_look`, `STATE`).
SETTLE = (
    r"""
async ([maxLines, maxChars]) => {
"""
    + _WATCH
    + _NEXT_FRAME
    + _ANIMATING
    + _TEXT
    + r"""
  const before = state();
  const painted = await nextFrame();
  const quiet = painted && !animating() && before === state() && document.readyState !== 'loading';
  const last = quiet && leaving() === null && watch.timers.size === 0 && maxLines > 0;
  return [painted, quiet, String(document.title), leaving(), watch.timers.size,
    location.href, last ? text(maxLines, maxChars) : null, before];
}
"""
)

# Scroll offsets of the window and of every scrollable box under a point.
_SCROLLS = r"""
const scrolls = (x, y) => {
  const out = [scrollX, scrollY];
  for (let el = document.elementFromPoint(x, y); el; el = el.parentElement) {
    if (el.scrollHeight > el.clientHeight || el.scrollWidth > el.clientWidth) {
      out.push(el.scrollTop, el.scrollLeft);
    }
  }
  return out.join(',');
};
"""

# Before a wheel: note when the page receives it (a passive listener, so scrolling is not
# held up) and return the scroll offsets under the point.
SCROLL_ARM = (
    r"""
([x, y]) => {
  const KEY = Symbol.for('pixelpilot.wheel');
  let wheel = window[KEY];
  if (!wheel) {
    wheel = {seen: false};
    addEventListener('wheel', () => { wheel.seen = true; }, {capture: true, passive: true});
    try { Object.defineProperty(window, KEY, {value: wheel, enumerable: false}); } catch (e) {}
  }
  wheel.seen = false;
"""
    + _SCROLLS
    + r"""
  return scrolls(x, y);
}
"""
)

# After the wheel: frame by frame, 'moved' as soon as an offset under the point differs from
# `before`; 'still' once the wheel has reached the page and `frames` frames have been drawn
# since without a move (Chromium scrolls within a frame of the wheel: nothing could move),
# or after `limit_ms` when the wheel never reached this document (a frame of another origin
# took it). When nothing moved, one look as settling makes (see SETTLE), the offsets under
# the point included: a move in it is 'moved' still, and a quiet one spares the settle its
# own look. (What a move sets going, a fetch of more rows, is left to the settle: the
# request may not have been told of when the look ends.)
# The answer: [verdict, the look found nothing changed, no form left and no short timer].
SCROLL_LANDED = (
    r"""
async ([x, y, before, frames, limit_ms]) => {
"""
    + _WATCH
    + _NEXT_FRAME
    + _ANIMATING
    + _SCROLLS
    + r"""
  const wheel = window[Symbol.for('pixelpilot.wheel')];
  const started = performance.now();
  let drawn = 0;
  for (;;) {
    if (scrolls(x, y) !== before) return ['moved', false, false];
    if (wheel && wheel.seen && drawn >= frames) break;
    if (performance.now() - started > limit_ms) return ['still', false, false];
    await new Promise((done) => { requestAnimationFrame(done); setTimeout(done, 100); });
    if (wheel && wheel.seen) drawn += 1;
  }
  const mark = state() + '|' + scrolls(x, y);
  const painted = await nextFrame();
  const offsets = scrolls(x, y);
  const quiet = painted && !animating() && mark === state() + '|' + offsets &&
    document.readyState !== 'loading';
  return [offsets === before ? 'still' : 'moved', quiet,
    leaving() === null && watch.timers.size === 0];
}
"""
)

# The change state now, as an expression (the capture's CDP session evaluates it right
# after the capture): the same as the settle's last look's, the text that look read is
# the text of what was captured.
STATE = "(() => {" + _WATCH + "return state(); })()"

# Before a capture: the page answers script (Chromium's screenshot waits forever for a
# renderer stuck in a loop) and, with `frame`, draws a frame (one that draws none is never
# captured). The answer is [title, rendered text lines (`_TEXT`)], so the observation makes
# no round trip beside the capture.
PROBE = (
    r"""
([frame, maxLines, maxChars]) => {
"""
    + _TEXT
    + r"""
  const answer = () => [String(document.title), maxLines > 0 ? text(maxLines, maxChars) : null];
  return frame ? new Promise((done) => requestAnimationFrame(() => done(answer()))) : answer();
}
"""
)
