"""UI tests from runs: a successful trajectory becomes a pytest-playwright test that
replays without the model and heals a step whose locator broke (`Healer`)."""
