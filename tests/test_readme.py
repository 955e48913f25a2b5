"""The README as a user reads it: short, every link resolves, and its Python example runs."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def python_example() -> str:
    [block] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return block


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 200


@pytest.mark.parametrize("page", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    text = page.read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    missing = [link for link in local if not (page.parent / link).exists()]
    assert not missing, missing


@pytest.mark.slow
def test_the_python_example_runs(tmp_path, monkeypatch, capsys):
    """The example as printed, with two seeds and 1 + 1 epochs instead of three seeds and 5 + 10 (the same calls)."""
    code = python_example()
    small = code.replace("seeds=[0, 1, 2]", "seeds=[0, 1]").replace("epochs_stage1=5, epochs_stage2=10",
                                                                     "epochs_stage1=1, epochs_stage2=1")
    assert small.count("seeds=[0, 1]") == 1 and small.count("epochs_stage1=1, epochs_stage2=1") == 1
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(small, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "'train': (" in out and "over 2 seeds" in out
    assert out.strip().splitlines()[-1].startswith("sad-kl: ")  # the method's verdict, in the stats' words
    assert set(namespace["table"]["method"]) == {"sad-kl"} and len(namespace["table"]) == 5  # 5 columns, 1 condition
    html = (tmp_path / "sad-kl_vs_baseline.html").read_text()
    assert "plotly" in html and "text moderate" in html
