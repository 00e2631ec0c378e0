// A brief's read-only page (/briefs/{id}): its entries in order, each with a play button for
// its in/out window, its note and who added it, and the brief's exports. Nothing to edit.
import { api } from "./api.js";
import { clock, el, idInPath, openView } from "./format.js";
import { entryName, entryPlay, entryWindow } from "./briefs.js";

const $ = (id) => document.getElementById(id);

// The brief id in this page's address, or null when it is not a brief's page.
export const sharedBriefId = () => idInPath("briefs");

export async function showBrief(id, player, onError) {
  openView("brief");
  let brief;
  try {
    brief = await api.brief(id);
  } catch (error) {
    $("brief-view-heading").textContent = "No such brief";
    $("brief-view-meta").textContent = "It may have been deleted, or the address is mistyped.";
    onError(error);
    return;
  }
  document.title = `${brief.name} · cuefinder`;
  $("brief-view-heading").textContent = brief.name;
  $("brief-view-note").textContent = brief.note;
  $("brief-view-note").hidden = !brief.note;
  const changed = new Date(brief.updated_at * 1000).toLocaleString();
  $("brief-view-meta").textContent = `${brief.entries.length} ${brief.entries.length === 1 ? "entry" : "entries"} · changed ${changed}`;
  const list = $("brief-view-entries");
  list.replaceChildren(...brief.entries.map((entry) => item(entry, player, brief.entries)));
  if (!brief.entries.length) list.append(el("li", { class: "muted empty", text: "This brief is empty." }));
  const names = { csv: "CSV (timecode, notes)", edl: "EDL (CMX 3600)", fcpxml: "FCPXML", xml: "XML (Premiere, Resolve)", otio: "OpenTimelineIO",
    markers: "Markers (Resolve EDL)", "markers-xml": "Markers (Premiere XML)", m3u: "M3U playlist", xspf: "XSPF playlist" };
  const links = Object.entries(names).map(([format, text]) =>
    el("a", { class: "button", id: `brief-view-export-${format}`, href: api.exportUrl(brief.id, format), download: true, text }),
  );
  $("brief-view-exports").replaceChildren(el("span", { class: "muted", text: "Export:" }), ...links);
}

function item(entry, player, entries) {
  const part = entryWindow(entry);
  const of = entry.duration === null ? "" : ` of ${clock(entry.duration)}`;
  return el(
    "li",
    { class: "brief-view-entry", "data-entry-id": entry.id, "data-track-id": entry.track_id ?? "" },
    el("div", { class: "entry-head" },
      entryPlay(entry, player),
      el("div", { class: "entry-titles" },
        el("span", { class: "entry-title", text: entryName(entry, entries) }),
        entry.artist ? el("span", { class: "who muted", text: entry.artist }) : null,
        el("span", { class: "entry-window muted", text: `${part.text}${of}` }))),
    entry.note ? el("p", { class: "entry-note", text: entry.note }) : null,
    entry.added_by ? el("p", { class: "entry-by muted", text: `added by ${entry.added_by}` }) : null,
  );
}
