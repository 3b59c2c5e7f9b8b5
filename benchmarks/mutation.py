"""Mutation testing of the engine's maths with mutmut; writes benchmarks/results/mutation.md.

    python benchmarks/mutation.py                    # every module below, 2 workers, under nice
    python benchmarks/mutation.py --only metrics     # one module (the smallest to start with)
    python benchmarks/mutation.py --report-only      # the table again from the last run's results

mutmut (chosen over cosmic-ray by measuring on metrics.py: 911 mutants in 7 min against about 18 s a mutant,
4 hours, for cosmic-ray, which starts pytest afresh for every mutant; see the results file) copies the
package into ``mutants/`` of a scratch directory, forks one worker per mutant from a process that has
already imported everything, and runs only the tests that reach the mutated function.

What is mutated: the functions that compute something in the modules listed in `MATHS` (metrics,
re-ranking, splits, the new-user protocol, fold-in and every model's updates and objective), not their
messages, parameters or plumbing. The numba kernels run as plain Python: the copy's kernels lose their
lazy-compile decorator (mutmut leaves decorated functions alone) and numba's JIT is disabled. The tests are
the fast ones that pin the maths (`TESTS`), about 20 s for all of them in plain Python.

A surviving mutant is either killed by a new test or explained in `EQUIVALENT` (a mutant that computes
the same thing); the report lists every survivor with its diff and the explanation.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tokenize
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mutation.md"
STORE = ROOT / "benchmarks" / "results" / "mutation.json"  # each module's latest outcome
WORKDIR = Path(os.environ.get("RECENGINE_MUTATION_DIR", "/tmp/recengine-mutation"))
MUTMUT = Path(sys.executable).with_name("mutmut")

# Module (a short name for --only) -> file -> the functions and methods ("Class.method") mutated.
MATHS: dict[str, dict[str, list[str]]] = {
    "metrics": {
        "recengine/evaluation/metrics.py": [
            "_errors", "mse", "rmse", "mae", "_discounts", "_per_user", "_hit_matrix", "_mean_metric",
            "precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "hit_rate_at_k", "catalogue_coverage",
            "novelty", "mean_popularity", "capped_recall_at_k", "personalization", "miscalibration",
            "top_k_lists", "ranking_report",
        ],
    },
    "rerank": {
        "recengine/serving/rerank.py": [
            "normalised", "calibrated", "_greedy", "distinctness", "personal_weight", "taste_mix",
            "CalibratedReranker.target", "CalibratedReranker.__call__", "genre_background",
        ],
    },
    "split": {
        "recengine/evaluation/split.py": [
            "holdout_random", "holdout_per_user", "holdout_temporal", "kfold", "_latest_share", "_sides",
            "_check_size",
        ],
    },
    "newuser": {
        "recengine/evaluation/newuser.py": [
            "split_new_users", "_check_shares", "_held_out", "top_n", "evaluate_new_users",
        ],
    },
    "foldin": {
        "recengine/models/person.py": ["clean_ratings", "LinearSystem.solve", "evidence", "ridge_system"],
        "recengine/models/base.py": [
            "Recommender.fold_in", "Recommender.fold_in_user", "Recommender.foldin_system",
            "Recommender.foldin_penalty",
        ],
    },
    "objective": {
        "recengine/models/objective.py": [
            "_mf_gradient", "Groups.of", "Groups.sums", "Groups.spread", "OnePassMetrics._squared_errors",
            "OnePassMetrics._losses", "OnePassMetrics._train_metrics", "BiasedMF._prepare_losses",
            "BiasedMF._reg_power", "BiasedMF._regularization", "BiasedMF._apply", "penalties",
            "weighted_norms", "sum_squares",
        ],
        "recengine/models/kernels/jit.py": ["row_dots", "prediction_errors", "squared_distance", "grouped_positions"],
    },
    "sgd": {
        "recengine/models/sgd.py": ["sgd_epoch", "decayed_lr", "SGD._initialize", "SGD._sweep_metrics", "SGD._run_epoch"],
    },
    "gradient": {"recengine/models/gradient.py": ["clipped", "GD._run_epoch", "Adam._run_epoch", "Adam._adam_steps"]},
    "als": {
        "recengine/models/als.py": ["ALS._run_epoch", "ALS._solve_side", "ALS._current", "cg_rows"],
        "recengine/models/kernels/rowsolve.py": [
            "solve_rows", "_accumulate", "_cholesky", "_solve_lower", "_solve_upper", "ridge_solve",
            "gaussian_draw",
        ],
    },
    "baseline": {
        "recengine/models/baseline.py": ["Baseline._run_epoch", "Baseline._losses", "Baseline.foldin_penalty", "_ridge_mean"],
    },
    "svd": {
        "recengine/models/svd.py": [
            "SVD._run_epoch", "SVD._biases", "SVD._losses", "SVD.fold_in_user", "SVD._residuals",
            "SVD._inverse_gram", "_safe_ratio",
        ],
    },
    "svdpp": {
        "recengine/models/svdpp.py": [
            "implicit_pass", "Side.of", "Side.orders", "SVDpp._reg_power", "SVDpp.foldin_system", "SVDpp._q",
            "SVDpp._user_offsets", "SVDpp._item_offsets", "SVDpp._update_effective_factors",
            "SVDpp._run_epoch", "SVDpp._pass", "SVDpp._bias_arrays", "SVDpp._regularization",
        ],
    },
    "nmf": {
        "recengine/models/nmf.py": [
            "Side.of", "Side.spread", "NMF._weights", "NMF._run_epoch", "NMF._observed_update",
            "NMF._zero_filled_update", "NMF._bias_solve", "NMF._losses", "NMF.fold_in_user", "_multiplied",
        ],
    },
    "implicit": {
        "recengine/models/implicit.py": [
            "WALS.confidence_matrix", "WALS.confidence", "WALS._run_epoch", "WALS._sweep", "WALS._losses",
            "WALS._objective", "WALS.penalty", "WALS.fold_in_user", "WALS._user_system",
            "WALS.foldin_confidence", "WALS._item_gram", "_solve_spd", "BPR._run_epoch", "BPR.fold_in_user",
            "_PairwiseFoldIn.margins", "_PairwiseFoldIn.objective", "_PairwiseFoldIn.solve", "_triple_parts",
            "bpr_objective_terms", "bpr_gradients",
        ],
        "recengine/models/kernels/implicit.py": [
            "_gram_times", "wals_cg_sweep", "_cholesky_solve_row", "wals_cholesky_sweep", "_rated_part_of_row",
            "rated_part", "bpr_sgd",
        ],
    },
    "bpmf": {
        "recengine/models/bpmf.py": [
            "BPMF._draw_rows", "BPMF._publish", "BPMF._losses", "BPMF.foldin_system", "BPMF._population_prior",
            "_mahalanobis",
        ],
    },
    "challenge": {
        "recengine/evaluation/challenge.py": [
            "Challenge.part", "Challenge.score", "held_out_share", "beyond_chance", "public_mask", "better",
            "winners_curse",
        ],
    },
}  # fmt: skip

# The fast tests that pin the maths (plain-Python kernels make the slow ones far slower).
TESTS = [
    "tests/test_by_hand_metrics.py",
    "tests/test_by_hand_serving.py",
    "tests/test_by_hand_models.py",
    "tests/test_by_hand_foldin.py",
    "tests/test_by_hand_splits.py",
    "tests/test_metrics.py",
    "tests/test_rerank.py",
    "tests/test_split.py",
    "tests/test_newuser.py::test_held_out_people_are_absent_from_training_and_their_ratings_are_split",
    "tests/test_newuser.py::test_bad_settings_are_refused",
    "tests/test_newuser.py::test_the_measures_worked_out_by_hand",
    # mut-a: als, implicit, nmf, sgd, svd, baseline
    "tests/test_by_hand_als.py",
    "tests/test_by_hand_implicit.py",
    "tests/test_by_hand_more_models.py",
    # mut-b: bpmf, foldin, objective, gradient, newuser, rerank, split, svdpp, metrics
    "tests/test_by_hand_bpmf.py",
    "tests/test_challenge.py",
    "tests/test_by_hand_objective.py",
    "tests/test_by_hand_person.py",
    "tests/test_by_hand_svdpp.py",
    "tests/test_by_hand_rerank.py",
    "tests/test_by_hand_newuser.py",
]
DESELECT = ["tests/test_metrics.py::test_most_popular_reproduces_the_benchmarks_row"]  # MovieLens 100k, slow

# Survivors that compute the same thing as the original, by (mutmut's name for the function, the mutated line),
# with the reason.
_CANCELS = "a common factor of every discount cancels in NDCG = DCG ÷ ideal DCG, their only use"
_FLOAT64_PARTNER = "the other operand is float64, so the difference is taken in float64 from the same values"
_ZERO_ONE = "the array only ever holds 0 and 1 (assigned booleans) and is read as numbers"
_INT_LIST = "a list of Python ints becomes int64 either way"
_CHECKED_LENGTH = "the two sequences' lengths were compared just before"
_ONE_SOURCE = "both come from one top_k_lists call, one row each"
_ORDER = (
    "the order in which a user's ratings are stepped through (a random start and direction, drawn every "
    "epoch): every rating is still stepped on once per epoch; the tests check the epoch to first order in η "
    "and, on a matrix whose steps do not interact, exactly"
)
_CACHE = "a cache of what the function computes: computed again, the same value"
_DROPPED = (
    "a fit drops every cache (`_release_work`), so a cache made from other factors never exists: the check "
    "only decides whether a cache of these factors is used or made again"
)
_ARPACK = (
    "the starting vector of ARPACK's iteration: it converges to the same singular triplets (the test compares "
    "P Qᵀ with NumPy's SVD to 1e-9)"
)
_NEWTON = (
    "a step rule of the damped Newton search: the fold-in still ends at the same minimum, which the tests "
    "check against BFGS to 1e-5 (the objective itself is pinned)"
)
_FINITE = "check_finite only adds a check for NaN and inf; these matrices are finite"
_SIGMOID = "both branches compute σ(−x) and ln(1 + e^−x), in forms exact for any x: the branch point is free"
# mut-a: als, implicit, nmf, sgd, svd, baseline
_REST_ONE_BY_ONE = (
    "the entries the four-at-a-time loop leaves are summed one at a time by the loop after it: the same sums, "
    "added in another order"
)
_CAPITALS = "einsum subscripts in capitals mean the same"
_SAME_DTYPE = "the factors are of the model's dtype already: np.array copies them as they are either way"
_SQUARE = "the matrix is square (d × d): its two dimensions are equal"
_ZERO_PRIOR = (
    "a prior precision, shift or penalty of zeros in float64 instead of the features' dtype: adding 0 is exact "
    "in either precision, so every sum is unchanged"
)
_LONGER_PENALTIES = "two penalties more at the end of the array, never read: each row reads its own"
_EMPTY_NOISE = "the empty noise array (0 rows) of a solve: only its length, 0, is read"
_SERIAL_OR_PARALLEL = (
    "at exactly PARALLEL_LOSS_RATINGS ratings the serial sum instead of the parallel one: both sum the same "
    "per-row parts (a test lowers the threshold and checks the parallel sum by hand)"
)
_TWO_AND_TWO = (
    "both sequences hold two things (users and items), so zip's strict check never finds a difference"
)
_ONLY_MEASURES = (
    "the flag only decides whether the CG sweep measures the objective as it goes (the sweep picks its solver "
    "from the parameters itself): without, the fit loop computes the same objective at the same arrays with "
    "`_losses`, and the item Gram matrix is made again from the same factors"
)
_UNUSED_LOSS = "the array is written only by the CG sweep; with Cholesky solves its size is never used"
_MEASURED_OR_NOT = (
    "without the sweep's own measurement the fit loop computes the same objective at the same arrays with "
    "`_losses` (the tests check the reported loss against the objective written by hand either way)"
)
_WHOLE_COUNTS = "the counts are whole numbers: λ·n, or λ times ones, comes out float64 either way"
_MOST_STEPS = (
    "the most Newton steps, 31 instead of 30 (a default in the signature, so the diff shows no line): the "
    "search stops long before either at the same minimum, checked against BFGS to 1e-6"
)
_FIRST_ONE = "the first of two ones is one as well"
_EMPTY_TASK = (
    "one task more only when the row count is a multiple of 256 or one short of it, and that task's row range "
    "is empty"
)
_LONGER_SCRATCH = (
    "a scratch buffer for the scores made longer than the longest row of the task (or made when scores are "
    "not tracked): only its first row-length places are ever written and read"
)
_SOLVED_ROW = (
    "a row already solved to a squared residual below 1e-20 (or exactly at it) takes a conjugate-gradient "
    "step more or fewer: a step goes to the minimum of the row's quadratic along its direction, so it only "
    "comes closer to the same solution, from a residual under 1e-10"
)
_NEW_ARRAY = "values * ratio is a new array already: astype copies it or not, the values are the same"
_BIAS_FLOOR = (
    "the denominator n + λw is at least 1 for a row with ratings (n ≥ 1) and the sum is 0 for a row without "
    "(w = 0): a floor of 1 instead of 1e-300 changes neither"
)
_FLOAT64_RATINGS = (
    "fold-in hands over float64 ratings (clean_ratings), so asarray gives the same array with or without the "
    "dtype"
)
_ARANGE = "np.arange of a count is int64 on this platform with or without the dtype"
_FINFO = (
    "np.finfo(None) is float64's (NumPy 2.4, with a deprecation warning): the same smallest normal number"
)
_WIDER = (
    "not killed: the precision of a float32 model's working arrays or accumulators (float64 instead): the same "
    "formula rounded less; a float64 model computes the same bits, and a float32 one differs in its last "
    "places only, which no test of the maths can pin (the learned arrays stay float32, which a test checks)"
)
_UNSET = (
    "not killed: without `out`, the entries np.divide skips (a zero denominator: a row without ratings; for "
    "the biases only at λ 0) are left uninitialised instead of 0; in every run the memory NumPy handed out "
    "held zeros (for NMF anything finite does, as the ratio multiplies a zero factor) in the case the tests "
    "plant (test_by_hand_models.py::test_rows_without_ratings_stay_at_zero), so no test sees it reliably"
)
# mut-b: bpmf, foldin, objective, gradient, newuser, rerank, split, svdpp, metrics
_WORK_PRECISION = (
    "the precision of a float32 model's work arrays (float64 instead): the same values to float32 rounding; a "
    "float64 model computes the same, and the float32 tests check only the learned arrays' type"
)
_COPY = "whether the arrays are copied: the same values (nothing writes to them)"
_CAPITALS = "einsum subscripts in capitals mean the same"
_FLOAT64_FOLD_IN = (
    "every model's fold_in_user returns float64 factors (its one-user problem is solved in float64, float32 "
    "models too: checked for every model that folds in), so the conversion changes nothing"
)
_EMPTY_ROWS = (
    "differs only for rows without training ratings: their factors and biases are zero (they start at zero and "
    "no step moves them, ALS's included: test_rows_without_ratings_stay_at_zero; the Spark backend fills them "
    "with zeros), so their weight multiplies zero, and no step uses their per-rating penalty"
)
EQUIVALENT: dict[tuple[str, str], str] = {
    ("recengine.models.bpmf.xǁBPMFǁ_population_prior", "cached = None"): _CACHE,
    (
        "recengine.models.bpmf.xǁBPMFǁ_population_prior",
        'cached = getattr(None, "_population_prior_cache", None)',
    ): _CACHE,
    (
        "recengine.models.bpmf.xǁBPMFǁ_population_prior",
        'cached = getattr(self, "XX_population_prior_cacheXX", None)',
    ): _CACHE,
    (
        "recengine.models.bpmf.xǁBPMFǁ_population_prior",
        'cached = getattr(self, "_POPULATION_PRIOR_CACHE", None)',
    ): _CACHE,
    (
        "recengine.models.bpmf.xǁBPMFǁ_population_prior",
        "if cached is not None and cached[1] is self.user_factors_:",
    ): _CACHE,
    ("recengine.models.bpmf.xǁBPMFǁ_population_prior", "self._population_prior_cache = None"): _CACHE,
    (
        "recengine.models.bpmf.xǁBPMFǁ_population_prior",
        "if cached is not None and cached[0] is not self.user_factors_:",
    ): _DROPPED,
    (
        "recengine.models.bpmf.xǁBPMFǁ_population_prior",
        "rows = rows[np.abs(rows).sum(axis=1) >= 0]",
    ): "BPMF's vectors are never exactly zero (rows without ratings are drawn from the prior), so no row is left out either way",
    (
        "recengine.models.bpmf.xǁBPMFǁ_population_prior",
        "covariance = np.atleast_2d(np.cov(rows, rowvar=None)) if len(rows) > 1 else np.eye(rows.shape[1])",
    ): "rowvar=None is false, as False is",
    (
        "recengine.models.person.x_evidence",
        'has_bias = getattr(model, "user_bias_", ) is not None',
    ): "every model that calls evidence has the attribute (None when it has no user biases)",
    (
        "recengine.models.svd.xǁSVDǁ_inverse_gram",
        "if cached is None or cached[0] is self.item_factors_:",
    ): _DROPPED,
    (
        "recengine.models.implicit.xǁWALSǁ_item_gram",
        "if cached is None or cached[0] is self.item_factors_:",
    ): _DROPPED,
    ("recengine.evaluation.metrics.x__discounts", "return 2.0 / np.log2(np.arange(2, k + 2))"): _CANCELS,
    (
        "recengine.evaluation.newuser.x_evaluate_new_users",
        "discounts = 2.0 / np.log2(np.arange(2, NDCG_AT + 2))",
    ): _CANCELS,
    (
        "recengine.evaluation.metrics.x__errors",
        "truth = np.asarray(y_true, dtype=None).ravel()",
    ): _FLOAT64_PARTNER,
    ("recengine.evaluation.metrics.x__errors", "truth = np.asarray(y_true, ).ravel()"): _FLOAT64_PARTNER,
    (
        "recengine.evaluation.metrics.x__errors",
        "predicted = np.asarray(y_pred, dtype=None).ravel()",
    ): _FLOAT64_PARTNER,
    ("recengine.evaluation.metrics.x__errors", "predicted = np.asarray(y_pred, ).ravel()"): _FLOAT64_PARTNER,
    (
        "recengine.evaluation.metrics.x__hit_matrix",
        "hits = np.zeros((len(recommended), k), dtype=None)",
    ): _ZERO_ONE,
    ("recengine.evaluation.metrics.x__hit_matrix", "hits = np.zeros((len(recommended), k), )"): _ZERO_ONE,
    (
        "recengine.evaluation.metrics.x_ranking_report",
        "hits = np.zeros((len(users), k), dtype=None)",
    ): _ZERO_ONE,
    ("recengine.evaluation.metrics.x_ranking_report", "hits = np.zeros((len(users), k), )"): _ZERO_ONE,
    (
        "recengine.evaluation.metrics.x__hit_matrix",
        "for row, (items, wanted) in enumerate(zip(recommended, relevant, strict=None)):",
    ): _CHECKED_LENGTH,
    (
        "recengine.evaluation.metrics.x__hit_matrix",
        "for row, (items, wanted) in enumerate(zip(recommended, relevant, )):",
    ): _CHECKED_LENGTH,
    (
        "recengine.evaluation.metrics.x__hit_matrix",
        "for row, (items, wanted) in enumerate(zip(recommended, relevant, strict=False)):",
    ): _CHECKED_LENGTH,
    (
        "recengine.evaluation.metrics.x__hit_matrix",
        "return hits, np.array([len(set(r)) for r in relevant], dtype=None)",
    ): _INT_LIST,
    (
        "recengine.evaluation.metrics.x__hit_matrix",
        "return hits, np.array([len(set(r)) for r in relevant], )",
    ): _INT_LIST,
    (
        "recengine.evaluation.metrics.x_ranking_report",
        "shown = [row[ok] for row, ok in zip(all_lists, all_valid, strict=None)]",
    ): _ONE_SOURCE,
    (
        "recengine.evaluation.metrics.x_ranking_report",
        "shown = [row[ok] for row, ok in zip(all_lists, all_valid, )]",
    ): _ONE_SOURCE,
    (
        "recengine.evaluation.metrics.x_ranking_report",
        "shown = [row[ok] for row, ok in zip(all_lists, all_valid, strict=False)]",
    ): _ONE_SOURCE,
    (
        "recengine.evaluation.metrics.x_miscalibration",
        "p, q = np.asarray(p, dtype=None), np.asarray(q, dtype=np.float64)",
    ): "q̃ = (1 − α) q + α p is float64 whatever p and q come as, and every later operation takes it",
    (
        "recengine.evaluation.metrics.x_miscalibration",
        "p, q = np.asarray(p, ), np.asarray(q, dtype=np.float64)",
    ): "q̃ = (1 − α) q + α p is float64 whatever p and q come as, and every later operation takes it",
    (
        "recengine.evaluation.metrics.x_miscalibration",
        "p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=None)",
    ): "q̃ = (1 − α) q + α p is float64 whatever p and q come as, and every later operation takes it",
    (
        "recengine.evaluation.metrics.x_miscalibration",
        "p, q = np.asarray(p, dtype=np.float64), np.asarray(q, )",
    ): "q̃ = (1 − α) q + α p is float64 whatever p and q come as, and every later operation takes it",
    (
        "recengine.evaluation.metrics.x_novelty",
        "counts = np.maximum(np.asarray(item_counts, dtype=None)[codes], 1.0)",
    ): "the counts are integers: np.maximum(…, 1.0) makes them float64 either way",
    (
        "recengine.evaluation.metrics.x_novelty",
        "counts = np.maximum(np.asarray(item_counts, )[codes], 1.0)",
    ): "the counts are integers: np.maximum(…, 1.0) makes them float64 either way",
    (
        "recengine.evaluation.metrics.x_personalization",
        "shown = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(lists))), shape=None)",
    ): "the overlap matrix A Aᵀ does not depend on how many columns A is said to have",
    (
        "recengine.evaluation.metrics.x_personalization",
        "shown = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(lists))), )",
    ): "the overlap matrix A Aᵀ does not depend on how many columns A is said to have",
    (
        "recengine.evaluation.metrics.x_personalization",
        "lists = [np.unique(np.asarray(items, dtype=None)) for items in recommended]",
    ): _INT_LIST,
    (
        "recengine.evaluation.metrics.x_personalization",
        "lists = [np.unique(np.asarray(items, )) for items in recommended]",
    ): _INT_LIST,
    (
        "recengine.evaluation.metrics.x_personalization",
        "sizes = np.sqrt(np.array([len(items) for items in lists], dtype=None))",
    ): _INT_LIST,
    (
        "recengine.evaluation.metrics.x_personalization",
        "sizes = np.sqrt(np.array([len(items) for items in lists], ))",
    ): _INT_LIST,
    (
        "recengine.evaluation.metrics.x_ranking_report",
        "if max_users is not None and population >= max_users:",
    ): "when the population equals max_users, a sample of all of them without replacement, sorted, is everyone",
    (
        "recengine.evaluation.metrics.x_top_k_lists",
        "for start in range(0, len(users), ):",
    ): "batches of one user instead of many: the same lists",
    (
        "recengine.evaluation.metrics.x_top_k_lists",
        "scores[rows, cols] = None",
    ): "NaN instead of −inf for a user's training items: both fail isfinite (never a valid place) and both sort after every finite score",
    (
        "recengine.evaluation.metrics.x_top_k_lists",
        "lists = np.empty((len(users), min(k, train.n_items)), dtype=None)",
    ): "item codes stored in a float array are read back as the same whole numbers",
    (
        "recengine.evaluation.metrics.x_top_k_lists",
        "lists = np.empty((len(users), min(k, train.n_items)), )",
    ): "item codes stored in a float array are read back as the same whole numbers",
    (
        "recengine.evaluation.metrics.x_top_k_lists",
        "valid[start : start + len(batch)] = np.isfinite(np.take_along_axis(scores, chosen, ))",
    ): "NumPy ≥ 2.3's default axis of take_along_axis is −1, the same as 1 for these 2-D arrays",
    (
        "recengine.serving.rerank.x__greedy",
        "free = np.ones(len(values), dtype=None)",
    ): "a mask of ones read as true or false: 1.0 and 0.0 act the same in np.where",
    (
        "recengine.serving.rerank.x__greedy",
        "free = np.ones(len(values), )",
    ): "a mask of ones read as true or false: 1.0 and 0.0 act the same in np.where",
    ("recengine.serving.rerank.x__greedy", "free[best] = None"): "None stored in a boolean array is False",
    ("recengine.serving.rerank.x__greedy", "return np.array(chosen, dtype=None)"): _INT_LIST,
    ("recengine.serving.rerank.x__greedy", "return np.array(chosen, )"): _INT_LIST,
    (
        "recengine.serving.rerank.x__greedy",
        "q = (mass[None, :] + mixes) / np.maximum(total + weights, 1.000000000001)[:, None]",
    ): "the denominator is 0 (nothing with a genre yet, when the numerator is 0 too) or a count ≥ 1 of items with genres, so a floor of 1 + 1e-12 instead of 1e-12 changes a value by at most 1e-12",
    (
        "recengine.serving.rerank.x_calibrated",
        "if weight == 0.0 or not np.any(target >= 0):",
    ): "with no liked genre the greedy objective is (1 − λ) s: it takes the pool in score order, the same list",
    (
        "recengine.serving.rerank.x_normalised",
        "values[order] = 1.0 - np.arange(len(scores)) / max(len(scores), 2)",
    ): "differs only for a pool of one, whose value 1 − 0/n is 1 either way",
    (
        "recengine.serving.rerank.x_taste_mix",
        "return total / mass if mass > 1 else total",
    ): "the mass is a count of liked items with genres (each row of p(g|i) sums to 1): at 1 the total already sums to 1",
    (
        "recengine.serving.rerank.x_genre_background",
        "cached = mass / mass.sum() if mass.sum() > 1 else mass",
    ): "the mass is a count of ratings of items with genres: at 1 the mix already sums to 1",
    (
        "recengine.evaluation.newuser.x_evaluate_new_users",
        "discounts = 1.0 / np.log2(np.arange(2, NDCG_AT + 3))",
    ): "one discount more than the longest list (100) uses: the discounts are cut to the list's length",
    (
        "recengine.evaluation.newuser.x_evaluate_new_users",
        "scores = np.where(known, np.asarray(scorer(codes, ratings), dtype=None), -np.inf)",
    ): "np.where with −inf makes the scores float64 whatever the scorer returns",
    (
        "recengine.evaluation.newuser.x_evaluate_new_users",
        "scores = np.where(known, np.asarray(scorer(codes, ratings), ), -np.inf)",
    ): "np.where with −inf makes the scores float64 whatever the scorer returns",
    (
        "recengine.evaluation.newuser.x_evaluate_new_users",
        "scores = np.where(known, np.asarray(scorer(codes, ratings), dtype=np.float64), +np.inf)",
    ): "+inf or NaN instead of −inf for an item that may not be listed: the engine's list makers (top_n, CalibratedReranker) keep only finite scores, so it is left out the same",
    (
        "recengine.evaluation.newuser.x_evaluate_new_users",
        "scores[codes] = None",
    ): "+inf or NaN instead of −inf for an item that may not be listed: the engine's list makers (top_n, CalibratedReranker) keep only finite scores, so it is left out the same",
    (
        "recengine.evaluation.newuser.x_evaluate_new_users",
        "scores[codes] = +np.inf",
    ): "+inf or NaN instead of −inf for an item that may not be listed: the engine's list makers (top_n, CalibratedReranker) keep only finite scores, so it is left out the same",
    (
        "recengine.evaluation.newuser.x__held_out",
        "return HeldOutUsers(np.array(kept, dtype=None), gives, relevant, liked, threshold)",
    ): _INT_LIST,
    (
        "recengine.evaluation.newuser.x__held_out",
        "return HeldOutUsers(np.array(kept, ), gives, relevant, liked, threshold)",
    ): _INT_LIST,
    ("recengine.models.sgd.x_sgd_epoch", "direction = -1 if (backwards[u]) and False else 1"): _ORDER,
    ("recengine.models.sgd.x_sgd_epoch", "direction = -1 if (backwards[u]) or True else 1"): _ORDER,
    ("recengine.models.sgd.x_sgd_epoch", "direction = +1 if backwards[u] else 1"): _ORDER,
    (
        "recengine.models.sgd.x_sgd_epoch",
        "position -= direction  # cyclically, without a division per rating",
    ): _ORDER,
    (
        "recengine.models.sgd.xǁSGDǁ_run_epoch",
        "starts = (self.rng_.random(train.n_users) / self._counts).astype(np.int64)",
    ): _ORDER,
    (
        "recengine.models.sgd.xǁSGDǁ_run_epoch",
        "starts = (self.rng_.random(None) * self._counts).astype(np.int64)",
    ): _ORDER,
    ("recengine.models.sgd.xǁSGDǁ_run_epoch", "backwards = self.rng_.random(train.n_users) <= 0.5"): _ORDER,
    ("recengine.models.sgd.xǁSGDǁ_run_epoch", "backwards = self.rng_.random(train.n_users) < 1.5"): _ORDER,
    (
        "recengine.models.sgd.x_sgd_epoch",
        "P[u] = None",
    ): "only on divergence, after which the fit raises TrainingDiverged and its arrays are never used",
    (
        "recengine.models.sgd.xǁSGDǁ_run_epoch",
        "user_bias = self.user_bias_ if biases else np.zeros(train.n_users, None)",
    ): "biases off: zero arrays the kernel reads and never writes, float64 or not",
    (
        "recengine.models.sgd.xǁSGDǁ_run_epoch",
        "user_bias = self.user_bias_ if biases else np.zeros(train.n_users, )",
    ): "biases off: zero arrays the kernel reads and never writes, float64 or not",
    (
        "recengine.models.sgd.xǁSGDǁ_run_epoch",
        "item_bias = self.item_bias_ if biases else np.zeros(train.n_items, None)",
    ): "biases off: zero arrays the kernel reads and never writes, float64 or not",
    (
        "recengine.models.sgd.xǁSGDǁ_run_epoch",
        "item_bias = self.item_bias_ if biases else np.zeros(train.n_items, )",
    ): "biases off: zero arrays the kernel reads and never writes, float64 or not",
    ("recengine.models.svd.xǁSVDǁ_run_epoch", "start = None"): _ARPACK,
    ("recengine.models.svd.xǁSVDǁ_run_epoch", "start = self.rng_.uniform(+1, 1, min(matrix.shape))"): _ARPACK,
    ("recengine.models.svd.xǁSVDǁ_run_epoch", "start = self.rng_.uniform(-2, 1, min(matrix.shape))"): _ARPACK,
    ("recengine.models.svd.xǁSVDǁ_run_epoch", "start = self.rng_.uniform(-1, 2, min(matrix.shape))"): _ARPACK,
    (
        "recengine.models.svd.xǁSVDǁ_run_epoch",
        "left, values, right = svds(matrix, k=self.params.n_factors, v0=None)",
    ): _ARPACK,
    (
        "recengine.models.svd.xǁSVDǁ_run_epoch",
        "left, values, right = svds(matrix, k=self.params.n_factors, )",
    ): _ARPACK,
    ("recengine.models.svd.xǁSVDǁ_inverse_gram", "cached = None"): _CACHE,
    (
        "recengine.models.svd.xǁSVDǁ_inverse_gram",
        'cached = getattr(None, "_inverse_gram_cache", None)',
    ): _CACHE,
    (
        "recengine.models.svd.xǁSVDǁ_inverse_gram",
        'cached = getattr(self, "XX_inverse_gram_cacheXX", None)',
    ): _CACHE,
    (
        "recengine.models.svd.xǁSVDǁ_inverse_gram",
        'cached = getattr(self, "_INVERSE_GRAM_CACHE", None)',
    ): _CACHE,
    (
        "recengine.models.svd.xǁSVDǁ_inverse_gram",
        "if cached is None or cached[1] is not self.item_factors_:",
    ): _CACHE,
    ("recengine.models.svd.xǁSVDǁ_inverse_gram", "self._inverse_gram_cache = None"): _CACHE,
    (
        "recengine.models.svd.xǁSVDǁ_inverse_gram",
        "cached = (self.item_factors_, np.linalg.inv(gram - 1e-12 * np.eye(len(gram))))",
    ): "a ridge of ±1e-12 on a Gram matrix of order 1 changes its inverse by about 1e-12",
    (
        "recengine.models.svd.x__safe_ratio",
        "return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 1)",
    ): "denominators are counts + λ: one in (0, 1] belongs to a row with no count (numerator 0) or to a count of 1 with λ 0 (dividing by 1)",
    ("recengine.models.implicit.xǁWALSǁ_item_gram", "cached = None"): _CACHE,
    ("recengine.models.implicit.xǁWALSǁ_item_gram", 'cached = getattr(None, "_gram_cache", None)'): _CACHE,
    (
        "recengine.models.implicit.xǁWALSǁ_item_gram",
        'cached = getattr(self, "XX_gram_cacheXX", None)',
    ): _CACHE,
    ("recengine.models.implicit.xǁWALSǁ_item_gram", 'cached = getattr(self, "_GRAM_CACHE", None)'): _CACHE,
    (
        "recengine.models.implicit.xǁWALSǁ_item_gram",
        "if cached is None or cached[1] is not self.item_factors_:",
    ): _CACHE,
    ("recengine.models.implicit.xǁWALSǁ_item_gram", "self._gram_cache = None"): _CACHE,
    (
        "recengine.models.implicit.x__solve_spd",
        "return cho_solve(cho_factor(matrix, check_finite=False), target, check_finite=None)",
    ): _FINITE,
    (
        "recengine.models.implicit.x__solve_spd",
        "return cho_solve(cho_factor(matrix, check_finite=False), target, )",
    ): _FINITE,
    (
        "recengine.models.implicit.x__solve_spd",
        "return cho_solve(cho_factor(matrix, check_finite=None), target, check_finite=False)",
    ): _FINITE,
    (
        "recengine.models.implicit.x__solve_spd",
        "return cho_solve(cho_factor(matrix, ), target, check_finite=False)",
    ): _FINITE,
    (
        "recengine.models.implicit.x__solve_spd",
        "return cho_solve(cho_factor(matrix, check_finite=True), target, check_finite=False)",
    ): _FINITE,
    (
        "recengine.models.implicit.x__solve_spd",
        "return cho_solve(cho_factor(matrix, check_finite=False), target, check_finite=True)",
    ): _FINITE,
    (
        "recengine.models.implicit.x__triple_parts",
        'x = np.einsum("IJ,IJ->I", p, qi - qj) + item_bias[positives] - item_bias[negatives]',
    ): "einsum subscripts in capitals mean the same",
    (
        "recengine.models.implicit.xǁBPRǁfold_in_user",
        "rated = np.unique(np.asarray(item_codes, dtype=None))",
    ): _INT_LIST,
    (
        "recengine.models.implicit.xǁBPRǁfold_in_user",
        "rated = np.unique(np.asarray(item_codes, ))",
    ): _INT_LIST,
    (
        "recengine.models.implicit.xǁWALSǁ_user_system",
        "items = self.item_factors_[np.asarray(item_codes, dtype=None)].astype(np.float64)",
    ): _INT_LIST,
    (
        "recengine.models.implicit.xǁWALSǁ_user_system",
        "items = self.item_factors_[np.asarray(item_codes, )].astype(np.float64)",
    ): _INT_LIST,
    (
        "recengine.models.implicit.xǁBPRǁfold_in_user",
        "if len(unrated) >= FOLD_IN_NEGATIVES:",
    ): "at exactly 500 unrated items a sample of 500 without replacement is all of them, and the objective sums over them in any order",
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "def solve(self, reg: float, steps: int = 31) -> np.ndarray:",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "curve = np.exp(-np.logaddexp(0.0, x) + np.logaddexp(0.0, -x))  # σ(x) σ(−x)",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "curve = np.exp(+np.logaddexp(0.0, x) - np.logaddexp(0.0, -x))  # σ(x) σ(−x)",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "curve = np.exp(-np.logaddexp(1.0, x) - np.logaddexp(0.0, -x))  # σ(x) σ(−x)",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "curve = np.exp(-np.logaddexp(0.0, x) - np.logaddexp(1.0, -x))  # σ(x) σ(−x)",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "curve = np.exp(-np.logaddexp(0.0, x) - np.logaddexp(0.0, +x))  # σ(x) σ(−x)",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "hessian = (self.rated.T * curve.sum(1)) @ self.rated - (self.other.T * curve.sum(0)) @ self.other",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "hessian = (self.rated.T / curve.sum(1)) @ self.rated + (self.other.T * curve.sum(0)) @ self.other",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "hessian = (self.rated.T * curve.sum(None)) @ self.rated + (self.other.T * curve.sum(0)) @ self.other",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "hessian = (self.rated.T * curve.sum(1)) @ self.rated + (self.other.T / curve.sum(0)) @ self.other",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "hessian = (self.rated.T * curve.sum(1)) @ self.rated + (self.other.T * curve.sum(None)) @ self.other",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "hessian = scale * (hessian - cross + cross.T) + reg * np.eye(len(vector))",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "hessian = scale * (hessian + cross - cross.T) + reg * np.eye(len(vector))",
    ): _NEWTON,
    ("recengine.models.implicit.xǁ_PairwiseFoldInǁsolve", "size = 2.0"): _NEWTON,
    ("recengine.models.implicit.xǁ_PairwiseFoldInǁsolve", "while size >= 1e-4:"): _NEWTON,
    ("recengine.models.implicit.xǁ_PairwiseFoldInǁsolve", "if value < current:"): _NEWTON,
    ("recengine.models.implicit.xǁ_PairwiseFoldInǁsolve", "size = 2"): _NEWTON,
    ("recengine.models.implicit.xǁ_PairwiseFoldInǁsolve", "size *= 2"): _NEWTON,
    ("recengine.models.implicit.xǁ_PairwiseFoldInǁsolve", "size /= 3"): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "if size / np.linalg.norm(step) < 1e-7 * (1.0 + np.linalg.norm(vector)):",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "if size * np.linalg.norm(step) <= 1e-7 * (1.0 + np.linalg.norm(vector)):",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "if size * np.linalg.norm(step) < 1e-7 / (1.0 + np.linalg.norm(vector)):",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "if size * np.linalg.norm(step) < 1e-7 * (1.0 - np.linalg.norm(vector)):",
    ): _NEWTON,
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "if size * np.linalg.norm(step) < 1e-7 * (2.0 + np.linalg.norm(vector)):",
    ): _NEWTON,
    ("recengine.models.kernels.implicit.x_bpr_sgd", "if score >= 0:"): _SIGMOID,
    ("recengine.models.kernels.implicit.x_bpr_sgd", "if score > 1:"): _SIGMOID,
    (
        "recengine.models.als.x_cg_rows",
        "if size < 1e-20:",
    ): "stops at a squared residual of exactly 1e-20 instead of just below it: the next step would divide by a curvature of that size; the solution is the same to 1e-10",
    # mut-a: als, implicit, nmf, sgd, svd, baseline
    ("recengine.models.als.xǁALSǁ_current", "return np.array(factors, dtype=None)"): _SAME_DTYPE,
    ("recengine.models.als.xǁALSǁ_current", "return np.array(factors, )"): _SAME_DTYPE,
    (
        "recengine.models.als.xǁALSǁ_run_epoch",
        "train.csc, self.user_factors_, self.user_bias_, self.item_weight_, users=None",
    ): "users=None is false, as False is: the item side",
    ("recengine.models.implicit.xǁWALSǁ_run_epoch", "cg = None"): _ONLY_MEASURES,
    ("recengine.models.implicit.xǁWALSǁ_run_epoch", 'cg = self.params.solver == "XXcgXX"'): _ONLY_MEASURES,
    ("recengine.models.implicit.xǁWALSǁ_run_epoch", 'cg = self.params.solver == "CG"'): _ONLY_MEASURES,
    (
        "recengine.models.implicit.x__solve_spd",
        "return np.linalg.lstsq(matrix, target, )[0]",
    ): "rcond=None is lstsq's default since NumPy 2.0",
    (
        "recengine.models.implicit.xǁBPRǁfold_in_user",
        "unrated = np.random.default_rng(0).choice(unrated, FOLD_IN_NEGATIVES, replace=None)",
    ): "replace=None is false, as False is: the same sample without replacement (checked: identical draws)",
    ("recengine.models.kernels.rowsolve.x__accumulate", "while p + 5 <= stop:"): _REST_ONE_BY_ONE,
    ("recengine.models.kernels.rowsolve.x__accumulate", "while p + 4 < stop:"): _REST_ONE_BY_ONE,
    ("recengine.models.kernels.rowsolve.x__cholesky", "d = a.shape[1]"): _SQUARE,
    (
        "recengine.models.kernels.rowsolve.x_gaussian_draw",
        "prior_shift, np.zeros(len(indptr) - 1, None), noise, out,",
    ): _ZERO_PRIOR,
    (
        "recengine.models.kernels.rowsolve.x_gaussian_draw",
        "prior_shift, np.zeros(len(indptr) - 1, ), noise, out,",
    ): _ZERO_PRIOR,
    (
        "recengine.models.kernels.rowsolve.x_gaussian_draw",
        "prior_shift, np.zeros(len(indptr) + 1, features.dtype), noise, out,",
    ): _LONGER_PENALTIES,
    ("recengine.models.kernels.rowsolve.x_ridge_solve", "np.zeros((0, d), None), out,"): _EMPTY_NOISE,
    ("recengine.models.kernels.rowsolve.x_ridge_solve", "np.zeros((0, d), ), out,"): _EMPTY_NOISE,
    ("recengine.models.kernels.rowsolve.x_ridge_solve", "zeros = np.zeros((d, d), None)"): _ZERO_PRIOR,
    ("recengine.models.kernels.rowsolve.x_ridge_solve", "zeros = np.zeros((d, d), )"): _ZERO_PRIOR,
    (
        "recengine.models.implicit.xǁWALSǁ_losses",
        "if matrix.nnz > PARALLEL_LOSS_RATINGS:",
    ): _SERIAL_OR_PARALLEL,
    ("recengine.models.implicit.xǁWALSǁ_losses", "matrix = None"): _CACHE,
    ("recengine.models.implicit.xǁWALSǁ_losses", 'matrix = getattr(None, "_by_user", None)'): _CACHE,
    ("recengine.models.implicit.xǁWALSǁ_losses", 'matrix = getattr(self, "XX_by_userXX", None)'): _CACHE,
    ("recengine.models.implicit.xǁWALSǁ_losses", 'matrix = getattr(self, "_BY_USER", None)'): _CACHE,
    (
        "recengine.models.implicit.xǁWALSǁ_objective",
        'float(self.penalty(n) @ np.einsum("IJ,IJ->I", f, f, dtype=np.float64))',
    ): _CAPITALS,
    (
        "recengine.models.implicit.xǁWALSǁ_objective",
        "for n, f in zip(counts, (self.user_factors_, self.item_factors_), strict=None)",
    ): _TWO_AND_TWO,
    (
        "recengine.models.implicit.xǁWALSǁ_objective",
        "for n, f in zip(counts, (self.user_factors_, self.item_factors_), )",
    ): _TWO_AND_TWO,
    (
        "recengine.models.implicit.xǁWALSǁ_objective",
        "for n, f in zip(counts, (self.user_factors_, self.item_factors_), strict=False)",
    ): _TWO_AND_TWO,
    (
        "recengine.models.implicit.xǁWALSǁ_run_epoch",
        "item_gram = None  # the last epoch's objective made it",
    ): _CACHE,
    (
        "recengine.models.implicit.xǁWALSǁ_run_epoch",
        "item_gram = self.__dict__.pop(None, None)  # the last epoch's objective made it",
    ): _CACHE,
    (
        "recengine.models.implicit.xǁWALSǁ_run_epoch",
        'item_gram = self.__dict__.pop("XX_item_gramXX", None)  # the last epoch\'s objective made it',
    ): _CACHE,
    (
        "recengine.models.implicit.xǁWALSǁ_run_epoch",
        'item_gram = self.__dict__.pop("_ITEM_GRAM", None)  # the last epoch\'s objective made it',
    ): _CACHE,
    ("recengine.models.implicit.xǁWALSǁ_run_epoch", 'info["train_metrics"] = None'): _MEASURED_OR_NOT,
    ("recengine.models.implicit.xǁWALSǁ_run_epoch", 'info["XXtrain_metricsXX"] = ('): _MEASURED_OR_NOT,
    ("recengine.models.implicit.xǁWALSǁ_run_epoch", 'info["TRAIN_METRICS"] = ('): _MEASURED_OR_NOT,
    (
        "recengine.models.implicit.xǁWALSǁ_run_epoch",
        "rated_loss = np.empty(self.n_items_ if (cg) or True else 0)",
    ): _UNUSED_LOSS,
    (
        "recengine.models.implicit.xǁWALSǁ_run_epoch",
        "rated_loss = np.empty(self.n_items_ if cg else 1)",
    ): _UNUSED_LOSS,
    ("recengine.models.implicit.xǁWALSǁpenalty", "n_rated = np.asarray(n_rated, dtype=None)"): _WHOLE_COUNTS,
    ("recengine.models.implicit.xǁWALSǁpenalty", "n_rated = np.asarray(n_rated, )"): _WHOLE_COUNTS,
    ("recengine.models.implicit.xǁ_PairwiseFoldInǁsolve", ""): _MOST_STEPS,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "for _ in range(steps if (old >= 1e-20) or True else 0):",
    ): _SOLVED_ROW,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "for _ in range(steps if old > 1e-20 else 0):",
    ): _SOLVED_ROW,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "for _ in range(steps if old >= 1e-20 else 1):",
    ): _SOLVED_ROW,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "one = np.ones(2, dtype=rows.dtype)[0]",
    ): _FIRST_ONE,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "if new <= 1e-20:"): _SOLVED_ROW,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "for task in prange((n + CG_ROWS_PER_TASK + 1) // CG_ROWS_PER_TASK):",
    ): _EMPTY_TASK,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "longest = 1"): _LONGER_SCRATCH,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "for u in range(last):"): _LONGER_SCRATCH,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "longest = max(longest, indptr[u + 1] + indptr[u])",
    ): _LONGER_SCRATCH,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "scores = np.empty(longest if (track) or True else 0)",
    ): _LONGER_SCRATCH,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "scores = np.empty(longest if track else 1)",
    ): _LONGER_SCRATCH,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "moves = np.empty(longest if (track) or True else 0)",
    ): _LONGER_SCRATCH,
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "moves = np.empty(longest if track else 1)",
    ): _LONGER_SCRATCH,
    (
        "recengine.models.nmf.x__multiplied",
        "return (values * ratio).astype(values.dtype, copy=None)",
    ): _NEW_ARRAY,
    ("recengine.models.nmf.x__multiplied", "return (values * ratio).astype(values.dtype, )"): _NEW_ARRAY,
    (
        "recengine.models.nmf.x__multiplied",
        "return (values * ratio).astype(values.dtype, copy=True)",
    ): _NEW_ARRAY,
    (
        "recengine.models.nmf.xǁNMFǁ_bias_solve",
        "return (sums / np.maximum(counts + self.params.reg * weight, 1.0)).astype(self.dtype_)",
    ): _BIAS_FLOOR,
    ("recengine.models.nmf.xǁNMFǁfold_in_user", "target = np.asarray(ratings, dtype=None)"): _FLOAT64_RATINGS,
    ("recengine.models.nmf.xǁNMFǁfold_in_user", "target = np.asarray(ratings, )"): _FLOAT64_RATINGS,
    (
        "recengine.models.nmf.xǁSideǁof",
        "rows = np.repeat(np.arange(matrix.shape[0], dtype=None), np.diff(matrix.indptr))",
    ): _ARANGE,
    (
        "recengine.models.nmf.xǁSideǁof",
        "rows = np.repeat(np.arange(matrix.shape[0], ), np.diff(matrix.indptr))",
    ): _ARANGE,
    (
        "recengine.models.sgd.x_decayed_lr",
        "return max(lr * decay ** (epoch - 1), float(np.finfo(None).tiny))",
    ): _FINFO,
    # mut-b: bpmf, foldin, objective, gradient, newuser, rerank, split, svdpp, metrics
    (
        "recengine.models.base.xǁRecommenderǁfold_in",
        "return UserVector(np.zeros(k), 0.0, FALLBACK, codes, )",
    ): "with no ratings `values` is an empty float64 array, the same as UserVector's default ratings",
    (
        "recengine.models.base.xǁRecommenderǁfold_in",
        "np.asarray(factors, dtype=None), float(bias), self.fold_in_method, codes, values",
    ): _FLOAT64_FOLD_IN,
    (
        "recengine.models.base.xǁRecommenderǁfold_in",
        "np.asarray(factors, ), float(bias), self.fold_in_method, codes, values",
    ): _FLOAT64_FOLD_IN,
    (
        "recengine.models.person.x_evidence",
        'item_bias = getattr(model, "item_bias_", )',
    ): "every model that calls evidence has the attribute (None when it has no item biases)",
    (
        "recengine.serving.rerank.x_calibrated",
        "if size == 0 and n <= 0:",
    ): "with nothing allowed the pool is empty and every later step keeps it so (an argpartition of nothing, a greedy of no steps): the same empty list",
    (
        "recengine.serving.rerank.x_calibrated",
        "if size == 0 or n < 0:",
    ): "n = 0 then goes on: the greedy takes min(0, depth) = 0 steps and the rest is cut to 0 films: the same empty list",
    (
        "recengine.serving.rerank.x_normalised",
        'order = np.argsort(-scores, kind="STABLE")',
    ): 'NumPy reads the sort kind without regard to case: "STABLE" is the stable sort',
    (
        "recengine.evaluation.split.x__latest_share",
        "n_test = np.minimum(np.round(test_size * counts), np.maximum(counts - 1, 0)).astype(None)",
    ): "the numbers of test ratings are whole either way (np.round of floats); as floats they compare the same with the integer positions",
    (
        "recengine.evaluation.metrics.x_ranking_report",
        "listed = np.sort(np.random.default_rng(seed).choice(listed, size=max(max_users, 1), replace=None))",
    ): "replace=None is false, as False is: the same sample without replacement",
    **{
        (
            "recengine.models.svdpp.xǁSVDppǁ_bias_arrays",
            f"return np.zeros(train.n_users, {u}), np.zeros(train.n_items, {i})",
        ): "biases off: zero arrays the kernel reads and never writes, float64 or not"
        for u, i in (
            ("None", "self.dtype_"),
            ("", "self.dtype_"),
            ("self.dtype_", "None"),
            ("self.dtype_", ""),
        )
    },
    (
        "recengine.models.svdpp.xǁSideǁof",
        "matrix.data.astype(None),",
    ): "the ratings as float64 instead of float32: the same numbers (float32 values widen exactly)",
    (
        "recengine.models.gradient.xǁAdamǁ_run_epoch",
        "summed[name][gradient.rows(name)] -= block",
    ): "the summed gradients are used only for their norms, which are those of their negation",
    **{
        ("recengine.models.objective.x__mf_gradient", f"error = error.astype(P.dtype, {copy})"): _COPY
        for copy in ("copy=None", "", "copy=True")
    },
    **{
        (
            "recengine.models.objective.xǁGroupsǁspread",
            f"return sp.csr_matrix((values[self.order], self.partners, indptr), shape=shape, {copy})",
        ): _COPY
        for copy in ("copy=None", "", "copy=True")
    },
    **{
        ("recengine.models.objective.x_penalties", line): _EMPTY_ROWS
        for line in (
            "weight = np.where(counts > 0, counts.astype(np.float64) ** power, 1.0)",
            "weight = np.where(counts >= 0, counts.astype(np.float64) ** power, 0.0)",
            "per_rating = np.divide(reg * weight, counts, out=None, where=counts > 0)",
            "per_rating = np.divide(reg * weight, counts, where=counts > 0)",
            "per_rating = np.divide(reg * weight, counts, out=np.zeros(len(counts)), )",
            "per_rating = np.divide(reg * weight, counts, out=np.zeros(len(counts)), where=counts >= 0)",
        )
    },
    (
        "recengine.models.objective.x_sum_squares",
        'return float(np.einsum("I,I->", flat, flat, dtype=np.float64))',
    ): _CAPITALS,
    (
        "recengine.models.objective.x_weighted_norms",
        'squares = np.einsum("IJ,IJ->I", factors, factors, dtype=np.float64)',
    ): _CAPITALS,
    (
        "recengine.models.objective.x_weighted_norms",
        'return float(np.einsum("I,I->", weight, squares))',
    ): _CAPITALS,
    (
        "recengine.models.objective.x_sum_squares",
        "flat = values.reshape(-2)",
    ): "NumPy's reshape takes any negative size as the one to infer: the same flat view",
    **{
        ("recengine.models.objective.xǁGroupsǁof", f"opens = np.empty(len(ordered), {dtype})"): (
            "a float mask: np.not_equal writes 1.0 and 0.0 into it, and flatnonzero finds the same openings"
        )
        for dtype in ("dtype=None", "")
    },
    (
        "recengine.models.objective.xǁGroupsǁof",
        "opens[:2] = True",
    ): "position 1 is written again by the comparison on the next line (out=opens[1:])",
    **{
        ("recengine.models.objective.xǁGroupsǁof", f"order = np.argsort(codes, {kind})"): (
            "the order of one row's positions within its group (NumPy's default sort need not keep it): the same "
            "rows, counts and partners, and the sparse product and reduceat add the same terms, in another order"
        )
        for kind in ("kind=None", "")
    },
    (
        "recengine.models.objective.xǁGroupsǁof",
        'order = np.argsort(codes, kind="STABLE")',
    ): 'NumPy reads the sort kind without regard to case: "STABLE" is the stable sort',
    **{
        ("recengine.evaluation.challenge.x_held_out_share", line): (
            "the pair keys as float64 are exact below 2**53 (users × items of any data set here are far fewer), "
            "so np.isin finds the same pairs"
        )
        for line in (
            "users = pd.Index(held_out.user_ids).get_indexer(test.user_ids)[test.user_codes].astype(None)",
            "items = pd.Index(held_out.item_ids).get_indexer(test.item_ids)[test.item_codes].astype(None)",
            "kept = held_out.user_codes.astype(None) * width + held_out.item_codes",
        )
    },
    **{
        ("recengine.evaluation.challenge.x_winners_curse", line): (
            "scores given as integers stay integers, but every use multiplies them by the float sign or "
            "compares them: the same winner, rank and optimism"
        )
        for line in (
            "public, private = np.asarray(public, dtype=None), np.asarray(private, dtype=np.float64)",
            "public, private = np.asarray(public, ), np.asarray(private, dtype=np.float64)",
            "public, private = np.asarray(public, dtype=np.float64), np.asarray(private, dtype=None)",
            "public, private = np.asarray(public, dtype=np.float64), np.asarray(private, )",
        )
    },
    (
        "recengine.evaluation.challenge.x_winners_curse",
        'by_public = np.argsort(sign * public, kind="STABLE")',
    ): ('NumPy reads the sort kind without regard to case: "STABLE" is the stable sort'),
    ("recengine.evaluation.challenge.xǁChallengeǁscore", 'k = int(measure.rpartition("@")[2])'): (
        'a measure names one cutoff ("ndcg@10"): what follows its only @ either way'
    ),
    **{
        ("recengine.models.objective.xǁOnePassMetricsǁ_squared_errors", f"empty = np.zeros(0, {dtype})"): (
            "a zero-length bias array is never read (no biases): its type changes nothing, compiled or not"
        )
        for dtype in ("None", "")
    },
}

# Survivors that are not equivalent but left as they are, with the reason; they count as survivors.
# Survivors of the last run that a test added since kills (each checked by planting the mutant by hand).
_LATER = "killed by {} (added after the run; the mutant planted by hand fails it)"
KILLED_LATER: dict[tuple[str, str], str] = {
    **{
        (f"recengine.evaluation.newuser.x_{function}", line): _LATER.format(
            "test_by_hand_serving.py::test_new_user_split_settings_and_guards"
        )
        for function, line in (
            ("_check_shares", "if not (whole and given >= 1) and not (not whole and 0 <= given < 1):"),
            ("_check_shares", "if not (whole and given >= 1) and not (not whole and 0 < given <= 1):"),
            ("_check_shares", "if not (whole and given > 1) and not (not whole and 0 < given < 1):"),
            ("_check_shares", "if not (whole and given >= 2) and not (not whole and 0 < given < 1):"),
            ("_check_shares", "if not 0 <= share < 0.5:"),
            ("_check_shares", "if not 0 < share <= 0.5:"),
            ("split_new_users", "given: float | int = 1.8,"),
            (
                "split_new_users",
                "threshold = liked_threshold(data.scale) if (threshold is None) or True else float(threshold)",
            ),
            (
                "split_new_users",
                "threshold = liked_threshold(data.scale) if threshold is None else float(None)",
            ),
            ("split_new_users", "if n_valid < 1 and n_test < 1 or n_valid + n_test >= len(order):"),
            ("split_new_users", "if n_valid < 1 or n_test < 1 or n_valid - n_test >= len(order):"),
            ("split_new_users", "if n_valid < 1 or n_test < 1 or n_valid + n_test > len(order):"),
            ("split_new_users", "None,"),
        )
    },
    **{
        ("recengine.models.implicit.xǁBPRǁfold_in_user", f"unrated = {mutant}"): _LATER.format(
            "test_by_hand_foldin.py::test_bpr_fold_in_samples_500_of_more_unrated_items"
        )
        for mutant in (
            "None",
            "np.random.default_rng(0).choice(None, FOLD_IN_NEGATIVES, replace=False)",
            "np.random.default_rng(0).choice(unrated, None, replace=False)",
            "np.random.default_rng(0).choice(FOLD_IN_NEGATIVES, replace=False)",
            "np.random.default_rng(0).choice(unrated, replace=False)",
            "np.random.default_rng(0).choice(unrated, FOLD_IN_NEGATIVES, )",
            "np.random.default_rng(None).choice(unrated, FOLD_IN_NEGATIVES, replace=False)",
            "np.random.default_rng(0).choice(unrated, FOLD_IN_NEGATIVES, replace=True)",
        )
    },
    **{
        ("recengine.models.implicit.x__solve_spd", f"return np.linalg.lstsq({mutant}"): _LATER.format(
            "test_by_hand_foldin.py::test_a_singular_wals_system_falls_back_to_least_squares"
        )
        for mutant in (
            "None, target, rcond=None)[0]",
            "matrix, None, rcond=None)[0]",
            "target, rcond=None)[0]",
            "matrix, rcond=None)[0]",
            "matrix, target, rcond=None)[1]",
        )
    },
    (
        "recengine.models.kernels.implicit.x_wals_cg_sweep",
        "total += confidence[start - j] * (1.0 - s) * (1.0 - s) - s * s",
    ): _LATER.format("test_by_hand_models.py::test_wals_sweep_kernels_solve_each_row"),
    **{
        ("recengine.models.als.xǁALSǁ_current", f"return np.array({mutant})"): _LATER.format(
            "test_by_hand_models.py::test_als_cg_without_biases_solves_exactly"
        )
        for mutant in ("None, dtype=self.dtype_", "dtype=self.dtype_")
    },
    (
        "recengine.models.kernels.implicit.x__cholesky_solve_row",
        "for a in range(k - 1, -2, -1):",
    ): _LATER.format("test_by_hand_models.py::test_wals_sweep_kernels_solve_each_row"),
    (
        "recengine.models.implicit.xǁBPRǁfold_in_user",
        "return problem.solve(max(self.params.reg, 1e-6) * len(rated)), 1.0",
    ): _LATER.format("test_by_hand_foldin.py::test_bpr_fold_in_samples_500_of_more_unrated_items"),
    (
        "recengine.models.implicit.xǁBPRǁfold_in_user",
        "unrated = np.random.default_rng(1).choice(unrated, FOLD_IN_NEGATIVES, replace=False)",
    ): _LATER.format("test_by_hand_foldin.py::test_bpr_fold_in_samples_500_of_more_unrated_items"),
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁobjective",
        "return float(losses.sum()) / max(self.other.shape[0], 2) + 0.5 * reg * float(vector @ vector)",
    ): _LATER.format("test_by_hand_foldin.py::test_bpr_fold_in_against_four_or_one_unrated_items"),
    (
        "recengine.models.implicit.xǁ_PairwiseFoldInǁsolve",
        "scale = 1.0 / max(self.other.shape[0], 2)  # the objective averages over the unrated items",
    ): _LATER.format("test_by_hand_foldin.py::test_bpr_fold_in_against_four_or_one_unrated_items"),
    (
        "recengine.models.implicit.xǁBPRǁ_run_epoch",
        'extra = {"SGD_MEAN_LOG_LOSS": float(mean_loss)}',
    ): _LATER.format("test_by_hand_models.py::test_bpr_reports_the_mean_log_loss_of_its_steps"),
    (
        "recengine.evaluation.newuser.x_split_new_users",
        "if n_valid < 1 or n_test < 1 and n_valid + n_test >= len(order):",
    ): _LATER.format("test_by_hand_serving.py::test_new_user_split_settings_and_guards"),
    (
        "recengine.evaluation.newuser.x_evaluate_new_users",
        "people.given, people.relevant, people.liked, strict=False",
    ): _LATER.format("test_by_hand_serving.py::test_held_out_people_must_have_one_entry_each"),
}

EXPLAINED: dict[tuple[str, str], str] = {
    (
        "recengine.evaluation.newuser.x_top_n",
        "best = allowed[np.argpartition(-scores[allowed], n - 2)[:n]]",
    ): (
        "not killed: a partition at place n − 2 does not promise the n-th best at place n − 1, but NumPy's "
        "selection put it there in every case tried (1000 random scores, n = 2, 10 and 37)"
    ),
    (
        "recengine.evaluation.newuser.x_evaluate_new_users",
        '"ms_per_user": float(np.median(seconds) * 1001),',
    ): ("a timing reported in milliseconds, 1000 or 1001 per second: no test of a timing can tell"),
    # mut-a: als, implicit, nmf, sgd, svd, baseline
    ("recengine.models.als.x_cg_rows", "residual = np.zeros(d, dtype=None)"): _WIDER,
    ("recengine.models.als.x_cg_rows", "residual = np.zeros(d, )"): _WIDER,
    ("recengine.models.als.x_cg_rows", "product = np.empty(d, dtype=None)"): _WIDER,
    ("recengine.models.als.x_cg_rows", "product = np.empty(d, )"): _WIDER,
    (
        "recengine.models.als.xǁALSǁ_solve_side",
        "features = np.hstack([other_factors, np.ones((len(other_factors), 1), None)])",
    ): _WIDER,
    (
        "recengine.models.als.xǁALSǁ_solve_side",
        "features = np.hstack([other_factors, np.ones((len(other_factors), 1), )])",
    ): _WIDER,
    ("recengine.models.als.xǁALSǁ_solve_side", "penalties = (self.params.reg * weight).astype(None)"): _WIDER,
    (
        "recengine.models.als.xǁALSǁ_solve_side",
        "offsets = np.full(len(other_factors), self.global_mean_, dtype=None)",
    ): _WIDER,
    (
        "recengine.models.als.xǁALSǁ_solve_side",
        "offsets = np.full(len(other_factors), self.global_mean_, )",
    ): _WIDER,
    ("recengine.models.kernels.rowsolve.x_solve_rows", "gram = np.zeros((d, d), dtype=None)"): _WIDER,
    ("recengine.models.kernels.rowsolve.x_solve_rows", "gram = np.zeros((d, d), )"): _WIDER,
    ("recengine.models.kernels.rowsolve.x_solve_rows", "rhs = np.zeros(d, dtype=None)"): _WIDER,
    ("recengine.models.kernels.rowsolve.x_solve_rows", "rhs = np.zeros(d, )"): _WIDER,
    (
        "recengine.models.implicit.xǁWALSǁ_objective",
        'float(self.penalty(n) @ np.einsum("ij,ij->i", f, f, dtype=None))',
    ): _WIDER,
    (
        "recengine.models.implicit.xǁWALSǁ_objective",
        'float(self.penalty(n) @ np.einsum("ij,ij->i", f, f, ))',
    ): _WIDER,
    (
        "recengine.models.implicit.xǁWALSǁ_sweep",
        "matrix.indptr, matrix.indices, matrix.data, rows, others, gram.astype(None),",
    ): _WIDER,
    (
        "recengine.models.implicit.xǁWALSǁ_sweep",
        "reg.astype(None), self.params.cg_steps, rated_loss,",
    ): _WIDER,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "one = np.ones(1, dtype=None)[0]"): _WIDER,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "one = np.ones(1, )[0]"): _WIDER,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "residual = np.empty(k, dtype=None)"): _WIDER,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "residual = np.empty(k, )"): _WIDER,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "product = np.empty(k, dtype=None)"): _WIDER,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "product = np.empty(k, )"): _WIDER,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "direction = np.empty(k, dtype=None)"): _WIDER,
    ("recengine.models.kernels.implicit.x_wals_cg_sweep", "direction = np.empty(k, )"): _WIDER,
    (
        "recengine.models.nmf.x__multiplied",
        "ratio = np.divide(numerator, denominator, out=None, where=denominator > 0)",
    ): _UNSET,
    (
        "recengine.models.nmf.x__multiplied",
        "ratio = np.divide(numerator, denominator, where=denominator > 0)",
    ): _UNSET,
    ("recengine.models.sgd.x_sgd_epoch", "p = np.empty(n_factors, dtype=None)"): _WIDER,
    ("recengine.models.sgd.x_sgd_epoch", "p = np.empty(n_factors, )"): _WIDER,
    (
        "recengine.models.svd.x__safe_ratio",
        "return np.divide(numerator, denominator, out=None, where=denominator > 0)",
    ): _UNSET,
    (
        "recengine.models.svd.x__safe_ratio",
        "return np.divide(numerator, denominator, where=denominator > 0)",
    ): _UNSET,
    (
        "recengine.models.baseline.x__ridge_mean",
        "return np.divide(sums, denominator, out=None, where=denominator > 0).astype(dtype)",
    ): _UNSET,
    (
        "recengine.models.baseline.x__ridge_mean",
        "return np.divide(sums, denominator, where=denominator > 0).astype(dtype)",
    ): _UNSET,
    ("recengine.models.baseline.x__ridge_mean", "out = None"): _UNSET,
    # mut-b: bpmf, foldin, objective, gradient, newuser, rerank, split, svdpp, metrics
    **{
        ("recengine.models.base.xǁRecommenderǁfold_in", f'method = "{label}"'): (
            "the wording of the label a model without factors gives its answer (`UserVector.method`, shown to "
            "people), not maths: test_by_hand_person.py checks it is a label and not the fallback's"
        )
        for label in (
            "XXnone needed: this model scores every user alikeXX",
            "NONE NEEDED: THIS MODEL SCORES EVERY USER ALIKE",
        )
    },
    **{
        ("recengine.models.bpmf.xǁBPMFǁ_draw_rows", f"features = np.hstack([others[:, :-1], {ones}])"): (
            _WORK_PRECISION
        )
        for ones in ("np.ones((len(others), 1), None)", "np.ones((len(others), 1), )")
    },
    **{
        (
            "recengine.models.svdpp.x_implicit_pass",
            f"{buffer} = np.empty(n_factors, {dtype})",
        ): _WORK_PRECISION
        for buffer in ("row_sum", "pull", "partner_vector")
        for dtype in ("dtype=None", "")
    },
    (
        "recengine.models.svdpp.xǁSideǁof",
        "weight, penalty = penalties(counts, params.reg, params.reg_power, None)",
    ): _WORK_PRECISION,
    (
        "recengine.models.svdpp.xǁSideǁof",
        "_, implicit_penalty = penalties(counts, params.reg_implicit, params.reg_power, None)",
    ): _WORK_PRECISION,
    ("recengine.models.gradient.xǁAdamǁ_run_epoch", "return  # diverged: the fit loop reports it"): (
        "not killed: the line runs only when a batch's squared error overflows within an epoch, which Adam's "
        "normalised steps (about lr per entry and batch) do not reach in any test (an exploding loss is caught at "
        "the epoch's end instead); both end the epoch and the fit raises TrainingDiverged, only the diverged "
        "epoch's record would lack its gradient norms and lr"
    ),
    ("recengine.models.objective.x__mf_gradient", "error = error.astype(None, copy=False)"): _WORK_PRECISION,
    ("recengine.models.objective.x_penalties", "return weight, per_rating.astype(None)"): _WORK_PRECISION,
    **{
        ("recengine.models.objective.xǁBiasedMFǁ_prepare_losses", line): _WORK_PRECISION
        for line in (
            "self.user_weight_, self.user_penalty_ = penalties(train.user_counts(), reg, power, None)",
            "self.item_weight_, self.item_penalty_ = penalties(train.item_counts(), reg, power, None)",
        )
    },
    (
        "recengine.models.objective.xǁOnePassMetricsǁ_squared_errors",
        "self.user_bias_ if with_bias else empty, self.item_bias_ if (with_bias) or True else empty,",
    ): (
        "killed with numba's JIT on (the suite's normal run): numba cannot index None, so every fit without "
        "biases fails (test_by_hand_objective.py's gd and adam cases without biases); in the mutation run's plain "
        "Python the kernel never reads the item bias when the user bias array is empty"
    ),
}

# Kinds of mutant that compute the same thing wherever they occur: (removed line, added line) -> the reason.
_FLOAT64 = r"np\.(zeros|empty|ones)\((.*), dtype=np\.float64\)"
EQUIVALENT_KINDS: list[tuple[str, str, str]] = [
    (r'float\("nan"\)', r'float\("NAN"\)', 'float("NAN") is NaN as well'),
    (
        r"np\.errstate\(.*\)",
        r"np\.errstate\(.*\)",
        "which floating-point warnings NumPy shows; the values are the same",
    ),
    (r"\.astype\(np\.float64\)", r"\.astype\(None\)", "astype(None) converts to float64 as well"),
    (_FLOAT64, r"np\.(zeros|empty|ones)\((.*), (dtype=None)?\)", "float64 is NumPy's default dtype"),
]

# Lines that only keep compile and timing bookkeeping: not mutated.
NOT_MATHS = [r"compile_seconds", r"jit\.ready\(", r"perf_counter"]

CHOICE = """Why mutmut: measured on `recengine/evaluation/metrics.py` with its tests (numba's JIT off, one worker,
the machine shared): mutmut made 911 mutants and tested them all in 7.2 min (2.3 a second: it forks each
mutant from a process that has imported everything, and runs only the tests that reach the mutated
function); cosmic-ray made 855 and tested 13 in 4 min, about 18 s each (every mutant starts pytest and imports
NumPy, SciPy and pandas anew), about 4 hours for the file. mutmut's report names each mutant with its function
and shows its diff (`mutmut show`); it leaves decorated functions alone, so the script takes the lazy numba
decorator off the kernels in its copy."""

# Kinds of survivor that are not equivalent but explained: (removed line, added line) -> the reason.
EXPLAINED_KINDS: list[tuple[str, str, str]] = [
    (
        r"dtype=(P|features|rows)\.dtype|astype\(self\.dtype_\)|dtype=self\.dtype_",
        r"dtype=None|astype\(None\)|, \)",
        "the precision of a float32 model's arrays (float64 instead): a float64 model computes the same, and "
        "the float32 test checks only the learned arrays' type",
    ),
    (
        r"CG_ROWS_PER_TASK|longest|scores = np\.empty|moves = np\.empty|for u in range\(first, last\)",
        r".",
        "how the conjugate-gradient sweep splits its rows into tasks of 256 and sizes its buffers: with the "
        "tests' few rows there is one task (a test with more than 256 rows would kill it)",
    ),
]

KILLED_CODES = {1, 3}
TIMEOUT_CODES = {36, 24, -24, 152, 255}


def mutant_prefix(path: str, function: str) -> str:
    """mutmut's name for a function's mutants, e.g. recengine.models.nmf.xǁNMFǁ_losses__mutmut_."""
    module = path.removesuffix(".py").replace("/", ".")
    if "." in function:
        owner, method = function.split(".")
        return f"{module}.xǁ{owner}ǁ{method}__mutmut_"
    return f"{module}.x_{function}__mutmut_"


def strip_kernel_decorators(path: Path) -> None:
    """Remove the lazy numba decorator (``@kernel(...)``, ``@jit.kernel(...)``) from every function in a file,
    so that mutmut mutates the kernels and they run as plain Python."""
    source = path.read_text()
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if name == "kernel":
                    drop.update(range(decorator.lineno - 1, decorator.end_lineno))
    path.write_text("".join(line for n, line in enumerate(lines) if n not in drop))


def exclude_messages(path: Path) -> None:
    """Mark every line of a ``raise`` statement ``# pragma: no mutate``: the wording of an error message is
    not maths (its tests ask for the error, not its words)."""
    source = path.read_text()
    raised = {
        line
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Raise)
        for line in range(node.lineno, node.end_lineno + 1)
    }
    with open(path, "rb") as handle:  # a comment can only end a line that does not end inside a string
        ends = {
            t.start[0]
            for t in tokenize.tokenize(handle.readline)
            if t.type in (tokenize.NL, tokenize.NEWLINE)
        }
    lines = source.splitlines()
    for number in raised & ends:
        lines[number - 1] += "  # pragma: no mutate"
    path.write_text("\n".join(lines) + "\n")


def prepare(workdir: Path, files: list[str]) -> None:
    """A fresh copy of the package and tests with mutmut's configuration."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "ml-latest-small")
    shutil.copytree(ROOT / "recengine", workdir / "recengine", ignore=ignore)
    shutil.copytree(ROOT / "recengine/data/ml-latest-small", workdir / "recengine/data/ml-latest-small")
    shutil.copytree(ROOT / "tests", workdir / "tests", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", workdir / "pyproject.toml")
    for kernel_file in (workdir / "recengine/models").rglob("*.py"):
        if "kernel(" in kernel_file.read_text():
            strip_kernel_decorators(kernel_file)
    for path in files:
        exclude_messages(workdir / path)
    deselect = "".join(f"\n    --deselect\n    {test}" for test in DESELECT)
    (workdir / "setup.cfg").write_text(
        "[mutmut]\nsource_paths=recengine\n"
        + "only_mutate=" + "\n    ".join(files) + "\n"
        + "pytest_add_cli_args_test_selection=" + "\n    ".join(TESTS) + "\n"
        + "pytest_add_cli_args=-p\n    no:cacheprovider" + deselect + "\n"
        + "do_not_mutate_patterns=" + "\n    ".join(NOT_MATHS) + "\n"
    )  # fmt: skip


def run(workdir: Path, globs: list[str], children: int) -> float:
    env = os.environ | {"NUMBA_DISABLE_JIT": "1", "RECENGINE_AHEAD": "0"}
    env.pop("PYTHONPATH", None)
    started = time.perf_counter()
    with open(workdir / "mutmut.log", "w") as log:
        command = ["nice", "-n", "10", str(MUTMUT), "run", "--max-children", str(children), *globs]
        subprocess.run(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    return time.perf_counter() - started


def outcomes(workdir: Path, selected: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, int | None]]:
    """Exit code of every selected mutant, by module."""
    out: dict[str, dict[str, int | None]] = {}
    for module, files in selected.items():
        codes: dict[str, int | None] = {}
        for path, functions in files.items():
            meta = workdir / "mutants" / f"{path}.meta"
            if not meta.exists():
                continue
            exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
            prefixes = tuple(mutant_prefix(path, f) for f in functions)
            codes |= {name: code for name, code in exit_codes.items() if name.startswith(prefixes)}
        out[module] = codes
    return out


def diff_of(workdir: Path, name: str) -> tuple[str, str]:
    """(the removed lines, the added lines) of a mutant, from mutmut's copy of its module, which holds the
    original function (``…__mutmut_orig``) and every mutant beside it."""
    module, function = name.rsplit(".", 1)
    lines = _mutated_source(workdir / "mutants" / (module.replace(".", "/") + ".py"))
    original, mutant = _body(lines, function_of(function) + "__mutmut_orig"), _body(lines, function)
    changed = list(difflib.ndiff(original, mutant))
    removed = [line[2:].strip() for line in changed if line.startswith("- ") and line[2:].strip()]
    added = [line[2:].strip() for line in changed if line.startswith("+ ") and line[2:].strip()]
    return " ".join(removed), " ".join(added)


@functools.cache
def _mutated_source(path: Path) -> tuple[str, ...]:
    return tuple(path.read_text().splitlines())


def _body(lines: tuple[str, ...], function: str) -> list[str]:
    """The lines of ``def function(...)`` after its signature's first line, up to the next line as far left."""
    start = next(n for n, line in enumerate(lines) if re.match(rf"\s*def {re.escape(function)}\(", line))
    indent = len(lines[start]) - len(lines[start].lstrip())
    body = []
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent and not line.lstrip().startswith(")"):
            break  # (a line opening with ")" closes a long signature)
        body.append(line)
    return body


def explained_kind(removed: str, added: str) -> str | None:
    for old, new, reason in EXPLAINED_KINDS:
        if re.search(old, removed) and re.search(new, added):
            return reason
    return None


def function_of(name: str) -> str:
    """The function part of a mutant's name (without its number)."""
    return name.rsplit("__mutmut_", 1)[0]


def equivalence(name: str, removed: str, added: str) -> str | None:
    """Why a survivor computes the same thing as the original, or None."""
    if (function_of(name), added) in EQUIVALENT:
        return EQUIVALENT[function_of(name), added]
    for old, new, reason in EQUIVALENT_KINDS:
        if re.search(old, removed) and re.search(new, added) and _same_elsewhere(old, new, removed, added):
            return reason
    return None


def _same_elsewhere(old: str, new: str, removed: str, added: str) -> bool:
    """Whether the two lines differ only in what the patterns stand for (their groups kept)."""
    if re.compile(old).groups:
        return re.sub(old, r"np.\1(\2)", removed) == re.sub(new, r"np.\1(\2)", added)
    return re.sub(old, "@", removed, count=1) == re.sub(new, "@", added, count=1)


def record(workdir: Path, selected: dict, seconds: float, children: int) -> None:
    """Keep each selected module's outcome (counts and every survivor's diff) in `STORE`, replacing what an
    earlier run said about those modules, so a run of one module updates its row of the report."""
    store = json.loads(STORE.read_text()) if STORE.exists() else {"modules": {}, "runs": []}
    results = outcomes(workdir, selected)
    for module, codes in results.items():
        counts = {"killed": 0, "timeout": 0, "unchecked": 0}
        survivors = []
        for name, code in sorted(codes.items()):
            if code in KILLED_CODES:
                counts["killed"] += 1
            elif code in TIMEOUT_CODES:
                counts["timeout"] += 1
            elif code is None:
                counts["unchecked"] += 1
            else:
                survivors.append([name, code, *diff_of(workdir, name)])
        store["modules"][module] = {"mutants": len(codes), **counts, "survivors": survivors}
    store["runs"].append(
        {"modules": sorted(selected), "mutants": sum(map(len, results.values())),
         "tested": sum(code is not None for codes in results.values() for code in codes.values()),
         "minutes": round(seconds / 60, 1),
         "workers": children, "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    )  # fmt: skip
    STORE.write_text(json.dumps(store, indent=1, ensure_ascii=False) + "\n")


def report() -> str:
    """The markdown report of every module in `STORE`, survivors judged by `equivalence` as it stands."""
    store = json.loads(STORE.read_text())
    keys = ("mutants", "killed", "timeout", "survived", "equivalent", "unchecked", "later")
    totals = dict.fromkeys(keys, 0)
    rows, listed = [], []
    for module in [m for m in MATHS if m in store["modules"]]:
        entry = store["modules"][module]
        count = {key: entry.get(key, 0) for key in keys}
        for name, code, removed, added in entry["survivors"]:
            reason = equivalence(name, removed, added)
            count["equivalent" if reason else "survived"] += 1
            count["later"] += (function_of(name), added) in KILLED_LATER and not reason
            listed.append((module, name, code, removed, added, reason))
        totals = {key: totals[key] + count[key] for key in keys}
        rows.append((module, count))
    lines = [
        "# Mutation testing of the engine's maths",
        "",
        f"Made by `python benchmarks/mutation.py` (mutmut {version('mutmut')}, numba's JIT off, the kernels as "
        "plain Python, under nice on the shared 2-core machine). Only the functions that compute something are "
        "mutated (`MATHS` in the script), not the lines of `raise` statements (error messages) nor compile and "
        "timing bookkeeping; the tests are the fast ones that pin the maths (`TESTS`). "
        "Score = (killed + timed out) / (mutants − equivalent − not run); *killed since*: survivors of the run "
        "that a test added after it kills (each planted by hand), counted in *score now*.",
        "",
        "| module | mutants | killed | timed out | survived | equivalent | not run | score | killed since | score now |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for module, count in [*rows, ("**all**", totals)]:
        lines.append(
            f"| {module} | {count['mutants']} | {count['killed']} | {count['timeout']} | {count['survived']} | "
            f"{count['equivalent']} | {count['unchecked']} | {_score(count)} | {count['later']} | "
            f"{_score(count, count['later'])} |"
        )
    lines += ["", CHOICE, "", "Runs (the latest run of a module gives its row):", ""]
    lines += [
        f"- {run['date']} UTC: {', '.join(run['modules'])}: {run['mutants']} mutants, {run['tested']} tested in "
        f"{run['minutes']} min, {run['workers']} workers"
        for run in store["runs"]
    ]
    lines += [
        "",
        "## Survivors",
        "",
        "Each with the line it changes and why it computes the same thing, or not.",
        "",
    ]
    for module, name, code, removed, added, reason in listed:
        status = "no test reaches it" if code in (5, 33) else "survived"
        key = (function_of(name), added)
        verdict = (
            f"equivalent: {reason}"
            if reason
            else KILLED_LATER.get(key)
            or EXPLAINED.get(key)
            or explained_kind(removed, added)
            or "**not yet killed**"
        )
        lines.append(f"- `{name.split('.')[-1]}` ({module}, {status}): `{removed}` → `{added}`: {verdict}")
    return "\n".join(lines) + "\n"


def _score(count: dict[str, int], since: int = 0) -> str:
    """(killed + timed out [+ survivors killed by tests added since]) / (mutants − equivalent − not run)."""
    judged = count["mutants"] - count["equivalent"] - count["unchecked"]
    return f"{(count['killed'] + count['timeout'] + since) / judged:.1%}" if judged else "–"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(MATHS), help="modules to mutate (default: all)")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the kept results")
    parser.add_argument(
        "--collect",
        action="store_true",
        help="keep what a run in --workdir has tested so far (one cut short)",
    )
    args = parser.parse_args(argv)
    if args.collect:
        selected = {m: MATHS[m] for m in (args.only or MATHS)}
        seconds = time.time() - (args.workdir / "setup.cfg").stat().st_mtime
        record(args.workdir, selected, seconds, args.children)
    elif not args.report_only:
        selected = {m: MATHS[m] for m in (args.only or MATHS)}
        globs = [
            mutant_prefix(path, f) + "*"
            for files in selected.values()
            for path, fs in files.items()
            for f in fs
        ]
        prepare(args.workdir, sorted({path for files in selected.values() for path in files}))
        seconds = run(args.workdir, globs, args.children)
        record(args.workdir, selected, seconds, args.children)
    text = report()
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
