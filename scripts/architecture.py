#!/usr/bin/env python3
"""The architecture check: the folder tree is the drawing, and this keeps the code to it.

Reads every `.rs` file under `src/`, finds the files each one imports (`crate::…`, `super::…`
and `self::…` paths, in `use` lines and in code), and fails on:

- an import that runs up the layers. Bottom to top: the foundation (`config`, `error`,
  `metrics`), then `net` < `http` < `ws` < `chat` < `bus`, `store` < the top-level files
  (`server`, `connection`, `memory`, `lib`, `main`). A file may import its own layer and the
  layers below; the foundation imports no layer; `bus` and `store` do not import each other.
- an import cycle between files (two files that import each other, or a longer loop);
- a file over 500 lines before its tests (`#[cfg(test)]`), or a module of the page
  (`web/static/*.js`) over 500 lines;
- in the load generator (`bench/src/`, a crate of its own, so no layers): a file over 500 lines
  before its tests, or an import cycle between its files;
- a path under `src/`, `web/`, `tests/`, `bench/` or `scripts/` (or `chat/hub.rs`, from a layer's
  folder down) that README.md, docs/, `.env`, the Dockerfile or a comment in the code names and
  that does not exist (what they tell a learner to open must be there).

Before it reports, it checks itself: it plants one violation of each kind (an upward import, an
import by the foundation, a cycle, a long file) in a copy of `src/`, and a long file and a cycle
in a copy of `bench/src/`, and fails if one goes unreported.

Links in doc comments are not imports (comments are left out), nor are a folder's `mod.rs`
lines naming its own files.

Prints the layer graph it checked (how many imports go from each layer to each other) and every
violation; exits 1 if there is any. `make test-architecture` runs it.
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

MAX_LINES = 500
LAYERS = [
    ("foundation", {"config", "error", "metrics"}),
    ("net", {"net"}),
    ("http", {"http"}),
    ("ws", {"ws"}),
    ("chat", {"chat"}),
    ("bus, store", {"bus", "store"}),
    ("top", {"server", "connection", "memory", "lib", "main"}),
]
# Files that may import any layer: the crate's root and the binary's entry point.
ROOTS = {"lib", "main"}


def module_of(path: Path, src: Path) -> tuple[str, ...]:
    """`src/chat/hub.rs` -> ("chat", "hub"); `src/chat/mod.rs` -> ("chat",)."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return tuple(parts) or ("lib",)


def layer_of(module: tuple[str, ...]) -> int:
    for rank, (_, names) in enumerate(LAYERS):
        if module[0] in names:
            return rank
    raise SystemExit(f"architecture: {'::'.join(module)} is in no layer; add it to LAYERS")


def code_before_tests(text: str) -> str:
    at = text.find("#[cfg(test)]")
    return text if at < 0 else text[:at]


def strip_comments(code: str) -> str:
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    return re.sub(r"//[^\n]*", "", code)


def expand_uses(code: str) -> list[str]:
    """Every path a `use` names, with `{…}` groups expanded: `use crate::a::{b, c::d};` gives
    `crate::a::b` and `crate::a::c::d`."""
    paths = []
    for match in re.finditer(r"\buse\s+([^;]+);", code):
        paths.extend(expand(match.group(1).replace("\n", " ")))
    return paths


def expand(tree: str) -> list[str]:
    tree = tree.strip()
    if "{" not in tree:
        return [tree.split(" as ")[0].strip()]
    prefix, rest = tree.split("{", 1)
    inner = rest[: rest.rfind("}")]
    items, depth, current = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current += ch
    items.append(current)
    return [p for item in items if item.strip() for p in expand(prefix + item.strip())]


def resolve(path: str, here: tuple[str, ...], modules: set) -> tuple | None:
    """The file a path lands in: the longest known module that prefixes it. `self::` is the
    module of `here`, each `super::` one level up."""
    parts = [p for p in path.split("::") if p]
    if not parts:
        return None
    if parts[0] == "crate":
        full = parts[1:]
    elif parts[0] == "self":
        full = list(here) + parts[1:]
    elif parts[0] == "super":
        levels = 0
        while parts and parts[0] == "super":
            parts.pop(0)
            levels += 1
        full = list(here[: len(here) - levels]) + parts
    else:
        return None
    for n in range(len(full), 0, -1):
        candidate = tuple(full[:n])
        if candidate in modules:
            return candidate
    return None


def read_crate(src: Path) -> tuple[dict, dict, list[str]]:
    """The crate under `src`: its files by module, the files each one imports, and the files
    over MAX_LINES lines before their tests (`src` named from its parent: `src/…`, `bench/src/…`)."""
    files = {module_of(p, src): p for p in sorted(src.rglob("*.rs"))}
    modules = set(files)
    edges: dict[tuple, set] = defaultdict(set)
    violations = []
    root = src.parent.parent if src.parent.name == "bench" else src.parent
    for module, path in sorted(files.items()):
        text = path.read_text()
        code = strip_comments(code_before_tests(text))
        lines = code_before_tests(text).count("\n")
        if lines > MAX_LINES:
            violations.append(f"{path.relative_to(root)}: {lines} lines before its tests (at most {MAX_LINES})")
        is_mod = path.name in ("mod.rs", "lib.rs", "main.rs")
        paths = expand_uses(code)
        paths += re.findall(r"\b(?:crate|super|self)(?:::\w+)+", re.sub(r"\buse\s+[^;]+;", "", code))
        for p in paths:
            target = resolve(p, module, modules)
            if target is None or target == module:
                continue
            # A module's own children are below it, not an import of another file.
            if target[: len(module)] == module and is_mod and module != ("lib",):
                continue
            edges[module].add(target)
    return files, edges, violations


def check_bench(src: Path) -> list[str]:
    """The load generator (`bench/src/`): a crate of its own, drawn by mode rather than by
    layer, so only the size rule and the cycle rule apply."""
    files, edges, violations = read_crate(src)
    for cycle in cycles(edges):
        violations.append("bench import cycle among: " + ", ".join("::".join(m) for m in cycle))
    return violations


def check(src: Path) -> tuple[list[str], list[str]]:
    """Checks the tree under `src`; returns (the report of the layer graph, the violations)."""
    files, edges, violations = read_crate(src)

    between = defaultdict(int)
    for source, targets in edges.items():
        for target in targets:
            s, t = layer_of(source), layer_of(target)
            between[(s, t)] += 1
            if source[0] in ROOTS:
                continue
            upward = t > s or (s == t and s == 5 and source[0] != target[0])
            if s == 0 and t != 0:
                upward = True
            if upward:
                violations.append(
                    f"{'::'.join(source)} ({LAYERS[s][0]}) imports {'::'.join(target)} ({LAYERS[t][0]}): up the layers"
                )

    for cycle in cycles(edges):
        violations.append("import cycle among: " + ", ".join("::".join(m) for m in cycle))

    report = ["architecture: layers, bottom to top, and the imports between them"]
    for rank, (name, names) in enumerate(LAYERS):
        members = sorted("::".join(m) for m in files if layer_of(m) == rank)
        report.append(f"  {rank} {name}: {len(members)} files")
    for (s, t), n in sorted(between.items()):
        arrow = "->" if s >= t else "-> (UP)"
        report.append(f"    {LAYERS[s][0]} {arrow} {LAYERS[t][0]}: {n} imports")
    report.append(f"  {len(files)} files, {sum(map(len, edges.values()))} imports between them")
    return report, violations


def check_page(static: Path) -> list[str]:
    """The page's modules: none over MAX_LINES lines, none importing a module that is not there,
    no import cycle between them."""
    violations = []
    edges: dict[str, set] = defaultdict(set)
    for path in sorted(static.glob("*.js")):
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_LINES:
            violations.append(f"{path.relative_to(static.parent.parent)}: {lines} lines (at most {MAX_LINES})")
        for target in re.findall(r"""\bfrom\s+['"]\./([\w.-]+\.js)['"]""", text):
            if not (static / target).exists():
                violations.append(f"web/static/{path.name} imports ./{target}, which does not exist")
            edges[path.name].add(target)
    for cycle in cycles(edges):
        violations.append("page import cycle among: " + ", ".join(cycle))
    return violations


def check_docs(root: Path) -> list[str]:
    """Every `src/…`, `web/…`, `tests/…` path (or `chat/hub.rs`, a path in `src/` from its layers
    down) that the README, docs/, `.env`, the Dockerfile or a comment in src/ or tests/ names
    exists: what they tell a learner to open is there."""
    violations = []
    # docs/benchmarks-history.md is history: it names the files as they were then.
    docs = [d for d in sorted((root / "docs").glob("*.md")) if d.name != "benchmarks-history.md"]
    texts = [root / "README.md", *docs, root / ".env", root / "Dockerfile"]
    texts += [p for p in sorted((root / "src").rglob("*.rs"))]
    texts += [p for p in sorted((root / "tests").rglob("*.rs"))]
    for doc in texts:
        if not doc.exists():
            continue
        for path in sorted(set(re.findall(r"(?<![\w/.-])((?:src|web|tests|bench|scripts)/[\w./-]*\w)", doc.read_text()))):
            if not (root / path).exists():
                violations.append(f"{doc.relative_to(root)} names {path}, which does not exist")
        # Paths inside src/ written from its layers down (`chat/hub.rs`, `ws/frame/`).
        layers = "|".join(sorted(n for _, names in LAYERS for n in names if (root / "src" / n).is_dir()))
        tops = "|".join(sorted(n for _, names in LAYERS for n in names))
        named = re.findall(rf"(?<![\w/.-])((?:{layers})/[\w/]*\w\.rs)\b", doc.read_text())
        named += re.findall(rf"(?<![\w/.-])((?:{tops})\.rs)\b", doc.read_text())
        for path in sorted(set(named)):
            if not (root / "src" / path).exists():
                violations.append(f"{doc.relative_to(root)} names {path} (src/{path}), which does not exist")
    return violations


def self_test(root: Path) -> list[str]:
    """The check must be able to fail: plant one violation of each kind in a copy of the tree
    (of `src/`, then of `bench/src/`) and see each reported. Returns what it did not catch."""
    import shutil
    import tempfile

    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(root / "src", src)
        # Files that exist whatever the tree looks like: two of a layer's files for the cycle.
        first, second = [f for f in sorted((src / "ws").glob("*.rs")) if f.name != "mod.rs"][:2]
        a, b = ("::".join(module_of(f, src)) for f in (first, second))
        long = next(f for f in sorted((src / "http").glob("*.rs")) if f.name != "mod.rs")
        plants = [
            ("net/mod.rs", "use crate::chat as _;\n", "net (net) imports chat (chat): up the layers"),
            ("error.rs", "use crate::net as _;\n", "error (foundation) imports net (net): up the layers"),
            (str(first.relative_to(src)), f"use crate::{b} as _;\n", None),
            (str(second.relative_to(src)), f"use crate::{a} as _;\n", "import cycle among: "),
            (str(long.relative_to(src)), "// a line\n" * (MAX_LINES + 1), f"src/{long.relative_to(src)}: "),
        ]
        for file, text, _ in plants:
            path = src / file
            path.write_text(text + path.read_text())
        _, violations = check(src)
        for file, _, expected in plants:
            if expected and not any(v.startswith(expected) for v in violations):
                missed.append(f"planted in src/{file}, not reported: {expected}")

        # The load generator: a long file and two files that import each other.
        bench = Path(tmp) / "bench" / "src"
        shutil.copytree(root / "bench" / "src", bench)
        first, second = [f for f in sorted(bench.glob("*.rs")) if f.name != "main.rs"][:2]
        a, b = ("::".join(module_of(f, bench)) for f in (first, second))
        plants = [
            (first.name, f"use crate::{b} as _;\n", None),
            (second.name, f"use crate::{a} as _;\n", "bench import cycle among: "),
            (second.name, "// a line\n" * (MAX_LINES + 1), f"bench/src/{second.name}: "),
        ]
        for file, text, _ in plants:
            path = bench / file
            path.write_text(text + path.read_text())
        violations = check_bench(bench)
        for file, _, expected in plants:
            if expected and not any(v.startswith(expected) for v in violations):
                missed.append(f"planted in bench/src/{file}, not reported: {expected}")
    return missed


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    report, violations = check(root / "src")
    violations += check_bench(root / "bench" / "src")
    violations += check_page(root / "web" / "static")
    violations += check_docs(root)
    print("\n".join(report))
    missed = self_test(root)
    if missed:
        print("architecture: the check itself is broken")
        for m in missed:
            print(f"  {m}")
        return 2
    if violations:
        print(f"architecture: {len(violations)} violations")
        for v in violations:
            print(f"  {v}")
        return 1
    print(
        "architecture: no violation (and each kind of violation, planted in a copy of src/ and"
        " of bench/src/, was caught)"
    )
    return 0


def cycles(edges: dict) -> list[list]:
    """The strongly connected components of more than one file (Tarjan): files that import each
    other, directly or around a loop."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


if __name__ == "__main__":
    sys.exit(main())
