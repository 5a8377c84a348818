"""A ScreenSpot-style GUI grounding set from real third-party UI, rendered in Chromium.

Why: ScreenSpot measures whether a model points at the right element, but its screens are
fixed images. Here the screens come from UI that ships in registry packages (GOV.UK
Frontend's component fixtures from npm, MiniWoB++ task pages from PyPI), rendered in
headless Chromium at several viewports and device pixel ratios, and every instruction and
box is read from the DOM, so each record can be checked again by clicking it.

An element becomes a record only if a click at its box centre reaches it: it is visible,
at least `MIN_SIDE` CSS pixels a side, fully inside the viewport, on top at its centre and
four inner points, enabled, and its description ("the "Save" button") is unique on that
screen; the box is its CSS box times the DPR, in screenshot pixels. GOV.UK check boxes
and radios draw their box on the label and keep the real input on top of it with opacity
0, so the (transparent) input is the target and its box is the drawn square.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import re
import shutil
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pixelpilot.tools import InfrastructureError

from ._grounding_js import ELEMENTS_JS, READY_JS, SCROLL_JS
from .miniwob_pages import miniwob_html, select_tasks, start_episode

GOVUK_VERSION = "6.6.0"
GOVUK_FETCH = f"npm pack govuk-frontend@{GOVUK_VERSION}"
MINIWOB_TASKS = ("click-button", "click-checkboxes", "click-link", "click-tab", "login-user",
                 "click-option", "enter-text")  # fmt: skip
MINIWOB_VIEWPORT = (340, 220)  # the 160x210 task area at the top left, the reward beside it
MIN_SIDE = 6  # CSS pixels: smaller targets are not fair to point at
MAX_NAME = 80  # characters: longer names are paragraphs, not things a person names
_SPAN_LINKS = "span.alink"  # MiniWoB draws its links as spans (click-link); links here too
_MARK = ".grounding-set"  # marks an output folder a build may clear and rewrite


# In the page: the candidates, their checks and descriptions. Returns the kept elements
# (CSS boxes) and how many others each reason left out.
class GovukMissing(InfrastructureError, FileNotFoundError):
    """The govuk-frontend npm package is not where it was looked for."""


@dataclass
class Summary:
    """What a build wrote and what it left out, for the caller's report."""

    out_dir: Path
    records: int = 0
    images: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    by_data_type: dict[str, int] = field(default_factory=dict)
    #: reason -> candidate elements left out for it, over all screens
    dropped: dict[str, int] = field(default_factory=dict)
    #: sources (components, episodes) with no usable element on any screen
    empty: list[str] = field(default_factory=list)
    #: requests to anywhere but 127.0.0.1, blocked (should be none)
    offsite: list[str] = field(default_factory=list)
    seconds: float = 0.0
    browser: str = ""


@dataclass(frozen=True)
class _Job:
    """One page at one viewport and DPR: a govuk component page or a MiniWoB episode."""

    source: str
    viewport: tuple[int, int]
    dpr: float
    page: str | None = None  # govuk: the page's path inside the output folder
    task: str | None = None  # miniwob: the task and seed of the episode
    seed: int = 0

    @property
    def stem(self) -> str:
        name = (
            f"miniwob-{self.task}-seed{self.seed}"
            if self.task
            else f"govuk-{Path(str(self.page)).stem}"
        )
        return f"{name}-{self.viewport[0]}x{self.viewport[1]}-dpr{self.dpr:g}"


def find_govuk(path: str | Path, *, version: str | None = GOVUK_VERSION) -> Path:
    """The unpacked govuk-frontend `package` folder, from that folder, its parent or the
    .tgz `npm pack` writes (extracted once into a cache folder keyed by its hash), so
    callers can point at whatever they fetched. `version=None` accepts any version."""
    base = Path(path).expanduser()
    if base.is_file():
        base = _extract(base)
    package = base if (base / "dist" / "govuk").is_dir() else base / "package"
    if not (package / "dist" / "govuk" / "components").is_dir():
        raise GovukMissing(
            f"no govuk-frontend package at {path}: fetch it with `{GOVUK_FETCH}` (or "
            "`make govuk`) and pass the .tgz, the unpacked `package` folder or its parent"
        )
    found = json.loads((package / "package.json").read_text())["version"]
    if version is not None and found != version:
        raise GovukMissing(f"{package} holds govuk-frontend {found}, not {version}: {GOVUK_FETCH}")
    return package


def _extract(tgz: Path) -> Path:
    """Unpack a tarball into a cache folder, refusing members that would land outside it
    (absolute paths, "..", links, devices): the tarball comes from the network."""
    digest = hashlib.sha256(tgz.read_bytes()).hexdigest()[:16]
    dest = Path(tempfile.gettempdir()) / "pixelpilot-govuk" / digest
    if dest.is_dir():
        return dest
    try:
        with tarfile.open(tgz, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                parts = Path(m.name).parts
                if m.name.startswith(("/", "\\")) or Path(m.name).is_absolute() or ".." in parts:
                    raise GovukMissing(f"{tgz}: unsafe path {m.name!r} in the tarball")
                if not (m.isfile() or m.isdir()):
                    raise GovukMissing(f"{tgz}: {m.name!r} is a link or device, refused")
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(dir=dest.parent))
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(partial, members=members, **extra)
    except tarfile.TarError as error:
        raise GovukMissing(f"{tgz} is not a tarball ({error}): {GOVUK_FETCH}") from None
    try:
        partial.replace(dest)
    except OSError:  # another process unpacked it first
        shutil.rmtree(partial, ignore_errors=True)
    return dest


def compose_govuk_pages(package: Path, pages: Path, components: list[str] | None) -> list[str]:
    """One page per component under `pages/`, holding its non-hidden fixtures, plus the
    CSS, JS and assets they load; returns the components written. The stylesheet asks
    for `/assets/...` (a site root); it is copied with that one prefix made relative
    (what govuk's `$govuk-assets-path` setting does) so the output folder can be served
    from anywhere and nothing is requested off the server."""
    dist = package / "dist" / "govuk"
    known = sorted(p.name for p in (dist / "components").iterdir() if p.is_dir())
    chosen = known if components is None else components
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ValueError(f"no govuk-frontend component {unknown} (known: {', '.join(known)})")
    static = pages / "govuk"
    shutil.copytree(dist / "assets", static / "assets", dirs_exist_ok=True)
    css = (dist / "govuk-frontend.min.css").read_text().replace("url(/assets/", "url(assets/")
    if "url(/" in css:
        raise ValueError("govuk-frontend.min.css has root-relative URLs this builder misses")
    (static / "govuk-frontend.min.css").write_text(css)
    shutil.copy2(dist / "govuk-frontend.min.js", static / "govuk-frontend.min.js")
    written = []
    for name in chosen:
        data = json.loads((dist / "components" / name / "fixtures.json").read_text())
        fixtures = [f for f in data["fixtures"] if not f.get("hidden")]
        if fixtures:
            (pages / f"{name}.html").write_text(_govuk_page(name, fixtures))
            written.append(name)
    return written


def _govuk_page(component: str, fixtures: list[dict[str, Any]]) -> str:
    """A GOV.UK template page with each fixture in its own section. Fixtures reuse ids
    and radio names ("nationality" in many): each section's are prefixed, else a label
    in one fixture would name (and click) an input in another."""
    sections = []
    for i, fixture in enumerate(fixtures):
        body = _prefix_ids(fixture["html"], f"f{i}-")
        title = fixture["name"].replace("&", "&amp;").replace("<", "&lt;")
        sections.append(
            f'<section id="fixture-{i}" class="govuk-!-margin-bottom-8">\n'
            f'<h2 class="govuk-heading-s">{title}</h2>\n{body}\n</section>'
        )
    return f"""<!DOCTYPE html>
<html lang="en" class="govuk-template"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>govuk-frontend {GOVUK_VERSION}: {component}</title>
<link rel="stylesheet" href="govuk/govuk-frontend.min.css"></head>
<body class="govuk-template__body govuk-frontend-supported">
<div class="govuk-width-container"><main class="govuk-main-wrapper" id="main-content">
{chr(10).join(sections)}
</main></div>
<script type="module">
import {{ initAll }} from "./govuk/govuk-frontend.min.js";
initAll();
</script></body></html>
"""


_ID_REFS = re.compile(
    r'(\s(?:id|for|name|aria-describedby|aria-labelledby|aria-controls|list|form|headers)=")'
    r'([^"]*)(")'
)
_HASH_HREF = re.compile(r'(\shref="#)([^"]+)(")')


def _prefix_ids(html: str, prefix: str) -> str:
    """Prefix the ids (and names) a fixture defines wherever the fixture refers to them."""
    names = set(re.findall(r'\s(?:id|name)="([^"]+)"', html))

    def tokens(match: re.Match[str]) -> str:
        value = " ".join(prefix + t if t in names else t for t in match[2].split(" "))
        return match[1] + value + match[3]

    html = _ID_REFS.sub(tokens, html)
    return _HASH_HREF.sub(lambda m: m[1] + (prefix + m[2] if m[2] in names else m[2]) + m[3], html)


def build_grounding_set(
    out_dir: str | Path,
    *,
    govuk: str | Path | None,
    miniwob: bool = True,
    viewports: list[tuple[int, int]] | None = None,
    dprs: list[float] | None = None,
    components: list[str] | None = None,
    miniwob_tasks: list[str] | None = None,
    seeds: list[int] | None = None,
    limit_per_page: int | None = None,
    max_screens: int = 3,
) -> Summary:
    """Render the pages, pick the elements and write `grounding.jsonl`, `images/`,
    `pages/` and `manifest.json` into `out_dir` (empty, or a previous build's, which is
    replaced). `govuk` is anything `find_govuk` takes, or None to leave GOV.UK out;
    `miniwob_tasks` takes names, globs and presets (`miniwob_pages.select_tasks`);
    `limit_per_page` keeps at most that many records a screen, spread over the page;
    long govuk pages give up to `max_screens` screens, a viewport apart. Records come in
    a fixed order (source, viewport, DPR, screen, document order), so the same inputs
    give the same file and images."""
    start = time.monotonic()
    out = _fresh_output(Path(out_dir))
    viewports = viewports or [(1280, 800), (390, 844)]
    dprs = dprs or [1.0, 2.0]
    tasks = select_tasks(list(miniwob_tasks or MINIWOB_TASKS)) if miniwob else []
    seeds = seeds or [1]
    jobs: list[_Job] = []
    written: list[str] = []
    if govuk is not None:
        written = compose_govuk_pages(find_govuk(govuk), out / "pages", components)
        jobs += [_Job(f"govuk-frontend@{GOVUK_VERSION}/{c}", tuple(v), d, page=f"pages/{c}.html")
                 for c in written for v in viewports for d in dprs]  # fmt: skip
    jobs += [_Job(f"miniwob/{t}#seed{s}", MINIWOB_VIEWPORT, d, task=t, seed=s)
             for t in tasks for s in seeds for d in dprs]  # fmt: skip
    summary = Summary(out_dir=out)
    rows = _render_all(jobs, out, summary, limit_per_page, max_screens)
    with (out / "grounding.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    summary.records = len(rows)
    summary.images = len({r["img_filename"] for r in rows})
    summary.by_source = dict(Counter(r["source"] for r in rows))
    summary.by_data_type = dict(sorted(Counter(r["data_type"] for r in rows).items()))
    used = {r["source"] for r in rows}
    summary.empty = sorted({j.source for j in jobs} - used)
    summary.seconds = round(time.monotonic() - start, 1)
    settings = {"viewports": [list(v) for v in viewports] if written else [], "dprs": dprs,
                "components": (written if govuk is not None else None), "miniwob_tasks": tasks,
                "miniwob_viewport": list(MINIWOB_VIEWPORT), "seeds": seeds,
                "limit_per_page": limit_per_page, "max_screens": max_screens}  # fmt: skip
    _write_manifest(out, summary, settings)
    return summary


def _fresh_output(out: Path) -> Path:
    """Clear a previous build (never a folder that is not one) so no stale image stays."""
    if out.exists() and any(out.iterdir()) and not (out / _MARK).is_file():
        raise FileExistsError(f"{out} is neither empty nor a grounding set built before")
    for name in ("images", "pages"):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in ("grounding.jsonl", "manifest.json"):
        (out / name).unlink(missing_ok=True)
    (out / "images").mkdir(parents=True)
    (out / _MARK).write_text("a pixelpilot grounding set: build_grounding_set may replace it\n")
    return out


def _render_all(
    jobs: list[_Job], out: Path, summary: Summary, limit: int | None, max_screens: int
) -> list[dict[str, Any]]:
    """One browser per viewport and DPR renders its jobs; rows come back in job order.
    The output folder itself is served, so what is rendered is what was saved."""
    from pixelpilot.agent.demo import serve_directory

    results: dict[_Job, list[dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        govuk_url = stack.enter_context(serve_directory(out))
        need_miniwob = any(j.task for j in jobs)
        miniwob_url = stack.enter_context(serve_directory(miniwob_html())) if need_miniwob else ""
        for viewport, dpr in dict.fromkeys((j.viewport, j.dpr) for j in jobs):
            with local_browser(viewport, dpr, summary.offsite) as env:
                for job in (j for j in jobs if (j.viewport, j.dpr) == (viewport, dpr)):
                    if job.task:
                        start_episode(env, miniwob_url, job.task, job.seed)
                        env.page.evaluate(READY_JS)
                    else:
                        open_page(env, f"{govuk_url}/{job.page}")
                    screens = 1 if job.task else max_screens
                    results[job] = _shoot(env, job, out, summary, limit, screens)
    return [row for job in jobs for row in results[job]]


@contextlib.contextmanager
def local_browser(
    viewport: tuple[int, int], dpr: float, offsite: list[str] | None = None
) -> Iterator[Any]:
    """pixelpilot's browser controller at `viewport` and `dpr`, let to fetch only from
    127.0.0.1: other requests are aborted and their URLs appended to `offsite`, so a
    page that would phone out is caught, not silently rendered differently."""
    from pixelpilot.environments import open_browser

    blocked = offsite if offsite is not None else []

    def local_only(route: Any, request: Any) -> None:
        url = urlparse(request.url)
        if url.scheme in ("http", "https") and url.hostname != "127.0.0.1":
            blocked.append(request.url)
            return route.abort("blockedbyclient")
        return route.fallback()

    env = open_browser(viewport=viewport, device_scale_factor=dpr)
    try:
        env.context.route("**/*", local_only)
        yield env
    finally:
        env.close()


def open_page(env: Any, url: str) -> None:
    """Load a page and wait for its fonts and CSS images; a font that fails is an error
    (the screenshot would show a fallback font the record does not say)."""
    env.page.goto(url, wait_until="load")
    failed = env.page.evaluate(READY_JS)
    if failed:
        raise RuntimeError(f"{url}: web fonts failed to load: {sorted(set(failed))}")


def scroll_to(env: Any, y: float) -> float:
    """Scroll the page to `y` CSS pixels (at once, no smooth scrolling); returns where it
    got, which is less at the end of the page."""
    return float(env.page.evaluate(SCROLL_JS, y))


def _shoot(
    env: Any, job: _Job, out: Path, summary: Summary, limit: int | None, screens: int
) -> list[dict[str, Any]]:
    """Screens of the open page a viewport apart (the last one stopped by the page's end
    only if it shows at least half a viewport more): pick the elements, save the
    screenshot where any is left, one record per element."""
    rows: list[dict[str, Any]] = []
    last = -float(job.viewport[1])
    summary.browser = summary.browser or env.context.browser.version
    for k in range(screens):
        y = scroll_to(env, k * job.viewport[1])
        if y - last < job.viewport[1] / 2:  # the page ended
            break
        last = y
        limits = {"minSide": MIN_SIDE, "maxName": MAX_NAME, "links": _SPAN_LINKS}
        found = env.page.evaluate(ELEMENTS_JS, limits)
        for why, n in found["dropped"].items():
            summary.dropped[why] = summary.dropped.get(why, 0) + n
        elements = _spread(found["elements"], limit)
        if not elements:
            continue
        image = env.observe().image
        name = f"images/{job.stem}-s{k}.png"
        image.save(out / name)
        rows += [_record(e, name, image.size, job, y) for e in elements]
    return rows


def _spread(elements: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """At most `limit` elements, evenly spaced in document order (not just the top)."""
    if limit is None or len(elements) <= limit:
        return elements
    return [elements[i * len(elements) // limit] for i in range(limit)]


def _record(element: dict[str, Any], image: str, size: Any, job: _Job, y: float) -> dict:
    """One line of grounding.jsonl: the box in screenshot pixels (CSS box times DPR)."""
    box = [round(v * job.dpr, 2) for v in element["box"]]
    return {"img_filename": image, "instruction": element["instruction"], "bbox": box,
            "bbox_format": "xyxy", "data_type": element["data_type"], "platform": "web",
            "img_size": list(size), "source": job.source, "page": job.page,
            "viewport": list(job.viewport), "dpr": job.dpr, "scroll_y": y,
            "selector": element["selector"]}  # fmt: skip


def _write_manifest(out: Path, summary: Summary, settings: dict[str, Any]) -> None:
    """What was built from what, so a result on this set can name its inputs."""
    miniwob = importlib.metadata.version("miniwob") if settings["miniwob_tasks"] else None
    govuk = GOVUK_VERSION if settings["components"] is not None else None
    versions = {"govuk-frontend": govuk, "miniwob": miniwob, "chromium": summary.browser}
    counts = {"records": summary.records, "images": summary.images,
              "by_source": summary.by_source, "by_data_type": summary.by_data_type}  # fmt: skip
    manifest = {
        "format": "ScreenSpot-style records in grounding.jsonl; bbox xyxy in image pixels",
        "sources": versions, **settings, "min_side_css_px": MIN_SIDE, "max_name_chars": MAX_NAME,
        "counts": counts, "dropped": dict(sorted(summary.dropped.items())),
        "empty_sources": summary.empty, "offsite_requests_blocked": summary.offsite,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": summary.seconds,
    }  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
