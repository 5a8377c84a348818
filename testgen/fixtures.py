"""The fixtures of pixelpilot's pytest plugin, registered by `plugin.pytest_configure`
after every entry-point plugin has loaded, so that `browser_type_launch_args` extends
pytest-playwright's own (a fixture asking for its own name gets the one it overrides).

`pilot`: the `Healer` a generated test drives; `browser_type_launch_args`: the system
Chromium where Playwright's own is not installed (no `playwright install` needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pixelpilot.testgen import plugin


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], browser_type: Any
) -> dict[str, Any]:
    """pytest-playwright's launch arguments, plus the system Chromium when Playwright's
    own is not installed (a generated test needs no `playwright install`)."""
    args = dict(browser_type_launch_args)
    own = Path(browser_type.executable_path)
    if browser_type.name == "chromium" and not own.exists() and "channel" not in args:
        from pixelpilot.environments.browser import CHROMIUM_ARGS, find_chromium

        args.setdefault("executable_path", find_chromium())
        args["args"] = [*args.get("args", []), *CHROMIUM_ARGS]
    return args


@pytest.fixture
def pilot(page: Any, request: pytest.FixtureRequest) -> Any:
    """A `Healer` over pytest-playwright's `page` for the generated test asking."""
    from pixelpilot.testgen.healer import DEFAULT_LOCATOR_TIMEOUT, Healer

    config = request.config
    state = plugin.state(config)
    base = (config.getoption("--base-url", default=None)
            or getattr(request.module, "RECORDED_ORIGIN", None))  # fmt: skip
    name = getattr(request.node, "originalname", None) or request.node.name
    output = Path(config.getoption("--output", default="test-results") or "test-results")

    def on_heal(record: Any) -> None:
        state.healed.append((request.node.nodeid, record))
        where = f"{record.step}{' (destination)' if record.to else ''}"
        request.node.warn(plugin.HealWarning(
            f"step {where} ({record.description}) healed by the {record.tier} tier: "
            "its locator no longer finds it"
        ))  # fmt: skip

    healer = Healer(
        page, crops=request.path.parent / "__pixelpilot__" / name, base_url=base,
        heal=plugin.option(config, "heal", "on"),  # type: ignore[arg-type]
        locator_timeout=float(plugin.option(config, "locator-timeout") or DEFAULT_LOCATOR_TIMEOUT),
        screenshots=output.absolute() / "pixelpilot", test=name,
        model=plugin.model_tier(config), on_heal=on_heal,
    )  # fmt: skip
    request.node.stash[plugin.HEALER] = healer
    return healer
