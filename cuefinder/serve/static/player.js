// One shared <audio> element; play buttons toggle it and start at the chosen second.
import { clock, trackName } from "./format.js";

export class Player {
  constructor(audio, label) {
    this.audio = audio;
    this.label = label;
    this.current = null; // {id, button}
    audio.addEventListener("play", () => this.sync());
    audio.addEventListener("pause", () => this.sync());
    audio.addEventListener("ended", () => this.sync());
    audio.addEventListener("error", () => {
      if (this.current) this.onError?.(`Cannot play ${this.current.name}: the server refused or the format is unsupported.`);
      this.sync();
    });
  }

  // Play ``track`` from ``start`` seconds; the same track's button pauses and resumes.
  toggle(track, start, button) {
    if (this.current?.id === track.id && this.current.button === button && !this.audio.paused) {
      this.audio.pause();
      return;
    }
    if (this.current?.id === track.id && this.current.button === button && this.audio.src) {
      this.audio.play().catch(() => {});
      return;
    }
    this.playFrom(track, start, button);
  }

  playFrom(track, start, button) {
    const previous = this.current?.button;
    this.current = { id: track.id, button, name: trackName(track) };
    if (previous && previous !== button) this.mark(previous, false);
    const url = `${track.audio_url}#t=${start.toFixed(2)}`;
    this.audio.src = url;
    this.audio.addEventListener(
      "loadedmetadata",
      () => {
        if (this.audio.currentTime < start - 0.5) this.audio.currentTime = start;
      },
      { once: true },
    );
    this.label.textContent = `${trackName(track)}${track.artist ? ` — ${track.artist}` : ""} (from ${clock(start)})`;
    this.audio.play().catch((err) => {
      if (err.name !== "AbortError") this.onError?.(`Playback did not start: ${err.message}`);
    });
  }

  sync() {
    if (this.current?.button) this.mark(this.current.button, !this.audio.paused);
  }

  mark(button, playing) {
    const icon = button.querySelector(".icon");
    if (!icon) return; // a shortlist entry: no play/pause state of its own
    button.setAttribute("aria-pressed", playing ? "true" : "false");
    icon.textContent = playing ? "❚❚" : "▶";
    button.title = playing ? "Pause" : button.dataset.playTitle;
  }
}
