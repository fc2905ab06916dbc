"""Use cases speak the domain: DynamoDB expressions live in maintsvc.storage.access, nowhere else.

Every module of shared/maintsvc except the storage package (store.py, the
access package, keys.py for key strings, items.py for item shapes) is parsed,
and its string constants (docstrings aside) must not look like a key
condition, an update or condition expression or one of their `#names` and
`:values`, and it must not build transaction actions (TxAction). A domain
module that needs a new read or write asks maintsvc.storage.access for it by name.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "maintsvc"

# Functions allowed to keep inline expressions: none (the feed rewrite has landed).
BEING_REWRITTEN: set[tuple[str, str]] = set()

EXPRESSION = re.compile(
    r"\s=\s:"  # an assignment or comparison with a value: "GSI1PK = :pk", "SET x = :v"
    r"|#\w+\s*(=|<|>|IN\b)"  # a name in a comparison: "#st = :old_st", "#st IN (:c, :x)"
    r"|\b(SET|ADD|REMOVE)\s+[#\w]"  # update clauses: "ADD event_count :n", "REMOVE GSI3PK"
    r"|\b(attribute_not_exists|attribute_exists|attribute_type|begins_with|contains|size)\("
    r"|\bBETWEEN\b"
    r"|^:\w+$"  # a value placeholder as a dict key: ":pk"
    r"|^#\w+$"  # a name placeholder as a dict key: "#st"
    r"|[\s(,]:[A-Za-z_]\w*"  # a value placeholder inside a string: "(:s, :r)"
    r"|ExpressionAttribute(Names|Values)|(Update|Condition|KeyCondition|Filter)Expression"
)


def looks_like_expression(text: str) -> bool:
    return EXPRESSION.search(text) is not None


def domain_modules() -> list[Path]:
    return sorted(
        path for path in PACKAGE.rglob("*.py") if "storage" not in path.relative_to(PACKAGE).parts
    )


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the module's, classes' and functions' docstring nodes."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


class _Finder(ast.NodeVisitor):
    """Expression-like strings and TxAction constructions, with the function they are in."""

    def __init__(self, docstrings: set[int]) -> None:
        self.docstrings = docstrings
        self.function = "<module>"
        self.found: list[tuple[str, int, str]] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Constant(self, node: ast.Constant) -> None:
        if (
            isinstance(node.value, str)
            and id(node) not in self.docstrings
            and looks_like_expression(node.value)
        ):
            self.found.append((self.function, node.lineno, repr(node.value)))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        """TxAction.put(...), .update, .delete, .check: a transaction built here."""
        if isinstance(node.value, ast.Name) and node.value.id == "TxAction":
            self.found.append((self.function, node.lineno, f"TxAction.{node.attr}"))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "TxAction":
            self.found.append((self.function, node.lineno, "TxAction(...)"))
        self.generic_visit(node)


def expression_sites(path: Path) -> list[tuple[str, int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    finder = _Finder(_docstrings(tree))
    finder.visit(tree)
    return finder.found


@pytest.mark.parametrize(
    "text",
    [
        "GSI1PK = :pk",
        "PK = :pk AND begins_with(SK, :e)",
        "GSI3PK = :pk AND GSI3SK BETWEEN :lo AND :hi",
        "SET #s = :inactive",
        "ADD event_count :n",
        "REMOVE needs_cleanup",
        "attribute_not_exists(PK)",
        "attribute_exists(title) AND attribute_not_exists(deleting)",
        "#st IN (:c, :x)",
        "#st = :old_st AND start_date_time = :old_s",
        "contains(tags, :tag)",
        ":pk",
        "#st",
        " = :f",  # the constant part of f"#f{i} = :f{i}"
        "ExpressionAttributeNames",
    ],
)
def test_expressions_are_recognised(text: str) -> None:
    assert looks_like_expression(text)


@pytest.mark.parametrize(
    "text",
    ["E#", "#", ":", ",", "ACTIVE", "status", "GSI3SK", "M#1", "status must be 'ACTIVE'"],
)
def test_plain_strings_are_not_expressions(text: str) -> None:
    assert not looks_like_expression(text)


def test_the_domain_modules_are_all_checked() -> None:
    names = {p.stem for p in domain_modules()}
    assert {"maintenances", "events", "materialise", "status_changes", "scheduler"} <= names
    assert {
        "deletion",
        "retention",
        "apikeys",
        "transition_queue",
        "notifications",
        "idempotency",
    } <= names
    assert not names & {"store", "keys", "items"}


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: p.stem)
def test_domain_modules_build_no_expressions(path: Path) -> None:
    """Reads and writes go through the named functions of maintsvc.storage.access."""
    sites = [
        f"{path.name}:{line} in {function}: {text}"
        for function, line, text in expression_sites(path)
        if (path.stem, function) not in BEING_REWRITTEN
    ]
    assert sites == [], "DynamoDB expressions outside maintsvc.storage.access:\n" + "\n".join(sites)


def test_only_the_store_uses_boto3() -> None:
    users = [
        path.name
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(boto3|botocore)\b", path.read_text(), re.M)
    ]
    assert users == ["store.py"]
