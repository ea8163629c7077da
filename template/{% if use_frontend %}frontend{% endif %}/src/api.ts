// Talking to the api: URLs, requests and the shapes the page relies on. No DOM here.

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export type CheckStatus = "ok" | "failing" | "disabled";

export interface Check {
  name: string;
  status: CheckStatus;
  /** What the api said, e.g. "ok", "disabled", "failed: ConnectionError". */
  detail: string;
}

export interface Readiness {
  /** "ok" when /readyz answered 200, "degraded" when it answered 503. */
  state: "ok" | "degraded";
  httpStatus: number;
  checks: Check[];
}

export interface Item {
  id: number | string;
  name: string;
  created_at?: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** VITE_API_URL without trailing slashes; "" means this project has no api. */
export function apiBase(raw: string | undefined): string {
  return (raw ?? "").trim().replace(/\/+$/, "");
}

const OK_WORDS = new Set(["ok", "up", "pass", "passed", "healthy", "ready", "true"]);
const OFF_WORDS = new Set(["disabled", "skipped", "not configured", "n/a"]);

function statusOf(word: string): CheckStatus {
  const w = word.trim().toLowerCase();
  if (OK_WORDS.has(w)) return "ok";
  if (OFF_WORDS.has(w)) return "disabled";
  return "failing";
}

function checkFrom(name: string, value: unknown): Check {
  if (typeof value === "boolean") return { name, status: value ? "ok" : "failing", detail: value ? "ok" : "failing" };
  if (typeof value === "string") return { name, status: statusOf(value), detail: value };
  if (value && typeof value === "object") {
    const v = value as Record<string, unknown>;
    const status = v.status ?? v.ok;
    const base = checkFrom(name, typeof status === "boolean" || typeof status === "string" ? status : false);
    const extra = v.detail ?? v.error ?? v.message;
    return typeof extra === "string" && extra ? { ...base, detail: `${base.detail}: ${extra}` } : base;
  }
  return { name, status: "failing", detail: String(value) };
}

/**
 * Normalises the `checks` of a /readyz body. The api answers
 * `{"status": "ready", "checks": {"database": "ok", "cache": "disabled"}}` (200) or
 * `{"status": "unavailable", "failing": ["cache"], "checks": {"cache": "failed: ConnectionError", …}}` (503);
 * also accepted: `{"db": "ok"}`, `{"db": true}`, `{"db": {"status": "ok", "detail": "…"}}`,
 * or a list `[{"name": "db", "status": "ok"}]`.
 */
export function parseChecks(checks: unknown): Check[] {
  if (Array.isArray(checks)) {
    return checks.map((c, i) => {
      const name = c && typeof c === "object" && "name" in c ? String((c as { name: unknown }).name) : `check ${i + 1}`;
      return checkFrom(name, c);
    });
  }
  if (checks && typeof checks === "object") {
    return Object.entries(checks as Record<string, unknown>).map(([name, value]) => checkFrom(name, value));
  }
  return [];
}

async function jsonOrNull(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** GET /readyz: 200 → ok, 503 → degraded (both carry the checks); anything else throws. */
export async function fetchReadiness(base: string, fetchImpl: FetchLike): Promise<Readiness> {
  const response = await fetchImpl(`${base}/readyz`, { headers: { Accept: "application/json" } });
  if (response.status !== 200 && response.status !== 503) {
    throw new ApiError(`GET /readyz answered ${response.status}`, response.status);
  }
  const body = (await jsonOrNull(response)) as { checks?: unknown } | null;
  return {
    state: response.status === 200 ? "ok" : "degraded",
    httpStatus: response.status,
    checks: parseChecks(body?.checks),
  };
}

function isItem(value: unknown): value is Item {
  if (!value || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return (typeof v.id === "number" || typeof v.id === "string") && typeof v.name === "string";
}

/** GET /items: the list, newest first (the api's order is kept). */
export async function listItems(base: string, fetchImpl: FetchLike): Promise<Item[]> {
  const response = await fetchImpl(`${base}/items`, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new ApiError(`GET /items answered ${response.status}`, response.status);
  const body = await jsonOrNull(response);
  if (!Array.isArray(body)) throw new ApiError("GET /items did not return a list");
  return body.filter(isItem);
}

/** POST /items {"name": …} → the created item (201). */
export async function createItem(base: string, name: string, fetchImpl: FetchLike): Promise<Item> {
  const response = await fetchImpl(`${base}/items`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ name }),
  });
  if (!response.ok) {
    const body = (await jsonOrNull(response)) as { detail?: unknown } | null;
    const detail = typeof body?.detail === "string" ? `: ${body.detail}` : "";
    throw new ApiError(`POST /items answered ${response.status}${detail}`, response.status);
  }
  const body = await jsonOrNull(response);
  if (!isItem(body)) throw new ApiError("POST /items returned an unexpected body");
  return body;
}
