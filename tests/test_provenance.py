"""peaktrade.provenance: git SHA and dirty flag, asked in one place by research runs and sessions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import peaktrade
from peaktrade.provenance import UNKNOWN, git_info, git_sha

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(peaktrade.__file__).resolve().parent


def test_git_info_when_root_is_the_repository_then_sha_is_40_hex():
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    info = git_info(REPO_ROOT)
    if info["sha"] == "unknown":
        pytest.skip("git is not usable here (absent or refuses the repository)")
    assert re.fullmatch(r"[0-9a-f]{40}", info["sha"])
    assert info["dirty"] in ("true", "false")


def test_git_info_when_root_is_not_a_repository_then_unknown(tmp_path):
    assert git_info(tmp_path) == {"sha": "unknown", "dirty": "unknown"}


def test_git_info_when_git_is_absent_then_unknown(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert git_info(REPO_ROOT) == {"sha": "unknown", "dirty": "unknown"}


def test_git_sha_when_root_is_a_subdirectory_of_the_checkout_then_it_is_the_checkout_commit():
    info = git_info(REPO_ROOT)
    if info["sha"] == UNKNOWN:
        pytest.skip("git is not usable here (absent, or not a checkout)")
    assert git_sha(PACKAGE / "live") == info["sha"]


def test_git_sha_when_root_is_missing_or_not_a_repository_then_unknown(tmp_path):
    assert git_sha(tmp_path) == UNKNOWN
    assert git_sha(tmp_path / "absent") == UNKNOWN


def _runs_git(tree: ast.AST) -> bool:
    """True when the module passes the literal program name "git" to a call (subprocess argv)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in node.args:
                if isinstance(arg, (ast.List, ast.Tuple)) and arg.elts and isinstance(arg.elts[0], ast.Constant) \
                        and arg.elts[0].value == "git":
                    return True
    return False


def test_git_is_asked_when_any_module_needs_the_code_version_then_only_through_provenance():
    runners = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if _runs_git(ast.parse(p.read_text(encoding="utf-8"))))
    assert runners == ["provenance.py"]
