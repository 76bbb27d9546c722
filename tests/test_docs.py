"""The documentation stays in step with the code (cheap checks; ``make docs`` builds the site).

- every public name (``jaxmix.__all__``) has an entry in the API reference, docs/api.md;
- every ``docs/theory.md#<anchor>`` cited in the repository names a heading of docs/theory.md
  (the anchor rule of the docs site and of GitHub: lower case, punctuation dropped, spaces to
  hyphens);
- nothing cites a derivation that is not in the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jaxmix

ROOT = Path(__file__).resolve().parents[1]
CITING = ["jaxmix", "tests", "notebooks", "paper_checks", "benchmarks", "docs", "README.md"]


def _slug(heading: str) -> str:
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _tracked_text_files():
    proc = subprocess.run(
        ["git", "ls-files", "--", *CITING], cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode == 0:
        names = proc.stdout.split()
    else:  # not a git checkout (e.g. an unpacked source archive): every file under the same paths
        names = [
            str(p.relative_to(ROOT)) for c in CITING for p in [ROOT / c, *(ROOT / c).rglob("*")]
        ]
    for name in names:
        path = ROOT / name
        if path.suffix in {".py", ".md", ".ipynb", ".toml", ".yml"} and path.is_file():
            yield path


def test_every_public_name_is_in_the_api_reference():
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: jaxmix\.(\w+)\s*$", api, flags=re.M))
    missing = sorted(set(jaxmix.__all__) - documented)
    assert not missing, f"add '::: jaxmix.NAME' to docs/api.md for {missing}"


def test_theory_anchors_exist():
    theory = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    anchors = {_slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*$", theory, flags=re.M)}
    assert {"the-model", "theorem-2-covariance-factor", "algorithm-1", "finite-samples"} <= anchors
    bad = []
    for path in _tracked_text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "theory.md" not in line:
                continue
            cited = re.findall(r"theory\.md#([\w-]+)", line)
            cited += re.findall(r"(?<![\w/.])#([a-z][a-z0-9]*(?:-[a-z0-9]+)+)", line)
            bad += [f"{path.relative_to(ROOT)}:{number}: #{a}" for a in cited if a not in anchors]
    assert not bad, "anchors not in docs/theory.md:\n" + "\n".join(bad)


#: files beside the checkout that users of the repository do not have (spelled in pieces so that
#: this file does not cite them itself)
OUTSIDE = ("MATH" + ".md", ".." + "/shared")


def test_no_citation_of_files_outside_the_repository():
    bad = [
        str(path.relative_to(ROOT))
        for path in _tracked_text_files()
        if any(name in path.read_text(encoding="utf-8") for name in OUTSIDE)
    ]
    assert not bad, f"cite docs/theory.md instead in {bad}"
