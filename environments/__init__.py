"""Controllers that perceive and act: browser (Playwright), desktop (X11), fake.

They take actions from `pixelpilot.tools` in screenshot pixels and convert them to their
own units with `tools.geometry.convert_point`; they never import `vlm`.
"""
