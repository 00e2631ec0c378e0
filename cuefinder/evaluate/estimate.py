"""A model's estimate for music it never heard: computed from a cross-validation
(``estimate``, which ``cuefinder card --estimate`` stores in the model file) and written as
its card's section (``section``): ROC-AUC ranked within one model (``within``) with its
interval, the pooled figure beside it, per genre with game counts and calibration, other
fold draws, and "sounds like" against its controls."""

from __future__ import annotations

from pathlib import Path

from cuefinder.evaluate.metrics import BOOTSTRAP, defined
from cuefinder.model import checkpoint

MIN_GAMES = checkpoint.MIN_GROUPS  # fewer games behind a genre: offered with a warning
BASELINE = "mfcc-logreg"


def section(est: dict | None, config, likeness: dict | None = None) -> list[str]:
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
            f"{fmt(est['baseline']['within'])}; difference {wd['difference']:+.3f} (95% "
            f"interval {wd['low']:+.3f} to {wd['high']:+.3f})."
            if wd
            else ""
        )
        pooled = (
            f" Pooled over the folds instead (every fold's scores in one ranking, which mixes "
            f"the folds' models and their scales): {fmt(est['macro']['roc_auc'])}"
            + (f", MFCC {fmt(est['baseline']['macro']['roc_auc'])}" if diff else "")
            + "."
        )
        lines.append(
            f"{source} Ranked within one model, as a catalog is ranked (each fold's held-out "
            f"games by that fold's network, each genre's ROC-AUC averaged over the folds, "
            f"intervals from resampling games): macro ROC-AUC **{within[0]:.3f}** (95% "
            f"interval {within[1]:.3f} to {within[2]:.3f}), lowest genre {_lowest(est)}, PR-AUC "
            f"{fmt(est['macro']['pr_auc'])} (pooled).{versus}{pooled} This model is the same "
            "recipe trained on every game, so these figures are its estimate for new music."
            + _draws(est)
        )
    else:
        versus = (
            f" MFCC statistics + logistic regression in the same folds: "
            f"{fmt(est['baseline']['macro']['roc_auc'])}; difference {diff['difference']:+.3f} "
            f"(95% interval over games {diff['low']:+.3f} to {diff['high']:+.3f})."
            if diff
            else ""
        )
        lines.append(
            f"{source} Macro ROC-AUC **{fmt(est['macro']['roc_auc'])}**, PR-AUC "
            f"{fmt(est['macro']['pr_auc'])}.{versus} This model is the same recipe trained "
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
                f"{fmt(m['within'])}{spread} | {fmt(m['baseline_within'])} | {fmt(m['roc_auc'])}"
            )
        else:
            first = f"{fmt(m['roc_auc'])} | {fmt(m['baseline_roc_auc'])}"
        lines.append(
            f"| {genre}{flag} | {first} | {fmt(m['pr_auc'])} | {m['positive_groups']} "
            f"| {m['positive_tracks']} | {fmt(e.get('before'))} | {fmt(e.get('after'))} |"
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
            f"{d['scheme']} {fmt(d['within'])}, lowest genre {d['lowest'][0]} "
            f"{fmt(d['lowest'][1])} (pooled {fmt(d['roc_auc'])}; `{d['report']}`)"
            for d in draws
        )
        return (
            f" The same recipe in other fold draws, within one model: {each}. Read the "
            f"estimate as {min(inside):.2f} to {max(inside):.2f} within one model "
            f"({min(pooled):.2f} to {max(pooled):.2f} pooled: pooling moves with the draw "
            "more than the ranking does)."
        )
    each = "; ".join(f"{d['scheme']} {fmt(d['roc_auc'])} (`{d['report']}`)" for d in draws)
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


def estimate(evaluation_json: str | Path, method: str, resamples: int = BOOTSTRAP) -> dict:
    """A method's cross-validated figures beside the MFCC baseline's, for the card."""
    from cuefinder.evaluate import calibration
    from cuefinder.evaluate import within as within_one_model
    from cuefinder.evaluate.report import similarity_rows
    from cuefinder.evaluate.results import Evaluation, bootstrap_difference

    evaluation = Evaluation.load(evaluation_json)
    ours = evaluation.methods[method].metrics
    base = evaluation.methods[BASELINE].metrics if BASELINE in evaluation.methods else None
    within = within_one_model.measure(
        evaluation, [method, BASELINE] if base else [method], resamples
    )
    per_genre = {}
    for genre, m in ours["per_genre"].items():
        value, low, high = within["per_genre"][method][genre]
        per_genre[genre] = {
            "roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"],
            "baseline_roc_auc": base["per_genre"][genre]["roc_auc"] if base else None,
            "positive_groups": m["positive_groups"], "positive_tracks": m["positive_tracks"],
            "within": defined(value), "within_interval": [defined(low), defined(high)],
            "baseline_within": (defined(within["per_genre"][BASELINE][genre][0])
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
        out["within_difference"] = within_one_model.difference(within, method, BASELINE)
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


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
