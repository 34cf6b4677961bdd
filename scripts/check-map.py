#!/usr/bin/env python3
"""Checks that docs/ARCHITECTURE.md is still the map of the code, and that no crate's modules import each other in
a circle. Run by scripts/test; `--print` also prints each crate's module graph. Python 3 standard library only.

Two rules, each failing with a message that names what to fix:

1. Every module a crate's root declares is on the map. For each workspace member with a `src/lib.rs` (read from the
   root Cargo.toml, so a new crate is checked without editing this script), every file module declared there
   (`mod x;`, `pub mod x;`, `pub(crate) mod x;`) must be named in the crate's section of docs/ARCHITECTURE.md: the
   text from the heading that starts with the crate's folder in backticks (`### `node/` ...`, `### `node/flows/`
   ...`) to the next heading. A module `x` is named when its file appears there in backticks: `x.rs`, `x/`, or a path
   inside it such as `x/mod.rs`. A crate with modules but no section fails too.

2. No import cycle between a crate's top-level modules. Module `a` depends on module `b` when code in `a`'s files
   (`src/a.rs`, `src/a/**.rs`) names a path `crate::b...` (in a `use`, in an expression, or inside a
   `use crate::{b::..., c}` group). Comments are not code: `//`, `///` and `//!` lines and the tail of a line after
   ` //` are skipped, so a doc link is never a dependency. `super::` paths are not read: a child naming its parent
   is not a cycle between modules. Every elementary cycle is reported once, from its alphabetically first module,
   e.g. `node: federation -> service -> federation`.

ALLOWED_CYCLES lists tolerated cycles (none today); the check fails on any cycle not in it, and on an entry that no
longer exists (so the list only shrinks).
"""

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAP = ROOT / "docs" / "ARCHITECTURE.md"

# Empty, and meant to stay so: a module both sides need belongs below both (issue 11 removed the last cycles by moving
# `delivery_nodes` to the protocol crate, the worker table and the start-up path out of `federation`, and each
# subsystem's metrics into the subsystem). Entries would read "crate: a -> b -> ... -> a", in any rotation.
ALLOWED_CYCLES: list[str] = []

MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s")
CRATE_PATH = re.compile(r"(?<![\w$:])crate::([A-Za-z_][A-Za-z0-9_]*)")
CRATE_GROUP = re.compile(r"(?<![\w$:])crate::\{")


def crates():
    """(folder relative to the root, its lib.rs) for every workspace member that is a library."""
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    for member in members:
        lib = ROOT / member / "src" / "lib.rs"
        if lib.is_file():
            yield member, lib


def crate_name(folder):
    return folder.rsplit("/", 1)[-1]


def declared_modules(lib):
    return sorted(set(MOD_DECL.findall(code_of(lib.read_text()))))


def code_of(text):
    """The text with comment lines and end-of-line comments removed (line count kept)."""
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("//"):
            lines.append("")
            continue
        # An end-of-line comment starts at ` //`; `http://` in a string has no space before it.
        cut = line.find(" //")
        lines.append(line if cut < 0 else line[:cut])
    return "\n".join(lines)


# Rule 1: the map names every module.


def map_sections():
    """Crate folder -> the text of its section of the map."""
    sections, current = {}, None
    for line in MAP.read_text().splitlines():
        if HEADING.match(line):
            found = re.match(r"^#{1,6}\s+`([^`]+?)/?`", line)
            current = found.group(1) if found else None
            if current is not None:
                sections[current] = []
            continue
        if current is not None:
            sections[current].append(line)
    return {folder: "\n".join(lines) for folder, lines in sections.items()}


def names_in(section):
    """Every top-level module name the section names in backticks (`x.rs`, `x/`, `x/...`)."""
    names = set()
    for token in re.findall(r"`([^`\s]+)`", section):
        if "/" in token:
            names.add(token.split("/", 1)[0])
        elif token.endswith(".rs"):
            names.add(token[: -len(".rs")])
    return names


def check_map(errors):
    sections = map_sections()
    for folder, lib in crates():
        modules = declared_modules(lib)
        if not modules:
            continue
        section = sections.get(folder)
        if section is None:
            errors.append(
                f"{folder}: docs/ARCHITECTURE.md has no section for this crate; add a heading "
                f"\"### `{folder}/` (`package-name`)\" to the code map with a line per module"
            )
            continue
        named = names_in(section)
        for module in modules:
            if module not in named:
                errors.append(
                    f"{folder}/src/lib.rs declares `mod {module};` but docs/ARCHITECTURE.md does not name it: "
                    f"add `{module}.rs` (or `{module}/`) with what it holds to the `{folder}/` section of the code map"
                )


# Rule 2: no cycles between a crate's modules.


def top_module(src, path, modules):
    """The top-level module a file belongs to, or None for the crate root and binaries."""
    parts = path.relative_to(src).parts
    name = parts[0][: -len(".rs")] if len(parts) == 1 else parts[0]
    return name if name in modules else None


def group_heads(code, start):
    """The first segment of each item of the `{...}` group opening at `start` (the index of `{`)."""
    depth, item, heads = 0, "", []
    for char in code[start:]:
        if char == "{":
            depth += 1
            if depth == 1:
                continue
        elif char == "}":
            depth -= 1
            if depth == 0:
                heads.append(item)
                break
        if depth == 1 and char == ",":
            heads.append(item)
            item = ""
        elif depth >= 1:
            item += char
    return [re.split(r"::|\s|\{", head.strip(), maxsplit=1)[0] for head in heads if head.strip()]


def graph_of(folder, lib):
    """Module -> the sorted modules of the same crate that it names through `crate::`."""
    modules = set(declared_modules(lib))
    src = lib.parent
    graph = {module: set() for module in modules}
    for path in sorted(src.rglob("*.rs")):
        module = top_module(src, path, modules)
        if module is None:
            continue
        code = code_of(path.read_text())
        used = set(CRATE_PATH.findall(code))
        for group in CRATE_GROUP.finditer(code):
            used.update(group_heads(code, group.end() - 1))
        graph[module].update(name for name in used if name in modules and name != module)
    return {module: sorted(targets) for module, targets in sorted(graph.items())}


def cycles_of(graph):
    """Every elementary cycle, each as a list that starts at its alphabetically first module (not repeated at the end).

    The graphs are a dozen or two modules, so a depth-first search from each module, through later modules only,
    is enough.
    """
    order = sorted(graph)
    rank = {module: i for i, module in enumerate(order)}
    found = []
    for start in order:
        stack = [(start, [start])]
        while stack:
            module, path = stack.pop()
            for target in reversed(graph[module]):
                if target == start:
                    found.append(path)
                elif rank[target] > rank[start] and target not in path:
                    stack.append((target, path + [target]))
    return sorted(found)


def canonical(crate, cycle):
    first = cycle.index(min(cycle))
    turned = cycle[first:] + cycle[:first]
    return f"{crate}: " + " -> ".join(turned + [turned[0]])


def parse_allowed(entry):
    crate, _, chain = entry.partition(":")
    names = [name.strip() for name in chain.split("->")]
    if len(names) < 3 or names[0] != names[-1]:
        raise SystemExit(f"check-map: ALLOWED_CYCLES entry {entry!r} is not of the form 'crate: a -> b -> a'")
    return canonical(crate.strip(), names[:-1])


def check_cycles(errors, show):
    allowed = {parse_allowed(entry) for entry in ALLOWED_CYCLES}
    present = set()
    for folder, lib in crates():
        crate = crate_name(folder)
        graph = graph_of(folder, lib)
        cycles = [canonical(crate, cycle) for cycle in cycles_of(graph)]
        if show:
            print(f"{crate} ({folder}/src):")
            for module, targets in graph.items():
                print(f"  {module} -> {', '.join(targets) if targets else '(nothing)'}")
            for cycle in cycles:
                print(f"  cycle: {cycle}{'  (allowed for now)' if cycle in allowed else ''}")
        for cycle in cycles:
            present.add(cycle)
            if cycle not in allowed:
                errors.append(
                    f"import cycle {cycle}: break it (move the shared type or function to the module both can "
                    f"depend on, or pass it in); run `scripts/check-map.py --print` for the whole graph"
                )
    for cycle in sorted(allowed - present):
        errors.append(
            f"cycle {cycle} is in ALLOWED_CYCLES in scripts/check-map.py but no longer exists: remove the entry "
            f"(the list only shrinks)"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print", action="store_true", help="print each crate's module graph and its cycles")
    args = parser.parse_args()
    errors = []
    check_map(errors)
    check_cycles(errors, args.print)
    for error in errors:
        print(f"check-map: {error}", file=sys.stderr)
    if errors:
        return 1
    print("check-map: every module is on the map, and no new import cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
