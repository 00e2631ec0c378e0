"""The command line: public JSON shapes, exit codes and messages."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cuefinder.model import checkpoint


def cuefinder(*args, check_code: int | None = 0) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "cuefinder", *map(str, args)], capture_output=True, text=True
    )
    if check_code is not None:
        assert done.returncode == check_code, done.stderr + done.stdout
    return done


@pytest.fixture(scope="module")
def db(game_catalog):
    """scorched3d's loops and funnyboat's track: the run's shared catalog (conftest)."""
    return game_catalog


def test_index_summary_and_exit_code_say_that_some_failed(tmp_path, short_tracks, copy_of):
    copy_of(tmp_path / "in", short_tracks[0])
    (tmp_path / "in" / "broken.mp3").write_bytes(b"not audio at all" * 100)
    done = cuefinder("--catalog", tmp_path / "c.db", "index", "-q", tmp_path / "in", check_code=1)
    assert "indexed 1, skipped 0 unchanged, failed 1" in done.stdout
    assert f"failed: {tmp_path / 'in' / 'broken.mp3'}: not decodable audio" in done.stdout
    again = cuefinder("--catalog", tmp_path / "c.db", "index", "-q", tmp_path / "in", check_code=1)
    assert "indexed 0, skipped 1 unchanged, failed 1" in again.stdout


def test_progress_is_a_line_per_track_when_not_a_terminal(tmp_path, short_tracks, copy_of):
    copy_of(tmp_path / "in", short_tracks[0])
    (tmp_path / "in" / "broken.mp3").write_bytes(b"not audio at all" * 100)
    done = cuefinder("--catalog", tmp_path / "c.db", "index", tmp_path / "in", check_code=1)
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert [line[:5] for line in lines] == ["[1/2]", "[2/2]"]
    kinds = sorted(line.split()[1] for line in lines)
    assert kinds == ["failed", "indexed"]
    assert any(f"failed {tmp_path / 'in' / 'broken.mp3'}: not decodable" in x for x in lines)
    assert "\r" not in done.stderr  # no progress bar redrawn into a log


def test_a_mistyped_path_is_reported_and_not_stored(tmp_path, short_tracks, copy_of):
    from cuefinder.catalog import Catalog

    copy_of(tmp_path / "in", short_tracks[0])
    typo = tmp_path / "inn"
    done = cuefinder("--catalog", tmp_path / "c.db", "index", "-q", tmp_path / "in", typo,
                     check_code=1)  # fmt: skip
    assert f"failed: {typo}: no such file or folder" in done.stdout
    assert "indexed 1," in done.stdout
    with Catalog(tmp_path / "c.db") as catalog:
        assert catalog.failures() == []


def test_search_json_contract(db):
    results = json.loads(
        cuefinder(
            "--catalog", db, "search", "romance comedy -action horror:0.3", "--json", "--limit", "3"
        ).stdout
    )
    assert isinstance(results, list) and len(results) == 3
    for r in results:
        assert {"path", "score", "genres", "segment"} <= r.keys()
        assert set(r["genres"]) == {"Romance", "Comedy", "Action", "Horror"}
        assert all(isinstance(v, float) for v in r["genres"].values())
        assert 0 <= r["segment"]["start"] < r["segment"]["end"]


def test_search_text_output_names_tracks_segments_and_reasons(db):
    out = cuefinder("--catalog", db, "search", "funny", "space").stdout
    assert " 1. " in out and "best " in out and "why: Comedy +" in out and "Sci-Fi +" in out


@pytest.mark.parametrize("query", ["zombie romance", "", "horror:abc"])
def test_bad_query_exits_2_and_lists_the_vocabulary(db, query):
    done = cuefinder("--catalog", db, "search", query, check_code=2)
    assert "cuefinder: error:" in done.stderr
    if query != "horror:abc":
        assert "genres: Action, " in done.stderr


def test_export_json_and_csv_contracts(db):
    tracks = json.loads(cuefinder("--catalog", db, "export", "--format", "json").stdout)
    genres = set(checkpoint.read_info(checkpoint.DEFAULT_MODEL).genres)
    assert tracks and all({"path", "duration", "genres"} <= t.keys() for t in tracks)
    assert all(set(t["genres"]) == genres for t in tracks)
    rows = list(csv.DictReader(io.StringIO(cuefinder("--catalog", db, "export").stdout)))
    assert [r["path"] for r in rows] == [t["path"] for t in tracks]
    assert genres <= set(rows[0]) and float(rows[0]["duration"]) > 0


def test_show_prints_profile_and_timeline(db, music_root):
    boat = next((music_root / "funnyboat").rglob("*.ogg"))
    out = cuefinder("--catalog", db, "show", boat).stdout
    assert str(boat) in out and "timeline" in out and "3:05" in out
    data = json.loads(cuefinder("--catalog", db, "show", boat, "--json").stdout)
    # segments are whole 3.072 s patches: the timeline ends within one patch of the end
    assert 184.88 - 3.072 < data["segments"][-1]["end"] <= 184.88
    assert cuefinder("--catalog", db, "show", "no-such-track", check_code=1).stderr


def test_a_name_that_fits_several_tracks_lists_them(db):
    """`show x.ogg` where two folders hold an x.ogg: the candidates, not 'no track'."""
    for command in ("show", "similar"):
        done = cuefinder("--catalog", db, command, ".ogg", check_code=2)
        line = done.stderr.strip()
        assert "'.ogg' matches" in line and "give more of the path" in line
        assert len(line.splitlines()) == 1 and line.count(".ogg,") >= 2


def test_a_count_that_is_not_a_number_is_named(db):
    done = cuefinder("--catalog", db, "search", "-n", "abc", "action", check_code=2)
    assert "-n/--limit: must be a whole number, got 'abc'" in done.stderr


def test_genres_lists_the_vocabulary_with_synonyms(db):
    out = cuefinder("--catalog", db, "genres").stdout
    assert "Romance" in out and "romantic" in out and "Horror" in out and "scary" in out


def test_search_on_a_missing_catalog_is_a_clear_error(tmp_path):
    done = cuefinder("--catalog", tmp_path / "none.db", "search", "horror", check_code=1)
    assert "no catalog at" in done.stderr and "cuefinder index" in done.stderr


def test_catalog_location_comes_from_the_environment(tmp_path, short_tracks, copy_of):
    import os

    copy_of(tmp_path / "in", short_tracks[0])
    env = {**os.environ, "CUEFINDER_CATALOG": str(tmp_path / "env.db")}
    done = subprocess.run([sys.executable, "-m", "cuefinder", "index", "-q", str(tmp_path / "in")],
                          capture_output=True, text=True, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "env.db").exists()


def test_dataset_build_labels_albums_from_imdb(tmp_path, funnyboat, copy_of):
    from pathlib import Path

    from cuefinder.datasets.manifest import read_manifest

    imdb = Path(__file__).parent / "data" / "imdb" / "title.basics.excerpt.tsv.gz"
    copy_of(tmp_path / "albums" / "Jaws (1975) [Original Motion Picture Soundtrack]", funnyboat)
    copy_of(tmp_path / "albums" / "Dune OST", funnyboat)
    out = tmp_path / "manifest.csv"
    done = cuefinder("dataset", "build", tmp_path / "albums", "--imdb", imdb, "-o", out)
    assert "ambiguous" in done.stdout and "Dune" in done.stdout  # two films, never guessed
    [track] = read_manifest(out)
    assert track.group == "tt0073195" and set(track.genres) == {"Adventure", "Thriller"}


def test_card_sets_several_evaluations_side_by_side(tmp_path):
    model = tmp_path / "m.safetensors"
    model.write_bytes(checkpoint.DEFAULT_MODEL.read_bytes())
    folder = checkpoint.DEFAULT_MODEL.parent / "evaluation"
    first, second = folder / "evaluation.json", folder / "levers" / "evaluation.json"
    done = cuefinder("card", model, "--evaluation", first, second)
    assert done.returncode == 0, done.stderr
    rows = {line.split(" | ")[0].strip("| "): line for line in done.stdout.splitlines()
            if line.startswith("| ")}  # fmt: skip
    assert rows["default"].endswith("| 1 |") and rows["level-bag"].endswith("| 2 |")
    cv = checkpoint.read_info(model).training["cross_validation"]
    assert cv["sources"]["mfcc-logreg"] == str(folder / "report.md")  # the first file wins
    # evaluations made with different schemes cannot share one table
    other = json.loads((folder / "transfer" / "evaluation.json").read_text())
    other["folds"] = other["folds"][:3]
    odd = tmp_path / "odd" / "evaluation.json"
    odd.parent.mkdir()
    odd.write_text(json.dumps(other))
    refused = cuefinder("card", model, "--evaluation", first, odd, check_code=2)
    assert refused.returncode == 2 and "different schemes" in refused.stderr


def test_card_states_the_estimate_beside_other_fold_draws(tmp_path):
    model = tmp_path / "m.safetensors"
    model.write_bytes(checkpoint.DEFAULT_MODEL.read_bytes())
    folder = checkpoint.DEFAULT_MODEL.parent / "evaluation"
    fused, five = folder / "fused" / "evaluation.json", folder / "fused-5fold" / "evaluation.json"
    method = "default+heard-logreg"
    done = cuefinder("card", model, "--evaluation", fused, "--estimate", method, "--draw", five)
    assert done.returncode == 0, done.stderr
    pooled = json.loads(five.read_text())["summary"][method]["roc_auc"]
    within = _within_one_model(five, method)
    assert f"grouped 5-fold {within:.3f}" in done.stdout and f"(pooled {pooled:.3f};" in done.stdout
    assert "Read the estimate as" in done.stdout
    [draw] = checkpoint.read_info(model).training["cross_validation"]["estimate"]["draws"]
    assert (draw["scheme"], draw["roc_auc"]) == ("grouped 5-fold", pooled)
    assert draw["within"] == pytest.approx(within, abs=1e-4)
    assert draw["report"] == str(five.parent / "report.md")
    # a draw without the method, or a draw without an estimate: one-line errors, exit 2
    lacking = folder / "levers" / "evaluation.json"
    refused = cuefinder(
        "card", model, "--evaluation", fused, "--estimate", method, "--draw", lacking, check_code=2
    )
    assert "--draw: an evaluation lacks the method" in refused.stderr
    alone = cuefinder("card", model, "--evaluation", fused, "--draw", five, check_code=2)
    assert "--draw needs --estimate" in alone.stderr


def _within_one_model(path, method: str) -> float:
    """Macro ROC-AUC within one model, computed here with sklearn: per genre, the mean over
    folds of each fold's ROC-AUC; then the mean over genres."""
    from sklearn.metrics import roc_auc_score

    saved = json.loads(path.read_text())
    labels, fold = np.array(saved["labels"]), np.array(saved["fold_of"])
    scores = np.array(saved["methods"][method]["scores"])
    per_genre = []
    for g in range(labels.shape[1]):
        each = [
            roc_auc_score(labels[fold == k, g], scores[fold == k, g])
            for k in set(fold.tolist())
            if len(set(labels[fold == k, g])) == 2
        ]
        if each:
            per_genre.append(np.mean(each))
    return float(np.mean(per_genre))


def test_genres_warns_about_genres_taught_by_fewer_than_three_games(tmp_path):
    from cuefinder.features import FeatureConfig
    from cuefinder.model import build
    from cuefinder.model.config import ModelConfig

    model = build(ModelConfig(genres=("Action", "Romance", "Crime"), channels=(4, 8, 8, 16)))
    path = tmp_path / "thin.safetensors"
    counts = {"Action": 12, "Romance": 2, "Crime": 1}
    checkpoint.save(path, model, FeatureConfig(), {"genre_groups": counts})
    assert checkpoint.read_info(path).thin_genres == {"Romance": 2, "Crime": 1}
    done = cuefinder("genres", "--model", path)
    assert "Romance" in done.stdout and "Action" in done.stdout
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warning == [
        "warning: Romance (2 games), Crime (1 game): fewer than 3 games taught these genres; "
        "read their rankings as hints"
    ]
    from cuefinder.evaluate.card import render

    card = render(path)
    assert "## Warning: genres on thin evidence" in card and "Crime (1 game)" in card


def test_exclusions_work_unquoted_and_near_misses_are_named(db):
    quoted = json.loads(cuefinder("--catalog", db, "search", "comedy -action", "--json").stdout)
    unquoted = json.loads(
        cuefinder("--catalog", db, "search", "comedy", "-action", "--json").stdout
    )
    assert [r["path"] for r in unquoted] == [r["path"] for r in quoted]
    assert all(r["genres"]["Action"] <= 0 for r in unquoted)
    first = json.loads(cuefinder("--catalog", db, "search", "-horror", "romance", "--json").stdout)
    assert first and all(r["genres"]["Horror"] <= 0 for r in first)
    done = cuefinder("--catalog", db, "search", "horor", check_code=2)
    assert "unknown genre 'horor'; did you mean 'Horror'?" in done.stderr


def test_catalog_is_accepted_after_the_command_too(db, tmp_path):
    before = cuefinder("--catalog", db, "search", "comedy", "--json").stdout
    after = cuefinder("search", "comedy", "--json", "--catalog", db).stdout
    wins = cuefinder("--catalog", tmp_path / "none.db", "search", "comedy", "--json",
                     "--catalog", db).stdout  # fmt: skip
    assert json.loads(before) == json.loads(after) == json.loads(wins) != []


def test_version():
    from cuefinder import __version__

    assert cuefinder("--version").stdout.strip() == f"cuefinder {__version__}"


def test_shell_completion_and_manual_page_come_from_the_parser():
    bash = cuefinder("completion", "bash").stdout
    assert "complete" in bash and "similar" in bash and "--min-duration" in bash
    assert "compdef" in cuefinder("completion", "zsh").stdout
    page = cuefinder("manpage").stdout
    assert page.startswith(".TH CUEFINDER") and "cuefinder search" in page
    assert "\\-\\-min\\-duration" in page


def test_a_mistyped_command_gets_the_nearest_one():
    done = cuefinder("serach", "horror", check_code=2)
    assert "unknown command 'serach'; did you mean 'search'?" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_configuration_file_sets_defaults_beneath_flags(db, tmp_path, monkeypatch):
    from cuefinder.cli import _parser, _with_settings

    config = tmp_path / "config.toml"
    config.write_text(f'catalog = "{db}"\njobs = 1\n[serve]\nport = 8123\n')
    monkeypatch.setenv("CUEFINDER_CONFIG", str(config))
    monkeypatch.delenv("CUEFINDER_CATALOG", raising=False)
    # the catalog comes from the file when no flag names one
    from_file = cuefinder("search", "action", "--json", "-n", "2")
    flagged = cuefinder("--catalog", db, "search", "action", "--json", "-n", "2")
    assert json.loads(from_file.stdout) == json.loads(flagged.stdout) != []
    # serve: the file's port, the built-in host; a flag wins over the file
    args = _parser().parse_args(["serve"])
    _with_settings(args)
    assert (args.host, args.port, args.catalog) == ("127.0.0.1", 8123, db)
    args = _parser().parse_args(["serve", "--port", "9000"])
    _with_settings(args)
    assert args.port == 9000
    # a wrong key or type is one line naming the file and the key
    config.write_text("jobs = 'two'\n")
    done = cuefinder("search", "action", check_code=1)
    expected = f"cuefinder: error: {config}: 'jobs' must be a whole number, got 'two'"
    assert done.stderr.strip() == expected


def test_exports_keep_a_hostile_file_name_to_its_own_entry():
    """A file name may hold line breaks and control characters: no export line breaks."""
    import xml.etree.ElementTree as ET

    from cuefinder.find import cuesheet
    from cuefinder.find.rank import Result

    name = "/m/evil\n#EXTINF:1,x\n/etc/passwd.ogg"
    cue = Result(id=1, path=name, score=1.0, genres={}, probabilities={},
                 segment={"start": 0.0, "end": 5.0}, duration=10.0, title="t\x07x",
                 extra={"note": "line\nbreak"})  # fmt: skip
    m3u = cuesheet.render([cue], "m3u").splitlines()
    assert len(m3u) == 5 and m3u[-1] == "file:///m/evil%0A%23EXTINF%3A1%2Cx%0A/etc/passwd.ogg"
    for kind in ("fcpxml", "xspf", "xml"):
        ET.fromstring(cuesheet.render([cue], kind).encode())  # well-formed XML
    edl = cuesheet.render([cue], "edl").splitlines()
    assert sum(line.startswith("001 ") for line in edl) == 1 and "* LOC:" in edl[-1]
    assert "LINE BREAK" in edl[-1]


def test_json_is_accepted_before_the_command_too(db):
    before = cuefinder("--json", "--catalog", db, "search", "action", "-n", "2").stdout
    after = cuefinder("--catalog", db, "search", "action", "-n", "2", "--json").stdout
    assert json.loads(before) == json.loads(after) and len(json.loads(after)) == 2


def test_search_results_export_as_timecoded_csv_and_a_playlist(db, tmp_path):
    import csv as csvlib

    from cuefinder.find.cuesheet import timecode

    assert timecode(83.52) == "00:01:23:13" and timecode(3600.0, 24) == "01:00:00:00"
    # 23.976 counts 24 frames of 1001/24000 s; 29.97 drop frame skips frame numbers 0 and 1
    # at each minute but every tenth
    assert timecode(3600.0, "23.976") == "00:59:56:10"
    assert timecode(60.06, "29.97") == "00:01:00;02"
    assert timecode(60.06, "29.97ndf") == "00:01:00:00"
    assert timecode(600.0, "29.97") == "00:10:00;00"  # ten minutes of real time, exactly
    results = json.loads(cuefinder("--catalog", db, "search", "action", "-n", "3", "--json").stdout)
    done = cuefinder("--catalog", db, "search", "action", "-n", "3", "--export",
                     tmp_path / "cues.csv", "--fps", "24")  # fmt: skip
    assert f"wrote 3 cues to {tmp_path / 'cues.csv'}" in done.stderr
    rows = list(csvlib.DictReader((tmp_path / "cues.csv").open()))
    assert [r["path"] for r in rows] == [r["path"] for r in results]
    for row, result in zip(rows, results, strict=True):
        assert row["in (24 fps)"] == timecode(result["segment"]["start"], 24)
        assert row["out (24 fps)"] == timecode(result["segment"]["end"], 24)
        assert float(row["fit"]) == result["fit"]
    cuefinder("--catalog", db, "search", "action", "-n", "3", "--export", tmp_path / "cues.m3u")
    lines = (tmp_path / "cues.m3u").read_text().splitlines()
    assert lines[:2] == ["#EXTM3U", "#PLAYLIST:cuefinder: action"]
    assert [x for x in lines if not x.startswith("#")] == [r["path"] for r in results]
    starts = [x for x in lines if x.startswith("#EXTVLCOPT:start-time=")]
    assert starts == [f"#EXTVLCOPT:start-time={r['segment']['start']:.2f}" for r in results]
    # an OpenTimelineIO timeline: the best windows on one audio track, read back by OTIO
    import opentimelineio as otio

    cuefinder("--catalog", db, "search", "action", "-n", "3", "--export", tmp_path / "cues.otio")
    timeline = otio.adapters.read_from_file(str(tmp_path / "cues.otio"))
    clips = list(timeline.find_clips())
    assert [c.media_reference.target_url for c in clips] == [
        Path(r["path"]).as_uri() for r in results
    ]
    for clip, result in zip(clips, results, strict=True):
        assert clip.source_range.start_time.to_seconds() == pytest.approx(
            result["segment"]["start"], abs=0.021)  # fmt: skip
        assert clip.source_range.end_time_exclusive().to_seconds() == pytest.approx(
            result["segment"]["end"], abs=0.021)  # fmt: skip
    # a cue length: every window exactly that long, in the export as in the results
    cut = json.loads(cuefinder("--catalog", db, "search", "action", "--length", "0:42", "--json",
                               "--export", tmp_path / "cut.csv").stdout)  # fmt: skip
    assert cut and all(r["segment"]["end"] - r["segment"]["start"] == pytest.approx(42, abs=0.02)
                       for r in cut)  # fmt: skip
    rows = list(csvlib.DictReader((tmp_path / "cut.csv").open()))
    assert [r["in (25 fps)"] for r in rows] == [timecode(r["segment"]["start"]) for r in cut]
    bad = cuefinder("--catalog", db, "search", "action", "--length", "soon", check_code=2)
    assert "--length" in bad.stderr and "not a time: 'soon'" in bad.stderr
    bad = cuefinder("--catalog", db, "search", "action", "--length", "0", check_code=2)
    assert "length must be a positive number" in bad.stderr
    refused = cuefinder("--catalog", db, "search", "action", "--export", tmp_path / "cues.txt",
                        check_code=2)  # fmt: skip
    assert "--export" in refused.stderr and "must end in .csv, .edl, .fcpxml" in refused.stderr
    assert not (tmp_path / "cues.txt").exists()
    # --format names it whatever the file's name; playlists relative to a folder
    root = Path(results[0]["path"]).parent.parent
    cuefinder("--catalog", db, "search", "action", "-n", "3", "--export", tmp_path / "cues.txt",
              "--format", "m3u", "--relative-to", root)  # fmt: skip
    named = [x for x in (tmp_path / "cues.txt").read_text().splitlines() if not x.startswith("#")]
    assert named == [os.path.relpath(r["path"], root) for r in results]
    # an EDL of the results at 23.976, read back by pycmx
    import pycmx

    cuefinder("--catalog", db, "search", "action", "-n", "3", "--export", tmp_path / "cues.edl",
              "--fps", "23.976")  # fmt: skip
    edits = [e.edits[0] for e in pycmx.parse_cmx3600((tmp_path / "cues.edl").open()).events]
    assert [e.source_in for e in edits] == [timecode(r["segment"]["start"], "23.976")
                                            for r in results]  # fmt: skip
    bad = cuefinder("--catalog", db, "search", "action", "--fps", "29.96", check_code=2)
    assert "--fps" in bad.stderr and "must be one of 23.976, 24, 25" in bad.stderr
