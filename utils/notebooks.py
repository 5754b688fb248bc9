"""Notebook hygiene: clean notebooks for git, and student copies without solutions.

    python -m utils.notebooks clean notebooks          # strip outputs in place
    python -m utils.notebooks check notebooks          # exit 1 and list dirty notebooks
    python -m utils.notebooks student notebooks student
    python -m utils.notebooks pin NOTEBOOK...             # run in fast mode, store pinned outputs
    python -m utils.notebooks sync notebooks           # Colab badges and set-up lines from course.REPOSITORY
    python -m utils.notebooks set-repository OWNER/NAME [BRANCH]   # a fork: point everything at it

A notebook is *clean* when cells keep only ``tags`` metadata, the notebook keeps only
``kernelspec`` and ``language_info.name``, and no cell has outputs or an execution count
**except** the cells marked ``# NBVAL_CHECK_OUTPUT``: their text output is the pinned
reference that ``pytest --nbval-lax`` compares against (nbval needs them numbered, so
they are numbered 1, 2, ... in order), so it is committed.
Pin it (after a deliberate change) with::

    python -m utils.notebooks pin notebooks/0_1_Images_Kernels_Pooling.ipynb

Instructor notebooks keep solutions in code cells tagged ``solution``. In the student
copy each such cell becomes a stub: functions keep their signature and docstring and
raise ``NotImplementedError``; other assignments become ``name = ...``.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat

KEEP_CELL_METADATA = ("tags",)
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
PINNABLE_MIME = ("text/plain",)


def is_pinned(cell) -> bool:
    """True for a code cell whose output nbval checks (marked ``# NBVAL_CHECK_OUTPUT``)."""
    return cell.cell_type == "code" and CHECK_MARK in cell.source


def _pinnable(outputs) -> list:
    """Keep text outputs only (streams and ``text/plain`` results), without counts."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream":
            kept.append(nbformat.v4.new_output("stream", name=out["name"], text=out["text"]))
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = {k: v for k, v in out.get("data", {}).items() if k in PINNABLE_MIME}
            if data:
                kept.append(nbformat.v4.new_output("execute_result", data=data, execution_count=None))
    return kept


def notebooks_in(folder) -> list[Path]:
    """The ``.ipynb`` files of ``folder``, sorted, checkpoints excluded."""
    return sorted(p for p in Path(folder).glob("*.ipynb"))


def problems(nb) -> list[str]:
    """What keeps ``nb`` from being clean (empty list when clean)."""
    out = []
    pinned = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if is_pinned(cell):
                pinned += 1
                if cell.get("execution_count") != pinned:
                    out.append(f"cell {i} (pinned) should have execution count {pinned}")
                if cell.get("outputs") != _pinnable(cell.get("outputs", [])):
                    out.append(f"cell {i} (pinned) has outputs other than text")
                elif not cell.get("outputs"):
                    out.append(f"cell {i} is marked {CHECK_MARK} but has no pinned output (run `pin`)")
            else:
                if cell.get("outputs"):
                    out.append(f"cell {i} has outputs")
                if cell.get("execution_count") is not None:
                    out.append(f"cell {i} has an execution count")
        extra = set(cell.get("metadata", {})) - set(KEEP_CELL_METADATA)
        if extra:
            out.append(f"cell {i} has metadata {sorted(extra)}")
    extra = set(nb.metadata) - {"kernelspec", "language_info"}
    if extra:
        out.append(f"notebook metadata {sorted(extra)}")
    if set(nb.metadata.get("language_info", {})) - {"name"}:
        out.append("language_info beyond its name")
    return out


def clean(nb):
    """Strip outputs, execution counts and metadata from ``nb`` in place; returns it."""
    pinned = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            if is_pinned(cell):
                pinned += 1
                cell.outputs, cell.execution_count = _pinnable(cell.get("outputs", [])), pinned
            else:
                cell.outputs, cell.execution_count = [], None
        cell.metadata = {k: v for k, v in cell.get("metadata", {}).items() if k in KEEP_CELL_METADATA}
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nb


_BADGE = re.compile(r"\[!\[Open in Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/github/[^)]*\)")
_COLAB_BLOCK = re.compile(r'^if "google\.colab" in sys\.modules:.*?^    sys\.path\.insert\(0, "course"\)$', re.S | re.M)


def colab_problems(nb, filename: str) -> list[str]:
    """How ``nb``'s Colab badge and set-up lines differ from those made from ``course.REPOSITORY``."""
    from utils import course

    out = []
    first = nb.cells[0].source if nb.cells else ""
    if course.colab_badge(filename) not in first:
        out.append("the Colab badge in the first cell is not course.colab_badge(...)")
    setup = [c.source for c in nb.cells if c.cell_type == "code" and "course.setup(" in c.source]
    if not setup or course.colab_setup_lines() not in setup[0]:
        out.append("the set-up cell does not start with course.colab_setup_lines()")
    return out


def sync_colab(nb, filename: str):
    """Rewrite ``nb``'s Colab badge and set-up lines from ``course.REPOSITORY`` (in place; returns it)."""
    from utils import course

    if nb.cells and nb.cells[0].cell_type == "markdown":
        nb.cells[0].source = _BADGE.sub(lambda m: course.colab_badge(filename), nb.cells[0].source)
    for cell in nb.cells:
        if cell.cell_type == "code" and "course.setup(" in cell.source:
            cell.source = _COLAB_BLOCK.sub(lambda m: course.colab_setup_lines(), cell.source, count=1)
            break
    return nb


def set_repository(repository: str, branch: str = "main", folder="notebooks", source=None) -> None:
    """Point the course at ``repository`` (``owner/name`` on GitHub) and ``branch``: rewrite
    ``course.REPOSITORY``/``BRANCH`` in ``utils/course.py``, then every notebook's badge and set-up lines."""
    from utils import course

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", repository):
        raise ValueError(f"repository {repository!r} is not of the form owner/name")
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", branch):
        raise ValueError(f"branch {branch!r} is not a branch name")
    source = Path(source or course.__file__)
    text = source.read_text()
    text = re.sub(r'^REPOSITORY = ".*"$', f'REPOSITORY = "{repository}"', text, count=1, flags=re.M)
    text = re.sub(r'^BRANCH = ".*"$', f'BRANCH = "{branch}"', text, count=1, flags=re.M)
    source.write_text(text)
    course.REPOSITORY, course.BRANCH = repository, branch
    for f in notebooks_in(folder):
        nbformat.write(sync_colab(nbformat.read(f, 4), f.name), f)


def _stub_function(node: ast.FunctionDef, source: str) -> str:
    lines = source.splitlines()
    body_start = node.body[0]
    doc = ast.get_docstring(node, clean=False)
    header = "\n".join(lines[node.lineno - 1 - len(node.decorator_list):body_start.lineno - 1])
    if doc is not None:
        header = "\n".join(lines[node.lineno - 1 - len(node.decorator_list):body_start.end_lineno])
    indent = " " * (body_start.col_offset)
    return f"{header}\n{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()"


def stub(source: str) -> str:
    """The student version of a solution cell's ``source``."""
    tree = ast.parse(source)
    parts = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append(_stub_function(node, source))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = ", ".join(ast.unparse(t) for t in targets)
            parts.append(f"{names} = ...  # YOUR CODE HERE")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append(ast.get_source_segment(source, node))
        # any other statement of the solution is dropped: it is part of the answer
    return "\n\n".join(parts) if parts else "# YOUR CODE HERE"


def student_copy(nb):
    """A copy of ``nb`` with every ``solution``-tagged cell stubbed, outputs stripped."""
    nb = nbformat.reads(nbformat.writes(nb), 4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "solution" in cell.get("metadata", {}).get("tags", []):
            cell.source = stub(cell.source)
    return clean(nb)


def pin(path, timeout: int = 600) -> list[str]:
    """Execute notebook ``path`` in fast mode and store the outputs of its pinned cells
    (everything else stripped). Returns the pinned cells' text, for a look."""
    import os

    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, 4)
    os.environ["COURSE_MODE"] = "fast"
    os.environ.setdefault("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(clean(nb), path)
    return ["".join(o.get("text", o.get("data", {}).get("text/plain", "")) for o in c.outputs)
            for c in nb.cells if is_pinned(c)]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "pin" and len(args) > 1:
        for f in args[1:]:
            for text in pin(f):
                print(f"{f}: pinned\n{text}")
        return 0
    if args and args[0] == "set-repository" and len(args) > 1:
        set_repository(args[1], *(args[2:3] or ["main"]))
        print(f"course repository is now {args[1]}; badges and set-up cells rewritten")
        return 0
    if not args or args[0] not in ("clean", "check", "student", "sync"):
        print(__doc__)
        return 2
    command, folder = args[0], Path(args[1] if len(args) > 1 else "notebooks")
    files = notebooks_in(folder)
    if not files:
        print(f"{folder}: no notebooks found", file=sys.stderr)
        return 2
    if command == "student":
        dest = Path(args[2] if len(args) > 2 else "student")
        dest.mkdir(parents=True, exist_ok=True)
        for f in files:
            nbformat.write(student_copy(nbformat.read(f, 4)), dest / f.name)
        print(f"wrote {len(files)} student notebooks to {dest}/")
        return 0
    if command == "sync":
        for f in files:
            nb = nbformat.read(f, 4)
            before = nbformat.writes(nb)
            if nbformat.writes(sync_colab(nb, f.name)) != before:
                nbformat.write(nb, f)
                print(f"synced {f}")
        return 0
    dirty = 0
    for f in files:
        nb = nbformat.read(f, 4)
        found = problems(nb)
        if command == "clean":
            if found:
                nbformat.write(clean(nb), f)
                print(f"cleaned {f}")
        elif found:
            dirty += 1
            print(f"{f}: not clean: {'; '.join(found)} (run `make clean-notebooks`)")
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
