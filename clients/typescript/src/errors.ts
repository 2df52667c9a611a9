import type { components } from "./schema.js";

/**
 * Every `code` the API answers errors with (the "Errors" table of docs/api.md), plus two the
 * client itself reports: `network_error` (no answer at all, after the client's retries) and
 * `unexpected_response` (an answer that is not the API's JSON error, e.g. from a proxy).
 * scripts/check_error_codes.py (run by `npm run typecheck`) fails when this differs from the
 * codes in the backend's source.
 */
export type ErrorCode =
  // 400, 401, 403
  | "bad_request"
  | "not_authenticated"
  | "invalid_token"
  | "forbidden"
  // 404, 405
  | "task_not_found"
  | "webhook_not_found"
  | "not_found"
  | "method_not_allowed"
  // 409, 410, 412, 413, 415
  | "batch_failed"
  | "idempotency_in_progress"
  | "write_conflict"
  | "cursor_expired"
  | "precondition_failed"
  | "payload_too_large"
  | "unsupported_media_type"
  // 422 (also in batch results)
  | "validation_error"
  | "invalid_json"
  | "invalid_cursor"
  | "idempotency_key_reused"
  | "unknown_ref"
  | "duplicate_ref"
  | "invalid_event_id"
  | "invalid_webhook_url"
  | "webhook_url_not_allowed"
  | "too_many_webhooks"
  // 428, 429
  | "precondition_required"
  | "rate_limited"
  | "too_many_streams"
  // 5xx
  | "database_unavailable"
  | "overloaded"
  | "identity_provider_unavailable"
  | "events_unavailable"
  | "service_unavailable"
  | "internal_error"
  | "error"
  // raised by the client
  | "network_error"
  | "unexpected_response";

/** One entry of a 422's `detail` list (FastAPI's validation errors). */
export interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input?: unknown;
  ctx?: Record<string, string>;
}

export type OperationResult = components["schemas"]["OperationResult"];

/** An error answer of the API (or of the client, for `network_error` and `unexpected_response`). */
export class TodoApiError extends Error {
  override readonly name = "TodoApiError";
  /** The HTTP status; 0 for `network_error`. */
  readonly status: number;
  readonly code: ErrorCode;
  /** A message, or the list of validation issues of a 422 `validation_error`. */
  readonly detail: string | ValidationIssue[];
  /** A 409 `batch_failed`: every operation's result (nothing was applied). */
  readonly results?: OperationResult[];
  /** Seconds the server asked to wait (`Retry-After` of a 503 or 429). */
  readonly retryAfter?: number;

  constructor(init: {
    status: number;
    code: ErrorCode;
    detail: string | ValidationIssue[];
    results?: OperationResult[];
    retryAfter?: number;
    cause?: unknown;
  }) {
    super(
      `${init.status} ${init.code}: ${
        typeof init.detail === "string" ? init.detail : init.detail.map((issue) => issue.msg).join("; ")
      }`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    if (init.results !== undefined) this.results = init.results;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
  }
}

/** Whether `error` is a TodoApiError, optionally with one of the given codes. */
export function isTodoApiError(error: unknown, ...codes: ErrorCode[]): error is TodoApiError {
  return error instanceof TodoApiError && (codes.length === 0 || codes.includes(error.code));
}

/** The TodoApiError for a non-success answer, from its parsed body (if any). */
export function errorFromResponse(response: Response, body: unknown): TodoApiError {
  const retryAfterHeader = response.headers.get("Retry-After");
  const retryAfter = retryAfterHeader === null ? undefined : Number(retryAfterHeader);
  const extra = retryAfter !== undefined && Number.isFinite(retryAfter) ? { retryAfter } : {};
  if (isErrorBody(body)) {
    return new TodoApiError({
      status: response.status,
      code: body.code as ErrorCode,
      detail: body.detail as string | ValidationIssue[],
      ...(Array.isArray(body.results) ? { results: body.results as OperationResult[] } : {}),
      ...extra,
    });
  }
  return new TodoApiError({
    status: response.status,
    code: "unexpected_response",
    detail: `HTTP ${response.status} ${response.statusText}`.trim(),
    ...extra,
  });
}

function isErrorBody(
  body: unknown,
): body is { code: string; detail: unknown; results?: unknown } {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as { code?: unknown }).code === "string" &&
    "detail" in body
  );
}
