// A small picture of a track: its waveform (stored at index time), its per-segment genre
// scores as lines, its best window shaded, and a time axis; a playhead is drawn over it.
import { clock } from "./format.js";

const WIDTH = 320;
const HEIGHT = 56;
const AXIS = 12; // px under the picture for the time axis

// lines: [{genre, colour, dashed}]; window: {start, end} in seconds; waveform: {seconds, peaks}.
export function drawTimeline(canvas, timeline, lines, window, duration, waveform = null) {
  const ratio = globalThis.devicePixelRatio || 1;
  canvas.width = WIDTH * ratio;
  canvas.height = (HEIGHT + AXIS) * ratio;
  canvas.style.width = `${WIDTH}px`;
  canvas.style.height = `${HEIGHT + AXIS}px`;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, WIDTH, HEIGHT + AXIS);
  g.fillStyle = "#f3f4f6";
  g.fillRect(0, 0, WIDTH, HEIGHT);
  const x = (seconds) => (seconds / Math.max(duration, 1e-6)) * WIDTH;
  if (waveform && waveform.peaks.length) {
    g.fillStyle = "#d5dae1";
    const w = Math.max(1, x(waveform.seconds));
    waveform.peaks.forEach((peak, i) => {
      const h = Math.max(1, peak * (HEIGHT - 4));
      g.fillRect(x(i * waveform.seconds), (HEIGHT - h) / 2, w, h);
    });
  }
  drawAxis(g, duration, x);
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
    `${waveform ? "Waveform and segment" : "Segment"} scores over ${clock(duration)} for ${names}` +
      (window ? `; best window ${clock(window.start)} to ${clock(window.end)} shaded` : ""),
  );
}

// Ticks under the picture every 15 s, 30 s, 1 or 2 minutes (about six), labelled M:SS.
function drawAxis(g, duration, x) {
  const step = [15, 30, 60, 120, 300].find((s) => duration / s <= 6) ?? 600;
  g.fillStyle = "#6b7280";
  g.font = "9px sans-serif";
  g.textBaseline = "top";
  for (let t = 0; t <= duration; t += step) {
    g.fillRect(x(t), HEIGHT, 1, 3);
    const label = clock(t);
    const left = Math.min(Math.max(0, x(t) - 8), WIDTH - g.measureText(label).width);
    g.fillText(label, left, HEIGHT + 2);
  }
}

// Where the playhead is: a line over the picture at ``seconds`` (null: none).
export function placePlayhead(figure, seconds, duration) {
  let head = figure.querySelector(".playhead");
  if (seconds === null) {
    head?.remove();
    return;
  }
  if (!head) {
    head = document.createElement("span");
    head.className = "playhead";
    head.setAttribute("aria-hidden", "true");
    figure.append(head);
  }
  head.style.left = `${(100 * Math.min(seconds, duration)) / Math.max(duration, 1e-6)}%`;
  figure.dataset.playhead = seconds.toFixed(2);
}

// Seconds into the track at a click on the canvas.
export function timeAt(canvas, event, duration) {
  const box = canvas.getBoundingClientRect();
  return Math.max(0, Math.min(1, (event.clientX - box.left) / box.width)) * duration;
}
