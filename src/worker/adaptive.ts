/**
 * How many object copies may run at once, adapted to the destination: halved when it answers
 * 503/429 (SlowDown), and grown back by one after as many successes as the limit in force (AIMD, as
 * TCP does), never above the configured maximum. Pure: callers pass the time.
 */
export interface LimitState {
  readonly limit: number;
  /** Successes since the limit last changed. */
  readonly streak: number;
  /** When it was last halved: the 503s of one burst (all sent before the cut) count once. */
  readonly cutAtMs: number;
}

/** Several 503s within this long of a cut are one signal, not many. */
export const CUT_QUIET_MS = 1000;

export function initialLimit(max: number): LimitState {
  return { limit: Math.max(1, max), streak: 0, cutAtMs: -Infinity };
}

export function onSlowDown(s: LimitState, nowMs: number): LimitState {
  if (nowMs - s.cutAtMs < CUT_QUIET_MS) return s;
  return { limit: Math.max(1, Math.floor(s.limit / 2)), streak: 0, cutAtMs: nowMs };
}

export function onSuccess(s: LimitState, max: number): LimitState {
  if (s.limit >= max) return s;
  const streak = s.streak + 1;
  return streak >= s.limit ? { ...s, limit: s.limit + 1, streak: 0 } : { ...s, streak };
}

/** A destination answer that asks the client to slow down. */
export function isSlowDown(status: number | undefined): boolean {
  return status === 503 || status === 429;
}
