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

/** RGW's reduction of a hash to a shard: through a prime first, so shard counts need not be prime. */
function shardsMod(hash: number, shards: number): number {
  return shards <= 7877 ? (hash % 7877) % shards : (hash % 65521) % shards;
}

/** The bucket-index shard RGW keeps an object key in (a sharded bucket index). */
export function bucketIndexShard(key: string, shards: number): number {
  const h = strHashLinux(key);
  return shardsMod((h ^ ((h & 0xff) << 24)) >>> 0, shards);
}
