// Keep and reject results (for this page's life): refine ranks from them, a tag is saved from them.

export const KEPT_LABEL = "(kept)"; // the API's name for the part learned from kept tracks

export class Marks {
  constructor(onChange) {
    this.onChange = onChange;
    this.items = new Map(); // track id -> "kept" | "rejected"
  }

  state(id) {
    return this.items.get(id) || null;
  }

  // Mark a track kept or rejected; the same mark again unmarks it. Returns the new state.
  toggle(id, mark) {
    if (this.items.get(id) === mark) this.items.delete(id);
    else this.items.set(id, mark);
    this.onChange?.(this);
    return this.state(id);
  }

  ids(mark) {
    return [...this.items].filter(([, m]) => m === mark).map(([id]) => id);
  }

  get kept() {
    return this.ids("kept");
  }

  get rejected() {
    return this.ids("rejected");
  }

  clear() {
    this.items.clear();
    this.onChange?.(this);
  }

  summary() {
    const kept = this.kept.length;
    const rejected = this.rejected.length;
    if (!kept && !rejected) return "Keep or reject results, then refine the list or save them as a tag.";
    return `${kept} kept · ${rejected} rejected`;
  }
}

// One line about a tag as the API taught it.
export function describeTag(info) {
  const examples = `${info.positives} ${info.positives === 1 ? "example" : "examples"}, ${info.negatives} not`;
  const check = info.self_check === null || info.self_check === undefined ? "" : ` · self-check ${info.self_check.toFixed(2)}`;
  const absent = info.absent ? ` · ${info.absent} not in the catalog` : "";
  if (info.kind === "correction") return `Corrections of ${info.name} saved: ${examples}${absent}.`;
  return `Saved tag “${info.name}”: ${examples}${check}${absent}.`;
}
