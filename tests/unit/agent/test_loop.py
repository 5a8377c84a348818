"""The agent loop against the fake environment and the scripted backend."""

from __future__ import annotations

import html
import json
from urllib.parse import quote, quote_plus

import pytest
from PIL import Image

from pixelpilot.agent.batch import run_batch
from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Policy
from pixelpilot.agent.trajectory import read_trajectory
from pixelpilot.environments import ControllerError, ElementInfo, FakeEnvironment
from pixelpilot.tools import Key, Navigate, Type
from pixelpilot.vlm import load_backend, visual_tokens

CLICK = "Thought: click it\nAction: click(start_box='<|box_start|>(500,500)<|box_end|>')"
DONE = "Thought: done\nAction: finished(content='42')"


def screens(n: int = 3) -> list[Image.Image]:
    return [Image.new("RGB", (1280, 720), (40 * i, 0, 0)) for i in range(n)]


def agent_for(
    replies, tmp_path, env=None, dialect="uitars", **options
) -> tuple[Agent, object, FakeEnvironment]:
    backend = load_backend("scripted", replies=replies)
    env = env or FakeEnvironment(screens())
    config = AgentConfig(record=tmp_path, video=False, report=False, **options.pop("config", {}))
    return Agent(backend, env, dialect=dialect, config=config, **options), backend, env


def texts(conversation) -> str:
    return json.dumps(
        [p.get("text", "") for m in conversation for p in m["content"]], ensure_ascii=False
    )


def test_finish_ends_the_run_and_everything_is_on_disk(tmp_path) -> None:
    agent, _, env = agent_for([CLICK, DONE], tmp_path)
    result = agent.run("Find the answer")
    assert (result.status, result.answer, result.steps) == ("success", "42", 2)
    assert len(env.actions) == 1 and env.actions[0].point.x == 640  # screen units, 500/1000*1280
    run = read_trajectory(result.trajectory_dir)
    assert run["header"]["task"] == "Find the answer" and run["header"]["schema"] == 1
    assert [s["step"] for s in run["steps"]] == [0, 1]
    assert run["end"]["status"] == "success"
    assert (result.trajectory_dir / "step-000.png").exists()
    assert run["steps"][0]["actions"][0]["screenshot"]["point"] == {
        "x": 640.0,
        "y": 360.0,
        "space": "screenshot_px",
    }


def test_stream_yields_typed_steps(tmp_path) -> None:
    agent, _, _ = agent_for([CLICK, DONE], tmp_path)
    steps = list(agent.stream("task"))
    assert [s.index for s in steps] == [0, 1]
    assert steps[0].results[0].ok and steps[0].decisions[0].verdict == "allow"
    assert steps[1].status == "success"


def test_model_time_is_the_time_the_backend_took(tmp_path) -> None:
    """A backend that thinks for 0.3 s: the step's model_s covers it, and the parts of
    the step (observe, model, act, record) add up to its total."""
    import time

    replies = iter([CLICK, DONE])

    def slow(conversation) -> str:
        time.sleep(0.3)
        return next(replies)

    agent, _, _ = agent_for(slow, tmp_path)
    steps = list(agent.stream("task"))
    for step in steps:
        t = step.timings
        assert t["model_s"] >= 0.3, t
        parts = t["observe_s"] + t["model_s"] + t["act_s"] + t["record_s"]
        assert parts <= t["total_s"] + 1e-6 and t["model_s"] < t["total_s"], t
        environment = t["observe_s"] + sum(r.timings.total_s for r in step.results)
        assert t["overhead_s"] == pytest.approx(t["total_s"] - t["model_s"] - environment)


def test_parse_errors_go_back_to_the_model_then_give_up(tmp_path) -> None:
    agent, backend, _ = agent_for(["I am thinking", CLICK, DONE], tmp_path)
    assert agent.run("task").status == "success"
    assert "could not be used" in texts(backend.requests[1]) and "No action found" in texts(
        backend.requests[1]
    )
    agent, _, _ = agent_for(["nonsense"] * 10, tmp_path)
    result = agent.run("task")
    assert result.status == "failure" and "3 unusable steps" in result.reason


def test_max_steps(tmp_path) -> None:
    agent, _, _ = agent_for([CLICK] * 10, tmp_path, config={"max_steps": 4})
    assert agent.run("task").status == "max_steps"


def test_the_prompt_stops_growing(tmp_path) -> None:
    """With K images and T text turns kept, step 50's prompt is as big as step K+T+1's."""
    sizes = []

    def reply(conversation) -> str:
        images = sum(1 for m in conversation for p in m["content"] if p["type"] == "image")
        sizes.append((len(texts(conversation)), images))
        return CLICK

    backend = load_backend("scripted", replies=reply)
    config = AgentConfig(record=None, max_steps=50, history_images=3, history_text=4)
    Agent(backend, FakeEnvironment(screens()), dialect="uitars", config=config).run("task")
    assert len(sizes) == 50
    assert sizes[49] == sizes[3 + 4] and sizes[49][1] == 4  # 3 past screenshots + the current
    assert sizes[3 + 4 - 1] < sizes[3 + 4]  # it did grow until then


def test_visual_token_budget_shrinks_older_screenshots_first(tmp_path) -> None:
    seen = []
    backend = load_backend("scripted", replies=lambda c: seen.append(c) or CLICK)
    config = AgentConfig(record=None, max_steps=5, history_images=3, max_visual_tokens=3000)
    Agent(backend, FakeEnvironment([Image.new("RGB", (1280, 720))]), config=config).run("task")
    last = [p["image"].size for m in seen[-1] for p in m["content"] if p["type"] == "image"]
    assert last[-1] == (1280, 720)  # the current screenshot is always sent in full
    # 1196 tokens each: the newest past screenshot still fits whole, the one before only
    # shrunk, the oldest of the three not at all
    assert len(last) == 3 and last[1] == (1280, 720) and last[0][0] * last[0][1] < 1280 * 720
    assert sum(visual_tokens(w, h) for w, h in last) <= 3000


def test_secrets_reach_the_screen_only(tmp_path) -> None:
    # the fake, like the desktop, cannot say which field has the focus: typing a secret
    # there asks first; approved, the value reaches the controller and nothing else
    reply = "Action: type(content='{{password}}\\n')\n\nfinished()"
    asked = []
    policy = Policy(approve=lambda action, reason: asked.append((action, reason)) or True)
    agent, backend, env = agent_for(
        [reply], tmp_path, secrets={"password": "hunter2-s3cret"}, policy=policy
    )
    result = agent.run("Log in with the password {{password}}")
    assert env.actions[0] == Type(text="hunter2-s3cret", submit=True)
    assert [(a.text, "secret" in r) for a, r in asked] == [("{{password}}", True)]
    assert "hunter2" not in json.dumps([texts(r) for r in backend.requests])
    record = (result.trajectory_dir / "trajectory.jsonl").read_text()
    assert "hunter2" not in record and record.count("{{password}}") >= 2  # task and action
    # refused without an approver: the model hears why, the controller gets nothing
    agent, _, env = agent_for([reply], tmp_path, secrets={"password": "hunter2-s3cret"})
    (step, *_) = list(agent.stream("Log in"))
    assert env.actions == [] and "did not approve" in step.feedback


def test_policy_decisions() -> None:
    policy = Policy(allow_domains=("example.com",))
    assert policy.check(Navigate(url="https://evil.test/")).verdict == "deny"
    assert policy.check(Navigate(url="https://docs.example.com/a")).verdict == "allow"
    password = ElementInfo(tag="input", input_type="password")
    assert policy.check(Type(text="x"), password).verdict == "ask"
    assert policy.resolve(Type(text="x"), policy.check(Type(text="x"), password)).verdict == "deny"
    approving = Policy(approve=lambda action, reason: "password" in reason)
    assert (
        approving.resolve(Type(text="x"), approving.check(Type(text="x"), password)).verdict
        == "allow"
    )
    assert (
        policy.check(Type(text="x"), ElementInfo(tag="input", input_type="text")).verdict == "allow"
    )
    chords = Policy(sensitive=frozenset({"chords", "submit"}))
    assert chords.check(Key(keys=("ctrl", "w"))).verdict == "ask"
    assert chords.check(Type(text="q", submit=True)).verdict == "ask"
    assert chords.check(Key(keys=("ctrl", "c"))).verdict == "allow"


def test_refused_navigation_is_fed_back_and_nothing_runs(tmp_path) -> None:
    policy = Policy(allow_domains=("example.com",))
    done = 'Action: FINISH "ok"'
    agent, backend, env = agent_for(
        ["Action: NAVIGATE https://evil.test/", done], tmp_path, dialect="qwen2vl", policy=policy
    )
    assert agent.run("task").status == "success"
    assert env.actions == []
    assert "refused" in texts(backend.requests[1]) and "evil.test" in texts(backend.requests[1])


def test_several_actions_stop_at_the_first_failure(tmp_path) -> None:
    reply = ("Action: click(start_box='(100,100)')\n\nhotkey(key='ctrl c')\n\n"
             "click(start_box='(200,200)')")  # fmt: skip
    env = FakeEnvironment(
        screens(), fail=lambda a: "no clipboard here" if a.action == "key" else None
    )
    agent, backend, env = agent_for([reply, DONE], tmp_path, env=env)
    agent.run("task")
    assert [a.action for a in env.actions] == ["click"]  # the third action never ran
    assert "Action 2 failed: no clipboard here" in texts(backend.requests[1])


def test_call_user_with_and_without_a_callback(tmp_path) -> None:
    ask = "Thought: What is the code?\nAction: call_user()"
    agent, _, _ = agent_for([ask], tmp_path)
    result = agent.run("task")
    assert result.status == "needs_user" and "code" in result.reason
    agent, backend, _ = agent_for([ask, DONE], tmp_path, on_call_user=lambda q: "1234")
    assert agent.run("task").status == "success"
    assert "The user answered: 1234" in texts(backend.requests[1])


def test_stop_signal_and_ctrl_c_end_cleanly(tmp_path) -> None:
    calls = []
    agent, _, _ = agent_for(
        [CLICK] * 10, tmp_path, should_stop=lambda: len(calls.append(1) or calls) > 2
    )
    result = agent.run("task")
    assert result.status == "stopped" and result.steps == 2

    def interrupt(conversation):
        raise KeyboardInterrupt

    agent = Agent(load_backend("scripted", replies=interrupt), FakeEnvironment(screens()),
                  config=AgentConfig(record=tmp_path, video=False, report=False))  # fmt: skip
    result = agent.run("task")
    assert result.status == "stopped"
    assert read_trajectory(result.trajectory_dir)["end"]["status"] == "stopped"


def test_a_broken_controller_ends_the_run_as_an_error(tmp_path) -> None:
    class Dying(FakeEnvironment):
        def observe(self):
            if self.step >= 1:
                raise ControllerError("the browser is gone")
            return super().observe()

    agent, _, _ = agent_for([CLICK] * 5, tmp_path, env=Dying(screens()))
    result = agent.run("task")
    assert result.status == "error" and "browser is gone" in result.reason
    run = read_trajectory(result.trajectory_dir)
    assert len(run["steps"]) == 1 and run["end"]["status"] == "error"


def test_run_batch_makes_one_model_call_per_round(tmp_path) -> None:
    batches = []
    backend = load_backend("scripted", replies=lambda c: CLICK if len(batches) < 4 else DONE)
    original = backend.generate
    backend.generate = lambda convs, params=None: (
        batches.append(len(convs)) or original(convs, params)
    )
    config = AgentConfig(record=None, max_steps=3)
    agents = [
        Agent(backend, FakeEnvironment(screens()), dialect="uitars", config=config)
        for _ in range(2)
    ]
    results = run_batch(agents, ["a", "b"])
    assert [r.status for r in results] == ["max_steps", "max_steps"]
    assert batches == [2, 2, 2]


def test_secrets_never_leak_through_errors_answers_or_the_task(tmp_path) -> None:
    secret = "hunter2 s3cret&"
    encodings = [secret, quote(secret), quote_plus(secret), html.escape(secret), "hunter2 s3cret&"]

    class Leaky(FakeEnvironment):
        def _perform(self, action):
            if action.action == "type":
                raise ControllerError(f"the browser died typing {quote_plus(action.text)}")
            return super()._perform(action)

    ask = "Thought: need the code\nAction: call_user()"
    typing = "Action: type(content='{{password}}')"
    agent, backend, _ = agent_for([ask, typing], tmp_path, env=Leaky(screens()),
                                  policy=Policy(approve=lambda a, r: True),
                                  secrets={"password": secret},
                                  on_call_user=lambda q: f"it is {html.escape(secret)}")  # fmt: skip
    result = agent.run(f"Log in; the password is {secret}")
    assert result.status == "error" and "{{password}}" in result.reason
    assert not any(e in result.reason for e in encodings), result.reason
    sent = json.dumps([texts(r) for r in backend.requests], ensure_ascii=False)
    assert "{{password}}" in sent and not any(e in sent for e in encodings)  # task, answer
    assert not any(e in result.trajectory_dir.name for e in encodings)
    record = (result.trajectory_dir / "trajectory.jsonl").read_text()
    assert "it is {{password}}" in record and not any(e in record for e in encodings)
    finishing, _, _ = agent_for([f"Action: finished(content='done with {secret}')"], tmp_path,
                                secrets={"password": secret})  # fmt: skip
    assert finishing.run("task").answer == "done with {{password}}"


def test_a_controller_dying_mid_reply_still_records_what_ran(tmp_path) -> None:
    class DiesOnKeys(FakeEnvironment):
        def _perform(self, action):
            if action.action == "key":
                raise ControllerError("display gone")
            return super()._perform(action)

    reply = "Action: click(start_box='(100,100)')\n\nhotkey(key='ctrl c')"
    agent, _, _ = agent_for([reply], tmp_path, env=DiesOnKeys(screens()))
    result = agent.run("task")
    assert result.status == "error" and result.steps == 1
    (step,) = read_trajectory(result.trajectory_dir)["steps"]
    assert step["completion"]["text"] == reply and [r["ok"] for r in step["results"]] == [True]


def test_an_unexpected_exception_is_recorded_as_an_error_and_raised(tmp_path) -> None:
    def broken(conversation):
        raise RuntimeError("a bug")

    agent = Agent(load_backend("scripted", replies=broken), FakeEnvironment(screens()),
                  config=AgentConfig(record=tmp_path, video=False, report=False))  # fmt: skip
    with pytest.raises(RuntimeError):
        agent.run("task")
    assert agent.result.status == "error" and "RuntimeError" in agent.result.reason
    assert read_trajectory(agent.result.trajectory_dir)["end"]["status"] == "error"


def test_actions_after_an_answered_call_user_still_run(tmp_path) -> None:
    reply = "Thought: which one?\nAction: call_user()\n\nclick(start_box='(100,100)')"
    agent, _, env = agent_for([reply, DONE], tmp_path, on_call_user=lambda q: "the first")
    assert agent.run("task").status == "success"
    assert [a.action for a in env.actions] == ["click"]


def test_run_batch_isolates_a_broken_environment(tmp_path) -> None:
    class Dying(FakeEnvironment):
        def observe(self):
            raise ControllerError("gone")

    backend = load_backend("scripted", replies=lambda c: CLICK)
    config = AgentConfig(record=tmp_path, max_steps=2, video=False, report=False)
    agents = [
        Agent(backend, env, dialect="uitars", config=config)
        for env in (Dying(screens()), FakeEnvironment(screens()))
    ]
    results = run_batch(agents, ["a", "b"])
    assert [r.status for r in results] == ["error", "max_steps"]
    assert all(read_trajectory(r.trajectory_dir)["end"] for r in results)
    with pytest.raises(ValueError, match="share one backend"):
        run_batch(
            [agents[0], Agent(load_backend("scripted", replies=[]), FakeEnvironment(screens()))],
            ["a", "b"],
        )


def tool_call(**arguments) -> str:
    """A Qwen2.5-VL computer_use call."""
    call = {"name": "computer_use", "arguments": arguments}
    return f"<tool_call>{json.dumps(call)}</tool_call>"


class Sleeping(FakeEnvironment):
    """A fake screen whose Wait really waits, as the browser and desktop controllers do."""

    def _perform(self, action):
        if action.action == "wait":
            import time

            time.sleep(action.seconds)
        return super()._perform(action)


def test_the_time_limit_bounds_a_long_wait_and_the_actions_after_it(tmp_path) -> None:
    """The model asks for 600 s then a click; with max_seconds=2 the wait is cut to the
    time left, the click (planned for after the wait) never runs, the run stops."""
    import time

    wait = tool_call(action="wait", time=600)
    click = tool_call(action="left_click", coordinate=[10, 10])
    env = Sleeping(screens())
    agent, _, _ = agent_for([f"{wait}\n{click}"] * 3, tmp_path, env=env, dialect="qwen25vl",
                            config={"max_seconds": 2})  # fmt: skip
    start = time.monotonic()
    result = agent.run("task")
    elapsed = time.monotonic() - start
    assert result.status == "stopped" and "max_seconds=2" in result.reason
    assert elapsed < 60, elapsed  # not 600: far below the asked wait, whatever the load
    assert [a.action for a in env.actions] == ["wait"] and env.actions[0].seconds <= 2
    (step,) = read_trajectory(result.trajectory_dir)["steps"]
    assert step["actions"][0]["screenshot"]["seconds"] == 600  # what the model asked for
    assert step["results"][0]["screen_action"]["seconds"] <= 2  # what ran
    assert len(step["decisions"]) == 1  # the click was never reached


def test_a_wait_within_the_time_limit_is_left_alone(tmp_path) -> None:
    wait = tool_call(action="wait", time=0.2)
    env = Sleeping(screens())
    agent, _, _ = agent_for([wait], tmp_path, env=env, dialect="qwen25vl",
                            config={"max_seconds": 60, "max_steps": 1})  # fmt: skip
    agent.run("task")
    assert [a.seconds for a in env.actions] == [0.2]


def test_run_batch_isolates_a_failure_to_observe_of_any_kind(tmp_path) -> None:
    """An ActionFailed (or a bug) from one environment's observe() ends that run only."""
    from pixelpilot.environments import ActionFailed

    class Refusing(FakeEnvironment):
        def observe(self):
            if self.step >= 1:
                raise ActionFailed("the page refused to be looked at")
            return super().observe()

    class Buggy(FakeEnvironment):
        def observe(self):
            raise KeyError("a bug in a controller")

    backend = load_backend("scripted", replies=lambda c: CLICK)
    config = AgentConfig(record=tmp_path, max_steps=3, video=False, report=False)
    envs = (Refusing(screens()), Buggy(screens()), FakeEnvironment(screens()))
    agents = [Agent(backend, env, dialect="uitars", config=config) for env in envs]
    results = run_batch(agents, ["a", "b", "c"])
    assert [r.status for r in results] == ["error", "error", "max_steps"]
    assert "refused to be looked at" in results[0].reason and results[0].steps == 1
    assert "KeyError" in results[1].reason
    assert [r.error_kind for r in results] == ["controller", "internal", None]
    assert len(envs[2].actions) == 3
    assert all(read_trajectory(r.trajectory_dir)["end"] for r in results)
