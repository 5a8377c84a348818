"""Replay on real screens: every action that ran is replayed after an answered CallUser
(issue 14 item 16), and a desktop run replays on the region it recorded (item 17)."""

from __future__ import annotations

from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.replay import replay_run
from pixelpilot.agent.trajectory import paired, read_trajectory
from pixelpilot.environments import open_browser
from pixelpilot.vlm import load_backend
from tests.integration.browser_fixtures import pages_url  # noqa: F401 (a fixture)
from tests.integration.desktop_fixtures import tk_app, xvfb_display  # noqa: F401


def test_actions_after_an_answered_call_user_are_replayed(pages_url, tmp_path) -> None:  # noqa: F811
    """The reply asks the user, then presses Tab (into the name field) and types: the
    call_user has no result, so zipping actions with results gave the Tab's result to
    the call_user and none to the typing, which was never replayed."""
    replies = ["Thought: which name?\nAction: call_user()\n\nhotkey(key='tab')\n\n"
               "type(content='Ada Lovelace')", "Action: finished(content='done')"]  # fmt: skip
    with open_browser(f"{pages_url}/form.html") as env:
        agent = Agent(load_backend("scripted", replies=replies), env, dialect="uitars",
                      config=AgentConfig(record=tmp_path, video=False, report=False),
                      on_call_user=lambda question: "Ada Lovelace")  # fmt: skip
        result = agent.run("Type the name the user gives")
        assert result.status == "success" and env.page.input_value("#name") == "Ada Lovelace"
    step = read_trajectory(result.trajectory_dir)["steps"][0]
    ran = [(a["screenshot"]["action"], r["ok"]) for a, _, r in paired(step) if r is not None]
    assert ran == [("key", True), ("type", True)]
    report = replay_run(result.trajectory_dir, origin=pages_url)
    assert report.replayed_actions == 2, report.lines
    assert report.matches, report.lines  # step 2's screen shows the typed name again


def test_a_desktop_run_replays_on_the_region_it_recorded(
    tk_app,  # noqa: F811
    xvfb_display,  # noqa: F811
    tmp_path,
    monkeypatch,
) -> None:
    """Recorded on a 400x300 region at (300, 250) inside a Tk window: the replay looks at
    that region again (same size, same pixels), not at monitor 1 from (0, 0)."""
    from pixelpilot.environments.desktop import DesktopEnvironment

    tk_app("680x590+100+100")
    monkeypatch.setenv("DISPLAY", xvfb_display)
    with DesktopEnvironment(xvfb_display, monitor=(300, 250, 400, 300)) as env:
        agent = Agent(load_backend("scripted", replies=["Action: finished(content='seen')"]),
                      env, dialect="uitars",
                      config=AgentConfig(record=tmp_path, video=False, report=False))  # fmt: skip
        result = agent.run("Look")
    (step,) = read_trajectory(result.trajectory_dir)["steps"]
    assert step["frame"]["origin"] == [300.0, 250.0] and step["frame"]["width"] == 400
    report = replay_run(result.trajectory_dir)
    assert report.matches, report.lines
