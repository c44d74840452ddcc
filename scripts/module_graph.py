#!/usr/bin/env python3
"""The module graph of src/: which module uses which, resolved to where each
item is defined (a `pub use` re-export is followed to its module), and any
circle in it. A module's own children declared with `mod` and re-exported
with `pub use` are not uses. Exits 1 when a circle exists.

    python3 scripts/module_graph.py            # circles, if any
    python3 scripts/module_graph.py --edges    # every edge
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


files = {}
for root, _, names in os.walk(SRC):
    for name in names:
        if name.endswith(".rs"):
            path = os.path.join(root, name)
            files[module_of(path)] = strip_comments(open(path, encoding="utf-8").read())
# main.rs is its own crate: only lib.rs is the crate root.
files[()] = strip_comments(open(os.path.join(SRC, "lib.rs"), encoding="utf-8").read())
main_rs = os.path.join(SRC, "main.rs")

modules = set(files)


def children(module):
    return {m for m in modules if len(m) == len(module) + 1 and m[: len(module)] == module}


def reexports(module):
    """Item name -> the path it is re-exported from, for `pub use` lines."""
    out = {}
    text = files.get(module, "")
    for m in re.finditer(r"pub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
        spec = m.group(1).replace("\n", " ")
        for prefix, items in expand(spec):
            for item in items:
                out[item.split(" as ")[-1].strip()] = prefix + [item.split(" as ")[0].strip()]
    return out


def expand(spec):
    """`a::b::{c, d::e}` -> [(['a','b'], ['c']), (['a','b','d'], ['e'])]."""
    spec = spec.strip()
    if "{" not in spec:
        parts = [p.strip() for p in spec.split("::")]
        return [(parts[:-1], [parts[-1]])]
    head, _, rest = spec.partition("{")
    body = rest[: rest.rindex("}")]
    prefix = [p.strip() for p in head.strip().rstrip(":").split("::") if p.strip()]
    out = []
    depth, cur = 0, ""
    for c in body + ",":
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == "," and depth == 0:
            if cur.strip():
                for p, items in expand(cur):
                    out.append((prefix + p, items))
            cur = ""
        else:
            cur += c
    return out


def resolve(module, path, seen=0):
    """The module defining the item `path` names, from `module`."""
    if seen > 20 or not path:
        return None
    if path[0] == "crate":
        base, rest = (), path[1:]
    elif path[0] == "super":
        base, rest = module[:-1], path[1:]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif path[0] == "self":
        base, rest = module, path[1:]
    else:
        return None
    cur = base
    while rest:
        nxt = cur + (rest[0],)
        if nxt in modules:
            cur, rest = nxt, rest[1:]
            continue
        # An item of `cur`: defined there, or re-exported from elsewhere.
        again = reexports(cur).get(rest[0])
        if again and again[0] in ("crate", "super", "self"):
            return resolve(cur, again + rest[1:], seen + 1)
        if again and again[0] in {m[-1] for m in children(cur)}:
            return resolve(cur, ["self"] + again + rest[1:], seen + 1)
        return cur
    return cur


edges = {m: set() for m in modules}
for module, text in files.items():
    own = set(children(module))
    uses = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        public = re.search(r"pub(?:\([^)]*\))?\s+$", text[: m.start()][-20:])
        for prefix, items in expand(m.group(1).replace("\n", " ")):
            for item in items:
                name = item.split(" as ")[0].strip()
                uses.append((prefix + ([name] if name not in ("self", "*") else []), public))
    for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
        uses.append((m.group(1).split("::"), None))
    for path, public in uses:
        if path[0] not in ("crate", "super", "self"):
            continue
        target = resolve(module, path)
        if target is None or target == module:
            continue
        # A parent's `pub use` of its own children declares, it does not use.
        if public and target[: len(module)] == module and len(target) > len(module):
            continue
        # An item of a module's own ancestors reached through them is a use
        # of the ancestor; a child declared with `mod` is not.
        if target in own and public:
            continue
        edges[module].add(target)


def name(m):
    return "::".join(m) or "crate"


if "--edges" in sys.argv:
    for m in sorted(edges):
        for t in sorted(edges[m]):
            print(f"{name(m)} -> {name(t)}")

# Circles: strongly connected components with more than one module.
index, low, stack, on, comps = {}, {}, [], set(), []
counter = [0]


def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            strong(w)
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
        if len(comp) > 1:
            comps.append(comp)


sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index:
        strong(v)
for comp in comps:
    print("circle:", ", ".join(sorted(name(m) for m in comp)))
    for m in sorted(comp):
        for t in sorted(edges[m] & set(comp)):
            print(f"  {name(m)} -> {name(t)}")
print(f"{len(modules)} modules, {sum(len(e) for e in edges.values())} uses, {len(comps)} circles")
sys.exit(1 if comps else 0)
