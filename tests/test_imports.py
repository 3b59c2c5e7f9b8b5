"""Start-up cost: importing the engine or running a quick command loads no library it does not use.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

# Libraries only some models or pages need: SciPy's optimizers, statistics and sparse linear algebra
# (nmf, bpmf, svd), scikit-learn (clustering and maps), numba (compiled kernels, made on first use).
HEAVY = ("scipy.optimize", "scipy.stats", "scipy.sparse.linalg", "sklearn", "numba")

PROBE = """
import json, sys
{statement}
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def imported_heavy(statement: str) -> list[str]:
    """The heavy modules loaded by running ``statement`` in a fresh interpreter."""
    code = PROBE.format(statement=statement, heavy=HEAVY)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(output.stdout.splitlines()[-1])


def test_import_recengine_loads_no_heavy_library():
    assert imported_heavy("import recengine") == []


def test_info_command_loads_no_heavy_library():
    statement = "from recengine.cli import main\nmain(['info', '--json'])"
    assert imported_heavy(statement) == []


def test_training_sgd_from_the_command_line_loads_no_sparse_matrices(tmp_path):
    """``recengine train --algo sgd`` needs neither scipy.sparse (0.25-0.5 s to import) nor, once its kernels
    are built ahead of time, numba."""
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(
        "user,item,rating\n" + "".join(f"{u},{i},{1 + (u + i) % 5}\n" for u in range(9) for i in range(7))
    )
    statement = f"from recengine.cli import main\nmain(['train', '--algo', 'sgd', '--epochs', '2', '--data', {str(ratings)!r}])"
    code = statement + "\nimport sys\nprint('scipy.sparse' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.splitlines()[-1] == "False"


def test_import_recengine_loads_no_sparse_matrices():
    code = "import recengine, sys\nprint('scipy.sparse' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.splitlines()[-1] == "False"
