"""CI runs exactly the test command the README gives (one home: the README's second line)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    block = ROOT.joinpath("README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    readme = block.splitlines()[1].split("  #", 1)[0].strip()  # the line, without its comment
    script = ROOT.joinpath(".ci", "run").read_text().splitlines()
    commands = [line for line in script if line.startswith("python -m pip install")]
    assert commands == [readme]
    assert "python -m pytest && python -m pytest -m e2e" in readme  # both suites
