// Result cards: play from the best segment, why it matched, a timeline, more like this, add to
// the open brief, keep/reject.
import { api } from "./api.js";
import { clock, colour, el, trackName } from "./format.js";
import { KEPT_LABEL } from "./marks.js";
import { signedWeights } from "./query.js";
import { drawTimeline, timeAt } from "./timeline.js";

// context: {terms | null, player, onMore(result), brief (a BriefPanel), marks}
export function renderResults(list, results, context) {
  // focus stays where it was: the same control of the same track, if it is still listed
  const before = document.activeElement?.closest?.(".result");
  const control = before && [...document.activeElement.classList].find((c) => before.querySelector(`.${c}`));
  list.replaceChildren(...results.map((result, index) => card(result, index, context)));
  if (before && control) list.querySelector(`.result[data-id="${before.dataset.id}"] .${control}`)?.focus();
}

function card(result, index, context) {
  const { player, brief } = context;
  const lines = lineSpecs(result, context.terms);
  const start = result.segment.start;
  const name = trackName(result);
  const playTitle = `Play ${name} from ${clock(start)}`;
  const play = el(
    "button",
    { type: "button", class: "play", "aria-label": playTitle, title: playTitle, "aria-pressed": "false",
      "data-play-title": playTitle },
    el("span", { class: "icon", "aria-hidden": "true", text: "▶" }),
  );
  play.addEventListener("click", () => player.toggle(result, start, play, result.segment.end, true));
  const canvas = el("canvas", { class: "timeline", role: "img", "aria-label": "Segment scores (loading)" });
  const caption = el("figcaption", {
    class: "muted",
    text: `best ${clock(result.segment.start)}–${clock(result.segment.end)} of ${clock(result.duration)}`,
  });
  canvas.addEventListener("click", (event) => player.playFrom(result, timeAt(canvas, event, result.duration), play));
  api
    .track(result.id)
    .then((detail) => drawTimeline(canvas, detail.timeline, lines, result.segment, result.duration, detail.waveform))
    .catch(() => canvas.setAttribute("aria-label", "Segment scores unavailable"));
  const add = el("button", { type: "button", class: "add-to-brief" });
  add.addEventListener("click", async () => {
    add.disabled = true;
    await brief.add(result);
    add.disabled = false;
    add.focus();
    syncBrief(item, brief);
  });
  const more = el("button", { type: "button", class: "more", text: "More like this" });
  more.addEventListener("click", () => context.onMore(result));
  const who = [result.artist, result.album].filter(Boolean).join(" · ");
  const item = el(
    "li",
    { class: "result", "data-id": result.id, "data-duration": result.duration },
    el(
      "div",
      { class: "result-head" },
      play,
      el(
        "div",
        { class: "titles" },
        el("span", { class: "rank", text: `${index + 1}.` }),
        el("a", { class: "title", href: `/tracks/${result.id}`, text: name, title: "The track's page" }),
        who ? el("span", { class: "who muted", text: who }) : null,
        el("div", { class: "path muted", text: result.path, title: result.path }),
      ),
      el("div", { class: "score", title: "score", text: result.score.toFixed(3) }),
      fitBadge(result),
    ),
    el(
      "div",
      { class: "result-body" },
      bars(result, lines, context.terms),
      el("figure", { class: "timeline-figure" }, canvas, caption),
    ),
    el("div", { class: "result-actions" }, more, add, ...markButtons(result, name, context.marks)),
  );
  syncMarks(item, context.marks?.state(result.id));
  syncBrief(item, brief);
  return item;
}

// Say on every card whether its track is in the open brief (after another was opened).
export function refreshBriefButtons(list, brief) {
  for (const item of list.querySelectorAll(".result")) syncBrief(item, brief);
}

function syncBrief(item, brief) {
  const count = brief.count(Number(item.dataset.id));
  const button = item.querySelector("button.add-to-brief");
  const name = item.querySelector(".title").textContent;
  item.classList.toggle("in-brief", count > 0);
  button.textContent = count ? `In brief (${count}) · add again` : "Add to brief";
  const where = brief.current ? `“${brief.current.name}”` : "the brief";
  button.setAttribute("aria-label", `Add ${name} to ${where}${count ? ` again (it is there ${count}×)` : ""}`);
  button.title = "Adds the best window as in/out points; edit them in the brief";
}

// Keep and Reject: toggles feeding Refine and Save as tag (apart from the brief).
function markButtons(result, name, marks) {
  if (!marks) return [];
  const button = (mark, text, title) =>
    el("button", {
      type: "button",
      class: `mark mark-${mark}`,
      "aria-pressed": "false",
      "aria-label": `${text} ${name}`,
      title,
      text,
      onclick: (event) => syncMarks(event.currentTarget.closest(".result"), marks.toggle(result.id, mark)),
    });
  return [
    button("kept", "Keep", "Refine finds more like the tracks you keep"),
    button("rejected", "Reject", "Refine moves away from the tracks you reject and leaves them out"),
  ];
}

// Show every card's marks again (after they were cleared).
export function refreshMarks(list, marks) {
  for (const item of list.querySelectorAll(".result")) syncMarks(item, marks.state(Number(item.dataset.id)));
}

function syncMarks(item, state) {
  if (state) item.dataset.mark = state;
  else delete item.dataset.mark;
  for (const button of item.querySelectorAll("button.mark")) {
    button.setAttribute("aria-pressed", button.classList.contains(`mark-${state}`) ? "true" : "false");
  }
}

// How well the track fits, calibrated on music the model never heard (search only).
function fitBadge(result) {
  if (result.fit === null || result.fit === undefined) return null;
  return el("div", {
    class: `fit fit-${result.fit_level}`,
    title: "calibrated probability that the track suits the wanted genres",
    text: `${result.fit_level} fit ${result.fit.toFixed(2)}`,
  });
}

// A query term as people read it: the learned part of a refine says where it came from.
function labelOf(genre) {
  return genre === KEPT_LABEL ? "like kept" : genre;
}

function lineSpecs(result, terms) {
  if (terms) return terms.map((t, i) => ({ genre: t.genre, colour: colour(i), dashed: t.exclude }));
  return Object.keys(result.genres).map((genre, i) => ({ genre, colour: colour(i), dashed: false }));
}

// Each query genre's signed contribution (search), or each shared genre's probability (similar).
function bars(result, lines, terms) {
  const weights = terms ? signedWeights(terms) : null;
  const rows = lines.map((line) => {
    const value = result.genres[line.genre] ?? 0;
    const most = weights ? Math.abs(weights.signs[line.genre]) / weights.scale : 1;
    const fraction = Math.min(1, Math.abs(value) / (most || 1));
    const shown = terms ? `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(2)}` : value.toFixed(2);
    const label = labelOf(line.genre);
    return el(
      "div",
      { class: "bar-row" },
      el("span", {
        class: "bar-label",
        text: line.dashed ? `not ${label}` : label,
        title: line.genre === KEPT_LABEL ? "learned from the tracks you kept and rejected" : null,
      }),
      el(
        "span",
        { class: "bar", role: "meter", "aria-valuemin": 0, "aria-valuemax": 1, "aria-valuenow": fraction.toFixed(2),
          "aria-label": `${label} ${shown}` },
        el("span", {
          class: `fill${value < 0 ? " negative" : ""}`,
          style: `width:${(fraction * 100).toFixed(1)}%;background:${value < 0 ? "" : line.colour}`,
        }),
      ),
      el("span", { class: "bar-value", text: shown }),
    );
  });
  return el("div", { class: "bars", "aria-label": terms ? "Why it matched" : "Genres it shares" }, rows, corrections(result));
}

// How far this catalog's corrections (a genre taught with examples) moved the track, if at all.
function corrections(result) {
  const moved = Object.entries(result.corrected || {});
  if (!moved.length) return null;
  const text = moved.map(([genre, change]) => `${genre} ${change >= 0 ? "+" : "−"}${Math.abs(change).toFixed(2)}`);
  return el("div", {
    class: "corrected muted",
    title: "probability changed by the catalog's corrections of these genres",
    text: `Corrected: ${text.join(", ")}`,
  });
}
