// Genre chips: one per query term, with a weight slider, an exclude toggle and a remove button.
import { colour, el } from "./format.js";
import { formatWeight, MAX_WEIGHT, MIN_WEIGHT } from "./query.js";

export function renderChips(container, terms, onChange) {
  // the control that had focus keeps it (arrow keys on a weight go on working)
  const focused = container.contains(document.activeElement) ? document.activeElement : null;
  const genre = focused?.closest(".chip")?.dataset.genre;
  const control = focused && (focused.tagName === "INPUT" ? "input" : `.${focused.className}`);
  container.replaceChildren(
    ...terms.map((term, index) => chip(term, index, terms, onChange)),
  );
  container.hidden = terms.length === 0;
  if (genre) container.querySelector(`.chip[data-genre="${CSS.escape(genre)}"] ${control}`)?.focus();
}

function chip(term, index, terms, onChange) {
  const update = (changes) => onChange(terms.map((t, i) => (i === index ? { ...t, ...changes } : t)));
  const value = el("output", { class: "chip-weight", text: formatWeight(term.weight) });
  const slider = el("input", {
    type: "range",
    min: MIN_WEIGHT,
    max: Math.max(MAX_WEIGHT, term.weight),
    step: 0.1,
    value: term.weight,
    "aria-label": `${term.genre} weight`,
    oninput: (event) => (value.textContent = formatWeight(Number(event.target.value))),
    onchange: (event) => update({ weight: Number(event.target.value) }),
  });
  const exclude = el("button", {
    type: "button",
    class: "chip-exclude",
    "aria-pressed": term.exclude ? "true" : "false",
    title: term.exclude ? `Want ${term.genre} again` : `Exclude ${term.genre}`,
    "aria-label": `Exclude ${term.genre}`,
    text: term.exclude ? "excluded" : "exclude",
    onclick: () => update({ exclude: !term.exclude }),
  });
  const remove = el("button", {
    type: "button",
    class: "chip-remove",
    "aria-label": `Remove ${term.genre}`,
    text: "×",
    onclick: () => onChange(terms.filter((_, i) => i !== index)),
  });
  return el(
    "li",
    { class: `chip${term.exclude ? " excluded" : ""}`, "data-genre": term.genre },
    el("span", { class: "chip-swatch", style: `background:${colour(index)}` }),
    el("span", { class: "chip-name", text: term.exclude ? `not ${term.genre}` : term.genre }),
    slider,
    value,
    exclude,
    remove,
  );
}
