"""Notebook hygiene and structure: every notebook is clean, shaped like a course notebook,
and its student copy keeps no solution code."""
import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from utils import notebooks as nbtools
from utils.knobs import KNOBS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = nbtools.notebooks_in(ROOT / "notebooks")
IDS = [p.name for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_clean(path):
    nb = nbformat.read(path, 4)
    assert nbtools.problems(nb) == [], f"{path.name} is not clean: run `make clean-notebooks`"
    nbformat.validate(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_has_the_course_shape(path):
    nb = nbformat.read(path, 4)
    number = "_".join(path.name.split("_")[:2])
    assert re.fullmatch(r"\d_\d", number), f"{path.name}: name must start with D_N_"
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert md and md[0].lstrip().startswith("# "), "first cell: an H1 title"
    assert f"colab.research.google.com/github/" in md[0] and path.name in md[0], "Colab badge for this file"
    assert re.search(r"you will learn", md[0], re.I), "learning goals in the first cell"
    setup = [c for c in code if "course.setup(" in c]
    assert len(setup) == 1 and f'course.setup("{number}"' in setup[0], "one set-up cell naming the notebook"
    assert number in KNOBS, f"knobs for {number} in utils/knobs.py"
    assert any(c.lstrip().startswith("# NBVAL_CHECK_OUTPUT") for c in code), "a pinned output cell"
    assert any("checks." in c for c in code), "an exercise with a check"
    assert any("solution" in c.get("metadata", {}).get("tags", []) for c in nb.cells), "a solution cell"
    assert any(re.match(r"##\s+Summary", m.strip()) for m in md), "a summary"
    assert any("plt." in c or ".imshow(" in c or "display_instances" in c for c in code), "a plot"
    for src in code:
        ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))


def _solution_lines(source):
    """Statement lines of a solution's bodies (what the student must write)."""
    tree = ast.parse(source)
    lines = set()
    for node in tree.body:
        body = node.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else [node]
        for stmt in body:
            if isinstance(stmt, ast.Expr) and isinstance(getattr(stmt, "value", None), ast.Constant):
                continue  # docstring
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                continue
            value = getattr(stmt, "value", None) if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
            # The right-hand side is the answer (stubs keep `name = ...`); a bare constant or name
            # such as `True` is too common to search for alone, so keep its whole statement then.
            text = ast.unparse(stmt if value is None or isinstance(value, (ast.Constant, ast.Name)) else value)
            for line in text.splitlines():
                if len(line.strip()) > 3:
                    lines.add(line.strip())
    return lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_copy_keeps_no_solution_code(path, tmp_path):
    nb = nbformat.read(path, 4)
    student = nbtools.student_copy(nb)
    solutions = [c for c in nb.cells if "solution" in c.get("metadata", {}).get("tags", [])]
    assert solutions
    student_code = "\n".join(ast.unparse(ast.parse(c.source)) for c in student.cells if c.cell_type == "code"
                             and not c.source.lstrip().startswith(("%", "!")))
    for cell in solutions:
        for line in _solution_lines(cell.source):
            assert line not in student_code, f"{path.name}: solution line survives in the student copy: {line}"
    assert len(student.cells) == len(nb.cells)
    assert nbtools.problems(student) == [] or all("pinned" in p for p in nbtools.problems(student))


def test_stub_keeps_signatures_and_docstrings():
    src = 'import numpy as np\n\ndef f(x, y=2):\n    """Doc."""\n    z = x + y\n    return z * 2\n\nanswer = 42\nprint(answer)\n'
    out = nbtools.stub(src)
    assert "def f(x, y=2):" in out and '"""Doc."""' in out and "raise NotImplementedError()" in out
    assert "answer = ...  # YOUR CODE HERE" in out and "import numpy as np" in out
    assert "x + y" not in out and "42" not in out and "print" not in out
    ns = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError):
        ns["f"](1)


def test_clean_strips_all_but_pinned_text(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"x": 1}
    pinned = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1)", execution_count=7)
    pinned.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n"),
                      nbformat.v4.new_output("display_data", data={"image/png": "AAA", "text/plain": "<Figure>"})]
    other = nbformat.v4.new_code_cell("x = 1", execution_count=8)
    other.outputs = [nbformat.v4.new_output("stream", name="stdout", text="noise\n")]
    other.metadata["collapsed"] = True
    nb.cells = [pinned, other]
    assert nbtools.problems(nb)
    nbtools.clean(nb)
    assert nbtools.problems(nb) == []
    assert pinned.execution_count == 1 and [o.output_type for o in pinned.outputs] == ["stream", "execute_result"]
    assert "image/png" not in json.dumps(pinned.outputs)
    assert other.outputs == [] and other.execution_count is None and other.metadata == {}
    again = nbformat.reads(nbformat.writes(nb), 4)
    assert nbformat.writes(nbtools.clean(again)) == nbformat.writes(nb)  # idempotent


def test_cli_check_flags_a_dirty_notebook(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=1)
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "0_9_Dirty.ipynb")
    assert nbtools.main(["check", str(tmp_path)]) == 1
    assert "not clean" in capsys.readouterr().out
    assert nbtools.main(["clean", str(tmp_path)]) == 0
    assert nbtools.main(["check", str(tmp_path)]) == 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_colab_badge_and_setup_lines_come_from_the_course_repository(path):
    nb = nbformat.read(path, 4)
    assert nbtools.colab_problems(nb, path.name) == [], f"{path.name}: run `python -m utils.notebooks sync notebooks`"


def test_set_repository_rewrites_one_place_and_every_notebook(tmp_path, monkeypatch):
    from utils import course

    folder = tmp_path / "notebooks"
    folder.mkdir()
    for p in NOTEBOOKS[:2]:
        (folder / p.name).write_bytes(p.read_bytes())
    source = tmp_path / "course.py"
    source.write_text(Path(course.__file__).read_text())
    monkeypatch.setattr(course, "REPOSITORY", course.REPOSITORY)
    monkeypatch.setattr(course, "BRANCH", course.BRANCH)
    nbtools.set_repository("a-fork/cv-course", "teaching", folder, source=source)
    assert 'REPOSITORY = "a-fork/cv-course"' in source.read_text() and 'BRANCH = "teaching"' in source.read_text()
    for p in nbtools.notebooks_in(folder):
        text = p.read_text()
        assert "github/a-fork/cv-course/blob/teaching/notebooks/" + p.name in text
        assert "git clone -q --depth 1 -b teaching https://github.com/a-fork/cv-course course" in text
        assert nbtools.colab_problems(nbformat.read(p, 4), p.name) == []
    with pytest.raises(ValueError):
        nbtools.set_repository("not a repo", folder=folder, source=source)


def test_notebook_code_builds_no_repository_path_from_the_working_directory():
    """data/ and weights/ paths come from knobs (resolved from the root) or course.path(...), never
    from a literal relative path that would resolve against notebooks/ or Colab's folder."""
    literal = re.compile(r"""(?<![\w/])["'](data|weights|outputs)/""")
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type != "code":
                continue
            for line in cell.source.splitlines():
                code = line.split("#", 1)[0]
                if literal.search(code) and "course.path(" not in code and "course.ROOT" not in code:
                    pytest.fail(f"{path.name}: relative repository path in code: {line.strip()}")


_CHECK_CALL = re.compile(r"^(?P<lhs>[^#\n]*?)\bchecks\.(?P<check>\w+)\((?P<arg>\w+)\)\s*$", re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_function_check_hands_later_cells_what_to_use(path):
    """`f = checks.f(f)`: later cells use the student's function when it passed and the course's
    reference when it did not, so a stuck student can run the rest of the notebook."""
    nb = nbformat.read(path, 4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for match in _CHECK_CALL.finditer(cell.source):
            if match["check"] in ("check_value", "check_target", "face_database"):
                continue
            assert match["lhs"].replace(" ", "") == f"{match['arg']}=", (
                f"{path.name}: `{match.group(0).strip()}` should read `{match['arg']} = checks.{match['check']}({match['arg']})`")
