// Query terms <-> the query language the server parses ("Romance:1 -Action:0.5").

export const MIN_WEIGHT = 0.1;
export const MAX_WEIGHT = 3;

export function formatWeight(weight) {
  return String(Math.round(weight * 100) / 100);
}

export function termsToQuery(terms) {
  return terms.map((t) => `${t.exclude ? "-" : ""}${t.genre}:${formatWeight(t.weight)}`).join(" ");
}

// The signed weights and their scale, as the server ranks with them.
export function signedWeights(terms) {
  const wanted = terms.filter((t) => !t.exclude);
  const scale = (wanted.length ? wanted : terms).reduce((sum, t) => sum + t.weight, 0) || 1;
  return { scale, signs: Object.fromEntries(terms.map((t) => [t.genre, t.exclude ? -t.weight : t.weight])) };
}
