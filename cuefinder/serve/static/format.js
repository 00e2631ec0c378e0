// Small text helpers shared by the page's modules.

export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function trackName(track) {
  if (track.title) return track.title;
  const base = track.path.split("/").pop();
  return base.replace(/\.[^.]+$/, "");
}

// A track's name among others: its title, with its file name when another track of the list
// (a different file) has the same title ("Living Caves · cave2.ogg").
export function nameAmong(track, tracks) {
  const name = trackName(track);
  const file = (track.path || "").split("/").pop();
  const shared = tracks.some((other) => other.path !== track.path && trackName(other) === name);
  return shared && file ? `${name} · ${file}` : name;
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// Colours for the genres of one query, in order, so bars and timeline lines match.
const PALETTE = ["#2f6db5", "#c0562f", "#3a8f5c", "#8a4fb0", "#b58a1f", "#2a8c9a", "#b0456e", "#5f6b7a"];
export function colour(index) {
  return PALETTE[index % PALETTE.length];
}

// The id in this page's address after ``/{kind}/`` ("/briefs/7": "7"), or null elsewhere.
export function idInPath(kind) {
  const match = location.pathname.match(new RegExp(`^/${kind}/([^/]+)/?$`));
  return match ? decodeURIComponent(match[1]) : null;
}

// Show one of the page's own views (a brief's, a track's) in place of search and results.
export function openView(view) {
  document.body.dataset.view = view;
  for (const part of document.querySelectorAll(".search-panel, .layout")) part.hidden = true;
  document.getElementById(`${view}-view`).hidden = false;
}
