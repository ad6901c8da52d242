/**
 * Full-sync progress: a live line on a TTY (buckets, objects, bytes, rate, ETA), and a plain log
 * line every few seconds otherwise (journald, files).
 */
import type { Counts } from './accounting.js';

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

export function progressLine(stats: Readonly<Counts>, elapsedMs: number): string {
  const objects = stats.objectsCopied + stats.objectsUnchanged + stats.objectsDeleted;
  const secs = Math.max(elapsedMs / 1000, 0.001);
  const { bucketsTotal, bucketsDone } = stats;
  const eta = bucketsDone > 0 && bucketsTotal > bucketsDone ? ((bucketsTotal - bucketsDone) * secs) / bucketsDone : bucketsTotal === bucketsDone ? 0 : Infinity;
  return `full sync: buckets ${bucketsDone}/${bucketsTotal}, objects ${objects} (${stats.objectsCopied} copied), ${mb(stats.bytesCopied)}, ${(objects / secs).toFixed(0)} obj/s, ${(stats.bytesCopied / 1e6 / secs).toFixed(1)} MB/s, ETA ${duration(eta)}`;
}

export interface ProgressOptions { tty: boolean; write: (s: string) => void; log: (s: string) => void; everyMs?: number }

export function startProgress(stats: Readonly<Counts>, o: ProgressOptions): () => void {
  const t0 = Date.now();
  const timer = setInterval(() => {
    const line = progressLine(stats, Date.now() - t0);
    if (o.tty) o.write(`\r\x1b[2K${line}`);
    else o.log(line);
  }, o.everyMs ?? (o.tty ? 250 : 5000));
  timer.unref();
  return () => {
    clearInterval(timer);
    if (o.tty) o.write(`\r\x1b[2K${progressLine(stats, Date.now() - t0)}\n`);
  };
}
