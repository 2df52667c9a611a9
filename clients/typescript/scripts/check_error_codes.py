"""Fails when the API can answer with an error `code` that the client's ErrorCode union
(src/errors.ts) lacks, or when the union names a code the API never sends.

The codes are read from the backend's source (its syntax tree, not a running server), from
every form the backend writes one in:
- a call whose first argument is an HTTP error status: `ApiError(404, "task_not_found", ...)`,
  `super().__init__(409, ...)`, `error_response(422, "invalid_json", ...)`;
- a call to any function or class taking a parameter named `code`, at that parameter:
  `_unauthorized("...", "invalid_token")`, `send_error(send, 503, "overloaded", ...)`;
- a `code=` keyword, a `"code": ...` dict entry, an assignment to `code`, a tuple that starts
  with an error status, a dict from error statuses to codes (STATUS_CODES) and the default of
  a lookup in one (`STATUS_CODES.get(status, "error")`);
with both branches of a conditional expression. app/mcp is left out: its tool errors go to
MCP clients, not to this REST client.

Run by `npm run typecheck` with the backend's Python: python scripts/check_error_codes.py
"""

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
BACKEND_APP = PACKAGE.parent.parent / "backend" / "app"
UNION_FILE = PACKAGE / "src" / "errors.ts"
EXCLUDED = {BACKEND_APP / "mcp"}
# Codes the client reports itself (no answer at all; an answer that is not the API's error).
CLIENT_CODES = {"network_error", "unexpected_response"}
CODE = re.compile(r"[a-z]+(?:_[a-z]+)*")


def is_error_status(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and 400 <= node.value <= 599


def strings(node: ast.AST | None) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from strings(node.body)
        yield from strings(node.orelse)


def callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def code_parameters(trees: list[ast.Module]) -> dict[str, int]:
    """Function or class name -> the position of its `code` parameter in a call."""
    positions: dict[str, int] = {}
    for tree in trees:
        for node in ast.walk(tree):
            defs: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                defs = [(node.name, node)]
            if isinstance(node, ast.ClassDef):
                defs = [
                    (node.name, item)
                    for item in node.body
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__"
                ]
            for name, function in defs:
                names = [arg.arg for arg in function.args.posonlyargs + function.args.args]
                if names and names[0] in ("self", "cls"):
                    names = names[1:]
                if "code" in names:
                    positions[name] = names.index("code")
    return positions


def status_code_maps(tree: ast.Module) -> set[str]:
    """Names bound to a dict literal from error statuses to codes."""
    return {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Dict)
        and node.value.keys
        and all(is_error_status(key) for key in node.value.keys)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def backend_codes() -> dict[str, str]:
    """Every code -> where it is first written (file:line)."""
    files = [
        path
        for path in sorted(BACKEND_APP.rglob("*.py"))
        if not any(path.is_relative_to(excluded) for excluded in EXCLUDED)
    ]
    trees = [ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in files]
    positions = code_parameters(trees)
    maps = set().union(*(status_code_maps(tree) for tree in trees))
    found: dict[str, str] = {}
    for path, tree in zip(files, trees, strict=True):
        for node in ast.walk(tree):
            candidates: list[ast.AST | None] = []
            if isinstance(node, ast.Call):
                if len(node.args) >= 2 and is_error_status(node.args[0]):
                    candidates.append(node.args[1])
                position = positions.get(callee(node) or "")
                if position is not None and len(node.args) > position:
                    candidates.append(node.args[position])
                candidates += [keyword.value for keyword in node.keywords if keyword.arg == "code"]
                func = node.func
                if (
                    isinstance(func, ast.Attribute)
                    and func.attr == "get"
                    and isinstance(func.value, ast.Name)
                    and func.value.id in maps
                    and len(node.args) == 2
                ):
                    candidates.append(node.args[1])
            elif isinstance(node, ast.Tuple) and len(node.elts) >= 2:
                if is_error_status(node.elts[0]):
                    candidates.append(node.elts[1])
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    is_code_key = isinstance(key, ast.Constant) and key.value == "code"
                    if is_code_key or is_error_status(key):
                        candidates.append(value)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(target, ast.Name) and target.id == "code" for target in targets):
                    candidates.append(node.value)
            where = f"backend/{path.relative_to(BACKEND_APP.parent)}:{getattr(node, 'lineno', 0)}"
            for candidate in candidates:
                for text in strings(candidate):
                    if CODE.fullmatch(text):
                        found.setdefault(text, where)
    return found


def union_codes() -> set[str]:
    source = UNION_FILE.read_text(encoding="utf-8")
    match = re.search(r"export type ErrorCode =(.*?);", source, re.DOTALL)
    if match is None:
        sys.exit(f"{UNION_FILE}: no `export type ErrorCode = ...;`")
    return set(re.findall(r'"([^"]+)"', match.group(1)))


def main() -> int:
    backend = backend_codes()
    union = union_codes()
    missing = sorted(set(backend) - union)
    unsent = sorted(union - set(backend) - CLIENT_CODES)
    for code in missing:
        print(f"ErrorCode (src/errors.ts) lacks {code!r}, which {backend[code]} answers with")
    for code in unsent:
        print(f"ErrorCode (src/errors.ts) names {code!r}, which the backend never answers with")
    if missing or unsent:
        return 1
    print(f"ErrorCode: the backend's {len(backend)} codes and the client's {len(CLIENT_CODES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
