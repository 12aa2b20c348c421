// The public JSON API, called with a bearer token kept in sessionStorage.

/** A problem+json answer (or no answer at all) from the API. */
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.slug = status === 0 ? "network" : String(problem.type || "").split("/").pop();
  }
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

/** A client whose sign-in lives in sessionStorage under `storageKey`. */
export function apiClient(storageKey) {
  let serverOffsetMs = 0;

  const session = () => {
    try {
      return JSON.parse(sessionStorage.getItem(storageKey) || "null");
    } catch {
      return null;
    }
  };

  const remember = (value) => sessionStorage.setItem(storageKey, JSON.stringify(value));
  const forget = () => sessionStorage.removeItem(storageKey);

  const noteServerClock = (response) => {
    const date = Date.parse(response.headers.get("Date") || "");
    // The Date header has one-second resolution, truncated: this errs towards a late refresh.
    if (!Number.isNaN(date)) serverOffsetMs = date - Date.now();
  };

  async function send(method, path, { body, idempotent = false } = {}) {
    const headers = { Accept: "application/json, application/problem+json, image/*" };
    const token = session()?.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotent) headers["Idempotency-Key"] = newKey();
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, {});
    }
    noteServerClock(response);
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
    return response;
  }

  return {
    session,
    remember,
    forget,
    /** Milliseconds until `isoTime` by the server's clock. */
    msUntil: (isoTime) => Date.parse(isoTime) - (Date.now() + serverOffsetMs),
    json: async (method, path, options) => {
      const response = await send(method, path, options);
      return response.status === 204 ? null : response.json().catch(() => null);
    },
    /** An object URL for an image the API serves only to the bearer. */
    imageUrl: async (path) => URL.createObjectURL(await (await send("GET", path)).blob()),
  };
}
