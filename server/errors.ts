/** Every error code the API can answer with, and its HTTP status. The OpenAPI document lists the same set. */
export const ERROR_CODES = {
  bad_request: 400,
  malformed_json: 400,
  not_authenticated: 401,
  invalid_credential: 401,
  invalid_login: 401,
  unknown_key: 403,
  modelio_disabled: 403,
  forbidden: 403,
  csrf_rejected: 403,
  impersonation_read_only: 403,
  not_found: 404,
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  rate_limited: 429,
  headers_too_large: 431,
  internal_error: 500,
  not_ready: 503,
  step_busy: 503,
  draining: 503,
  backend_unavailable: 503,
  overloaded: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  loc: Array<string | number>;
  msg: string;
  type: string;
}

/** An error meant for the client: its status follows from its code. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    detail: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.status = ERROR_CODES[code];
  }
}

export const notFound = (what = 'Not found'): ApiError => new ApiError('not_found', what);
