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
