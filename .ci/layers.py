#!/usr/bin/env python3
"""The import rules of src/ (ARCHITECTURE.md), checked from the source text.

Counts, for every file of src/, the modules it names through `use crate::...`, `crate::x::...`
paths and `super::...` paths (comments and string literals aside), resolved to files. Then:

1. Rocket only at the edge: no file outside src/web/ (and the top: lib.rs, the `testing` and
   `fuzzing` features) names the `rocket` crate, in code or in doc examples.
2. Layers: a file imports only files of its own layer or of the layers below it
   (util < error < protocol < config < session < client < web < testing, fuzzing < lib).
3. No import cycle of more than one file outside the edge (strongly connected components of
   the file graph; a file's own `mod tests` counts as part of the file).

Prints the largest cycle (with and without the edge) and every broken rule; exits 1 if any.
Usage: python3 .ci/layers.py [SRC_DIR]
"""

import os
import re
import sys

LAYERS = {
    "util": 0,
    "error": 1,
    "protocol": 2,
    "config": 3,
    "session": 4,
    "client": 5,
    "web": 6,
    "testing": 7,
    "fuzzing": 7,
    "": 8,  # lib.rs
}
# Where `rocket` may be named.
EDGE_AND_TOP = ("web", "testing", "fuzzing", "")

ROCKET = re.compile(r"(?<![A-Za-z0-9_])rocket(?:::|\s*=)|use\s+rocket\b|extern\s+crate\s+rocket\b")


def module_of(path, src):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel == ["lib"]:
        return ()
    if rel[-1] == "mod":
        rel = rel[:-1]
    return tuple(rel)


def strip_code(text, keep_doc):
    """Removes string literals and comments (doc comments stay when `keep_doc`)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            comment = text[i:end]
            if keep_doc and (comment.startswith("///") or comment.startswith("//!")):
                out.append(comment)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c == "r" and re.match(r'r#*"', text[i:i + 8]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            out.append('""')
            i = n if end < 0 else end + 1 + len(hashes)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.strip()
    depth = 0
    for k, ch in enumerate(tree):
        if ch == "{":
            prefix = tree[:k]
            inner = tree[k + 1:tree.rfind("}")]
            parts, depth, start = [], 0, 0
            for m, c2 in enumerate(inner):
                if c2 == "{":
                    depth += 1
                elif c2 == "}":
                    depth -= 1
                elif c2 == "," and depth == 0:
                    parts.append(inner[start:m])
                    start = m + 1
            parts.append(inner[start:])
            result = []
            for part in parts:
                if part.strip():
                    result.extend(prefix + p for p in expand_use(part))
            return result
    return [tree.split(" as ")[0].strip()]


def inline_modules(code):
    """(start, end, name) of each inline `mod name { ... }` block (e.g. `mod tests`)."""
    blocks = []
    for m in re.finditer(r"\bmod\s+([a-z_][a-z0-9_]*)\s*\{", code):
        depth, i = 0, m.end() - 1
        while i < len(code):
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        blocks.append((m.start(), i, m.group(1)))
    return blocks


def references(code, module):
    """Module paths (tuples) named by `code`, as absolute crate paths. `super` and `self`
    inside an inline module (`mod tests { use super::*; }`) are relative to that module."""
    result = []
    last = 0
    for start, end, name in inline_modules(code):
        result.extend(references_in(code[last:start], module))
        result.extend(references_in(code[start:end], tuple(module) + (name,)))
        last = end
    result.extend(references_in(code[last:], module))
    return result


def references_in(code, module):
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        paths.extend(expand_use(re.sub(r"\s+", "", m.group(1)).replace("as", " as ")))
    paths.extend(m.group(0) for m in re.finditer(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+", code))
    resolved = []
    for p in paths:
        segs = [s for s in p.split("::") if s]
        if not segs:
            continue
        if segs[0] == "crate":
            resolved.append(tuple(segs[1:]))
        elif segs[0] == "super":
            base = list(module)
            while segs and segs[0] == "super":
                base = base[:-1]
                segs = segs[1:]
            resolved.append(tuple(base + segs))
        elif segs[0] == "self":
            resolved.append(tuple(list(module) + segs[1:]))
        else:
            # A child module named without `self::` (`mod keys; use keys::KeyStore;`).
            resolved.append(tuple(list(module) + segs))
    for m in re.finditer(r"(?<![A-Za-z0-9_:])([a-z_][a-z0-9_]*)::", code):
        resolved.append(tuple(list(module) + [m.group(1)]))
    return resolved


def tarjan(graph):
    index, low, stack, on, result = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            result.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return result


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
    src = os.path.normpath(src)
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                files[module_of(path, src)] = path
    problems = []
    graph = {}
    for module, path in sorted(files.items()):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        layer = module[0] if module else ""
        rank = LAYERS.get(layer)
        if rank is None:
            problems.append(f"{os.path.relpath(path)}: `{layer}` is not a layer of ARCHITECTURE.md")
            rank = -1
        if layer not in EDGE_AND_TOP:
            for lineno, line in enumerate(strip_code(text, keep_doc=True).splitlines(), 1):
                if ROCKET.search(line):
                    problems.append(f"{os.path.relpath(path)}: names `rocket` outside the edge: {line.strip()}")
        edges = set()
        for ref in references(strip_code(text, keep_doc=False), module):
            # The longest prefix that is a file.
            for k in range(len(ref), 0, -1):
                if ref[:k] in files:
                    target = ref[:k]
                    break
            else:
                continue
            if target == module:
                continue
            edges.add(target)
        graph[module] = edges
        for target in edges:
            t_layer = target[0] if target else ""
            t_rank = LAYERS.get(t_layer, -1)
            if rank >= 0 and t_rank > rank:
                problems.append(
                    f"{os.path.relpath(path)}: layer `{layer or 'lib'}` imports `{'::'.join(target)}` of the higher layer `{t_layer or 'lib'}`"
                )
    name = lambda m: os.path.relpath(files[m])
    comps = [c for c in tarjan(graph) if len(c) > 1]
    largest = max((len(c) for c in comps), default=1)
    core = {m: {t for t in e if not (t and t[0] in EDGE_AND_TOP)} for m, e in graph.items() if not (m and m[0] in EDGE_AND_TOP) and m}
    core_comps = [c for c in tarjan(core) if len(c) > 1]
    core_largest = max((len(c) for c in core_comps), default=1)
    print(f"files: {len(files)}; import edges: {sum(len(e) for e in graph.values())}")
    print(f"largest import cycle: {largest} file(s) (whole src/); {core_largest} outside the edge")
    for comp in core_comps:
        problems.append("import cycle outside the edge: " + ", ".join(sorted(name(m) for m in comp)))
    for p in problems:
        print("FAIL " + p)
    if problems:
        sys.exit(1)
    print("layers: ok")


if __name__ == "__main__":
    main()
