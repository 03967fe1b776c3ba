"""The package layers of research/ (README "How it fits together"): a module imports only its own package and the
packages below it, at module level or inside functions, so the architecture the tree shows is the one the code has."""

from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Lower number = lower layer. Top-level modules are named by file; packages by directory.
LAYERS = {
    "errors": 0, "registry": 0, "config": 0, "cli": 0,
    "data": 1, "models": 1, "evaluation": 1, "pretraining": 1,
    "decoding": 2,
    "tasks": 3,
    "train": 4,
    "lda": 5,
    "tools": 6,
    "main": 7,
}
# Leaf modules that sit lower than their package: checkpoint.py is only the on-disk format (it imports nothing but
# errors), and the text→image task reads a finished classifier run through it to judge its images.
MODULE_LAYERS = {"research.train.checkpoint": 1}
TOP_LEVEL_FILES = {"__init__.py", "errors.py", "registry.py", "config.py", "cli.py", "main.py"}


def _layer(module: str) -> int:
  for leaf, layer in MODULE_LAYERS.items():
    if module == leaf or module.startswith(leaf + "."):
      return layer
  return LAYERS[_unit(module)]


def _unit(module: str) -> str | None:
  """'research.train.loop' → 'train'; 'research' → None (the package itself)."""
  parts = module.split(".")
  return parts[1] if parts[0] == "research" and len(parts) > 1 else None


def _imports(path: str) -> list[tuple[int, str]]:
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read())
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found += [(node.lineno, a.name) for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      if node.module == "research":
        found += [(node.lineno, f"research.{a.name}") for a in node.names]
      else:
        found.append((node.lineno, node.module))
  return [(line, m) for line, m in found if m == "research" or m.startswith("research.")]


def _modules() -> list[tuple[str, str]]:
  out = []
  for dirpath, _, files in os.walk(os.path.join(ROOT, "research")):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(dirpath, name)
        rel = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
        out.append((rel, path))
  return sorted(out)


def test_no_module_imports_a_higher_layer():
  violations = []
  for module, path in _modules():
    unit = _unit(module.removesuffix(".__init__"))
    if unit is None:
      continue
    assert unit in LAYERS, f"{module}: package or top-level module {unit!r} has no layer in LAYERS"
    for line, imported in _imports(path):
      target = _unit(imported)
      if target is None or (target == unit and module not in MODULE_LAYERS):
        continue
      assert target in LAYERS, f"{module}:{line} imports {imported}, which has no layer"
      if _layer(imported) > _layer(module):
        violations.append(f"{path}:{line}: {module} (layer {_layer(module)}) imports {imported} "
                          f"(layer {_layer(imported)})")
  assert not violations, "\n".join(violations)


def test_the_top_level_holds_only_a_handful_of_files():
  top = {n for n in os.listdir(os.path.join(ROOT, "research")) if n.endswith(".py")}
  assert top == TOP_LEVEL_FILES, f"new top-level modules belong in a package: {sorted(top - TOP_LEVEL_FILES)}"
