"""One local server for every flow and every page change of the survival bench.

A path says both: `/<flow>/<file>` serves the flow's page as it was recorded, and
`/c/<change>/<flow>/<file>` the same page with `<change>` applied to the flow's target.
So a generated test runs against a change by its base URL alone (what pytest's
`--base-url` is for), and one pytest run can hold every (flow, change) pair.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from _testgen_flows import Flow, miniwob_script
from testgen_pages import BREAKS, KEEPS, VIEWPORT_CHANGES, change_script


def split_path(path: str, flows: Mapping[str, Flow]) -> tuple[str | None, Flow, str] | None:
    """(change or None, flow, file path inside the flow's folder), or None if unknown."""
    parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
    change = None
    if len(parts) >= 2 and parts[0] == "c":
        change, parts = parts[1], parts[2:]
        if change not in KEEPS + BREAKS:
            return None
    if not parts or parts[0] not in flows or any(p in (".", "..") for p in parts):
        return None
    return change, flows[parts[0]], "/".join(parts[1:])


def _handler(roots: Mapping[str, Path], flows: Mapping[str, Flow]) -> type:
    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            found = split_path(self.path, flows)
            if found is None:
                return self.send_error(404)
            change, flow, rest = found
            file = roots[flow.source] / rest
            if not file.is_file():
                return self.send_error(404)
            data = file.read_bytes()
            kind = self.guess_type(str(file))
            if file.suffix == ".html":
                data = _inject(data.decode("utf-8"), flow, change).encode("utf-8")
                kind = "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _inject(html: str, flow: Flow, change: str | None) -> str:
    scripts = miniwob_script(flow.miniwob[1]) if flow.miniwob else ""
    if change is not None and change not in VIEWPORT_CHANGES:
        scripts += change_script(change, flow.target, flow.success, flow.ready)
    cut = html.lower().rfind("</body>")
    return html[:cut] + scripts + html[cut:] if cut >= 0 else html + scripts


@contextlib.contextmanager
def serve_flows(roots: Mapping[str, Path], flows: list[Flow]) -> Iterator[str]:
    """Serve every flow on 127.0.0.1; yields the origin (http://127.0.0.1:PORT)."""
    by_id = {f.id: f for f in flows}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(roots, by_id))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
