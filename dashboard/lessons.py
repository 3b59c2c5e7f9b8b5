"""Teaching: a model's formulas rendered (Train and Lessons pages), and the Lessons page's demonstrations."""

from __future__ import annotations

import threading
import time
from types import MappingProxyType
from typing import Any, NamedTuple

import streamlit as st

from dashboard import state
from dashboard.jobs import TrainingJob
from dashboard.runs import DEFAULT_SPLIT, short_label, start
from recengine.data.dataset import RatingsDataset
from recengine.errors import RecEngineError
from recengine.models import MODELS
from recengine.models.formulas import Formulas


def show_formulas(formulas: Formulas | None, expanded: bool = True) -> None:
    """The objective and the step as rendered formulas, then one plain line per symbol."""
    if formulas is None:
        return
    st.markdown(f"**{formulas.objective_name}**")
    st.latex(formulas.objective)
    st.markdown(f"**{formulas.step_name}**")
    st.latex(formulas.step)
    with st.expander("What each symbol means", expanded=expanded):
        st.markdown("\n".join(f"- ${symbol}$: {meaning}" for symbol, meaning in formulas.symbols))


class Lesson(NamedTuple):
    """One demonstration: what it shows, what to look at, and the runs it trains (algorithm, settings)."""

    title: str
    shows: str
    look_at: str
    runs: tuple[tuple[str, dict[str, Any], str], ...] = ()  # (algorithm, settings, the run's name)
    changes: str = ""  # the one setting its runs differ in ("algorithm" when each runs at its defaults)


GD_SMALL = MappingProxyType({"n_factors": 10, "n_epochs": 20, "momentum": 0.0})
SGD_SMALL = MappingProxyType({"n_factors": 50, "n_epochs": 20})
LESSONS = MappingProxyType(
    {
        "learning-rate": Lesson(
            "Learning rate too high",
            "Full-batch gradient descent twice, the same in all but the step size: 0.0005 and 0.001.",
            "The small step's loss falls every epoch. The doubled step dips at first, then each step "
            "overshoots the valley and lands higher up the other side: the loss rises for over a dozen epochs "
            "until training stops as diverged. Both curves stay in Compare & tune.",
            (
                ("gd", GD_SMALL | {"lr": 0.0005}, "GD · lr 0.0005"),
                ("gd", GD_SMALL | {"lr": 0.001}, "GD · lr 0.001"),
            ),
            "lr",
        ),
        "fitting": Lesson(
            "Over- and under-fitting",
            "SGD with 50 factors three times: no regularization (λ 0), the default (λ 0.1), far too much (λ 2).",
            "Without regularization the train RMSE falls towards 0 while the validation RMSE turns and rises "
            "after a few epochs: the model learns the noise of its training ratings (over-fitting). With λ 2 "
            "both stay high and flat: the penalty forbids the factors to say anything (under-fitting). The "
            "default sits between: the lowest validation RMSE. Yet the over-fitted run's P@10 beats the "
            "default's: without the penalty the factors of films rated by many grow longest (twice the length "
            "of rarely rated films' on the bundled set), so its lists lean to popular films (the ratings per "
            "film below), and popular films are the likeliest to be among anyone's held-out films. P@10 "
            "rewards that whatever the stars; RMSE does not.",
            (
                ("sgd", SGD_SMALL | {"reg": 0.0}, "SGD · λ 0"),
                ("sgd", SGD_SMALL, "SGD · λ 0.1"),
                ("sgd", SGD_SMALL | {"reg": 2.0}, "SGD · λ 2"),
            ),
            "reg",
        ),
        "factors": Lesson(
            "Too few factors",
            "Weighted ALS (a ranking model) with one factor and with 64; the films each scores highest for a "
            "dozen people, before the films they have seen are taken out.",
            "With one factor every person is a single number and every film too, so there is one order of all "
            "films: everyone gets the same list (100 % alike). With 64 factors the lists differ person by person.",
            (
                ("wals", {"n_factors": 1}, "Weighted ALS · 1 factor"),
                ("wals", {}, "Weighted ALS · 64 factors"),
            ),
            "n_factors",
        ),
        "rating-vs-ranking": Lesson(
            "Rating model against ranking model",
            "SGD, which predicts stars, and weighted ALS, which learns what people choose to watch: both top-10 "
            "lists for one person, with how many people rated each film.",
            "The rating model fills the list with films few people rated, predicted high; the ranking model's "
            "films are ones people actually pick. RMSE only scores predicted stars on films people chose to rate, "
            "so it cannot see this: compare P@10 (of the held-out films, how many made the list).",
            (("sgd", {}, "SGD (rating model)"), ("wals", {}, "Weighted ALS (ranking model)")),
            "algorithm",
        ),
        "nmf": Lesson(
            "Zero-filled NMF against observed-entries NMF",
            "NMF fitted the scikit-learn way (every unrated cell taken as a 0 rating) and on the observed "
            "ratings only.",
            "The zero-filled model learns that unrated means 0 stars: its predictions sit far below the real "
            "ratings and its RMSE is several times worse. Missing is not zero.",
            (("nmf", {"mode": "zero_filled"}, "NMF · zero-filled"), ("nmf", {}, "NMF · observed entries")),
            "mode",
        ),
        "biases": Lesson(
            "Biases on and off",
            "SGD with and without user and film biases: one person's top-10 lists, with each film's popularity "
            "and mean rating.",
            "A film's bias carries 'everyone who saw it liked it', a person's bias how generous they are. With "
            "biases the list is led by films with a high mean rating, often seen by few; without them the "
            "factors must carry generosity and popularity too, and the list turns to other films, with lower "
            "mean ratings.",
            (
                ("sgd", {"n_factors": 20}, "SGD · 20 factors · biases on"),
                ("sgd", {"n_factors": 20, "biases": False}, "SGD · 20 factors · biases off"),
            ),
            "biases",
        ),
        "taste": Lesson(
            "Accurate, but not yours",
            "Weighted ALS and a new person who rated a handful of films of one kind 5 stars: their top 10 by "
            "the model's scores alone, and following their taste (calibrated re-ranking, with the weight λ on "
            "the slider).",
            "By the scores alone the list leans on films everyone watches: the animation lover gets Forrest "
            "Gump, The Shawshank Redemption, The Lord of the Rings and Schindler's List. Accuracy metrics "
            "reward that, because popular films are the likeliest to be found again. Following the taste brings in the person's kind of film: the genre gap (the KL "
            "divergence between the genre mix of what they rated and that of the list) falls, while on "
            "held-out people the accuracy stays (the README's new-people table). At λ 1 the scores no longer "
            "count: any film with the right genres will do.",
            (("wals", {}, "Weighted ALS"),),
        ),
        "small-matrix": Lesson(
            "A small matrix filling in",
            "Twelve people and the fifteen most rated films (about two thirds of the cells rated), factorized "
            "with 3 factors by SGD, epoch by epoch.",
            "Cells with a dot are ratings people gave; the others are the model's guesses. Move the slider: at "
            "epoch 1 every guess is near the mean; the guesses take each person's and each film's colour as the "
            "factors learn, and the train RMSE falls.",
        ),
        "gradient-check": Lesson(
            "A live gradient check",
            "The analytic gradient of the biased-MF objective (the formula gradient descent steps along) against "
            "a numerical one, (L(θ + h) − L(θ − h)) / 2h, for a few parameters of the small matrix's model.",
            "The two columns agree to about ten digits: the relative difference is around 1e-9. A wrong sign or "
            "a missing factor ½ in the formula would show here as a difference near 1.",
        ),
    }
)


CHANGE_NAMES = MappingProxyType(
    {
        "lr": "the learning rate",
        "reg": "the regularization λ",
        "n_factors": "the number of factors",
        "algorithm": "the algorithm, each at its own defaults",
        "mode": "what NMF takes an unrated cell for",
        "biases": "the biases",
    }
)


def settings_of(algo: str, params: dict[str, Any]) -> dict[str, Any]:
    """Every setting of a run, its defaults filled in, with its algorithm as the setting "algorithm"."""
    return {"algorithm": algo} | MODELS[algo].Params(**params).to_dict()


def one_change(lesson: Lesson) -> str:
    """The lesson's one change in words, with each run's value: "the learning rate: 0.0005, 0.001"."""
    if not lesson.changes or len(lesson.runs) < 2:
        return ""
    values = [settings_of(algo, params)[lesson.changes] for algo, params, _ in lesson.runs]
    if lesson.changes == "algorithm":
        shown = [short_label(MODELS[algo]) for algo in values]
    else:
        shown = [_shown(value) for value in values]
    return f"{CHANGE_NAMES[lesson.changes]}: {', '.join(shown)}"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value).replace("_", "-")


IN_PLAIN_WORDS = MappingProxyType(  # what each lesson does, for newcomers; the precise text is Lesson.shows
    {
        "learning-rate": "The same model learns twice: once taking small steps, once steps twice as big.",
        "fitting": "The same model learns three times: free to memorise every rating, held back a little, "
        "and held back hard.",
        "factors": "Describe every person and every film by a single number, or by 64 numbers: how "
        "different are the lists?",
        "rating-vs-ranking": "One model guesses how many stars people give; the other guesses what they "
        "choose to watch.",
        "nmf": "Count every film a person has not rated as a 0-star rating, or leave those films out.",
        "biases": "Tell the model that some people rate everything high and some films please everyone, "
        "or make it find that out alone.",
        "taste": "A newcomer who loves one kind of film: their list by the model alone, and pulled towards "
        "their taste.",
        "small-matrix": "Watch a model fill in the gaps of a small table of ratings, step by step.",
        "gradient-check": "The formula for which way to step, checked by nudging each number a little and "
        "measuring.",
    }
)


class Question(NamedTuple):
    """What the class predicts before the lesson's answer is shown: the question, the choices, the right one."""

    text: str
    choices: tuple[str, ...]
    answer: int


QUESTIONS = MappingProxyType(
    {
        "learning-rate": Question(
            "Double the step size: what will the loss do?",
            ("fall twice as fast", "fall about as fast", "rise, epoch after epoch"),
            2,
        ),
        "fitting": Question(
            "Which run will over-fit (train error falling, validation error rising)?",
            ("λ 0", "λ 0.1", "λ 2"),
            0,
        ),
        "factors": Question(
            "With one factor, how alike will a dozen people's top-10 lists be?",
            ("all different", "about half the same", "all the same"),
            2,
        ),
        "rating-vs-ranking": Question(
            "Which model's list will hold films that many people rated?",
            ("SGD, the rating model", "weighted ALS, the ranking model", "both alike"),
            1,
        ),
        "nmf": Question(
            "Zero-filled NMF: what will it predict, on average, for films people rated 3.5 stars?",
            ("about 3.5", "about 2.5", "below 1"),
            2,
        ),
        "biases": Question(
            "With the biases on, which films will lead the list?",
            ("high mean ratings, seen by few", "the most popular films", "the same as with biases off"),
            0,
        ),
        "taste": Question(
            "By the model's scores alone, what will the animation lover's top 10 hold?",
            ("mostly animated films", "films everyone watches", "films nobody rated"),
            1,
        ),
        "small-matrix": Question(
            "At epoch 1, what will the model guess for the empty cells?",
            ("about the mean rating, everywhere", "0 stars", "random stars from 1 to 5"),
            0,
        ),
        "gradient-check": Question(
            "How closely will the formula's gradient match the numerical one?",
            ("to about 2 digits", "to about 10 digits", "not at all: the numerical one is a rough guess"),
            1,
        ),
    }
)


class ClassAnswers:
    """The class's guesses, shared by every session of the server and counted without names: one per person
    and lesson (their last), those of the last ``hours`` only, at most ``limit`` people a lesson."""

    def __init__(self, hours: float = 1.0, limit: int = 1000) -> None:
        self.hours, self.limit = hours, limit
        self._lock = threading.Lock()
        self._votes: dict[str, dict[str, tuple[int, float]]] = {}

    def vote(self, lesson: str, who: str, choice: int) -> None:
        with self._lock:
            votes = self._votes.setdefault(lesson, {})
            if who in votes or len(votes) < self.limit:
                votes[who] = (choice, time.time())

    def counts(self, lesson: str, n_choices: int) -> list[int]:
        """How many people chose each choice lately."""
        since = time.time() - self.hours * 3600
        counts = [0] * n_choices
        with self._lock:
            for choice, at in self._votes.get(lesson, {}).values():
                if at >= since and 0 <= choice < n_choices:
                    counts[choice] += 1
        return counts


@st.cache_resource
def class_answers() -> ClassAnswers:
    """The server's one tally of the class's guesses."""
    return ClassAnswers()


def train_runs(data: RatingsDataset, lesson: Lesson) -> list[state.Run]:
    """The lesson's runs, trained side by side (or taken from the cache), diverged ones kept; each joins
    the session's runs for Compare without changing the active model."""
    outcomes = [start(data, algo, params, DEFAULT_SPLIT) for algo, params, _ in lesson.runs]
    runs = []
    for outcome, (_, _, name) in zip(outcomes, lesson.runs, strict=True):
        if isinstance(outcome, TrainingJob):
            outcome.join()
            if outcome.result is None:
                raise outcome.error or RecEngineError("Training ended without a model.")
            outcome = outcome.result
        outcome.name = name  # kept only for a run new to the session: a name given before stays
        state.add_run(outcome, group="lessons")
        runs.append(outcome)
    return runs
