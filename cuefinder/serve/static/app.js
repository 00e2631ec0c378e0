// The cuefinder page: wires the search form, chips, results, player, the brief panel, uploads,
// and teaching (keep/reject, refine, save as tag); at /briefs/{id}, a brief's read-only page.
import { api } from "./api.js";
import { renderChips } from "./chips.js";
import { el, trackName } from "./format.js";
import { describeTag, Marks } from "./marks.js";
import { Player } from "./player.js";
import { termsToQuery } from "./query.js";
import { BriefPanel } from "./briefs.js";
import { sharedBriefId, showBrief } from "./briefview.js";
import { showTrack, trackPageId } from "./trackview.js";
import { refreshBriefButtons, refreshMarks, renderResults } from "./results.js";
import { placePlayhead } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const form = $("search-form");
const input = $("q");
const words = $("free-text");
const message = $("message");
const resultsList = $("results");
const heading = $("results-heading");
const note = $("results-note");
const MAX_UPLOAD = 50 * 1024 * 1024;

const player = new Player($("audio"), $("now-playing"));
const brief = new BriefPanel(player, () => refreshBriefButtons(resultsList, brief));
player.onError = showError;
player.onTime = (id, seconds) => {
  for (const figure of document.querySelectorAll(".result .timeline-figure")) {
    const card = figure.closest(".result");
    placePlayhead(figure, Number(card.dataset.id) === id ? seconds : null, Number(card.dataset.duration));
  }
};
const marks = new Marks(marksChanged);
let terms = [];
let refineQuery = null; // the genre query the results came from (null: sounds-like results)

function filters() {
  return {
    limit: $("limit").value, min_duration: $("min-duration").value, max_duration: $("max-duration").value,
    length: cueLength() ?? "",
  };
}

// The same filters as a JSON body's numbers (null when empty).
function bodyFilters() {
  const number = (id) => ($(id).value === "" ? null : Number($(id).value));
  return {
    limit: number("limit") ?? 10, min_duration: number("min-duration"), max_duration: number("max-duration"),
    length: cueLength(),
  };
}

// The cue length field in seconds ("42", "0:42", "1:05.5"); null when empty; throws when unreadable.
function cueLength() {
  const text = $("cue-length").value.trim();
  if (text === "") return null;
  const parts = text.split(":");
  let seconds = 0;
  for (const part of parts) {
    if (parts.length > 3 || !/^\d+(\.\d+)?$/.test(part)) throw new Error(`Cue length: not a time: "${text}" (use seconds or M:SS)`);
    seconds = seconds * 60 + Number(part);
  }
  if (!(seconds > 0)) throw new Error(`Cue length must be more than 0 s, got "${text}"`);
  return seconds;
}

const count = (results) => `${results.length} track${results.length === 1 ? "" : "s"}`;

function showError(error) {
  message.replaceChildren(el("strong", { text: "Error: " }), typeof error === "string" ? error : error.message);
  if (error.vocabulary) message.append(el("div", { class: "vocabulary", text: `Genres: ${error.vocabulary.join(", ")}` }));
  message.hidden = false;
}

function clearError() {
  message.hidden = true;
  message.replaceChildren();
}

// Each request takes a ticket; an answer whose ticket is no longer the latest is dropped, so a
// slow earlier answer never replaces a newer one (chips edited quickly, say).
let latest = 0;
const ticket = () => ++latest;
const stale = (mine) => mine !== latest;

// A request in flight: the search button is disabled and the results say so.
function busy(on, what = "Searching…") {
  $("search-button").disabled = on;
  resultsList.setAttribute("aria-busy", on ? "true" : "false");
  if (on) {
    heading.textContent = what;
    document.body.dataset.state = "searching";
  }
}

// After an error nothing of the previous answer stays on the page as if it were current.
function failed(error) {
  resultsList.replaceChildren();
  heading.textContent = "Results";
  note.textContent = "";
  showWarnings([]);
  $("refine-bar").hidden = true;
  document.body.dataset.state = "error";
  showError(error);
}

// Results that did not come from the query box (tracks like one, or a dropped file): the
// box and its chips are cleared, so nothing on the page claims to have produced them.
function leaveQuery() {
  input.value = "";
  renderChips($("chips"), (terms = []), editTerms);
}

// Lines from the API saying which genres of the query the model ranks near chance.
function showWarnings(lines = []) {
  const box = $("results-warnings");
  box.replaceChildren(...lines.map((line) => Object.assign(document.createElement("li"), { textContent: line })));
  box.hidden = lines.length === 0;
}

function show(results, title, label, shownTerms, warnings = []) {
  heading.textContent = title;
  showWarnings(warnings);
  note.textContent = results.length ? "" : "No tracks match. Loosen the length filters, the cue length or the query.";
  renderResults(resultsList, results, { terms: shownTerms, player, brief, marks, label, onMore: moreLike });
  $("refine-bar").hidden = false;
  document.body.dataset.state = "results";
}

async function search() {
  const text = input.value.trim();
  const mine = ticket();
  clearError();
  busy(true);
  try {
    const response = words.checked ? await api.text({ q: text, ...filters() }) : await api.search({ q: text, ...filters() });
    if (stale(mine)) return;
    terms = response.query.terms;
    refineQuery = words.checked ? response.query.canonical : text;
    renderChips($("chips"), terms, editTerms);
    const reading = response.interpretation ? `read as ${response.interpretation.text}` : response.query.canonical;
    show(response.results, `Results for “${text}”`, text, terms, response.warnings);
    note.textContent = response.results.length ? `${count(response.results)} · ${reading}` : note.textContent;
    history.replaceState(null, "", `?${new URLSearchParams({ q: text, ...(words.checked ? { words: 1 } : {}) })}`);
  } catch (error) {
    if (!stale(mine)) failed(error);
  } finally {
    if (!stale(mine)) busy(false);
  }
}

function editTerms(next) {
  words.checked = false;
  terms = next; // at once: a second edit before the answer builds on this one
  input.value = termsToQuery(next);
  if (next.length) search();
  else renderChips($("chips"), terms, editTerms);
}

async function moreLike(result) {
  clearError();
  const mine = ticket();
  busy(true, `Finding tracks like “${trackName(result)}”…`);
  try {
    const response = await api.similar(result.id, filters());
    if (stale(mine)) return;
    refineQuery = null;
    leaveQuery();
    show(response.results, `Tracks like “${trackName(result)}”`, `like ${trackName(result)}`, null);
  } catch (error) {
    if (!stale(mine)) failed(error);
  } finally {
    if (!stale(mine)) busy(false);
  }
}

async function likeFile(file) {
  clearError();
  const audio = file.type.startsWith("audio/") || /\.(mp3|ogg|oga|opus|flac|wav|m4a|aac|aiff?|webm)$/i.test(file.name);
  if (!audio) return showError(`${file.name} is not an audio file.`);
  if (file.size > MAX_UPLOAD) return showError(`${file.name} is larger than 50 MB.`);
  const mine = ticket();
  busy(true, `Listening to “${file.name}”…`);
  try {
    const response = await api.similarToFile(file, filters());
    if (stale(mine)) return;
    refineQuery = null;
    leaveQuery();
    show(response.results, `Tracks like “${file.name}”`, `like ${file.name}`, null);
  } catch (error) {
    if (!stale(mine)) failed(error);
  } finally {
    if (!stale(mine)) busy(false);
  }
}

// Re-rank the catalog from the kept and rejected tracks, beside the genre query if there was one.
async function refine() {
  clearError();
  const mine = ticket();
  busy(true, "Refining…");
  try {
    const body = { kept: marks.kept, rejected: marks.rejected, q: refineQuery, ...bodyFilters() };
    const response = await api.refine(body);
    if (stale(mine)) return;
    const title = refineQuery ? `Refined: “${refineQuery}”` : "Refined from the tracks you kept";
    show(response.results, title, `refined ${refineQuery || ""}`.trim(), response.query.terms, response.warnings);
    if (response.results.length) note.textContent = `${count(response.results)} · ${marks.summary()}`;
  } catch (error) {
    if (!stale(mine)) failed(error);
  } finally {
    if (!stale(mine)) busy(false);
  }
}

function marksChanged() {
  const some = marks.kept.length + marks.rejected.length > 0;
  $("marks-summary").textContent = marks.summary();
  $("refine").disabled = marks.kept.length === 0;
  $("save-tag").disabled = !some;
  $("clear-marks").disabled = !some;
}

// Teach the catalog a tag (or correct a genre) from the kept (are) and rejected (are not) tracks.
async function saveTag(event) {
  event.preventDefault();
  const name = $("tag-name").value.trim();
  if (!name) return tagResult("Give the tag a name first.", true);
  try {
    const info = await api.teach(name, { add: marks.kept, not: marks.rejected });
    tagResult(describeTag(info), false, info);
    loadGenres();
  } catch (error) {
    tagResult(error.message, true);
  }
}

function tagResult(text, failed, info = null) {
  const box = $("tag-result");
  box.classList.toggle("error", failed);
  const find = (word) => () => {
    input.value = word;
    words.checked = false;
    search();
  };
  const link = info?.kind === "tag" ? `#${info.name}` : null;
  box.replaceChildren(
    text,
    link ? " " : "",
    link ? el("button", { type: "button", class: "link search-tag", text: `Search ${link}`, onclick: find(link) }) : "",
  );
  box.hidden = false;
}

function addGenre(event) {
  const genre = event.target.value;
  event.target.value = "";
  if (!genre || terms.some((t) => t.genre === genre)) return;
  editTerms([...terms, { genre, weight: 1, exclude: false }]);
}

async function loadGenres() {
  try {
    const vocabulary = await api.genres();
    const select = $("add-genre");
    select.replaceChildren(el("option", { value: "", text: "choose…" }));
    for (const entry of vocabulary.genres) {
      select.append(el("option", { value: entry.genre, text: entry.genre, title: entry.synonyms.join(", ") }));
    }
    const tags = (vocabulary.tags || []).map((tag) => el("option", { value: tag, text: `#${tag}` }));
    if (tags.length) select.append(el("optgroup", { label: "Your tags" }, tags));
  } catch (error) {
    showError(error);
  }
}

async function refreshStatus() {
  try {
    const status = await api.status();
    const job = status.indexing;
    let text = `${status.tracks} tracks`;
    if (job.state === "running") text += ` · indexing ${job.processed}/${job.to_analyse}`;
    else if (job.state === "failed") text += ` · indexing failed: ${job.error}`;
    $("catalog-status").textContent = text;
    showFailures(status);
    $("index-panel").hidden = job.roots.length === 0;
    if (status.tracks === 0 && document.body.dataset.state === "idle") {
      note.textContent = job.roots.length
        ? "The catalog is empty: index a folder with the Index panel below, or run “cuefinder index FOLDER” where the server runs."
        : "The catalog is empty: run “cuefinder index FOLDER” where the server runs (or start the server with --index-root to index from this page), then reload.";
    }
    if (job.state === "running") setTimeout(refreshStatus, 1500);
  } catch (error) {
    $("catalog-status").textContent = "status unavailable";
  }
}

// "N failed" in the header opens the list of files that could not be indexed, and why.
function showFailures(status) {
  const box = $("failures");
  box.hidden = !status.failures;
  if (!status.failures) return;
  $("failures-count").textContent = `${status.failures} failed`;
  const more = status.failures - status.failed.length;
  $("failures-list").replaceChildren(
    ...status.failed.map((f) => el("li", {}, el("span", { class: "failure-path", text: f.path }), `: ${f.reason}`)),
    ...(more > 0 ? [el("li", { class: "muted", text: `and ${more} more` })] : []),
  );
}

async function startIndex(event) {
  event.preventDefault();
  clearError();
  try {
    await api.index($("index-path").value.trim());
    refreshStatus();
  } catch (error) {
    showError(error);
  }
}

function dropping(on) {
  document.body.classList.toggle("dropping", on);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  search();
});
$("add-genre").addEventListener("change", addGenre);
$("file-input").addEventListener("change", (event) => event.target.files[0] && likeFile(event.target.files[0]));
$("index-form").addEventListener("submit", startIndex);
$("refine").addEventListener("click", refine);
$("tag-form").addEventListener("submit", saveTag);
$("clear-marks").addEventListener("click", () => {
  marks.clear();
  refreshMarks(resultsList, marks);
});
document.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropping(true);
});
document.addEventListener("dragleave", (event) => event.relatedTarget === null && dropping(false));
document.addEventListener("drop", (event) => {
  event.preventDefault();
  dropping(false);
  const file = event.dataTransfer?.files?.[0];
  if (file) likeFile(file);
});

const shared = sharedBriefId();
const trackPage = trackPageId();
if (shared !== null) {
  showBrief(shared, player, showError);
} else if (trackPage !== null) {
  showTrack(trackPage, player, showError);
} else {
  loadGenres();
  refreshStatus();
  marksChanged();
  brief.load();
  const initial = new URLSearchParams(location.search);
  if (initial.get("q")) {
    input.value = initial.get("q");
    words.checked = initial.has("words");
    search();
  }
}

// -- listening fast: compact list, play mode, keyboard transport -------------------------------

const COMPACT = "cuefinder.compact";
$("compact").checked = localStorage.getItem(COMPACT) === "1";
resultsList.classList.toggle("compact", $("compact").checked);
$("compact").addEventListener("change", (event) => {
  resultsList.classList.toggle("compact", event.target.checked);
  localStorage.setItem(COMPACT, event.target.checked ? "1" : "0");
});
$("play-mode").addEventListener("change", (event) => {
  player.mode = event.target.value;
});

// The result the keyboard works on: the one holding focus, else the one marked selected.
function selectedCard() {
  return document.activeElement?.closest?.("#results .result") || resultsList.querySelector(".result.selected");
}

function select(card) {
  if (!card) return;
  for (const other of resultsList.querySelectorAll(".result.selected")) other.classList.remove("selected");
  card.classList.add("selected");
  card.querySelector("button.play").focus();
  card.scrollIntoView({ block: "nearest" });
}

const KEYS = {
  "/": () => input.focus(),
  j: () => {
    const card = selectedCard();
    select(card ? card.nextElementSibling : resultsList.querySelector(".result"));
  },
  k: () => select(selectedCard()?.previousElementSibling),
  " ": () => selectedCard()?.querySelector("button.play").click(),
  s: () => selectedCard()?.querySelector("button.mark-kept")?.click(),
  ArrowLeft: () => player.seek(-5),
  ArrowRight: () => player.seek(5),
  "?": () => toggleHelp(),
};

function toggleHelp(show = $("keys-help").hidden) {
  $("keys-help").hidden = !show;
  if (show) $("keys-help-close").focus();
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("keys-help").hidden) return toggleHelp(false);
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = event.target.closest?.("input, textarea, select, [contenteditable]");
  if (typing) return;
  // space on a focused button is the button's own click; the transport takes it elsewhere
  if (event.key === " " && event.target.closest?.("button, a, summary")) return;
  const action = KEYS[event.key];
  if (!action) return;
  event.preventDefault();
  action();
});
$("keys-help-close").addEventListener("click", () => toggleHelp(false));
$("keys-button").addEventListener("click", () => toggleHelp(true));
