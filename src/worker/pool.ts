/** Bounded parallelism over a list, on p-queue: at most `concurrency` tasks run at once. */
import PQueue from 'p-queue';

export async function forEachLimit<T>(items: Iterable<T>, concurrency: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  async function* each(): AsyncGenerator<T> {
    yield* items;
  }
  return forEachLimitAsync(each(), concurrency, fn, signal);
}

/** Async-iterable version: pulls items only as fast as the workers take them. */
export async function forEachLimitAsync<T>(items: AsyncIterable<T>, concurrency: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const queue = new PQueue({ concurrency: Math.max(1, concurrency) });
  const errors: unknown[] = [];
  for await (const item of items) {
    if (signal?.aborted) break;
    void queue.add(async () => {
      if (signal?.aborted) return;
      try {
        await fn(item);
      } catch (e) {
        errors.push(e);
      }
    });
    if (queue.size > concurrency * 2) await queue.onSizeLessThan(concurrency);
  }
  await queue.onIdle();
  if (errors.length > 0) throw errors[0];
}
