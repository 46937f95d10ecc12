"""The shape of the code: imports point one way, parts get narrow interfaces, modules stay small.

docs/architecture.md describes the layers; these tests keep the code in step
with it. They read the source files (``ast``), so a type-only import counts
as much as any other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gameserver"
LONGEST = 450  # lines; a longer module says why at its top


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The gameserver modules ``name`` imports anywhere in its file (type-only ones too)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            subs = {f"{target}.{alias.name}" for alias in node.names} & known.keys()
            # "from . import sub" needs the package only as the parent, already importing.
            found |= subs if len(subs) == len(node.names) else subs | {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return (found & known.keys()) - {name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_another_that_imports_it_back() -> None:
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert cycles(graph) == []


def test_only_the_assembly_point_and_the_command_line_know_the_server() -> None:
    known = modules()
    users = {name for name, path in known.items()
             if "gameserver.server" in imports(name, path, known)}
    assert users <= {"gameserver.cli"}


def test_long_modules_say_why_at_their_top() -> None:
    silent = []
    for name, path in modules().items():
        text = path.read_text()
        if "/games/" in str(path) or text.count("\n") <= LONGEST:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if "lines" not in docstring:
            silent.append(f"{name} ({text.count(chr(10))} lines)")
    assert silent == []


def test_the_server_never_needs_the_client_module() -> None:
    """``game_server_api.py`` is the students' file; the server must start without it."""
    code = ("import sys; sys.modules['game_server_api'] = None; "
            "import gameserver.server, gameserver.web, gameserver.cli")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
