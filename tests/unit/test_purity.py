"""The pure packages stay pure: no database, no network, no mail transport, even indirectly.

Reads the source (no import runs): for every module of a pure package, every ``import`` it makes
and, transitively, every import of the mailbridge modules it imports. A pure module that reaches
sqlalchemy, smtplib, imapclient, socket or another I/O library fails here with the chain that
reaches it, so the reader, the state machine, routing, rendering and the timer plan can always be
tested without I/O (DESIGN invariant 6).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mailbridge"

#: the pure parts of the flow: whole packages, or single modules of a mixed package
PURE = (
    "mailbridge.reading",
    "mailbridge.routing",
    "mailbridge.episodes.machine",
    "mailbridge.episodes.decisions",
    "mailbridge.episodes.prepare",
    "mailbridge.alerts.alert_facts",
    "mailbridge.alerts.template_context",
    "mailbridge.alerts.render",
    "mailbridge.alerts.words",
    "mailbridge.timers.plan",
    "mailbridge.ingress.imap.order",
)

#: top-level modules whose import means I/O
FORBIDDEN = frozenset(
    {
        "sqlalchemy", "alembic", "psycopg", "smtplib", "imaplib", "imapclient", "socket",
        "aiosmtpd", "aiosmtplib", "http", "urllib3", "requests", "httpx", "msal", "subprocess",
    }
)

#: known violations, each with the reason; the goal is an empty list
ALLOWED: dict[tuple[str, str], str] = {}


def _module_file(name: str) -> Path | None:
    rel = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _modules_of(name: str) -> list[str]:
    path = _module_file(name)
    assert path is not None, f"{name} does not exist"
    if path.name != "__init__.py":
        return [name]
    inner = sorted(
        name + "." + ".".join(p.relative_to(path.parent).with_suffix("").parts)
        for p in path.parent.rglob("*.py")
        if p.name != "__init__.py"
    )
    return [*inner, name]


@cache
def _imports(name: str) -> frozenset[str]:
    path = _module_file(name)
    if path is None:
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module.startswith("mailbridge"):
                # "from mailbridge.x import y" may name a submodule y
                found.update(
                    f"{node.module}.{a.name}" for a in node.names
                    if _module_file(f"{node.module}.{a.name}") is not None
                )
    return frozenset(found)


def _chain_to_forbidden(name: str) -> list[str] | None:
    """The first import chain from ``name`` to a forbidden module, or None."""
    seen: set[str] = set()
    stack: list[list[str]] = [[name]]
    while stack:
        chain = stack.pop()
        for imported in sorted(_imports(chain[-1])):
            top = imported.split(".")[0]
            if top in FORBIDDEN:
                return [*chain, imported]
            if top == "mailbridge" and imported not in seen:
                seen.add(imported)
                stack.append([*chain, imported])
    return None


PURE_MODULES = sorted({m for p in PURE for m in _modules_of(p)})


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_reaches_no_io(module: str) -> None:
    chain = _chain_to_forbidden(module)
    if chain is not None and (module, chain[-1].split(".")[0]) in ALLOWED:
        pytest.xfail(ALLOWED[(module, chain[-1].split(".")[0])])
    assert chain is None, "pure module reaches I/O: " + " -> ".join(chain or [])


def test_the_check_finds_a_forbidden_import(tmp_path: Path) -> None:
    """The walk itself works: a module known to use the database is caught."""
    assert _chain_to_forbidden("mailbridge.store.models") is not None
    assert _chain_to_forbidden("mailbridge.episodes.processing") is not None


def test_allow_list_names_only_real_violations() -> None:
    for module, top in ALLOWED:
        chain = _chain_to_forbidden(module)
        assert chain is not None and chain[-1].split(".")[0] == top, (module, top)
