"""The survival bench's flows: what is recorded with the oracle, on which page, and which
element the page changes act on (bench/testgen_survival.py).

A flow is a task on one served page with a visible success text: four on the demo shop,
eleven MiniWoB++ tasks at fixed seeds, five GOV.UK Frontend forms built from the
package's own component fixtures. Each names its change target (the CSS selector of the
element its last step acts on) and its success text's selector, from the flow itself,
never from the test generated for it.

MiniWoB needs two things a static page has not, both injected by the server, at record
time and at test time alike: the episode starts by itself on load at the flow's seed
(what `start_episode` does from outside), and once the task has scored, a line says
"Task solved" or "Task failed" (MiniWoB only shows a number, which a text assertion could
not tell from a failure). Nothing else of the task is touched: its own scorer decides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pixelpilot.agent.demo import SIGNUP_PLAN, SIGNUP_TASK, PlanStep

#: the value typed for the demo's {{password}}; the generated test reads it from the
#: environment variable TGEN names for it
DEMO_PASSWORD = "correct horse battery"
MINIWOB_SOLVED = "Task solved"


@dataclass(frozen=True)
class Flow:
    """One recorded task: `source` is the served folder ("demo", "miniwob", "govuk"),
    `page` the start page's path in it; `plan` (demo, govuk) or `miniwob` = (task, seed)
    says what the oracle does."""

    id: str
    source: str
    page: str
    task: str
    target: str
    success: str
    plan: tuple[PlanStep, ...] = ()
    miniwob: tuple[str, int] | None = None
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> str:
        """The JS condition under which the page is ready for a change to apply."""
        return "window.__benchReady === true" if self.miniwob else "true"


def _demo_flows() -> list[Flow]:
    search = (
        PlanStep("click", "#q", "Click the search box."),
        PlanStep("type", "ruler", "Type the product name."),
        PlanStep("click", "#go", "Click the Search button."),
        PlanStep("click", "#view-0", "Click View next to Pixel ruler."),
        PlanStep("finish", "Viewing: Pixel ruler", "The product is shown."),
    )
    cart = (
        PlanStep("click", "#item-glasses button", "Remove Vision glasses from the cart."),
        PlanStep("finish", "2 items", "The cart holds two items."),
    )
    account = (
        PlanStep("click", "#close", "Click Close account."),
        PlanStep("click", "#yes", "Confirm with Yes, close it."),
        PlanStep("finish", "Your account is closed.", "The account is closed."),
    )
    return [
        Flow("demo-signup", "demo", "form.html", SIGNUP_TASK, "#submit", "#done",
             tuple(SIGNUP_PLAN), secrets={"password": DEMO_PASSWORD}),
        Flow("demo-search", "demo", "search.html", "Search Pilot Shop for a ruler and view it.",
             "#go", "#picked", search),
        Flow("demo-cart", "demo", "list.html", "Remove the Vision glasses from the cart.",
             "#item-glasses button", "#count", cart),
        Flow("demo-account", "demo", "dialog.html", "Close my Pilot Shop account.", "#yes",
             "#status", account),
    ]  # fmt: skip


#: MiniWoB tasks whose last step acts on a fixed element (the change target), at a seed
MINIWOB_FLOWS: dict[str, tuple[int, str]] = {
    "click-checkboxes": (3, "#subbtn"),
    "click-option": (4, "#subbtn"),
    "click-test": (5, "#subbtn"),
    "click-test-2": (6, "#subbtn"),
    "click-button-sequence": (7, "#subbtn2"),
    "click-collapsible-nodelay": (8, "#subbtn"),
    "enter-text": (9, "#subbtn"),
    "enter-text-2": (10, "#subbtn"),
    "enter-password": (11, "#subbtn"),
    "login-user": (12, "#subbtn"),
    "use-autocomplete-nodelay": (13, "#subbtn"),
}


def _miniwob_flows() -> list[Flow]:
    return [
        Flow(f"mw-{task}", "miniwob", f"miniwob/{task}.html", "", target, "#bench-result",
             miniwob=(task, seed))
        for task, (seed, target) in MINIWOB_FLOWS.items()
    ]  # fmt: skip


# -- GOV.UK: forms built from govuk-frontend's own component fixtures ------------------------
#: id -> (component, fixture, what to do, the form's check in JS, the success text)
_GOVUK: dict[str, tuple[str, str, tuple[PlanStep, ...], str, str]] = {
    "govuk-radios": (
        "radios", "default",
        (PlanStep("click", "#example-default-2", "Choose No."),
         PlanStep("click", "#flow button", "Click Save and continue.")),
        "data.get('example-default') === 'no'", "Answer saved: No",
    ),
    "govuk-checkboxes": (
        "checkboxes", "default",
        (PlanStep("click", "#nationality-2", "Tick Irish."),
         PlanStep("click", "#flow button", "Click Save and continue.")),
        "data.getAll('nationality').join() === 'irish'", "Nationality saved: Irish",
    ),
    "govuk-input": (
        "input", "default",
        (PlanStep("click", "#test-name", "Click the National Insurance number field."),
         PlanStep("type", "QQ123456C", "Type the number."),
         PlanStep("click", "#flow button", "Click Save and continue.")),
        "data.get('test-name') === 'QQ123456C'", "Number saved: QQ123456C",
    ),
    "govuk-textarea": (
        "textarea", "default",
        (PlanStep("click", "textarea", "Click the details box."),
         PlanStep("type", "I moved house in May.", "Type the details."),
         PlanStep("click", "#flow button", "Click Save and continue.")),
        "data.get('more-detail') === 'I moved house in May.'", "Details sent",
    ),
    "govuk-start": (
        "button", "start",
        (PlanStep("click", "#flow button", "Click Start now."),),
        "true", "Application started",
    ),
}  # fmt: skip
_GOVUK_TASKS = {
    "govuk-radios": "Answer No to 'Have you changed your name?' and save.",
    "govuk-checkboxes": "Give Irish as the nationality and save.",
    "govuk-input": "Enter the National Insurance number QQ123456C and save.",
    "govuk-textarea": "Say 'I moved house in May.' in the details box and save.",
    "govuk-start": "Start the application.",
}
_CONTINUE = "button", "default"  # "Save and continue"


def _govuk_flows() -> list[Flow]:
    flows = []
    for fid, (_c, _f, plan, _check, success) in _GOVUK.items():
        finish = PlanStep("finish", success, "The confirmation is shown.")
        flows.append(Flow(fid, "govuk", f"{fid}.html", _GOVUK_TASKS[fid], "#flow button",
                          "#done", (*plan, finish)))  # fmt: skip
    return flows


def all_flows() -> list[Flow]:
    return [*_demo_flows(), *_miniwob_flows(), *_govuk_flows()]


def _fixture(package: Path, component: str, name: str) -> str:
    path = package / "dist" / "govuk" / "components" / component / "fixtures.json"
    fixtures = json.loads(path.read_text(encoding="utf-8"))["fixtures"]
    return next(f["html"] for f in fixtures if f["name"] == name)


def build_govuk(package: Path, out: Path) -> Path:
    """Write the GOV.UK flow pages (and govuk-frontend's CSS and assets) under `out`."""
    from pixelpilot.evaluation.grounding_set import compose_govuk_pages

    out.mkdir(parents=True, exist_ok=True)
    compose_govuk_pages(package, out, ["button"])  # the stylesheet and assets it loads
    for fid, (component, fixture, _plan, check, success) in _GOVUK.items():
        html = _fixture(package, component, fixture)
        button = "" if component == "button" else _fixture(package, *_CONTINUE)
        (out / f"{fid}.html").write_text(_govuk_page(fid, html + button, check, success))
    return out


def _govuk_page(title: str, body: str, check: str, success: str) -> str:
    return f"""<!doctype html>
<html lang="en" class="govuk-template"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="govuk/govuk-frontend.min.css">
<style>[hidden]{{display:none!important}}</style></head>
<body class="govuk-template__body js-enabled govuk-frontend-supported">
<div class="govuk-width-container"><main class="govuk-main-wrapper" id="main-content">
<form id="flow" novalidate>
{body}
</form>
<div class="govuk-panel govuk-panel--confirmation" id="done" hidden>
<h1 class="govuk-panel__title">{success}</h1></div>
</main></div>
<script>
document.getElementById('flow').addEventListener('submit', function (event) {{
  event.preventDefault();
  const data = new FormData(document.getElementById('flow'));
  if ({check}) document.getElementById('done').hidden = false;
}});
</script>
</body></html>
"""


def miniwob_script(seed: int) -> str:
    """Start the episode at `seed` on load (as `start_episode` does from outside), then,
    once it has scored, say whether it was solved."""
    return (
        "<script>(function(){"
        "function start(){if(!(window.core&&core.cover_div)){return setTimeout(start,10);}"
        "if(window.__benchReady!==undefined){return;}"
        f"Math.seedrandom({int(seed)});core.EPISODE_MAX_TIME=1e9;core.startEpisodeReal();"
        "window.scrollTo(0,0);window.__benchReady=true;"
        "if(window.__benchOnReady){window.__benchOnReady();}watch();}"
        "function watch(){if(!WOB_DONE_GLOBAL){return setTimeout(watch,20);}"
        "const p=document.createElement('p');p.id='bench-result';"
        "p.style.cssText='position:absolute;left:8px;top:240px;font:16px sans-serif;margin:0';"
        f"p.textContent=WOB_RAW_REWARD_GLOBAL>0?{json.dumps(MINIWOB_SOLVED)}:'Task failed';"
        "document.body.appendChild(p);}"
        "if(document.readyState==='complete'){start();}"
        "else{window.addEventListener('load',start);}})();</script>"
    )
