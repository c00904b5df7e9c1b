"""The README's first steps (the two first commands, the CPU-only install of torch) and its
tracking examples, run as written."""

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


def _python_blocks(section: str) -> list[str]:
    """The ```python blocks of the README section with this heading, in order."""
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in body.split("```python\n")[1:]]


def _tiny_training() -> dict:
    """What the README's examples take as given: a model, its data, a loss and a validation."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    x = torch.randn(64, 12)
    y = x[:, :3].argmax(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)

    def val_error(model: nn.Module) -> float:
        with torch.no_grad():
            return 100.0 * float((model(x).argmax(1) != y).float().mean())

    net = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))
    return dict(
        torch=torch,
        nn=nn,
        model=net,
        net=net,
        loader=loader,
        train_loader=loader,
        epochs=2,
        criterion=nn.functional.cross_entropy,
        val_error=val_error,
    )


def test_the_tracking_examples_run_as_written_and_record(tmp_path, monkeypatch):
    import pytest

    from storage import Store

    monkeypatch.chdir(tmp_path)  # the default store: ./actcool-data
    monkeypatch.delenv("ACTCOOL_HOME", raising=False)
    plain, lit = _python_blocks("Watch any PyTorch training live")
    namespace = _tiny_training()
    exec(plain, namespace)
    store = Store(tmp_path / "actcool-data")
    run = store.get_run(namespace["run"].id)
    assert run["status"] == "finished" and run["config"]["batch"] == 128
    assert len(store.steps(run["id"])) == 2 * 4  # epochs x batches
    assert len(store.evaluations(run["id"])) == 2

    L = pytest.importorskip("lightning", reason="needs the lightning extra")
    namespace["L"] = L
    (classifier,) = _python_blocks("ActCoolLR in PyTorch Lightning")
    exec(classifier, namespace)  # the Classifier of that section, with its ActCoolLR
    exec(lit, namespace)
    (lit_run,) = store.list_runs(status="finished").query("name == 'my-lit-net'").to_dict("records")
    assert (
        lit_run["config"]["source"] == "lightning" and lit_run["config"]["scheduler"] == "ActCoolLR"
    )
    steps = store.steps(lit_run["id"])
    assert len(steps) == 3 * 4 and steps["mean_temperature"].notna().any()
