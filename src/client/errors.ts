/** Typed failures of a call to a zone. Messages name the endpoint and never carry credentials. */
export class AgentError extends Error {
  constructor(message?: string) {
    super(message);
    this.name = new.target.name; // "NotFound: ..." rather than "Error: ..." in logs
  }
}

export class HttpError extends AgentError {
  constructor(
    readonly status: number,
    /** RGW/S3 error Code from the body, when there was one. */
    readonly code: string,
    readonly endpoint: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${endpoint}${path.split('?')[0]} -> ${status}${code ? ` ${code}` : ''}`);
  }
}
export class NotFound extends HttpError {}
export class NotModified extends HttpError {}
export class Locked extends HttpError {}
export class Conflict extends HttpError {}
export class AccessDenied extends HttpError {}

export class NetworkError extends AgentError {
  constructor(readonly endpoint: string, readonly reason: Error) {
    super(`cannot reach ${endpoint}: ${reason.message}`);
  }
}

export function httpError(status: number, code: string, endpoint: string, method: string, path: string): HttpError {
  const Cls = status === 404 ? NotFound
    : status === 304 ? NotModified
      : status === 423 ? Locked
        : status === 409 ? Conflict
          : status === 403 ? AccessDenied
            : HttpError;
  return new Cls(status, code, endpoint, method, path);
}

/**
 * The object (or the version named) is not there to read: 404, or 405 to a request that named a
 * version, which is how S3 and RGW answer for a version that is a delete marker (RGW replaces a
 * null version by a null delete marker in a suspended bucket, so "null" can turn into one).
 */
export function isGone(e: unknown, versionId: string | undefined): boolean {
  return e instanceof NotFound || (e instanceof HttpError && (e.status === 404 || (e.status === 405 && versionId !== undefined)));
}

/** Worth another attempt: the request may not have reached the server, or the server was overloaded. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof NetworkError) return true;
  return e instanceof HttpError && (e.status === 500 || e.status === 502 || e.status === 503 || e.status === 504);
}
