"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019) as a benchmark peer.

An item-item model in closed form on the binarized matrix X (1 where a person rated a film): the weights B
minimise ‖X − XB‖² + λ‖B‖² with a zero diagonal, which gives, with P = (XᵀX + λI)⁻¹,

    B_ij = −P_ij / P_jj  (i ≠ j),  B_jj = 0.

A new person's scores are x·B for their binarized given ratings x: no fold-in needed, which is why EASE is a
strong reference for new users. Only items that at least ``min_count`` train users rated take part (the
Gram matrix of every item of MovieLens latest-small, 9,742 square, would take minutes to invert per λ on this
machine); the others score −inf.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recengine.data.dataset import RatingsDataset


class EASE:
    """Fitted EASE weights over the items rated by at least ``min_count`` train users."""

    def __init__(self, train: RatingsDataset, reg: float, min_count: int = 1, gram: np.ndarray | None = None):
        counts = train.item_counts()
        self.items = np.flatnonzero(counts >= min_count)
        self.n_items = train.n_items
        self.reg = reg
        gram = self.gram(train, self.items) if gram is None else gram
        precision = scipy.linalg.inv(gram + reg * np.eye(len(gram)), overwrite_a=True, check_finite=False)
        self.weights = -precision / np.diag(precision)[None, :]
        np.fill_diagonal(self.weights, 0.0)
        self.position = np.full(train.n_items, -1)
        self.position[self.items] = np.arange(len(self.items))

    @staticmethod
    def gram(train: RatingsDataset, items: np.ndarray) -> np.ndarray:
        """XᵀX of the binarized ratings of ``items``."""
        rated = sp.csr_matrix(
            (np.ones(train.n_ratings), (train.user_codes, train.item_codes)),
            shape=(train.n_users, train.n_items),
        )[:, items]
        return (rated.T @ rated).toarray()

    def __call__(self, codes: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """Scores of every item for a person who rated ``codes`` (−inf outside the model's items)."""
        inside = self.position[codes]
        inside = inside[inside >= 0]
        scores = np.full(self.n_items, -np.inf)
        scores[self.items] = self.weights[inside].sum(axis=0)
        return scores
