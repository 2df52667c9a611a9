/** How the client retries a request whose answer was lost or was "try again". */
export interface RetryOptions {
  /** Retries after the first attempt (default 2; 0 turns retrying off). */
  retries?: number;
  /** The first retry's delay in milliseconds, doubled for each further one (default 200). */
  baseDelayMs?: number;
  /** The longest the client waits before a retry, even when `Retry-After` says more (default 5000). */
  maxDelayMs?: number;
}

/** A fresh UUID (v4) for an Idempotency-Key. */
export function newIdempotencyKey(): string {
  const webCrypto = globalThis.crypto;
  // randomUUID exists only in secure contexts (https, localhost) in browsers.
  if (typeof webCrypto.randomUUID === "function") return webCrypto.randomUUID();
  const bytes = webCrypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A fetch that retries what is safe to retry: reads (GET), and writes carrying an
 * Idempotency-Key, which is sent again unchanged so the server replays the first answer
 * instead of acting twice. Retried: no answer at all (a network error), 503, 429, and 409
 * `idempotency_in_progress` (the first attempt is still running on the server).
 */
export function retryingFetch(
  fetchImpl: (request: Request) => Promise<Response>,
  options: RetryOptions = {},
): (request: Request) => Promise<Response> {
  const retries = options.retries ?? 2;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  return async (request) => {
    const retryable = request.method === "GET" || request.headers.has("Idempotency-Key");
    if (!retryable || retries <= 0) return fetchImpl(request);
    for (let attempt = 0; ; attempt += 1) {
      const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
      const last = attempt >= retries;
      let response: Response;
      try {
        response = await fetchImpl(last ? request : request.clone());
      } catch (error) {
        if (last || isAbort(error)) throw error;
        await sleep(backoff, request.signal);
        continue;
      }
      if (last || !(await isWorthRetrying(response))) return response;
      await sleep(retryDelay(response, backoff, maxDelayMs), request.signal);
    }
  };
}

async function isWorthRetrying(response: Response): Promise<boolean> {
  if (response.status === 503 || response.status === 429) return true;
  if (response.status !== 409) return false;
  try {
    const body: unknown = await response.clone().json();
    return (body as { code?: unknown } | null)?.code === "idempotency_in_progress";
  } catch {
    return false;
  }
}

function retryDelay(response: Response, backoff: number, maxDelayMs: number): number {
  const seconds = Number(response.headers.get("Retry-After") ?? Number.NaN);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(maxDelayMs, seconds * 1000) : backoff;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
