/**
 * The process's V8 heap policy. After each full collection V8 lets the old generation grow by a
 * factor it picks from its GC and allocation speeds (up to 4x the live heap); the agent allocates
 * fast and keeps little (under 30 MB live through a 100,000-object full sync), so that factor
 * mostly bought RSS: 185 MB at scale against the 150 MB target. A fixed, smaller factor is soft: a
 * process that really needs more heap still gets it (unlike --max-old-space-size, which would end a
 * daemon with an out-of-memory crash), it just collects more often. The flag is read at every
 * collection, so setting it at start-up works; an operator's own choice in the node flags wins.
 */
import { setFlagsFromString } from 'node:v8';

/** Percent the old generation may grow past the live heap before the next full collection. */
export const HEAP_GROWING_PERCENT = 30;

const FLAG = /--heap[-_]growing[-_]percent\b/;

/** The V8 flags to set at start-up, given the process's node flags and NODE_OPTIONS. */
export function heapFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  if (execArgv.some((a) => FLAG.test(a)) || FLAG.test(nodeOptions ?? '')) return [];
  return [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`];
}

export function applyHeapPolicy(): void {
  for (const f of heapFlags(process.execArgv, process.env.NODE_OPTIONS)) setFlagsFromString(f);
}
