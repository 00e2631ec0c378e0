// The JSON API the page shares with scripts: every failure arrives as {error: {...}}.

export class ApiError extends Error {
  constructor(detail) {
    super(detail.message);
    this.status = detail.status;
    this.field = detail.field;
    this.vocabulary = detail.vocabulary || null;
  }
}

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError({ status: 0, message: "The server cannot be reached. Is cuefinder serve running?" });
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(body?.error || { status: response.status, message: `HTTP ${response.status}` });
  }
  return body;
}

function withParams(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

function send(method, path, body) {
  const json = body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  return request(path, { method, ...json });
}

const post = (path, body) => send("POST", path, body);
const brief = (id) => `/api/briefs/${encodeURIComponent(id)}`;

export const api = {
  search: (params) => request(withParams("/api/search", params)),
  text: (params) => request(withParams("/api/search/text", params)),
  track: (id) => request(`/api/tracks/${id}`),
  similar: (id, params) => request(withParams(`/api/tracks/${id}/similar`, params)),
  similarToFile(file, params) {
    const form = new FormData();
    form.append("file", file);
    return request(withParams("/api/similar/upload", params), { method: "POST", body: form });
  },
  genres: () => request("/api/genres"),
  status: () => request("/api/status"),
  index: (path) => post("/api/index", { path }),
  // Teaching: {kept, rejected, q, limit, min_duration, max_duration} -> a search response.
  refine: (body) => post("/api/refine", body),
  // {add, not, remove} track ids -> the tag as learned (examples, self-check).
  teach: (name, body) => post(`/api/tags/${encodeURIComponent(name)}`, body),
  // Briefs: named shortlists kept in the catalog.
  briefs: () => request("/api/briefs"),
  brief: (id) => request(brief(id)),
  createBrief: (name, note = "") => post("/api/briefs", { name, note }),
  // {name?, note?, order?: [entry ids]} -> the brief with its entries
  changeBrief: (id, body) => send("PATCH", brief(id), body),
  deleteBrief: (id) => send("DELETE", brief(id)),
  // {track, start?, end?, note?, by?} -> the entry
  addEntry: (id, body) => post(`${brief(id)}/entries`, body),
  // {start?, end?, note?} -> the entry
  changeEntry: (id, entry, body) => send("PATCH", `${brief(id)}/entries/${entry}`, body),
  removeEntry: (id, entry) => send("DELETE", `${brief(id)}/entries/${entry}`),
  exportUrl: (id, format, fps = 25) => withParams(`${brief(id)}/export`, { format, fps }),
};
