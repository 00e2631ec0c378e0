// The shortlist: tracks kept across searches (in this browser), exported as CSV or M3U.
import { clock, el, trackName } from "./format.js";

const KEY = "cuefinder.shortlist";

export class Shortlist {
  constructor(list, count, onPlay) {
    this.list = list;
    this.count = count;
    this.onPlay = onPlay;
    try {
      this.items = JSON.parse(localStorage.getItem(KEY) || "[]");
    } catch {
      this.items = [];
    }
    this.render();
  }

  has(id) {
    return this.items.some((item) => item.id === id);
  }

  // Add or remove a result; returns whether it is now on the list.
  toggle(result, label) {
    if (this.has(result.id)) {
      this.remove(result.id);
      return false;
    }
    const { id, path, title, artist, album, duration, segment, score, audio_url } = result;
    this.items.push({ id, path, title, artist, album, duration, segment, score, audio_url, found_by: label || "" });
    this.save();
    return true;
  }

  remove(id) {
    this.items = this.items.filter((item) => item.id !== id);
    this.save();
  }

  clear() {
    this.items = [];
    this.save();
  }

  save() {
    localStorage.setItem(KEY, JSON.stringify(this.items));
    this.render();
  }

  render() {
    this.count.textContent = this.items.length ? `(${this.items.length})` : "";
    this.list.replaceChildren(
      ...this.items.map((item) =>
        el(
          "li",
          { class: "kept", "data-id": item.id },
          el("button", {
            type: "button",
            class: "link",
            text: `${trackName(item)} (${clock(item.segment.start)}–${clock(item.segment.end)})`,
            title: `Play from ${clock(item.segment.start)}`,
            onclick: (event) => this.onPlay(item, item.segment.start, event.currentTarget),
          }),
          el("button", {
            type: "button",
            class: "chip-remove",
            "aria-label": `Remove ${trackName(item)} from the shortlist`,
            text: "×",
            onclick: () => this.remove(item.id),
          }),
        ),
      ),
    );
    if (!this.items.length) this.list.append(el("li", { class: "muted empty", text: "Nothing kept yet." }));
  }

  csv() {
    const header = ["title", "artist", "album", "path", "duration", "segment_start", "segment_end", "score", "found_by"];
    const rows = this.items.map((i) => [
      i.title, i.artist, i.album, i.path, i.duration, i.segment.start, i.segment.end, i.score, i.found_by,
    ]);
    return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
  }

  m3u() {
    const lines = ["#EXTM3U"];
    for (const item of this.items) {
      const who = item.artist ? `${item.artist} - ` : "";
      lines.push(`#EXTINF:${Math.round(item.duration)},${who}${trackName(item)}`, item.path);
    }
    return lines.join("\n") + "\n";
  }
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
