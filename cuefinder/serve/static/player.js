// One shared <audio> element; play buttons toggle it, start at the chosen second and, for a
// brief's entry, stop at its out point.
import { clock, trackName } from "./format.js";

export class Player {
  constructor(audio, label) {
    this.audio = audio;
    this.label = label;
    this.current = null; // {id, button, name, start, stop, loop}
    this.mode = "window"; // how results play: "window" (then stop), "loop" it, or the "track" on
    audio.addEventListener("play", () => this.sync());
    audio.addEventListener("pause", () => this.sync());
    audio.addEventListener("ended", () => this.sync());
    audio.addEventListener("timeupdate", () => {
      const { stop, start, loop, id } = this.current || {};
      if (stop !== null && stop !== undefined && !audio.paused && audio.currentTime >= stop) {
        if (loop) audio.currentTime = start;
        else audio.pause();
      }
      if (id !== undefined) this.onTime?.(id, audio.currentTime);
    });
    audio.addEventListener("error", () => {
      if (this.current) this.onError?.(`Cannot play ${this.current.name}: the server refused or the format is unsupported.`);
      this.sync();
    });
  }

  // Play ``track`` from ``start`` seconds (to ``stop``, if given); the same button pauses and
  // resumes. A result's window (``windowed``) plays as the mode says: once, looped, or on.
  toggle(track, start, button, stop = null, windowed = false) {
    const loop = windowed && this.mode === "loop";
    if (windowed && this.mode === "track") stop = null;
    const same = this.current?.id === track.id && this.current.button === button;
    if (same && !this.audio.paused) {
      this.audio.pause();
      return;
    }
    const atEnd = stop !== null && this.audio.currentTime >= stop;
    if (same && this.audio.src && !atEnd) {
      Object.assign(this.current, { stop, loop }); // the play mode may have changed meanwhile
      this.audio.play().catch(() => {});
      return;
    }
    this.playFrom(track, start, button, stop, loop);
  }

  playFrom(track, start, button, stop = null, loop = false) {
    const previous = this.current?.button;
    this.current = { id: track.id, button, name: trackName(track), start, stop, loop };
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
    const until = stop !== null ? ` to ${clock(stop)}${loop ? ", looped" : ""}` : "";
    this.label.textContent = `${trackName(track)}${track.artist ? ` — ${track.artist}` : ""} (from ${clock(start)}${until})`;
    this.audio.play().catch((err) => {
      if (err.name !== "AbortError") this.onError?.(`Playback did not start: ${err.message}`);
    });
  }

  // Seek the playing track by ``seconds`` (the keyboard's arrows).
  seek(seconds) {
    if (!this.audio.src) return;
    this.audio.currentTime = Math.max(0, this.audio.currentTime + seconds);
  }

  sync() {
    if (this.current?.button) this.mark(this.current.button, !this.audio.paused);
  }

  mark(button, playing) {
    const icon = button.querySelector(".icon");
    if (!icon || !button.isConnected) return; // no play/pause state of its own, or gone
    button.setAttribute("aria-pressed", playing ? "true" : "false");
    icon.textContent = playing ? "❚❚" : "▶";
    button.title = playing ? "Pause" : button.dataset.playTitle;
  }
}
