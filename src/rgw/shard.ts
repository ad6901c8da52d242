/**
 * RGW's key -> shard hash (ceph_str_hash_linux), shared by the zone (which decides where a log
 * entry goes) and the agent (which groups keys by shard in full sync). Unsigned 32-bit arithmetic.
 */
export function strHashLinux(key: string): number {
  let h = 0;
  for (const c of Buffer.from(key, 'utf8')) {
    h = Math.imul((h + (c << 4) + (c >> 4)) >>> 0, 11) >>> 0;
  }
  return h;
}

export function shardFor(key: string, shards: number): number {
  return strHashLinux(key) % shards;
}

/** Metadata keys hash as "<section>:<key>"; data-log keys by bucket name. */
export function metadataShard(section: string, key: string, shards: number): number {
  return shardFor(`${section}:${key}`, shards);
}

export function dataShard(bucket: string, shards: number): number {
  return shardFor(bucket, shards);
}
