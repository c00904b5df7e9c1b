"""The README's first steps: the two first commands, and the CPU-only install of torch."""

from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_two_first_commands_stay_the_first_lines():
    lines = README.splitlines()
    assert lines[2] == "```bash"
    assert lines[3].startswith("pip install -e . && streamlit run app")
    assert (
        lines[4].startswith('python -m pip install -e ".[test') and "python -m pytest" in lines[4]
    )


def test_cpu_only_machines_are_told_how_to_install_a_cpu_torch_and_why():
    intro = README.split("## ")[0]  # before the first section: where a new user reads
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in intro
    assert "bundles the CUDA libraries (about 6 GB" in " ".join(intro.split())
