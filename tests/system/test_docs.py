"""Product docs speak only of what a user of the repository has: no issue numbers, no files outside the repo,
and every citation of the course notes names a section of docs/course_notes.md."""

from __future__ import annotations

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORBIDDEN = re.compile(r"seed-map|shared/seeds|\.\./shared|\b[Ii]ssues? #?\d+|\bthis issue\b|\bthe \w+ issue\b")
CITATION = re.compile(r"course_notes\.md\)?\s*§\s*(\d+(?:\.\d+)?)(?:\s*[–-]\s*(\d+(?:\.\d+)?))?")


def product_files() -> list[str]:
  patterns = ["README.md", "docs/*.md", "experiments/**/*.md", "experiments/**/*.py", "research/**/*.py",
              "configs/**/*.py"]
  return sorted({p for pat in patterns for p in glob.glob(os.path.join(ROOT, pat), recursive=True)})


def test_no_issue_numbers_or_outside_files_in_product_docs():
  bad = []
  for path in product_files():
    with open(path, encoding="utf-8") as f:
      for n, line in enumerate(f, 1):
        if FORBIDDEN.search(line):
          bad.append(f"{os.path.relpath(path, ROOT)}:{n}: {line.strip()[:100]}")
  assert not bad, "\n".join(bad)


def test_course_note_citations_name_existing_sections():
  with open(os.path.join(ROOT, "docs", "course_notes.md"), encoding="utf-8") as f:
    sections = set(re.findall(r"^#+ §(\d+(?:\.\d+)?) ", f.read(), flags=re.M))
  assert {"1", "2", "3", "4", "5", "5.1", "5.2", "5.3", "6", "7"} <= sections
  cited = []
  for path in product_files():
    with open(path, encoding="utf-8") as f:
      for match in CITATION.finditer(f.read()):
        cited += [s for s in match.groups() if s]
  assert cited, "no citation found: the pattern is broken"
  missing = sorted(set(cited) - sections)
  assert not missing, f"docs/course_notes.md has no section {missing}"
