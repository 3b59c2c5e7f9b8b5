"""The mathematics of each model, written once: its objective and its step as LaTeX, with one plain line per
symbol. A model class carries its `Formulas` as ``math``; the Train page renders it (``st.latex``), the README
and the class docstrings take their text from it.

The formulas are KaTeX-compatible LaTeX (what Streamlit and GitHub render); ``text()`` gives them as plain
lines for a docstring, ``markdown()`` as GitHub math blocks for the README.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Formulas:
    """What a model minimizes (``objective``) and how one epoch moves towards it (``step``)."""

    objective: str  # LaTeX
    step: str  # LaTeX: the update rule, the closed-form solve or the sampling step of one epoch
    symbols: tuple[tuple[str, str], ...]  # (LaTeX symbol, what it is in plain words)
    step_name: str = "Update rule"  # or "Closed-form step", "Sampling step", ...
    objective_name: str = "Objective"

    def text(self) -> str:
        """Plain lines (LaTeX kept as written) for a docstring."""
        lines = [
            f"{self.objective_name}: {_one_line(self.objective)}",
            f"{self.step_name}: {_one_line(self.step)}",
        ]
        lines += [f"  {symbol}: {meaning}" for symbol, meaning in self.symbols]
        return "\n".join(lines)

    def markdown(self, title: str) -> str:
        """A README entry: a folded section titled ``title`` with both formulas as ```math blocks and the
        symbols as a list."""
        symbols = "\n".join(f"- ${symbol}$: {meaning}" for symbol, meaning in self.symbols)
        return (
            f"<details><summary>{title}</summary>\n\n{self.objective_name}:\n\n```math\n{self.objective}\n```\n\n"
            f"{self.step_name}:\n\n```math\n{self.step}\n```\n\n{symbols}\n\n</details>\n"
        )


def _one_line(latex: str) -> str:
    return " ".join(latex.split())


# --- pieces several models share ------------------------------------------------------------------------

BIASED_ERROR = r"e_{ui} &= r_{ui} - \mu - b_u - b_i - p_u^\top q_i"
BIASED_MF = (
    r"\begin{aligned} L &= \tfrac12 \sum_{(u,i)\in D} e_{ui}^2"
    r" + \tfrac{\lambda}{2} \sum_u w_u \left(\lVert p_u\rVert^2 + b_u^2\right) \\"
    r" &\quad + \tfrac{\lambda}{2} \sum_i w_i \left(\lVert q_i\rVert^2 + b_i^2\right) \\ "
    + BIASED_ERROR
    + r" \end{aligned}"
)
RATINGS = (
    (r"D", "the training ratings: the pairs (user u, film i) with a known rating"),
    (r"r_{ui}", "the rating user u gave film i"),
)
BIASED_SYMBOLS = (
    *RATINGS,
    (r"e_{ui}", "the error of the prediction on that rating"),
    (r"\mu", "the mean of all training ratings"),
    (r"b_u,\ b_i", "the user's bias (how generous) and the film's bias (how well liked); 0 with biases off"),
    (r"p_u,\ q_i", "the user's and the film's vectors of k factors (n_factors)"),
    (r"\lambda", "the L2 penalty (reg)"),
    (r"w_u,\ w_i", "the row's weight: its number of ratings with weighted_reg, else 1"),
)
PER_RATING_PENALTY = (
    r"\lambda_u,\ \lambda_i",
    "the penalty each rating of the row carries, λ w / n (= λ with weighted_reg)",
)
THETA = (r"\theta", "all learned arrays: P, Q and the biases")
GRADIENT = (r"\nabla_\theta", "the gradient: how L changes as each parameter moves")
LEARNING_RATE = (r"\eta", "the learning rate (lr), multiplied by lr_decay after each epoch where it has one")

# --- the models ----------------------------------------------------------------------------------------

SGD = Formulas(
    objective=BIASED_MF,
    step=(
        r"\begin{aligned} &\text{for each rating } (u,i) \text{, in a random order:} \\"
        r" b_u &\leftarrow b_u + \eta\,(e_{ui} - \lambda_u b_u) \\ b_i &\leftarrow b_i + \eta\,(e_{ui} - \lambda_i b_i) \\"
        r" p_u &\leftarrow p_u + \eta\,(e_{ui}\, q_i - \lambda_u p_u) \\"
        r" q_i &\leftarrow q_i + \eta\,(e_{ui}\, p_u - \lambda_i q_i) \end{aligned}"
    ),
    symbols=(*BIASED_SYMBOLS, PER_RATING_PENALTY, LEARNING_RATE),
)

MINIBATCH = Formulas(
    objective=BIASED_MF,
    step=(
        r"\begin{aligned} &\text{for each batch } B \subset D: \quad \theta \leftarrow \theta - \eta\,"
        r"\nabla_\theta \sum_{(u,i)\in B} \ell_{ui} \\"
        r" \ell_{ui} &= \tfrac12 e_{ui}^2 + \tfrac12 \lambda_u (\lVert p_u\rVert^2 + b_u^2)"
        r" + \tfrac12 \lambda_i (\lVert q_i\rVert^2 + b_i^2) \end{aligned}"
    ),
    symbols=(
        *BIASED_SYMBOLS,
        (r"B", "a batch of batch_size ratings, shuffled every epoch"),
        (r"\ell_{ui}", "one rating's share of L"),
        PER_RATING_PENALTY,
        THETA,
        GRADIENT,
        LEARNING_RATE,
    ),
)

GD = Formulas(
    objective=BIASED_MF,
    step=(
        r"\begin{aligned} g &= \operatorname{clip}\!\left(\nabla_\theta L\right) \\ v &\leftarrow \beta\, v + g \\"
        r" \theta &\leftarrow \theta - \eta\, v \end{aligned}"
    ),
    symbols=(
        *BIASED_SYMBOLS,
        THETA,
        GRADIENT,
        (
            r"\operatorname{clip}",
            "gradient clipping by norm or by value (clip, clip_mode); none when clip = 0",
        ),
        (r"v", "the velocity: the steps so far, each kept with weight β"),
        (r"\beta", "the momentum"),
        (r"\eta", "the learning rate (lr)"),
    ),
)

ADAM = Formulas(
    objective=BIASED_MF,
    step=(
        r"\begin{aligned} g &= \nabla_\theta \textstyle\sum_{(u,i)\in B} \ell_{ui} \\"
        r" m &\leftarrow \beta_1 m + (1-\beta_1)\, g, \quad s \leftarrow \beta_2 s + (1-\beta_2)\, g^2 \\"
        r" \theta &\leftarrow \theta - \eta\, \frac{m / (1-\beta_1^t)}{\sqrt{s / (1-\beta_2^t)} + \epsilon}"
        r" \end{aligned}"
    ),
    symbols=(
        *BIASED_SYMBOLS,
        (r"B", "a batch of batch_size ratings; only the rows it touches move"),
        (r"\ell_{ui}", "one rating's share of L"),
        THETA,
        (r"g", "the batch's gradient"),
        (r"m,\ s", "running means of the gradient and of its square, entry by entry"),
        (r"\beta_1,\ \beta_2", "their decay rates (beta1, beta2)"),
        (r"t", "the number of steps taken so far"),
        (r"\eta,\ \epsilon", "the step size (lr) and a small number that keeps the division finite (eps)"),
    ),
)

ALS = Formulas(
    objective=BIASED_MF,
    step=(
        r"\begin{aligned} \begin{bmatrix} p_u \\ b_u \end{bmatrix} &\leftarrow"
        r" \Big(\sum_{i \in I(u)} \tilde q_i \tilde q_i^\top + \lambda w_u I\Big)^{-1}"
        r" \sum_{i \in I(u)} (r_{ui} - \mu - b_i)\, \tilde q_i \\ \tilde q_i &= \begin{bmatrix} q_i \\ 1"
        r" \end{bmatrix}, \quad \text{then every film the same way, the users fixed} \end{aligned}"
    ),
    symbols=(
        *BIASED_SYMBOLS,
        (r"I(u)", "the films user u rated"),
        (r"\tilde q_i", "the film's factors with a 1 appended, so the bias is solved with them"),
        (r"I", "the identity matrix"),
    ),
    step_name="Closed-form step (one ridge regression per row)",
)

NMF = Formulas(
    objective=(
        r"\begin{aligned} L &= \tfrac12 \sum_{(u,i)\in D} (r_{ui} - o_{ui} - p_u^\top q_i)^2 \\"
        r" &\quad + \tfrac{\lambda}{2} \sum_u w_u \lVert p_u\rVert^2 + \tfrac{\lambda}{2} \sum_i w_i \lVert q_i\rVert^2,"
        r" \quad P, Q \ge 0 \\ L_0 &= \tfrac12 \lVert R_0 - P Q^\top \rVert_F^2 + \text{the same penalty}"
        r" \quad \text{(zero-filled mode)} \end{aligned}"
    ),
    step=(
        r"\begin{aligned} p_u &\leftarrow p_u \odot \frac{c_u^{+}}{A_u\, p_u + c_u^{-}} \\"
        r" A_u &= \sum_{i \in I(u)} q_i q_i^\top + \lambda w_u I, \quad"
        r" c_u = \sum_{i \in I(u)} (r_{ui} - o_{ui})\, q_i \\ &\text{then every } q_i \text{ the same way}"
        r" \end{aligned}"
    ),
    symbols=(
        *RATINGS,
        (r"o_{ui}", "the offset μ + b_u + b_i with biases on, else 0 (the prediction is p_u·q_i alone)"),
        (r"p_u,\ q_i", "non-negative vectors of k factors"),
        (r"\lambda,\ w", "the L2 penalty (reg) and the row's weight (its rating count with weighted_reg)"),
        (r"R_0", "the rating matrix with 0 in every unrated cell, as scikit-learn's NMF sees it"),
        (r"I(u)", "the films u rated (zero-filled mode: every film)"),
        (r"c^{+},\ c^{-}", "the positive and negative parts of c"),
        (
            r"\odot",
            "entry-by-entry product (and the fraction is entry by entry): factors never turn negative",
        ),
    ),
    step_name="Update rule (multiplicative)",
)

SVD = Formulas(
    objective=(
        r"\begin{aligned} &\min_{b}\ \tfrac12 \sum_{(u,i)\in D} (r_{ui} - \mu - b_u - b_i)^2"
        r" + \tfrac{\lambda}{2} \big(\lVert b_u\rVert^2 + \lVert b_i\rVert^2\big) \\ &\text{then} \quad"
        r" \min_{\operatorname{rank} P Q^\top \le k}\ \tfrac12 \lVert \tilde R - P Q^\top \rVert_F^2 \end{aligned}"
    ),
    step=(
        r"\begin{aligned} \tilde R &\approx U_k S_k V_k^\top \ \text{(SciPy svds)} \\"
        r" P &= U_k S_k^{1/2}, \quad Q = V_k S_k^{1/2} \end{aligned}"
    ),
    symbols=(
        *RATINGS,
        (r"\mu,\ b_u,\ b_i", "the mean rating and the user and film biases (ridge estimates)"),
        (r"\tilde R", "the residuals r − μ − b_u − b_i on rated cells, 0 on every unrated cell"),
        (r"U_k, S_k, V_k", "the k largest singular values S and their singular vectors U, V"),
        (r"P,\ Q", "user and film factors, sharing the singular values"),
        (r"\lVert\cdot\rVert_F", "the Frobenius norm: the square root of the sum of every squared entry"),
    ),
    step_name="Closed-form step (one SVD, exact by Eckart–Young)",
)

SVDPP = Formulas(
    objective=(
        r"\begin{aligned} L &= \tfrac12 \sum_{(u,i)\in D} e_{ui}^2 + \tfrac{\lambda}{2} \sum_u w_u (\lVert p_u\rVert^2"
        r" + b_u^2) \\ &\quad + \tfrac{\lambda}{2} \sum_i w_i (\lVert q_i\rVert^2 + b_i^2) + \tfrac{\lambda_y}{2} \sum_j w_j"
        r" \lVert y_j\rVert^2 \\ e_{ui} &= r_{ui} - \mu - b_u - b_i \\ &\quad - (q_i + x_i)^\top \Big(p_u + |N(u)|^{-1/2}"
        r" \sum_{j \in N(u)} y_j\Big) \end{aligned}"
    ),
    step=(
        r"\begin{aligned} &\text{for each rating } (u,i): \\ b_u &\mathrel{+}= \eta\,(e_{ui} - \lambda_u b_u),"
        r" \quad b_i \mathrel{+}= \eta\,(e_{ui} - \lambda_i b_i) \\ p_u &\mathrel{+}= \eta\,(e_{ui}\, \tilde q_i - \lambda_u p_u), \quad"
        r" q_i \mathrel{+}= \eta\,(e_{ui}\, \tilde p_u - \lambda_i q_i) \\ &\text{then for each } j \in N(u): \\"
        r" y_j &\mathrel{+}= \eta \Big(|N(u)|^{-1/2} \sum_i e_{ui}\, \tilde q_i - \lambda_{y} y_j\Big) \end{aligned}"
    ),
    symbols=(
        *BIASED_SYMBOLS,
        (r"N(u)", "the films u rated: who rated what is a signal of its own"),
        (r"y_j", "implicit factors of film j, added into the vector of everyone who rated it"),
        (r"x_i", "the mirror image for films (item_implicit): the users who rated i, else 0"),
        (r"\tilde p_u,\ \tilde q_i", "the effective vectors p_u + |N(u)|^−½ Σ y_j and q_i + x_i"),
        (r"\lambda_y", "the penalty on the implicit factors (reg_implicit)"),
        (r"w", "the row's rating count to the power reg_power"),
        PER_RATING_PENALTY,
        LEARNING_RATE,
    ),
)

BPMF = Formulas(
    objective=(
        r"\begin{aligned} p(P, Q, b \mid R) &\propto \prod_{(u,i)\in D} \mathcal N\!\big(r_{ui} \mid \mu + b_u + b_i"
        r" + p_u^\top q_i, \alpha^{-1}\big) \\ &\quad \times \prod_u \mathcal N\!\big(x_u \mid \mu_U, \Lambda_U^{-1}\big)"
        r" \prod_i \mathcal N\!\big(x_i \mid \mu_V, \Lambda_V^{-1}\big) \end{aligned}"
    ),
    step=(
        r"\begin{aligned} (\mu_U, \Lambda_U) &\sim \text{Gaussian–Wishart}(\cdot \mid \{x_u\}) \\"
        r" x_u &\sim \mathcal N\big(m_u, \Lambda_u^{*-1}\big), \quad \Lambda_u^* = \Lambda_U + \alpha \sum_{i\in I(u)}"
        r" \tilde q_i \tilde q_i^\top \\ m_u &= \Lambda_u^{*-1} \Big(\Lambda_U \mu_U + \alpha \sum_{i \in I(u)}"
        r" (r_{ui} - \mu - b_i)\, \tilde q_i\Big) \\ &\text{then the films the same way;} \\ &\text{predictions"
        r" average the sweeps after burn-in} \end{aligned}"
    ),
    symbols=(
        *RATINGS,
        (r"x_u = [p_u, b_u]", "user u's factors and bias, drawn together (x_i likewise for film i)"),
        (r"\alpha", "the precision of the rating noise, 1/σ² (alpha)"),
        (r"\mu_U,\ \Lambda_U", "the mean and precision matrix of all user vectors, learned (V: the films)"),
        (r"\tilde q_i", "film i's factors with a 1 appended"),
        (r"\mathcal N", "a normal (Gaussian) distribution"),
    ),
    objective_name="Posterior (sampled, not minimized)",
    step_name="Sampling step (one Gibbs sweep)",
)

BSVDPP = Formulas(
    objective=(
        r"\begin{aligned} r_{ui} &\sim \mathcal N\!\big(\mu + \beta_u + \beta_i + a_u^\top c_i,\ \alpha^{-1}\big) \\"
        r" \begin{bmatrix} a_u \\ \beta_u \end{bmatrix} &= x_u + |N(u)|^{-1/2} \sum_{j \in N(u)} y_j, \quad"
        r" \begin{bmatrix} c_i \\ \beta_i \end{bmatrix} = x_i + |R(i)|^{-1/2} \sum_{v \in R(i)} z_v \\"
        r" \theta &\sim \mathcal N\big(m_g, \operatorname{diag}(\lambda_g)^{-1}\big) \ \text{for every vector } \theta"
        r" \text{ of group } g \in \{x_u, y_j, x_i, z_v\} \\ \lambda_{g,f} &\sim \Gamma(1, 1), \quad m_{g,f}"
        r" \sim \mathcal N(0, \lambda_{g,f}^{-1}), \quad \alpha \sim \Gamma(1, 1) \\"
        r" \text{ordered probit: } r_{ui} &= v_k \iff z_{ui} \in (\tau_k, \tau_{k+1}], \quad z_{ui} \sim"
        r" \mathcal N(\eta_{ui}, 1), \quad \eta_{ui} = \mu + \beta_u + \beta_i + a_u^\top c_i, \quad \tau_1 < \dots"
        r" < \tau_{K-1} \text{ flat} \end{aligned}"
    ),
    step=(
        r"\begin{aligned} \alpha &\sim \Gamma\big(1 + \tfrac{|D|}{2},\ 1 + \tfrac12 \textstyle\sum_{(u,i)\in D}"
        r" e_{ui}^2\big), \quad (m_g, \lambda_g) \sim \text{Normal–Gamma}(\cdot \mid \{\theta\}) \\"
        r" x_u &\sim \mathcal N\big(A_u^{-1} h_u, A_u^{-1}\big), \quad A_u = \operatorname{diag}(\lambda_x)"
        r" + \alpha\, G_u, \quad G_u = \textstyle\sum_{i \in N(u)} \tilde c_i \tilde c_i^\top \\"
        r" h_u &= \lambda_x \odot m_x + \alpha \textstyle\sum_{i \in N(u)} (r_{ui} - \mu - \beta_i"
        r" - \tilde c_i^\top \bar y_u)\, \tilde c_i \\"
        r" y_j &\sim \mathcal N\big(A_j^{-1} h_j, A_j^{-1}\big), \quad A_j = \operatorname{diag}(\lambda_y)"
        r" + \alpha \textstyle\sum_{u \in R(j)} |N(u)|^{-1}\, G_u, \ \text{one } j \text{ after another} \\"
        r" &\text{then the films' side the same way; predictions average the sweeps after a short burn-in} \\"
        r" \text{ordered probit: } \tau_k &\text{ by a Metropolis step (one cut per sweep), } z_{ui} \sim \mathcal"
        r" N(\eta_{ui}, 1) \text{ truncated to } (\tau_k, \tau_{k+1}], \ \alpha = 1, \ r \to z; \ \hat r_{ui} ="
        r" \textstyle\sum_k v_k\, P(r_{ui} = v_k)"
        r" \end{aligned}"
    ),
    symbols=(
        *RATINGS,
        (r"N(u),\ R(i)", "the films u rated and the users who rated i, in the training ratings only"),
        (r"x_u = [p_u, b_u]", "user u's own factors and bias (x_i = [q_i, b_i] for film i)"),
        (
            r"y_j,\ z_v",
            "the bag vectors: film j's part in every rater's vector, user v's in every rated film's",
        ),
        (r"a_u,\ c_i", "the effective factors the prediction multiplies; β_u, β_i the effective biases"),
        (r"\tilde c_i", "film i's effective factors with a 1 appended (the bias is drawn with the factors)"),
        (r"\bar y_u", "u's bag sum |N(u)|^−½ Σ y_j, padded like the vectors"),
        (r"e_{ui}", "the current sample's error on a training rating"),
        (r"\alpha", "the precision of the rating noise, 1/σ², sampled"),
        (
            r"z_{ui},\ \tau_k",
            "with the ordered probit: a rating's latent score and the cut points between the rating "
            "values v_k, both sampled; the prediction is the expected rating",
        ),
        (r"m_g,\ \lambda_g", "each group's prior mean and precision per dimension f, sampled: no λ to tune"),
        (r"G_u", "u's Gram matrix, made once per sweep: each y_j's draw reuses those of its raters"),
        (r"\mathcal N,\ \Gamma", "the normal and the Gamma (shape, rate) distributions"),
    ),
    objective_name="Model and priors (sampled, not minimized)",
    step_name="Sampling step (one Gibbs sweep)",
)

WALS = Formulas(
    objective=(
        r"\begin{aligned} L &= \tfrac12 \sum_{u,i\ \text{all pairs}} c_{ui}\,(p_{ui} - x_u^\top y_i)^2 \\"
        r" &\quad + \tfrac{\lambda}{2} \Big(\sum_u n_u \lVert x_u\rVert^2 + \sum_i n_i \lVert y_i\rVert^2\Big) \\"
        r" p_{ui} &= [u \text{ rated } i], \qquad c_{ui} = 1 + \alpha\, w_{ui} \text{ if rated, else } 1"
        r" \end{aligned}"
    ),
    step=(
        r"\begin{aligned} x_u &\leftarrow \big(Y^\top Y + Y^\top (C^u - I) Y + \lambda n_u I\big)^{-1} Y^\top C^u p(u) \\"
        r" &\text{then every } y_i \text{ the same way} \end{aligned}"
    ),
    symbols=(
        (r"p_{ui}", "1 if user u rated film i, else 0: what the model learns to predict"),
        (r"c_{ui}", "the confidence in that 0 or 1"),
        (r"\alpha", "the confidence slope (alpha)"),
        (r"w_{ui}", "1 (binary weighting) or the rating itself (rating weighting)"),
        (r"x_u,\ y_i", "user and film vectors of k factors"),
        (
            r"\lambda,\ n",
            "the L2 penalty (reg); n = the row's count of rated films with weighted_reg, else 1",
        ),
        (r"Y,\ C^u", "all film vectors as rows, and the diagonal matrix of u's confidences"),
        (r"p(u)", "user u's row of p"),
    ),
    step_name="Closed-form step (solved exactly with cholesky, a few conjugate-gradient steps with cg)",
)

BPR = Formulas(
    objective=(
        r"\begin{aligned} L &= \sum_{(u,i,j)} \Big[-\ln \sigma(x_{uij}) + \tfrac{\lambda}{2}(\lVert p_u\rVert^2"
        r" + \lVert q_i\rVert^2 + \lVert q_j\rVert^2) \\ &\qquad + \tfrac{\lambda_b}{2}(b_i^2 + b_j^2)\Big] \\"
        r" x_{uij} &= p_u^\top (q_i - q_j) + b_i - b_j \end{aligned}"
    ),
    step=(
        r"\begin{aligned} s &= \sigma(-x_{uij}), \qquad p_u \mathrel{+}= \eta\,\big(s\,(q_i - q_j) - \lambda p_u\big) \\"
        r" q_i &\mathrel{+}= \eta\,(s\, p_u - \lambda q_i), \quad q_j \mathrel{+}= \eta\,(-s\, p_u - \lambda q_j) \\"
        r" b_i &\mathrel{+}= \eta\,(s - \lambda_b b_i), \quad b_j \mathrel{+}= \eta\,(-s - \lambda_b b_j) \end{aligned}"
    ),
    symbols=(
        (r"(u,i,j)", "sampled triples: user u rated film i and did not rate film j"),
        (r"x_{uij}", "how much higher the model scores i than j for u"),
        (r"\sigma", "the logistic function 1 / (1 + e^−x)"),
        (r"p_u,\ q_i", "user and film vectors of k factors"),
        (r"b_i", "film i's bias (how often it is chosen)"),
        (r"\lambda,\ \lambda_b", "the L2 penalties on factors (reg) and on biases (reg_bias)"),
        (r"\eta", "the learning rate (lr)"),
    ),
)

BASELINE = Formulas(
    objective=(
        r"\begin{aligned} L &= \tfrac12 \sum_{(u,i)\in D} (r_{ui} - \mu - b_u - b_i)^2 \\ &\quad"
        r" + \tfrac{\lambda_u}{2} \sum_u b_u^2 + \tfrac{\lambda_i}{2} \sum_i b_i^2 \end{aligned}"
    ),
    step=(
        r"\begin{aligned} b_u &\leftarrow \frac{\sum_{i \in I(u)} (r_{ui} - \mu - b_i)}{\lambda_u + |I(u)|} \\"
        r" b_i &\leftarrow \frac{\sum_{u \in U(i)} (r_{ui} - \mu - b_u)}{\lambda_i + |U(i)|} \end{aligned}"
    ),
    symbols=(
        *RATINGS,
        (r"\mu", "the mean of all training ratings"),
        (r"b_u,\ b_i", "the user's bias (generosity) and the film's bias (how well liked)"),
        (r"\lambda_u,\ \lambda_i", "their penalties (reg_user, reg_item): a few ratings move a bias little"),
        (r"I(u),\ U(i)", "the films u rated, the users who rated i"),
    ),
    step_name="Closed-form step (exact, alternating)",
)

POPULAR = Formulas(
    objective=r"\text{none: nothing is learned}",
    step=r"\operatorname{score}(i) = |U(i)| \quad \text{for every user}",
    symbols=((r"U(i)", "the users who rated film i in training"),),
    step_name="Scores",
)


def readme_section(models: dict) -> str:
    """The README's "math of each model" entries, one folded section per registered model, by name."""
    entries = [
        cls.formulas.markdown(f"<code>{name}</code>: {cls.label}")
        for name, cls in sorted(models.items())
        if cls.formulas is not None
    ]
    return "\n".join(entries)
