// A track's page (/tracks/{id}): its tags and descriptors, its genre profile, its waveform and
// genre lines with a play button, the sounds musicnn hears in it, and the tracks like it.
import { api } from "./api.js";
import { clock, colour, el, idInPath, openView, trackName } from "./format.js";
import { drawTimeline, placePlayhead, timeAt } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const SHOWN_GENRES = 3; // lines drawn on the timeline: the strongest genres

// The track id in this page's address, or null when it is not a track's page.
export function trackPageId() {
  const id = idInPath("tracks");
  return id !== null && /^\d+$/.test(id) ? Number(id) : null;
}

export async function showTrack(id, player, onError) {
  openView("track");
  let track;
  try {
    track = await api.track(id);
  } catch (error) {
    $("track-view-heading").textContent = "No such track";
    onError(error);
    return;
  }
  document.title = `${trackName(track)} · cuefinder`;
  $("track-view-heading").textContent = trackName(track);
  $("track-view-who").textContent = [track.artist, track.album].filter(Boolean).join(" · ");
  $("track-view-path").textContent = track.path;
  $("track-view-facts").replaceChildren(...facts(track).map(([k, v]) => el("li", {}, el("strong", { text: `${k} ` }), v)));
  const genres = Object.entries(track.genres).sort((a, b) => b[1] - a[1]);
  $("track-view-genres").replaceChildren(...genres.map(([genre, p]) => bar(genre, p)));
  const sounds = Object.entries(track.sounds || {}).sort((a, b) => b[1] - a[1]).slice(0, 10);
  $("track-view-sounds").replaceChildren(...sounds.map(([tag, p]) => el("li", { text: `${tag} ${p.toFixed(2)}` })));
  $("track-view-sounds-box").hidden = sounds.length === 0;
  timeline(track, genres.slice(0, SHOWN_GENRES).map(([g]) => g), player);
  try {
    const like = await api.similar(id, { limit: 8 });
    $("track-view-similar").replaceChildren(...like.results.map((r) =>
      el("li", {}, el("a", { href: `/tracks/${r.id}`, text: trackName(r) }), el("span", { class: "muted", text: ` ${r.score.toFixed(2)}` }))));
  } catch (error) {
    onError(error);
  }
}

function facts(track) {
  const d = track.descriptors || {};
  const out = [["Length", clock(track.duration)]];
  if (d.tempo) out.push(["Tempo", `${Math.round(d.tempo)} BPM${d.tempo_confidence != null ? ` (confidence ${d.tempo_confidence.toFixed(2)})` : ""}`]);
  if (d.key) out.push(["Key", d.key]);
  if (d.loudness != null) out.push(["Loudness", `${d.loudness.toFixed(1)} LUFS`]);
  if (d.energy != null) out.push(["Energy", d.energy.toFixed(2)]);
  return out;
}

function bar(genre, p) {
  return el("div", { class: "bar-row" },
    el("span", { class: "bar-label", text: genre }),
    el("span", { class: "bar" }, el("span", { class: "fill", style: `width:${(100 * p).toFixed(1)}%;background:#2f6db5` })),
    el("span", { class: "bar-value", text: p.toFixed(2) }));
}

function timeline(track, genres, player) {
  const canvas = $("track-view-timeline");
  const figure = canvas.closest("figure");
  const lines = genres.map((genre, i) => ({ genre, colour: colour(i), dashed: false }));
  drawTimeline(canvas, track.timeline, lines, null, track.duration, track.waveform);
  $("track-view-legend").textContent = `lines: ${genres.join(", ")}`;
  const play = $("track-view-play");
  play.dataset.playTitle = `Play ${trackName(track)}`;
  play.onclick = () => player.toggle(track, 0, play);
  canvas.onclick = (event) => player.playFrom(track, timeAt(canvas, event, track.duration), play);
  player.onTime = (id, seconds) => placePlayhead(figure, id === track.id ? seconds : null, track.duration);
}
