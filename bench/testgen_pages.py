"""Page changes for the test-survival bench (issue 11): a local HTTP server that serves a
folder of pages with one named change applied to every HTML page it sends.

Why a script injected into the HTML and not edits of the HTML text: the same change must
apply to the demo shop, MiniWoB (whose tasks render their DOM from script after load) and
GOV.UK pages, so each change is a DOM transformation run once the page (or task) has
rendered. A change is parametrised by the CSS selector of the step's target, known from
the flow, never from what the test under measurement recorded.

Changes that keep the feature working (KEEPS) and regressions that break it (BREAKS):
the bench counts a pass on a BREAKS change as a false pass.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Each body runs with `t` = the target element (document.querySelector(target)) and `doc`.
_KEEPS = {
    "rename_ids_classes": """
        // ids the page's own scripts name stay (renaming them would be a code change)
        // (inline and same-origin external scripts, read synchronously, and on* attributes)
        let code = '';
        for (const s of doc.scripts) {
          if (s.textContent.includes('__benchChanged')) continue;
          code += ' ' + s.textContent;
          if (s.src && new URL(s.src).origin === location.origin) {
            const r = new XMLHttpRequest(); r.open('GET', s.src, false); r.send();
            code += ' ' + r.responseText; } }
        for (const el of doc.querySelectorAll('*')) for (const a of el.attributes)
          if (a.name.startsWith('on')) code += ' ' + a.value;
        const part = (c) => c !== undefined && /[A-Za-z0-9_-]/.test(c);
        const named = (w) => {  // `w` in the code as a whole word (ids hold '-')
          for (let i = code.indexOf(w); i >= 0; i = code.indexOf(w, i + 1))
            if (!part(code[i - 1]) && !part(code[i + w.length])) return true;
          return false; };
        // an id or class the code builds ('ch' + i for ch0, ch1...) keeps its stem named
        const used = (w) => named(w) || (/[0-9]$/.test(w) && named(w.replace(/-?[0-9]+$/, '')));
        const ids = {};
        for (const el of doc.querySelectorAll('[id]'))
          if (!used(el.id)) ids[el.id] = 'x-' + el.id;
        for (const el of doc.querySelectorAll('label[for]')) {
          if (ids[el.htmlFor]) el.htmlFor = ids[el.htmlFor]; }
        for (const el of doc.querySelectorAll('[id]')) {
          if (ids[el.id]) el.id = ids[el.id]; }
        const classes = {};
        for (const el of doc.querySelectorAll('[class]')) {
          if (typeof el.className !== 'string') continue;  // SVG: an animated class
          el.className = el.className.split(/\\s+/).map(c => {
            if (!c || used(c)) return c;
            classes[c] = 'x-' + c; return 'x-' + c; }).join(' '); }
        // a rename renames the stylesheets' selectors too (same-origin sheets): the look
        // stays, only the names change
        const swap = (text, mark, names) => {
          let out = '';
          for (let i = 0; i < text.length;) {
            if (text[i] === mark) {
              let j = i + 1; while (j < text.length && part(text[j])) j++;
              const word = text.slice(i + 1, j);
              out += mark + (names[word] || word); i = j;
            } else { out += text[i]; i++; } }
          return out; };
        const rules = (list) => { for (const r of list) {
          if (r.selectorText) r.selectorText = swap(swap(r.selectorText, '.', classes), '#', ids);
          if (r.cssRules) rules(r.cssRules); } };
        for (const sheet of doc.styleSheets) {
          try { rules(sheet.cssRules); } catch (e) { /* another origin's sheet */ } }""",
    "wrappers_added": """
        const w1 = doc.createElement('div'), w2 = doc.createElement('span');
        w1.className = 'wrap'; t.parentNode.insertBefore(w1, t); w1.appendChild(w2);
        w2.appendChild(t);""",
    "reordered": """
        const box = t.closest('form') || t.closest('main') || doc.body;
        let blk = t; while (blk.parentNode !== box) blk = blk.parentNode;
        const lab = t.id ? doc.querySelector('label[for="' + t.id + '"]') : null;
        box.insertBefore(blk, box.firstChild);
        if (lab && lab.parentNode === box) box.insertBefore(lab, blk);""",
    "theme_changed": """
        const s = doc.createElement('style');
        s.textContent = 'body{background:#1d1f21!important;color:#e0e0e0!important}' +
          'button,input{background:#3b4a6b!important;color:#fff!important;' +
          'border-radius:0!important;border:2px solid #ffb000!important}';
        doc.head.appendChild(s);""",
    "label_reworded": """
        // other words for the same thing, as a product team rewords a label; a name not in
        // the list gets a word added. Only text nodes change (an icon inside stays).
        const WORDS = {'create account': 'Sign up', 'search': 'Find', 'remove': 'Delete',
          'yes, close it': 'Yes, delete my account', 'submit': 'Send', 'two': 'Second',
          'save and continue': 'Continue', 'start now button': 'Begin',
          'full name': 'Your name', 'email': 'Email address'};
        const lab = t.id ? doc.querySelector('label[for="' + t.id + '"]') : null;
        const el = lab || t;
        const walker = doc.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const text = n.textContent.trim();
          if (!text) continue;
          n.textContent = WORDS[text.toLowerCase()] || text + ' now';
          break; }""",
    "icon_button": """
        if (t.tagName === 'BUTTON' || t.tagName === 'A') {
          t.setAttribute('aria-label', t.textContent.trim());
          t.textContent = '\\u27a4'; }""",
    "below_fold": """
        const pad = doc.createElement('div'); pad.style.height = '1600px';
        t.parentNode.insertBefore(pad, t);""",
}
_BREAKS = {
    "target_removed": "t.remove();",
    "handler_broken": """
        const c = t.cloneNode(true); c.onclick = null; c.removeAttribute('onclick');
        if (c.form || t.form) { c.type = 'button'; }
        c.addEventListener('click', e => { e.stopImmediatePropagation(); e.preventDefault(); },
          true);
        t.replaceWith(c);""",
    "success_text_changed": """
        const mo = new MutationObserver(() => {
          for (const el of doc.querySelectorAll(SUCCESS)) {
            if (el.textContent !== 'Done.') el.textContent = 'Done.'; } });
        mo.observe(doc.body, {subtree: true, childList: true, attributes: true});""",
}
#: changes served by the browser's settings, not the page: (viewport, device pixel ratio)
VIEWPORT_CHANGES = {"viewport_dpr": ((1024, 640), 2.0)}
KEEPS = tuple(_KEEPS) + tuple(VIEWPORT_CHANGES)
BREAKS = tuple(_BREAKS)


def change_script(kind: str, target: str, success: str = "#done", ready: str = "true") -> str:
    """The <script> that applies `kind` to the element `target` once it exists and the
    JS condition `ready` holds. A page that gets ready later (a MiniWoB episode starting
    on load) calls `window.__benchOnReady()` at once, so the change is in place before
    anything can act on the page; polling is only the fallback."""
    body = _KEEPS.get(kind) or _BREAKS.get(kind)
    if body is None:
        raise KeyError(f"unknown page change {kind!r}; known: {KEEPS + BREAKS}")
    return (
        "<script>(function(){const doc=document;"
        f"const TARGET={json.dumps(target)},SUCCESS={json.dumps(success)};"
        "function go(){const t=doc.querySelector(TARGET);"
        "if(window.__benchChanged!==undefined){return;}"
        f"if(!t||!doc.body||!({ready})){{return setTimeout(go,20);}}"
        f"{body}\n;window.__benchChanged={json.dumps(kind)};}}"
        "window.__benchOnReady=go;"
        "if(doc.readyState==='loading'){doc.addEventListener('DOMContentLoaded',go);}"
        "else{go();}})();</script>"
    )


def _handler(directory: str, state: dict[str, str | None]) -> type[SimpleHTTPRequestHandler]:
    class Changing(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, directory=directory, **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = Path(self.translate_path(self.path))
            script = state.get("script")
            if not script or path.suffix != ".html" or not path.is_file():
                return super().do_GET()
            html = path.read_text(encoding="utf-8")
            cut = html.lower().rfind("</body>")
            html = html[:cut] + script + html[cut:] if cut >= 0 else html + script
            data = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

    return Changing


class ChangingServer:
    """A served folder whose HTML pages carry the change set by `apply` (None: unchanged)."""

    def __init__(self, server: ThreadingHTTPServer, state: dict[str, str | None]) -> None:
        self._server, self._state = server, state
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    def apply(self, kind: str | None, target: str = "", success: str = "#done") -> None:
        """Serve `kind` applied to `target` from now on; viewport changes serve pages as is."""
        use = kind is not None and kind not in VIEWPORT_CHANGES
        self._state["script"] = change_script(kind, target, success) if use else None


@contextlib.contextmanager
def serve_changing(directory: str | Path, port: int = 0) -> Iterator[ChangingServer]:
    """Serve `directory` on 127.0.0.1 with the mutation hook; yields the server."""
    state: dict[str, str | None] = {"script": None}
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(str(directory), state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield ChangingServer(server, state)
    finally:
        server.shutdown()
        server.server_close()
