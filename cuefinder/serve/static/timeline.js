// A small picture of a track's per-segment genre scores, its best window shaded.
import { clock } from "./format.js";

const WIDTH = 320;
const HEIGHT = 56;

// lines: [{genre, colour, dashed}]; window: {start, end} in seconds.
export function drawTimeline(canvas, timeline, lines, window, duration) {
  const ratio = globalThis.devicePixelRatio || 1;
  canvas.width = WIDTH * ratio;
  canvas.height = HEIGHT * ratio;
  canvas.style.width = `${WIDTH}px`;
  canvas.style.height = `${HEIGHT}px`;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, WIDTH, HEIGHT);
  g.fillStyle = "#f3f4f6";
  g.fillRect(0, 0, WIDTH, HEIGHT);
  const x = (seconds) => (seconds / Math.max(duration, 1e-6)) * WIDTH;
  if (window) {
    g.fillStyle = "rgba(47, 109, 181, 0.14)";
    g.fillRect(x(window.start), 0, Math.max(2, x(window.end) - x(window.start)), HEIGHT);
  }
  const rows = timeline.scores;
  const step = timeline.segment_seconds;
  for (const line of lines) {
    const column = timeline.genres.indexOf(line.genre);
    if (column < 0 || rows.length === 0) continue;
    g.strokeStyle = line.colour;
    g.lineWidth = 1.5;
    g.setLineDash(line.dashed ? [3, 3] : []);
    g.beginPath();
    rows.forEach((row, i) => {
      const px = x(Math.min(duration, (i + 0.5) * step));
      const py = HEIGHT - 3 - row[column] * (HEIGHT - 6);
      if (i === 0) g.moveTo(px, py);
      else g.lineTo(px, py);
    });
    g.stroke();
  }
  const names = lines.map((l) => `${l.dashed ? "not " : ""}${l.genre}`).join(", ");
  canvas.setAttribute(
    "aria-label",
    `Segment scores over ${clock(duration)} for ${names}` +
      (window ? `; best window ${clock(window.start)} to ${clock(window.end)} shaded` : ""),
  );
}

// Seconds into the track at a click on the canvas.
export function timeAt(canvas, event, duration) {
  const box = canvas.getBoundingClientRect();
  return Math.max(0, Math.min(1, (event.clientX - box.left) / box.width)) * duration;
}
