"""Model cards: a Markdown page written from the training record stored in the model file."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

from cuefinder.evaluate.estimate import MIN_GAMES
from cuefinder.evaluate.estimate import fmt as _fmt
from cuefinder.evaluate.estimate import section as _estimate_section
from cuefinder.model import checkpoint
from cuefinder.model.config import POOLED_MODES
from cuefinder.train.config import TrainConfig

REPRODUCE = (
    "cuefinder dataset games --out games.csv\n"
    "cuefinder evaluate games.csv -o cuefinder/model/evaluation/levers ...  # the levers: "
    "its report's own command line\n"
    "cuefinder evaluate games.csv -o cuefinder/model/evaluation --methods random majority "
    "mfcc-logreg --scheme kfold --folds 4 --config recipes/default.toml "
    "--recipe default=recipes/default.toml --fuse default+mfcc-logreg\n"
    "cuefinder evaluate games.csv -o cuefinder/model/evaluation/fused --methods random "
    "majority mfcc-logreg --scheme kfold --folds 4 --config recipes/default.toml "
    "--recipe default=recipes/default.toml  # and --folds 5, --folds 3 into fused-5fold, "
    "fused-3fold\n"
    "cuefinder train games.csv --config recipes/default.toml --test-fraction 0 "
    "--out cuefinder/model/default.safetensors\n"
    "cuefinder card cuefinder/model/default.safetensors --evaluation "
    "cuefinder/model/evaluation/fused/evaluation.json "
    "cuefinder/model/evaluation/evaluation.json cuefinder/model/evaluation/levers/evaluation.json "
    "--estimate default+heard-logreg --draw cuefinder/model/evaluation/fused-5fold/evaluation.json "
    "--draw cuefinder/model/evaluation/fused-3fold/evaluation.json"
)


def licences() -> dict[str, str]:
    """Package -> licence, from the label file shipped with cuefinder."""
    with resources.files("cuefinder.datasets").joinpath("data/games.csv").open() as handle:
        return {row["package"]: row["license"] for row in csv.DictReader(handle)}


def render(model_path: str | Path) -> str:
    """The model card of a model file, from its header alone."""
    info = checkpoint.read_info(model_path)
    record = info.training
    lines = [
        f"# Model card: {Path(model_path).name} ({info.model_id})",
        "",
        "A convolutional network that tags about 3 s of music with the film genres it suits "
        "(multi-label sigmoid outputs); track scores are the mean over segments"
        + _heard_clause(info, record)
        + ". "
        + _embedding_sentence(info.config),
        "",
        *_estimate_section(
            (record.get("cross_validation") or {}).get("estimate"),
            info.config,
            record.get("likeness") if info.likeness else None,
        ),
        *_thin_section(info.thin_genres),
        *_test_section(record.get("test")),
        *_cross_validation_section(record.get("cross_validation")),
        *_data_section(record),
        *_training_section(info, record),
        "## Use and limits",
        "",
        "For ranking a music catalog by the kind of picture it suits, as a first pass "
        "before listening. Not a judgement of quality or of a composer's intent. The "
        "labels describe games, not the scenes each cue plays under, so a sad theme of a "
        "war game is labelled War; genres held by one or two games (see the game counts) "
        "teach that game's composer more than the genre. Train on your own soundtracks "
        "for better numbers (`cuefinder dataset build`, `cuefinder train`).",
        "",
        "## Reproduce",
        "",
        "```",
        REPRODUCE,
        "cuefinder card cuefinder/model/default.safetensors  # this page, from the model file",
        "```",
        "",
    ]
    return "\n".join(lines)


def _heard_clause(info, record: dict) -> str:
    """How a model that carries regressions on the sound embedding scores a track."""
    if not info.heard:
        return ""
    fit = record.get("heard") or {}
    how = f" (C = {fit['c']:g}, fitted on {fit['tracks']} tracks)" if fit else ""
    return (
        f", averaged with logistic regressions{how} on what musicnn's MagnaTagATune tagger "
        "hears in 4 excerpts of the track (its 200-value penultimate layer: the sound "
        "embedding indexing stores); a segment's scores are the network's alone"
    )


def _embedding_sentence(config) -> str:
    """What the embedding behind "sounds like" is made of."""
    learned = (
        "a second head on the convolution features, trained contrastively (two parts of one "
        "track are a pair)"
        if config.similarity_dim
        else "the genre head's hidden layer"
    )
    timbre = (
        ", beside the segment's MFCC and spectral statistics standardised over the "
        "training tracks (each half at equal weight)"
        if config.timbre
        else ""
    )
    return f'Its embedding for "sounds like" is {learned}{timbre}.'


def _thin_section(thin: dict[str, int]) -> list[str]:
    if not thin:
        return []
    named = ", ".join(f"{g} ({n} game{'s' * (n != 1)})" for g, n in sorted(thin.items()))
    return [
        "## Warning: genres on thin evidence",
        "",
        f"{named}: fewer than {MIN_GAMES} games taught these genres, so their scores "
        "measure those games' composers more than the genre. `cuefinder genres` marks them; "
        "read their rankings as hints.",
        "",
    ]


def _test_section(test: dict | None) -> list[str]:
    """Figures on the held-out test games of the training run, if it held any out."""
    if not test:
        return []
    lines = [
        "## Numbers on games the model never saw",
        "",
        f"Held-out test set: {test['groups']} games, {test['tracks']} tracks. Split by game, "
        "never by track. Random scores give ROC-AUC 0.5 and PR-AUC equal to the prevalence.",
        "",
        "| genre | ROC-AUC | PR-AUC | random PR-AUC | test tracks with it | test games with it |",
        "|---|---|---|---|---|---|",
    ]
    for genre, m in test["per_genre"].items():
        lines.append(
            f"| {genre} | {_fmt(m['roc_auc'])} | {_fmt(m['pr_auc'])} | {_fmt(m['prevalence'])} "
            f"| {m['positive_tracks']} | {m['positive_groups']} |"
        )
    macro = test["macro"]
    lines += [
        f"| **macro** ({macro['genres_scored']} genres with both classes in test) "
        f"| **{_fmt(macro['roc_auc'])}** | **{_fmt(macro['pr_auc'])}** "
        f"| {_fmt(macro['random_pr_auc'])} | | |",
        "",
        "Genres resting on one or two games measure the composer more than the genre; "
        "read each row with its game count. `n/a`: the test games hold no (or only) "
        "positives for that genre.",
        "",
    ]
    return lines


def _data_section(record: dict) -> list[str]:
    if "groups" not in record:  # a model file without a training record
        return []
    groups = record["groups"]
    known = licences()
    rows = [
        f"| {g} | {side} | {known.get(g, '?')} |"
        for side in ("train", "val", "test")
        for g in groups[side]
    ]
    return [
        "## Data and licences",
        "",
        "Soundtracks of free games packaged by Debian, each labelled with the film genres "
        "that fit its game, plus per-track refinements (`cuefinder/datasets/data/`). Labels "
        "belong to games, so they are weak. The audio is not shipped; the weights were "
        "trained on it under the licences below.",
        "",
        f"Tracks: {record['tracks']['train']} train, {record['tracks']['val']} validation "
        f"(early stopping), {record['tracks']['test']} test. Up to "
        f"{record['config']['max_seconds']:.0f} s of each track.",
        "",
        "| game (package) | split | licence |",
        "|---|---|---|",
        *rows,
        "",
    ]


def _training_section(info, record: dict) -> list[str]:
    if "history" not in record:
        return []
    config = record["config"]
    history = record["history"]
    best = max(history, key=lambda h: h["val_roc_auc"])
    steps = config["steps_per_epoch"]
    if info.config.extra.get("train") in POOLED_MODES:  # on pooled features (heads.py)
        steps = config.get("head_steps_per_epoch", TrainConfig.head_steps_per_epoch)
    return [
        "## Model and training",
        "",
        f"Input: log-mel, {info.features.n_mels} bands, {info.features.sample_rate} Hz, "
        f"FFT {info.features.n_fft}, hop {info.features.hop_length}; patches of "
        f"{info.config.patch_frames} frames. Conv channels {list(info.config.channels)}, "
        f"embedding {info.config.embedding_dim}. Genres: {', '.join(info.genres)}.",
        "",
        f"Group-balanced random patches, batch {config['batch_size']}, AdamW lr "
        f"{config['learning_rate']}, label smoothing {config['label_smoothing']}, gain and "
        f"time/frequency masking; {len(history)} epochs of {steps} steps, "
        f"best validation macro ROC-AUC {best['val_roc_auc']:.3f} at epoch {best['epoch']} "
        f"(kept). Seed {config['seed']}. Wall time {record['train_seconds']:.0f} s.",
        "",
    ]


def _cross_validation_section(cv: dict | None) -> list[str]:
    """The recipes compared by ``cuefinder evaluate`` on the same data, when attached."""
    if not cv or not cv.get("summary"):
        return []
    # each method's report (older records name one report for all)
    sources = cv.get("sources") or {name: cv["report"] for name in cv["summary"]}
    reports = list(dict.fromkeys(sources.values()))
    several = len(reports) > 1
    within = any("within_roc_auc" in m for m in cv["summary"].values())
    columns = [
        "method",
        *["ROC-AUC within one model"] * within,
        "ROC-AUC pooled",
        "PR-AUC",
        "F1",
        "game-level F1",
    ] + ["report"] * several
    rows = [
        [
            name,
            *[_fmt(m.get("within_roc_auc"))] * within,
            _fmt(m["roc_auc"]),
            _fmt(m["pr_auc"]),
            _fmt(m["f1"]),
            _fmt(m.get("group_f1")),
        ]
        + [str(reports.index(sources[name]) + 1)] * several
        for name, m in cv["summary"].items()
    ]
    named = ("reports: " + ", ".join(f"{i} `{r}`" for i, r in enumerate(reports, 1))
             if several else f"report: `{reports[0]}`")  # fmt: skip
    return [
        "## Recipes compared by cross-validation",
        "",
        f"`cuefinder evaluate` on the same games, {cv['scheme']}, every fold split by game "
        f"({named}). ROC-AUC within one model: each fold's held-out tracks ranked by that "
        "fold's model, per genre averaged over folds; the other columns pool out-of-fold "
        "track predictions; F1 at thresholds "
        "chosen on each fold's validation games; game-level F1 after Ma et al. (2021). "
        "Each report trains its recipes afresh in the same folds (same seed and groups).",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        *_ranking(cv["summary"]),
    ]


def _ranking(summary: dict) -> list[str]:
    """Which recipe ranks best, in words (within one model where the summaries have it);
    the report holds the intervals."""
    key = "within_roc_auc" if any("within_roc_auc" in m for m in summary.values()) else "roc_auc"
    scored = sorted(
        [
            (m[key], name)
            for name, m in summary.items()
            if m.get(key) is not None and m.get("kind") != "member"
        ],
        reverse=True,
    )
    if len(scored) < 2:
        return []
    (best, name), (second, runner) = scored[:2]
    kind = "within one model" if key == "within_roc_auc" else "pooled"
    return [
        f"Highest macro ROC-AUC {kind}: {name} ({best:.3f}), then {runner} ({second:.3f}); "
        "the report gives bootstrap intervals over games and says which differences are "
        "clear.",
        "",
    ]
