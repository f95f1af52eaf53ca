"""The docs a newcomer reads first stay true to the code: the architecture page names every module, the README
stays a front door (its measured figures live in docs/benchmarks.md), and every docs link resolves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200


def _modules() -> list[Path]:
    package = ROOT / "harness"
    skipped = {"__init__.py", "__main__.py"}
    found = [p for p in package.rglob("*.py") if p.name not in skipped and "model_repository" not in p.parts]
    return sorted(found) + sorted(package.rglob("*.cc"))


def test_the_architecture_page_names_every_module() -> None:
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    missing = [str(p.relative_to(ROOT)) for p in _modules() if f"`{p.name}`" not in page and f"{p.name}`" not in page]
    assert not missing, f"docs/ARCHITECTURE.md does not name: {missing}"


def test_the_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move details to docs/"
    assert (ROOT / "docs" / "benchmarks.md").is_file()


def test_every_relative_link_of_the_docs_resolves() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "tests" / "README.md"]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken
