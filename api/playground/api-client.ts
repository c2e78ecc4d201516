/// <reference lib="dom" />
// The page's only way to the API. Paths are same-origin by construction (a
// path, never a URL), so the API key goes nowhere but to this server.

export interface Issue {
  path: string;
  message: string;
}

/** A 4xx/5xx answer, as the API words it ({error, issues?}), with Retry-After when it says when to come back. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: Issue[] = [],
    readonly retryAfter: string | null = null,
  ) {
    super(message);
  }
}

export function apiFetch(path: string, key: string, init: RequestInit = {}): Promise<Response> {
  if (!path.startsWith("/") || path.startsWith("//")) throw new Error(`not a same-origin path: ${path}`);
  const headers = new Headers(init.headers);
  if (key) headers.set("Authorization", `Bearer ${key}`);
  return fetch(path, { ...init, headers, credentials: "same-origin" });
}

export async function apiError(res: Response): Promise<ApiError> {
  let body: { error?: string; issues?: Issue[] } = {};
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy's page, say): the status line is all there is
  }
  return new ApiError(
    res.status,
    body.error ?? `${res.status} ${res.statusText}`,
    body.issues ?? [],
    res.headers.get("Retry-After"),
  );
}

export async function apiJson<T>(path: string, key: string, init?: RequestInit): Promise<T> {
  const res = await apiFetch(path, key, init);
  if (!res.ok) throw await apiError(res);
  return (await res.json()) as T;
}
