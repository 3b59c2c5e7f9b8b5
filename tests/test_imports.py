"""Start-up cost: importing the engine or running a quick command loads no library it does not use.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Libraries only some models or pages need: SciPy's optimizers, statistics and sparse linear algebra
# (nmf, bpmf, svd), scikit-learn (clustering and maps), numba (compiled kernels, made on first use).
HEAVY = ("scipy.optimize", "scipy.stats", "scipy.sparse.linalg", "sklearn", "numba")

PROBE = """
import json, sys
{statement}
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def imported_heavy(statement: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of the ``heavy`` modules running ``statement`` in a fresh interpreter loads."""
    code = PROBE.format(statement=statement, heavy=heavy)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(output.stdout.splitlines()[-1])


def test_import_recengine_loads_no_heavy_library():
    assert imported_heavy("import recengine") == []


@pytest.mark.slow
def test_info_command_loads_no_heavy_library():
    statement = "from recengine.cli import main\nmain(['info', '--json'])"
    assert imported_heavy(statement) == []


def loaded_by_command(arguments: list[str], modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` running ``recengine ARGUMENTS`` in a fresh interpreter imports."""
    statement = f"from recengine.cli import main\nmain({arguments!r})"
    return imported_heavy(statement, modules)


def test_training_sgd_from_the_command_line_loads_neither_sparse_matrices_nor_pandas(tmp_path):
    """``recengine train --algo sgd`` on a file of numbers needs neither scipy.sparse (0.25-0.5 s to import)
    nor pandas (about 0.6 s) nor, once its kernels are built ahead of time, numba."""
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(
        "user,item,rating\n" + "".join(f"{u},{i},{1 + (u + i) % 5}\n" for u in range(9) for i in range(7))
    )
    arguments = ["train", "--algo", "sgd", "--epochs", "2", "--data", str(ratings)]
    assert loaded_by_command(arguments, ("scipy.sparse", "pandas")) == []


def test_training_on_movielens_split_files_loads_no_pandas(tmp_path):
    """The issue's timed command: u1.base and u1.test beside u.item, u.genre and u.user."""
    rows = [
        f"{u}\t{i}\t{1 + (u * i) % 5}\t{880000000 + u * 10 + i}\n" for u in range(1, 9) for i in range(1, 7)
    ]
    (tmp_path / "u1.base").write_text("".join(rows[:40]))
    (tmp_path / "u1.test").write_text("".join(rows[40:]))
    flags = "|".join(["0"] * 18 + ["1"])
    (tmp_path / "u.item").write_text(
        "".join(f"{i}|Film {i} (1995)|01-Jan-1995||http://x|{flags}\n" for i in range(1, 8))
    )
    (tmp_path / "u.user").write_text("".join(f"{u}|30|F|writer|0000{u}\n" for u in range(1, 9)))
    split = ["--train", str(tmp_path / "u1.base"), "--test", str(tmp_path / "u1.test")]
    assert loaded_by_command(["train", "--algo", "sgd", "--epochs", "2", *split], ("pandas",)) == []


def test_import_recengine_loads_no_sparse_matrices():
    code = "import recengine, sys\nprint('scipy.sparse' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.splitlines()[-1] == "False"
