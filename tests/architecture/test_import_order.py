"""Imports flow one way: core <- audit <- flags <- plans <- tenants <- customers <- billing <- onboarding
<- stats, then the demo data, the models registry and the adapters (api <- bot <- cli) above them all.

Every module under tenantctl/ is parsed, imports inside functions and TYPE_CHECKING blocks
included, and each import of a package further up the order fails the test with its line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tenantctl

PACKAGE = Path(tenantctl.__file__).parent
ORDER = ("core", "audit", "flags", "plans", "tenants", "customers", "billing", "onboarding", "stats",
         "demo", "models", "migrations", "testing", "api", "bot", "cli")
RANK = {name: rank for rank, name in enumerate(ORDER)}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "tenantctl" or len(parts) < 2:
        return None
    return parts[1]


def _imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names if target == "tenantctl"]
    return found


def _modules() -> list[tuple[Path, str]]:
    root = PACKAGE.parent
    return [(path, ".".join(path.relative_to(root).with_suffix("").parts)) for path in sorted(PACKAGE.rglob("*.py"))]


def test_every_package_has_a_place_in_the_order() -> None:
    packages = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path, _ in _modules()} - {"__init__"}
    assert packages <= set(RANK), f"packages missing from the import order: {sorted(packages - set(RANK))}"


def test_imports_flow_one_way() -> None:
    offences = []
    for path, module in _modules():
        own = _layer(module)
        if own is None:
            continue
        for line, target in _imports(ast.parse(path.read_text(), str(path)), module):
            other = _layer(target)
            if other is None or other == own or other not in RANK:
                continue
            if RANK[other] > RANK[own]:
                offences.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {own} imports {target} (above it)")
    assert not offences, "imports against the order:\n" + "\n".join(offences)


def test_the_checker_sees_lazy_imports() -> None:
    source = "def f():\n    from tenantctl.billing.service import x\n"
    assert (2, "tenantctl.billing.service") in _imports(ast.parse(source), "tenantctl.flags.gate")
