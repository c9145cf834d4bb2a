"""The suite's own contract: every test asserts something that could fail (DESIGN.md section 5)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
#: Calls that assert: pytest.raises/warns/fail and helpers named assert*/check* (they assert inside).
_ASSERTING = ("raises", "warns", "fail")


def _asserts(fn: ast.AST) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in _ASSERTING or name.lstrip("_").startswith(("assert", "check")):
                return True
    return False


def test_every_test_when_parsed_then_asserts_or_expects_an_error():
    silent = [f"{p.relative_to(TESTS)}::{n.name}"
              for p in sorted(TESTS.rglob("test_*.py"))
              for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test_")
              and not _asserts(n)]
    assert silent == [], "tests that assert nothing (a test must be able to fail):\n" + "\n".join(silent)


def test_asserts_when_body_only_calls_then_false_and_when_it_asserts_then_true():
    assert not _asserts(ast.parse("def test_x():\n    f()\n"))
    assert _asserts(ast.parse("def test_x():\n    assert f()\n"))
    assert _asserts(ast.parse("def test_x():\n    with pytest.raises(E):\n        f()\n"))
