/** Bounded parallelism over a list, on p-queue: at most `concurrency` tasks run at once. */
import PQueue from 'p-queue';
import { initialLimit, onSlowDown, onSuccess, type LimitState } from './adaptive.js';

export async function forEachLimit<T>(items: Iterable<T>, concurrency: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  async function* each(): AsyncGenerator<T> {
    yield* items;
  }
  return forEachLimitAsync(each(), concurrency, fn, signal);
}

/**
 * Thrown when a stop (shutdown or a lost lock) left some items of a set unstarted: the caller must
 * not record the set as done. Items already started were allowed to finish.
 */
export class Stopped extends Error {
  constructor(reason = 'stopping') {
    super(reason);
  }
}

/** Async-iterable version: pulls items only as fast as the workers take them. */
export async function forEachLimitAsync<T>(items: AsyncIterable<T>, concurrency: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const queue = new PQueue({ concurrency: Math.max(1, concurrency) });
  const errors: unknown[] = [];
  let skipped = false;
  for await (const item of items) {
    if (signal?.aborted) {
      skipped = true;
      break;
    }
    void queue.add(async () => {
      if (signal?.aborted) {
        skipped = true;
        return;
      }
      try {
        await fn(item);
      } catch (e) {
        errors.push(e);
      }
    });
    if (queue.size > concurrency * 2) await queue.onSizeLessThan(concurrency);
  }
  await queue.onIdle();
  if (errors.length > 0) throw errors.find((e) => !(e instanceof Stopped)) ?? errors[0];
  if (skipped) throw new Stopped(signal?.reason instanceof Error ? signal.reason.message : 'stopping');
}

/**
 * The one pool every object copy of a process goes through, whatever bucket or shard it belongs
 * to: the machine is kept busy by many buckets or by one big one alike, and the destination sees
 * at most `limit` copies at once. The limit adapts (adaptive.ts); work already running is never
 * cut short when it drops.
 */
export type LimitCause = 'slowdown' | 'keeping-up' | 'reloaded';

export class ObjectPool {
  private readonly queue: PQueue;
  private state: LimitState;
  private configured: number;

  /** `max`: read at every copy, so a reloaded object_concurrency applies at once. */
  constructor(private readonly max: () => number, private readonly now: () => number = Date.now, private readonly onChange?: (limit: number, max: number, cause: LimitCause) => void) {
    this.configured = max();
    this.state = initialLimit(this.configured);
    this.queue = new PQueue({ concurrency: this.state.limit });
  }

  get limit(): number {
    return this.state.limit;
  }

  /** Copies running or waiting. */
  get inFlight(): number {
    return this.queue.pending + this.queue.size;
  }

  /** Runs `fn` when a slot is free; throws Stopped if `signal` aborts before it starts. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new Stopped();
    if (this.max() !== this.configured) {
      this.configured = this.max();
      this.apply(initialLimit(this.configured), 'reloaded');
    }
    // A copy waiting for a slot checks the signal when it gets one: no abort listener per waiting copy.
    return this.queue.add(async () => {
      if (signal?.aborted) throw new Stopped();
      const r = await fn();
      this.apply(onSuccess(this.state, this.configured), 'keeping-up');
      return r;
    }, { throwOnTimeout: true });
  }

  /** The destination answered 503/429 to some request. */
  slowDown(): void {
    this.apply(onSlowDown(this.state, this.now()), 'slowdown');
  }

  private apply(next: LimitState, cause: LimitCause): void {
    const changed = next.limit !== this.state.limit;
    this.state = next;
    if (!changed) return;
    this.queue.concurrency = next.limit;
    this.onChange?.(next.limit, this.configured, cause);
  }
}
