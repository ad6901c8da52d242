/**
 * Two sorted object listings walked side by side (as rclone's march does): each key once, with
 * what each side has. Memory stays at one page per side.
 */
/** Both settle before either failure is thrown, so nothing is left in flight. */
export async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === 'rejected') throw x.reason;
  if (y.status === 'rejected') throw y.reason;
  return [x.value, y.value];
}

/** S3 lists keys in UTF-8 byte order; compare the same way. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Yields [key, source entry, destination entry] in key order. */
export async function* mergeWalk<T extends { key: string }>(a: AsyncGenerator<T>, b: AsyncGenerator<T>): AsyncGenerator<[string, T | undefined, T | undefined]> {
  try {
    let [x, y] = await both(a.next(), b.next());
    while (!x.done || !y.done) {
      const c = x.done ? 1 : y.done ? -1 : compareKeys(x.value.key, y.value.key);
      if (c === 0) {
        yield [x.value!.key, x.value, y.value];
        [x, y] = await both(a.next(), b.next());
      } else if (c < 0) {
        yield [x.value!.key, x.value, undefined];
        x = await a.next();
      } else {
        yield [y.value!.key, undefined, y.value];
        y = await b.next();
      }
    }
  } finally {
    await Promise.allSettled([a.return(undefined), b.return(undefined)]);
  }
}
