/** Bounded parallelism over a list, on p-queue: at most `concurrency` tasks run at once. */
import PQueue from 'p-queue';

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
