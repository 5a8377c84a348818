"""Secrets in real headless Chromium: masked pixels, hosts, no password read, the gate.

The agent runs with scripted replies (the qwen2vl grammar: coordinates in [0, 1000)) on
tests/fixtures/pages/secret_form.html; everything after the model is real. Pixel checks
compare pixels, never file bytes: a PNG or MP4 compresses what it shows, so searching its
bytes for the secret's text could never find it. The secret's own rendering comes from a
control run that types the same characters as plain text (no secret), through the same
pipeline: its step PNGs and MP4 frames must show the rendering (the detector works), the
secret run's must not.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelpilot.agent.loop import Agent, AgentConfig
from pixelpilot.agent.policy import Policy
from pixelpilot.agent.replay import replay_run
from pixelpilot.agent.secrets import Secrets
from pixelpilot.agent.trajectory import read_trajectory
from pixelpilot.environments import open_browser
from pixelpilot.environments._secret_fields import MASK_RGB
from pixelpilot.vlm import load_backend
from tests.integration.browser_fixtures import browser, pages_url
from tests.integration.desktop_fixtures import tk_app, xvfb_display

__all__ = ["browser", "pages_url", "tk_app", "xvfb_display"]

SECRET = "Zq7-XW93-KP41"
VIEWPORT = (1280, 720)


def norm(env, selector: str, frame: str | None = None) -> str:
    """A qwen2vl point (x,y) in [0, 1000) at the centre of `selector` (CSS = screenshot px)."""
    where = env.page.frame_locator(frame) if frame else env.page
    box = where.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return f"<|box_start|>({x / VIEWPORT[0] * 1000:.1f},{y / VIEWPORT[1] * 1000:.1f})<|box_end|>"


def click(env, selector: str, frame: str | None = None) -> str:
    return f"Action: CLICK {norm(env, selector, frame)}"


def field_box(env, selector: str) -> tuple[int, int, int, int]:
    box = env.page.locator(selector).bounding_box()
    return (round(box["x"]), round(box["y"]),
            round(box["x"] + box["width"]), round(box["y"] + box["height"]))  # fmt: skip


def agent_on(env, replies, tmp_path: Path, **options) -> tuple[Agent, object]:
    backend = load_backend("scripted", replies=replies)
    config = AgentConfig(record=tmp_path, max_steps=len(replies), video=True, report=True)
    config = config.model_copy(update=options.pop("config", {}))
    return Agent(backend, env, dialect="qwen2vl", config=config, **options), backend


def best_match(image: np.ndarray, patch: np.ndarray) -> float:
    """The highest normalised cross-correlation of `patch` anywhere in `image` (both
    greyscale): 1.0 where the patch appears as is; flat regions (a mask) score 0."""
    image, patch = image.astype(np.float64), patch.astype(np.float64)
    ph, pw = patch.shape
    t = patch - patch.mean()
    shape = (image.shape[0] + ph, image.shape[1] + pw)
    corr = np.fft.irfft2(np.fft.rfft2(image, shape) * np.fft.rfft2(t[::-1, ::-1], shape), shape)
    corr = corr[ph - 1 : image.shape[0], pw - 1 : image.shape[1]]
    integral = np.pad(image, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    squares = np.pad(image**2, ((1, 0), (1, 0))).cumsum(0).cumsum(1)

    def window(table: np.ndarray) -> np.ndarray:
        return table[ph:, pw:] - table[:-ph, pw:] - table[ph:, :-pw] + table[:-ph, :-pw]

    variance = window(squares) - window(integral) ** 2 / (ph * pw)
    denominator = np.sqrt(np.clip(variance, 0, None)) * np.sqrt((t**2).sum())
    score = np.where(denominator > 1e-3 * (ph * pw), corr / np.maximum(denominator, 1e-9), 0.0)
    return float(score.max())


def grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"))


def text_patch(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    """The dark glyph pixels inside a field's box, cropped tight: how the secret looks."""
    x1, y1, x2, y2 = box
    inner = grey(image)[y1 + 4 : y2 - 4, x1 + 4 : x2 - 4]
    ys, xs = np.nonzero(inner < 128)
    assert len(xs) > 50, "the control field shows no text"
    return inner[ys.min() - 1 : ys.max() + 2, xs.min() - 1 : xs.max() + 2]


def mp4_frames(path: Path) -> list[Image.Image]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def report_images(path: Path) -> list[Image.Image]:
    data = re.findall(r'src="data:image/(?:jpeg|png);base64,([^"]+)"', path.read_text())
    return [Image.open(io.BytesIO(base64.b64decode(d))).convert("RGB") for d in data]


def sign_in_replies(env, text: str) -> list[str]:
    """Click the token field, type `text`, click the user field, type, finish: the token
    field is on screen, filled, for the three steps after the typing."""
    return [
        click(env, "#token"),
        f'Action: TYPE "{text}"',
        click(env, "#user"),
        'Action: TYPE "ada"',
        'Action: FINISH "done"',
    ]


def test_a_secret_in_a_plain_field_is_masked_in_every_image(pages_url, tmp_path) -> None:
    url = f"{pages_url}/secret_form.html"
    with open_browser(url, viewport=VIEWPORT) as env:  # the control: the same text, no secret
        box = field_box(env, "#token")
        control, _ = agent_on(env, sign_in_replies(env, SECRET), tmp_path / "control")
        control_dir = control.run("Sign in").trajectory_dir
    with open_browser(url, viewport=VIEWPORT) as env:
        agent, backend = agent_on(env, sign_in_replies(env, "{{token}}"), tmp_path / "secret",
                                  secrets={"token": SECRET})  # fmt: skip
        result = agent.run("Sign in with the token {{token}}")
        assert result.status == "success", result
        assert env.page.input_value("#token") == SECRET  # the page got the value
    patch = text_patch(Image.open(control_dir / "step-002.png"), box)
    control_pngs = [Image.open(control_dir / f"step-{i:03d}.png") for i in (2, 3, 4)]
    assert min(best_match(grey(i), patch) for i in control_pngs) > 0.95  # caret, focus ring
    control_video = mp4_frames(control_dir / "run.mp4")
    assert max(best_match(grey(f), patch) for f in control_video) > 0.9  # visible through x264

    run_dir = result.trajectory_dir
    steps = read_trajectory(run_dir)["steps"]
    x1, y1, x2, y2 = box
    for step in steps:
        image = np.asarray(Image.open(run_dir / step["screenshot"]).convert("RGB"))
        inside = image[y1:y2, x1:x2].reshape(-1, 3)
        if step["step"] >= 2:  # typed at step 1: from the next screenshot on, masked
            assert (inside == MASK_RGB).all(), f"step {step['step']}: the field shows through"
        else:  # empty before: nothing to hide, nothing hidden
            assert not (inside == MASK_RGB).all(axis=1).any()
        assert best_match(grey(Image.fromarray(image)), patch) < 0.6, step["step"]
    model_images = [p["image"] for m in backend.requests[-1] for p in m["content"]
                    if p["type"] == "image"]  # fmt: skip
    assert model_images and (np.asarray(model_images[-1])[y1:y2, x1:x2] == MASK_RGB).all()
    for image in [*model_images, *mp4_frames(run_dir / "run.mp4"),
                  *report_images(run_dir / "report.html")]:  # fmt: skip
        assert best_match(grey(image), patch) < 0.6
    assert len(report_images(run_dir / "report.html")) >= len(steps)


def test_the_mask_follows_a_field_in_a_same_origin_frame_and_lifts_when_emptied(
    pages_url, tmp_path
) -> None:
    with open_browser(f"{pages_url}/secret_frame.html", viewport=VIEWPORT) as env:
        env.page.frame_locator("#frame").locator("#token").wait_for()
        inner = env.page.frame_locator("#frame").locator("#token").bounding_box()
        replies = [click(env, "#token", "#frame"), 'Action: TYPE "{{token}}"',
                   "Action: PRESS ctrl+a", "Action: PRESS backspace", 'Action: FINISH ""']  # fmt: skip
        agent, _ = agent_on(env, replies, tmp_path, secrets={"token": SECRET},
                            config={"video": False, "report": False})  # fmt: skip
        assert agent.run("type it").status == "success"
    run_dir = sorted(tmp_path.iterdir())[-1]
    x1, y1 = round(inner["x"]), round(inner["y"])
    x2, y2 = round(inner["x"] + inner["width"]), round(inner["y"] + inner["height"])
    masked = [
        (np.asarray(Image.open(run_dir / f"step-{i:03d}.png"))[y1:y2, x1:x2] == MASK_RGB)
        .all(axis=-1)
        .mean()
        for i in range(5)
    ]
    assert masked[2] == 1.0 and masked[3] == 1.0  # typed, then selected: still shown
    assert masked[0] == 0.0 and masked[4] == 0.0  # before, and once emptied: no mask


def test_a_secret_never_goes_into_a_url_or_to_another_host(pages_url, tmp_path) -> None:
    other = pages_url.replace("127.0.0.1", "localhost")  # the same server, another host
    with open_browser(f"{pages_url}/secret_form.html", viewport=VIEWPORT) as env:
        replies = [f"Action: NAVIGATE {other}/secret_form.html?q={{{{token}}}}",
                   f"Action: NAVIGATE {other}/secret_form.html", click(env, "#token"),
                   'Action: TYPE "{{token}}"', 'Action: FINISH ""']  # fmt: skip
        agent, _ = agent_on(env, replies, tmp_path, secrets={"token": SECRET},
                            config={"video": False, "report": False})  # fmt: skip
        steps = list(agent.stream("sign in"))
        assert env.page.url == f"{other}/secret_form.html"  # the second Navigate ran
        assert env.page.input_value("#token") == ""
    assert (
        steps[0].decisions[0].verdict == "deny" and "never put into addresses" in steps[0].feedback
    )
    assert steps[3].decisions[0].verdict == "deny"
    assert "localhost" in steps[3].feedback and "does not belong" in steps[3].feedback
    record = (sorted(tmp_path.iterdir())[-1] / "trajectory.jsonl").read_text()
    assert SECRET not in record and "{{token}}" in record


def test_a_secret_bound_to_hosts_types_there_and_not_in_a_frame_from_elsewhere(
    pages_url, tmp_path
) -> None:
    other = pages_url.replace("127.0.0.1", "localhost")
    port = pages_url.rsplit(":", 1)[1]
    secrets = Secrets.from_specs([f"token=TOKEN@127.0.0.1:{port},localhost:{port}"],
                                 environ={"TOKEN": SECRET})  # fmt: skip
    frame_url = f"{pages_url}/secret_frame.html?src={other}/secret_form.html"
    with open_browser(f"{other}/secret_form.html", viewport=VIEWPORT) as probe:
        token = click(probe, "#token")  # where the field is once the form is the page
    with open_browser(frame_url, viewport=VIEWPORT) as env:
        env.page.frame_locator("#frame").locator("#token").wait_for()
        replies = [click(env, "#token", "#frame"), 'Action: TYPE "{{token}}"',
                   f"Action: NAVIGATE {other}/secret_form.html", token,
                   'Action: TYPE "{{token}}"', 'Action: FINISH ""']  # fmt: skip
        agent, _ = agent_on(env, replies, tmp_path, secrets=secrets,
                            config={"video": False, "report": False})  # fmt: skip
        steps = list(agent.stream("sign in"))
        assert env.page.input_value("#token") == SECRET  # bound: typed on localhost
    # the frame's document is out of reach (another origin): its host cannot be checked
    assert steps[1].decisions[0].verdict == "deny" and "cannot be checked" in steps[1].feedback
    assert steps[4].decisions[0].verdict == "allow"


@pytest.mark.parametrize("how", ["label", "tab"])
def test_typing_into_a_password_field_asks_whatever_moved_the_focus(
    pages_url, tmp_path, how
) -> None:
    asked: list[str] = []
    policy = Policy(approve=lambda action, reason: asked.append(reason) or False)
    with open_browser(f"{pages_url}/secret_form.html", viewport=VIEWPORT) as env:
        focus = (
            [click(env, "#pw-label")]
            if how == "label"
            else [click(env, "#user"), "Action: PRESS tab"]
        )
        replies = [*focus, 'Action: TYPE "{{pw}}"', 'Action: TYPE "plain"', 'Action: FINISH ""']
        agent, _ = agent_on(env, replies, tmp_path, policy=policy, secrets={"pw": SECRET},
                            config={"video": False, "report": False})  # fmt: skip
        steps = list(agent.stream("sign in"))
        assert env.page.evaluate("document.activeElement.id") == "pw"
        assert env.page.input_value("#pw") == ""  # refused both times: nothing typed
    typed = steps[len(focus) :]
    assert [s.decisions[0].verdict for s in typed[:2]] == ["deny", "deny"]
    assert asked == ["type into a password field"] * 2


def test_the_page_script_never_reads_a_password_or_a_secret_field(pages_url, tmp_path) -> None:
    with open_browser(f"{pages_url}/secret_form.html", viewport=VIEWPORT) as env:
        env.page.fill("#pw", "typed-by-the-page")
        env.page.evaluate("""() => {  // a page that counts every read of a password's value
            const get = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').get;
            Object.defineProperty(HTMLInputElement.prototype, 'value', {get() {
                if (this.type === 'password') window.passwordReads = (window.passwordReads || 0) + 1;
                return get.call(this);
            }});
        }""")
        replies = [click(env, "#pw"), click(env, "#token"), 'Action: TYPE "{{token}}"',
                   click(env, "#token"), 'Action: FINISH ""']  # fmt: skip
        agent, _ = agent_on(env, replies, tmp_path, secrets={"token": SECRET},
                            config={"video": False, "report": False})  # fmt: skip
        steps = list(agent.stream("look"))
        assert (steps[0].results[0].element.input_type, steps[0].results[0].element.text) == (
            "password", None)  # fmt: skip
        assert steps[3].results[0].element.name == "API token"
        assert steps[3].results[0].element.text is None  # marked: its value is not read
        assert env.page.evaluate("window.passwordReads || 0") == 0
    record = (sorted(tmp_path.iterdir())[-1] / "trajectory.jsonl").read_text()
    assert "typed-by-the-page" not in record and SECRET not in record


def test_replay_keeps_the_binding(pages_url, tmp_path) -> None:
    with open_browser(f"{pages_url}/secret_form.html", viewport=VIEWPORT) as env:
        replies = [click(env, "#token"), 'Action: TYPE "{{token}}"', 'Action: FINISH ""']
        agent, _ = agent_on(env, replies, tmp_path, secrets={"token": SECRET},
                            config={"video": False, "report": False})  # fmt: skip
        run_dir = agent.run("type").trajectory_dir
    assert replay_run(run_dir, secrets={"token": SECRET}).failed_actions == 0
    moved = pages_url.replace("127.0.0.1", "localhost")  # the run replayed on another host
    report = replay_run(run_dir, origin=moved, secrets=Secrets({"token": SECRET},
                        hosts={"token": ["127.0.0.1"]}))  # fmt: skip
    assert report.failed_actions == 1 and any("does not belong" in line for line in report.lines)
    assert not any(SECRET in line for line in report.lines)
    json.dumps(report.lines)


def test_a_secret_in_the_page_address_is_redacted_and_history_does_not_restore_it(
    pages_url, tmp_path
) -> None:
    secret = "Zq7 X&W93-KP41"  # a GET form puts it in the URL as Zq7+X%26W93-KP41
    with open_browser(f"{pages_url}/secret_form.html", viewport=VIEWPORT) as env:
        box = field_box(env, "#token")
        replies = [click(env, "#token"), 'Action: TYPE "{{token}}\\n"', "Action: BACK",
                   'Action: FINISH ""']  # fmt: skip
        agent, _ = agent_on(env, replies, tmp_path, secrets={"token": secret},
                            config={"video": False})  # fmt: skip
        run_dir = agent.run("look it up").trajectory_dir
        # Chromium restores a field's value when its page is opened from history; a field
        # that held a secret is marked autocomplete=off, as password fields are never restored
        assert env.page.url == f"{pages_url}/secret_form.html"
        assert env.page.input_value("#token") == ""
    steps = read_trajectory(run_dir)["steps"]
    assert steps[2]["url"] == f"{pages_url}/secret_form.html?token={{{{token}}}}"
    for name in ("trajectory.jsonl", "report.html"):
        text = (run_dir / name).read_text()
        assert "Zq7" not in text and "KP41" not in text, name
    x1, y1, x2, y2 = box
    for step in steps[2:]:
        inner = grey(Image.open(run_dir / step["screenshot"]))[y1 + 4 : y2 - 4, x1 + 4 : x2 - 4]
        masked = np.asarray(Image.open(run_dir / step["screenshot"]))[y1:y2, x1:x2] == MASK_RGB
        assert masked.all() or (inner > 200).all(), step["step"]  # the mask, or empty


def test_on_the_desktop_every_type_with_a_secret_asks(xvfb_display, tk_app, tmp_path) -> None:
    from pixelpilot.environments.desktop import DesktopEnvironment
    from tests.integration.test_desktop import locate

    app = tk_app()
    asked: list[str] = []
    policy = Policy(approve=lambda action, reason: asked.append(reason) or len(asked) == 1)
    with DesktopEnvironment(xvfb_display) as env:
        spot = locate(env, app, ["entry"])["entry"]
        width, height = env.observe().image.size
        point = f"<|box_start|>({spot['cx'] / width * 1000:.1f},{spot['cy'] / height * 1000:.1f})<|box_end|>"
        replies = [f"Action: CLICK {point}", 'Action: TYPE "{{pw}}"', 'Action: TYPE "{{pw}}"',
                   'Action: TYPE "-plain"', 'Action: FINISH ""']  # fmt: skip
        agent, _ = agent_on(env, replies, tmp_path, policy=policy, secrets={"pw": SECRET},
                            config={"video": False, "report": False})  # fmt: skip
        steps = list(agent.stream("type the password"))
        app.wait_for("text", lambda e: e["value"] == SECRET + "-plain")
    assert [s.decisions[0].verdict for s in steps[1:4]] == ["allow", "deny", "allow"]
    assert len(asked) == 2 and all("secret" in reason for reason in asked)  # plain text: no
    record = (sorted(tmp_path.iterdir())[-1] / "trajectory.jsonl").read_text()
    assert SECRET not in record
