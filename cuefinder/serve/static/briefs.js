// The brief panel: choose or create a named brief (kept in the catalog, shared by everyone on
// the server), add results to it with their best window as in/out points, edit the points and
// notes, reorder, remove, export (CSV, M3U, OTIO) and share its read-only page.
import { api } from "./api.js";
import { clock, el, nameAmong, trackName } from "./format.js";

const CHOSEN = "cuefinder.brief"; // the brief this browser last worked on
const BY = "cuefinder.by"; // who adds entries from this browser
export const EXPORT_FORMATS = ["csv", "edl", "fcpxml", "xml", "otio", "markers", "markers-xml", "m3u", "xspf"];
const $ = (id) => document.getElementById(id);

// An entry as the player plays it (null when its track is gone).
export function entryTrack(entry) {
  if (entry.track_id === null) return null;
  const { title, artist, path, audio_url } = entry;
  return { id: entry.track_id, title, artist, path, audio_url };
}

// An entry's name; with the brief's entries, told apart from others of the same title.
export function entryName(entry, entries = []) {
  const name = nameAmong(entry, entries);
  return entry.track_id === null ? `${name} (track gone)` : name;
}

// The part of its track an entry plays: in and out points, or the whole track.
export function entryWindow(entry) {
  const start = entry.start ?? 0;
  const end = entry.end ?? entry.duration;
  return { start, end, text: end === null ? `from ${clock(start)}` : `${clock(start)}–${clock(end)}` };
}

function playTitle(entry) {
  const { start, end } = entryWindow(entry);
  return end === null ? `Play ${entryName(entry)} from ${clock(start)}` : `Play ${entryName(entry)} from ${clock(start)} to ${clock(end)}`;
}

// A play button for an entry's window (disabled when its track is gone); ``button.entry`` is
// the entry as last saved.
export function entryPlay(entry, player) {
  const title = playTitle(entry);
  const button = el(
    "button",
    { type: "button", class: "entry-play", "aria-label": title, title, "aria-pressed": "false", "data-play-title": title,
      disabled: entry.track_id === null },
    el("span", { class: "icon", "aria-hidden": "true", text: "▶" }),
  );
  button.entry = entry;
  button.addEventListener("click", () => {
    const { start, end } = entryWindow(button.entry);
    player.toggle(entryTrack(button.entry), start, button, end);
  });
  return button;
}

export class BriefPanel {
  constructor(player, onChange) {
    this.player = player;
    this.onChange = onChange;
    this.briefs = []; // every brief's summary
    this.current = null; // the open brief, with its entries
    $("brief-select").addEventListener("change", (event) => this.open(event.target.value ? Number(event.target.value) : null));
    $("brief-create").addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    $("brief-rename").addEventListener("submit", (event) => {
      event.preventDefault();
      this.rename();
    });
    $("brief-note").addEventListener("change", () => this.change({ note: $("brief-note").value }, "note"));
    $("brief-delete").addEventListener("click", () => this.remove());
    $("brief-fps").addEventListener("change", () => this.links());
    $("brief-share-url").addEventListener("focus", (event) => event.target.select());
    const by = $("brief-by");
    by.value = localStorage.getItem(BY) || "";
    by.addEventListener("change", () => localStorage.setItem(BY, by.value.trim()));
  }

  async load() {
    const saved = Number(localStorage.getItem(CHOSEN)) || null;
    await this.refreshList();
    if (saved && this.briefs.some((brief) => brief.id === saved)) await this.open(saved);
    else this.show(null);
  }

  async refreshList() {
    try {
      this.briefs = await api.briefs();
    } catch (error) {
      this.status(error.message, true);
      return;
    }
    const options = this.briefs.map((brief) => el("option", { value: brief.id, text: brief.name }));
    $("brief-select").replaceChildren(el("option", { value: "", text: "choose a brief…" }), ...options);
    $("brief-select").value = this.current ? String(this.current.id) : "";
  }

  async open(id) {
    if (id === null) {
      localStorage.removeItem(CHOSEN);
      this.show(null);
      return;
    }
    try {
      this.show(await api.brief(id));
      localStorage.setItem(CHOSEN, id);
      this.status("");
    } catch (error) {
      this.status(error.message, true);
      this.show(null);
    }
  }

  // How many of the open brief's entries are this track.
  count(trackId) {
    return this.current ? this.current.entries.filter((entry) => entry.track_id === trackId).length : 0;
  }

  // Add a result with its best window as in/out points; returns whether it was added.
  async add(result) {
    if (!this.current) {
      this.status("Choose or create a brief first, then add to it.", true);
      $("brief-select").options.length > 1 ? $("brief-select").focus() : $("brief-new-name").focus();
      return false;
    }
    const body = { track: result.id, start: result.segment.start, end: result.segment.end, by: $("brief-by").value.trim() };
    try {
      const entry = await api.addEntry(this.current.id, body);
      this.current.entries.push(entry);
      this.current.count = this.current.entries.length;
      this.render();
      this.status(`Added ${trackName(result)} (${entryWindow(entry).text}) to “${this.current.name}”.`);
      this.onChange?.();
      return true;
    } catch (error) {
      this.status(error.message, true);
      return false;
    }
  }

  async create() {
    const name = $("brief-new-name").value.trim();
    if (!name) return this.status("Give the new brief a name.", true);
    try {
      const made = await api.createBrief(name);
      $("brief-new-name").value = "";
      localStorage.setItem(CHOSEN, made.id);
      this.show(made);
      this.status(`Created “${made.name}”.`); // at once: an older message must not linger
      await this.refreshList();
      $("brief-select").focus();
    } catch (error) {
      this.status(error.message, true);
    }
  }

  async rename() {
    const name = $("brief-name").value.trim();
    if (await this.change({ name }, "name")) await this.refreshList();
  }

  // Rename, change the note or reorder the open brief; focus: where to put the focus after.
  async change(body, what, focus = null) {
    try {
      this.show(await api.changeBrief(this.current.id, body), focus);
      this.status(what === "order" ? "Order saved." : `Saved the brief's ${what}.`);
      return true;
    } catch (error) {
      this.status(error.message, true);
      if (what === "name") $("brief-name").value = this.current.name;
      if (what === "note") $("brief-note").value = this.current.note;
      return false;
    }
  }

  async remove() {
    const { id, name, entries } = this.current;
    if (!confirm(`Delete the brief “${name}” and its ${entries.length} entries? The tracks stay in the catalog.`)) return;
    try {
      await api.deleteBrief(id);
      localStorage.removeItem(CHOSEN);
      this.show(null);
      await this.refreshList();
      this.status(`Deleted “${name}”.`);
      $("brief-select").focus();
    } catch (error) {
      this.status(error.message, true);
    }
  }

  show(brief, focus = null) {
    this.current = brief;
    $("brief-body").hidden = !brief;
    $("brief-select").value = brief ? String(brief.id) : "";
    if (brief && !$("brief-select").value) {
      $("brief-select").append(el("option", { value: brief.id, text: brief.name }));
      $("brief-select").value = String(brief.id);
    }
    if (brief) {
      $("brief-name").value = brief.name;
      $("brief-note").value = brief.note;
      this.links();
      this.render(focus);
    }
    $("brief-count").textContent = brief ? `· ${brief.name} (${brief.entries.length})` : "";
    this.onChange?.();
  }

  links() {
    const { id, url } = this.current;
    const fps = $("brief-fps").value;
    for (const format of EXPORT_FORMATS) $(`brief-export-${format}`).href = api.exportUrl(id, format, fps);
    $("brief-share").href = url;
    $("brief-share-url").value = new URL(url, location.href).href;
  }

  render(focus = null) {
    const entries = this.current.entries;
    const list = $("brief-entries");
    list.replaceChildren(...entries.map((entry, index) => this.item(entry, index, entries)));
    if (!entries.length) list.append(el("li", { class: "muted empty", text: "Nothing here yet: “Add to brief” on a result." }));
    $("brief-count").textContent = `· ${this.current.name} (${entries.length})`;
    if (focus) {
      // a move to the top or the bottom disables the button just used: the other one then
      const [target, other] = [focus, focus.replace(/up$|down$/, (way) => (way === "up" ? "down" : "up"))].map((s) =>
        list.querySelector(s),
      );
      (target && !target.disabled ? target : other)?.focus();
    }
  }

  item(entry, index, entries) {
    const total = entries.length;
    const name = entryName(entry, entries);
    const play = entryPlay(entry, this.player);
    const point = (cls, label, value, placeholder) =>
      el("input", { type: "number", class: cls, min: 0, step: 0.1, value: value ?? "", placeholder,
        "aria-label": `${label} of ${name}, seconds` });
    const start = point("entry-start", "In point", entry.start, "0");
    const end = point("entry-end", "Out point", entry.end, entry.duration === null ? "" : String(entry.duration));
    const note = el("input", { type: "text", class: "entry-note", maxlength: 2000, value: entry.note, placeholder: "note",
      "aria-label": `Note for ${name}` });
    const item = el(
      "li",
      { class: "brief-entry", "data-entry-id": entry.id, "data-track-id": entry.track_id ?? "" },
      el("div", { class: "entry-head" }, play,
        el("div", { class: "entry-titles" },
          el("span", { class: "entry-title", text: name }),
          el("span", { class: "entry-window muted", text: entryWindow(entry).text }))),
      el("div", { class: "entry-points" },
        el("label", {}, "In ", start), el("label", {}, "Out ", end), el("span", { class: "muted", text: "s" })),
      el("label", { class: "entry-note-label" }, "Note ", note),
      el("div", { class: "entry-foot" },
        el("span", { class: "entry-by muted", text: entry.added_by ? `added by ${entry.added_by}` : "" }),
        el("span", { class: "entry-actions" },
          el("button", { type: "button", class: "entry-up", "aria-label": `Move ${name} up`, title: "Move up", text: "↑",
            disabled: index === 0, onclick: () => this.move(entry.id, -1, "up") }),
          el("button", { type: "button", class: "entry-down", "aria-label": `Move ${name} down`, title: "Move down", text: "↓",
            disabled: index === total - 1, onclick: () => this.move(entry.id, 1, "down") }),
          el("button", { type: "button", class: "entry-remove chip-remove", "aria-label": `Remove ${name} from the brief`,
            title: "Remove from the brief", text: "×", onclick: () => this.removeEntry(entry.id) }))),
    );
    const save = (input, field) =>
      input.addEventListener("change", () => {
        const value = field === "note" ? input.value : input.value === "" ? null : Number(input.value); // "": take it away
        this.changeEntry(item, entry.id, { [field]: value });
      });
    save(start, "start");
    save(end, "end");
    save(note, "note");
    return item;
  }

  entry(id) {
    return this.current.entries.find((entry) => entry.id === id);
  }

  async changeEntry(item, id, body) {
    const briefId = this.current.id;
    try {
      const entry = await api.changeEntry(briefId, id, body);
      if (this.current?.id !== briefId) return;
      this.current.entries = this.current.entries.map((e) => (e.id === id ? entry : e));
      this.fill(item, entry);
      this.status(`Saved ${entryName(entry)}: ${entryWindow(entry).text}${entry.note ? `, “${entry.note}”` : ""}.`);
      item.dataset.saved = String(Date.now());
    } catch (error) {
      this.status(error.message, true);
      if (this.current?.id === briefId) this.fill(item, this.entry(id));
    }
  }

  // Show an entry's stored points and note in its item (after a save, or a refused one).
  fill(item, entry) {
    item.querySelector(".entry-start").value = entry.start ?? "";
    item.querySelector(".entry-end").value = entry.end ?? "";
    item.querySelector(".entry-note").value = entry.note;
    item.querySelector(".entry-window").textContent = entryWindow(entry).text;
    const play = item.querySelector(".entry-play");
    play.entry = entry;
    const title = playTitle(entry);
    play.setAttribute("aria-label", title);
    play.dataset.playTitle = title;
    if (play.getAttribute("aria-pressed") !== "true") play.title = title;
  }

  move(id, delta, button) {
    const order = this.current.entries.map((entry) => entry.id);
    const at = order.indexOf(id);
    [order[at], order[at + delta]] = [order[at + delta], order[at]];
    return this.change({ order }, "order", `[data-entry-id="${id}"] .entry-${button}`);
  }

  async removeEntry(id) {
    const briefId = this.current.id;
    const order = this.current.entries.map((entry) => entry.id);
    const next = order[order.indexOf(id) + 1] ?? order[order.indexOf(id) - 1];
    try {
      await api.removeEntry(briefId, id);
      const name = entryName(this.entry(id));
      this.show(await api.brief(briefId), next ? `[data-entry-id="${next}"] .entry-remove` : null);
      this.status(`Removed ${name}.`);
      if (!next) $("brief-select").focus();
    } catch (error) {
      this.status(error.message, true);
    }
  }

  status(text, failed = false) {
    const box = $("brief-status");
    box.textContent = text;
    box.classList.toggle("error", failed);
  }
}
