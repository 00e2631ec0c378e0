"""Model cards: a Markdown page written from the training record stored in the model file."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

from cuefinder.model import checkpoint
from cuefinder.model.config import POOLED_MODES
from cuefinder.train.config import TrainConfig

MIN_GAMES = checkpoint.MIN_GROUPS  # fewer games behind a genre: offered with a warning
BASELINE = "mfcc-logreg"

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


def estimate(evaluation_json: str | Path, method: str, resamples: int = 1000) -> dict:
    """A method's cross-validated figures beside the MFCC baseline's, for the card."""
    from cuefinder.evaluate import calibration
    from cuefinder.evaluate.report import similarity_rows
    from cuefinder.evaluate.results import (
        Evaluation,
        bootstrap_difference,
        within_difference,
        within_model,
    )

    evaluation = Evaluation.load(evaluation_json)
    ours = evaluation.methods[method].metrics
    base = evaluation.methods[BASELINE].metrics if BASELINE in evaluation.methods else None
    within = within_model(evaluation, [method, BASELINE] if base else [method], resamples)
    per_genre = {}
    for genre, m in ours["per_genre"].items():
        value, low, high = within["per_genre"][method][genre]
        per_genre[genre] = {
            "roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"],
            "baseline_roc_auc": base["per_genre"][genre]["roc_auc"] if base else None,
            "positive_groups": m["positive_groups"], "positive_tracks": m["positive_tracks"],
            "within": _finite(value), "within_interval": [_finite(low), _finite(high)],
            "baseline_within": (_finite(within["per_genre"][BASELINE][genre][0])
                                if base else None),
        }  # fmt: skip
    out = {
        "method": method, "report": str(Path(evaluation_json).parent / "report.md"),
        "groups": len(set(evaluation.groups)), "tracks": len(evaluation.groups),
        "macro": ours["macro"], "per_genre": per_genre,
        "within": list(within["macro"][method]),
    }  # fmt: skip
    if base:
        out["baseline"] = {"method": BASELINE, "macro": base["macro"]}
        out["difference"] = bootstrap_difference(evaluation, method, BASELINE,
                                                 resamples=resamples)  # fmt: skip
        out["baseline"]["within"] = within["macro"][BASELINE][0]
        out["within_difference"] = within_difference(within, method, BASELINE)
    out["calibration"] = calibration.from_evaluation(evaluation, method)
    rows = {r["space"]: r for r in similarity_rows(evaluation)}
    space = method.split("+")[0]  # a fusion embeds with its network
    if space in rows and "mfcc" in rows:
        out["similarity"] = {
            "p10": rows[space]["p10"], "interval": rows[space]["interval"],
            "mfcc": rows["mfcc"]["p10"], "vs_mfcc": rows[space].get("vs_mfcc"),
            "random": rows.get(f"{space}/random", {}).get("p10"),
            "vs_random": rows[space].get("vs_random"),
        }  # fmt: skip
    return out


def _finite(value: float) -> float | None:
    return None if value != value else value  # NaN: not defined (no fold with both classes)


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


def _estimate_section(est: dict | None, config, likeness: dict | None = None) -> list[str]:
    """The cross-validated estimate for music the model never heard, per genre: ranked
    within one model (as a catalog is ranked) where the estimate has it, pooled beside."""
    if not est:
        return []
    diff = est.get("difference")
    lines = ["## Estimate for music the model never heard", ""]
    source = (
        f"Cross-validated by game (`{est['method']}` in `{est['report']}`): {est['tracks']} "
        f"tracks of {est['groups']} games, each scored by a network that never heard its game."
    )
    within = est.get("within")
    if within:
        wd = est.get("within_difference")
        versus = (
            f" MFCC statistics + logistic regression, ranked the same way: "
            f"{_fmt(est['baseline']['within'])}; difference {wd['difference']:+.3f} (95% "
            f"interval {wd['low']:+.3f} to {wd['high']:+.3f})."
            if wd
            else ""
        )
        pooled = (
            f" Pooled over the folds instead (every fold's scores in one ranking, which mixes "
            f"the folds' models and their scales): {_fmt(est['macro']['roc_auc'])}"
            + (f", MFCC {_fmt(est['baseline']['macro']['roc_auc'])}" if diff else "")
            + "."
        )
        lines.append(
            f"{source} Ranked within one model, as a catalog is ranked (each fold's held-out "
            f"games by that fold's network, each genre's ROC-AUC averaged over the folds, "
            f"intervals from resampling games): macro ROC-AUC **{within[0]:.3f}** (95% "
            f"interval {within[1]:.3f} to {within[2]:.3f}), lowest genre {_lowest(est)}, PR-AUC "
            f"{_fmt(est['macro']['pr_auc'])} (pooled).{versus}{pooled} This model is the same "
            "recipe trained on every game, so these figures are its estimate for new music."
            + _draws(est)
        )
    else:
        versus = (
            f" MFCC statistics + logistic regression in the same folds: "
            f"{_fmt(est['baseline']['macro']['roc_auc'])}; difference {diff['difference']:+.3f} "
            f"(95% interval over games {diff['low']:+.3f} to {diff['high']:+.3f})."
            if diff
            else ""
        )
        lines.append(
            f"{source} Macro ROC-AUC **{_fmt(est['macro']['roc_auc'])}**, PR-AUC "
            f"{_fmt(est['macro']['pr_auc'])}.{versus} This model is the same recipe trained "
            "on every game, so these figures are its estimate for new music." + _draws(est)
        )
    head = "| genre | ROC-AUC | MFCC baseline | PR-AUC | games with it | tracks with it "
    rule = "|---|---|---|---|---|---|"
    if within:
        head = (
            "| genre | ROC-AUC within one model (95% interval) | MFCC baseline | ROC-AUC "
            "pooled | PR-AUC | games with it | tracks with it "
        )
        rule += "---|"
    lines += ["", head + "| ECE raw | ECE calibrated |", rule + "---|---|"]
    errors = (est.get("calibration") or {}).get("ece", {})
    for genre, m in est["per_genre"].items():
        flag = " (under 3 games)" if m["positive_groups"] < MIN_GAMES else ""
        e = errors.get(genre, {})
        if within:
            low, high = m["within_interval"]
            spread = f" ({low:.3f} to {high:.3f})" if low is not None else ""
            first = (
                f"{_fmt(m['within'])}{spread} | {_fmt(m['baseline_within'])} | {_fmt(m['roc_auc'])}"
            )
        else:
            first = f"{_fmt(m['roc_auc'])} | {_fmt(m['baseline_roc_auc'])}"
        lines.append(
            f"| {genre}{flag} | {first} | {_fmt(m['pr_auc'])} | {m['positive_groups']} "
            f"| {m['positive_tracks']} | {_fmt(e.get('before'))} | {_fmt(e.get('after'))} |"
        )
    return [*lines, "", *_calibration_lines(est.get("calibration")),
            *_similarity_lines(est.get("similarity"), config.timbre, likeness)]  # fmt: skip


def _lowest(est: dict) -> str:
    """The estimate's lowest genre within one model, with its game count."""
    rows = {g: m for g, m in est["per_genre"].items() if m.get("within") is not None}
    genre = min(rows, key=lambda g: rows[g]["within"])
    games = rows[genre]["positive_groups"]
    return f"{genre} {rows[genre]['within']:.3f} ({games} game{'s' * (games != 1)})"


def _draws(est: dict) -> str:
    """How far the estimate moves in other fold draws of the same recipe."""
    draws = est.get("draws") or []
    if not draws:
        return ""
    pooled = [est["macro"]["roc_auc"], *(d["roc_auc"] for d in draws)]
    if est.get("within") and all(d.get("within") for d in draws):
        inside = [est["within"][0], *(d["within"] for d in draws)]
        each = "; ".join(
            f"{d['scheme']} {_fmt(d['within'])}, lowest genre {d['lowest'][0]} "
            f"{_fmt(d['lowest'][1])} (pooled {_fmt(d['roc_auc'])}; `{d['report']}`)"
            for d in draws
        )
        return (
            f" The same recipe in other fold draws, within one model: {each}. Read the "
            f"estimate as {min(inside):.2f} to {max(inside):.2f} within one model "
            f"({min(pooled):.2f} to {max(pooled):.2f} pooled: pooling moves with the draw "
            "more than the ranking does)."
        )
    each = "; ".join(f"{d['scheme']} {_fmt(d['roc_auc'])} (`{d['report']}`)" for d in draws)
    return (
        f" The same recipe in other fold draws: {each}. Read the estimate as "
        f"{min(pooled):.2f} to {max(pooled):.2f}: a draw of folds moves it that much."
    )


def _calibration_lines(cal: dict | None) -> list[str]:
    if not cal:
        return []
    return [
        f"Calibration: the raw outputs' expected calibration error (ECE, {cal['bins']} bins) "
        f"on games the network never heard averages {cal['macro_before']:.3f} over genres; "
        f"Platt scaling fitted on the other folds' predictions brings it to "
        f"{cal['macro_platt']:.3f}. The model keeps each genre's curve where that lowered "
        f"its error and its raw output elsewhere ({cal['macro_after']:.3f}, slightly "
        "optimistic: the choice saw the same folds); a curve that would invert a "
        "below-chance ranking gives the genre's base rate instead. Search reports each "
        "result's calibrated fit.",
        "",
    ]


def _similarity_lines(sim: dict | None, timbre: bool, likeness: dict | None = None) -> list[str]:
    """The embedding's same-game precision on held-out games beside its two controls."""
    if not sim:
        return []

    def versus(key):
        d, low, high = sim[key]
        return f"{d:+.3f}, 95% interval {low:+.3f} to {high:+.3f}"

    low, high = sim["interval"]
    text = (
        f"Sounds like, in the same folds: every held-out track queries the other held-out "
        f"tracks of its fold; precision@10 counting tracks of its own game is "
        f"**{sim['p10']:.3f}** ({low:.3f} to {high:.3f}), against {sim['mfcc']:.3f} for MFCC "
        f"statistics ({versus('vs_mfcc')})"
    )
    if sim.get("vs_random"):
        half = " (and the same timbre half)" if timbre else ""
        text += (f" and {sim['random']:.3f} for the same network with random weights{half} "
                 f"({versus('vs_random')})")  # fmt: skip
    catalog = (
        "In a catalog, `similar` searches this embedding joined at equal weight with what "
        "musicnn's MagnaTagATune tagger hears (its penultimate layer, stored for every track)"
    )
    if likeness:
        catalog += (
            ", each first normalised by its spread within the training games (within-class "
            f"covariance normalisation fitted on {likeness['tracks']} tracks of "
            f"{likeness['games']} games, shrinkage {likeness['model_shrinkage']:g} and "
            f"{likeness['sound_shrinkage']:g}; `model/likeness.py`): on held-out games that "
            "finds tracks of the same game more often than the two joined without it, this "
            "embedding alone, MFCC statistics or random weights, though no more often than "
            "the same with random weights in the network (`python bench/bench_similarity.py`, "
            "space `likeness`; figures in the README)."
        )
    else:
        catalog += (
            ": on held-out games that finds tracks of the same game more often than this "
            "embedding alone, MFCC statistics or random weights, though no more often than "
            "the tagger with random weights beside it (`python bench/bench_similarity.py`, "
            "space `sounds+recipe`; figures in the README)."
        )
    return [text + ".", "", catalog, ""]


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


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
