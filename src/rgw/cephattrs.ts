/**
 * Ceph's rgwx-prepend-metadata document: `{"attrs": [{"key": "user.rgw.acl", "val": "<base64>"},
 * ...], "mtime": ...}`, the object's xattrs in Ceph's binary encodings. The ACL and the tags are
 * read from it so a stream copy needs no `?acl`/`?tagging` request: both come from the answer whose
 * bytes are copied, so they describe the same version.
 *
 * Every Ceph structure starts with `u8 version, u8 compat, u32 length` (little-endian), so fields a
 * later release appends are skipped by length. Anything unexpected (an older encoding without a
 * length, a grantee kind S3 cannot express, a short buffer) gives undefined: the caller then asks
 * `?acl` / `?tagging` as before, never guesses.
 */
import { canonicalTags, type Acl, type Grant } from './attrs.js';
import { prefixObject } from './prepend.js';

const ACL_ATTR = 'user.rgw.acl';
const TAGS_ATTR = 'user.rgw.x-amz-tagging';

const PERM_READ = 0x01;
const PERM_WRITE = 0x02;
const PERM_READ_ACP = 0x04;
const PERM_WRITE_ACP = 0x08;
const PERM_FULL = PERM_READ | PERM_WRITE | PERM_READ_ACP | PERM_WRITE_ACP;

const GROUP_URIS: Record<number, string> = {
  1: 'http://acs.amazonaws.com/groups/global/AllUsers',
  2: 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers',
};

class Short extends Error {}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer, private end = buf.length) {}

  private need(n: number): void {
    if (this.at + n > this.end) throw new Short();
  }
  u8(): number { this.need(1); return this.buf.readUInt8(this.at++); }
  u32(): number { this.need(4); const v = this.buf.readUInt32LE(this.at); this.at += 4; return v; }
  i32(): number { this.need(4); const v = this.buf.readInt32LE(this.at); this.at += 4; return v; }
  str(): string {
    const n = this.u32();
    this.need(n);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }

  /**
   * One versioned structure: `body` reads what it knows, the rest (a later release's fields) is
   * skipped. `lenSince` is the version from which the length is encoded (Ceph's
   * DECODE_START_LEGACY_COMPAT_LEN); an older one cannot be skipped safely.
   */
  struct<T>(lenSince: number, body: (r: Reader, version: number) => T): T {
    const version = this.u8();
    this.u8(); // compat
    if (version < lenSince) throw new Short();
    const len = this.u32();
    this.need(len);
    const end = this.at + len;
    const outer = this.end;
    this.end = end;
    try {
      return body(this, version);
    } finally {
      this.at = end;
      this.end = outer;
    }
  }

  count(): number {
    const n = this.u32();
    // Every element takes at least one byte: a larger count is damage, not a big map.
    if (n > this.end - this.at) throw new Short();
    return n;
  }
}

function permissions(flags: number): string[] {
  if ((flags & PERM_FULL) === PERM_FULL) return ['FULL_CONTROL'];
  const out: string[] = [];
  if (flags & PERM_READ) out.push('READ');
  if (flags & PERM_WRITE) out.push('WRITE');
  if (flags & PERM_READ_ACP) out.push('READ_ACP');
  if (flags & PERM_WRITE_ACP) out.push('WRITE_ACP');
  return out;
}

class Inexpressible extends Error {}

/** RGWAccessControlPolicy as S3's GetObjectAcl shows it; undefined when it cannot be read faithfully. */
export function decodeCephAcl(buf: Buffer): Acl | undefined {
  try {
    return new Reader(buf).struct(2, (r) => {
      const owner = r.struct(2, (o) => o.str());
      const grants = r.struct(3, (a) => {
        a.u8(); // maps_initialized
        for (let n = a.count(); n > 0; n--) { a.str(); a.i32(); } // acl_user_map, derived from the grants
        const out: Grant[] = [];
        for (let n = a.count(); n > 0; n--) {
          a.str(); // the grant map's key, derived from the grantee
          a.struct(3, (g, version) => {
            const type = g.struct(2, (t) => t.u32());
            const id = g.str();
            g.str(); // uri, unused since groups are numbered
            const email = g.str();
            const flags = g.struct(2, (p) => p.i32());
            g.str(); // display name
            const group = version > 1 ? g.u32() : 0;
            const grantee = type === 0 ? `id:${id}` : type === 1 ? `email:${email}` : type === 2 && GROUP_URIS[group] ? `uri:${GROUP_URIS[group]}` : undefined;
            // A referer grant (Swift) or an unknown kind has no S3 form.
            if (grantee === undefined) throw new Inexpressible();
            for (const permission of permissions(flags)) out.push({ grantee, permission });
          });
        }
        return out;
      });
      return { owner, grants };
    });
  } catch (e) {
    if (e instanceof Short || e instanceof Inexpressible || e instanceof RangeError) return undefined;
    throw e;
  }
}

/** RGWObjTags as a canonical tag string; undefined when it cannot be read. */
export function decodeCephTags(buf: Buffer): string | undefined {
  try {
    return new Reader(buf).struct(1, (r) => {
      const pairs: [string, string][] = [];
      for (let n = r.count(); n > 0; n--) pairs.push([r.str(), r.str()]);
      return canonicalTags(pairs);
    });
  } catch (e) {
    if (e instanceof Short || e instanceof RangeError) return undefined;
    throw e;
  }
}

/** What Ceph's prepended document gives a stream copy: each field only where it was read faithfully. */
export interface CephPrepended { acl?: Acl; tags?: string }

/** Ceph's prepended document, or undefined when `buf` is not one. */
export function decodeCephPrepended(buf: Buffer): CephPrepended | undefined {
  const doc = prefixObject(buf);
  if (!doc) return undefined;
  const raw = (doc as { attrs?: unknown }).attrs;
  // JSONFormatter writes a map as [{key, val}]; an object form is accepted too.
  const attrs = new Map<string, string>();
  if (Array.isArray(raw)) {
    for (const e of raw as unknown[]) {
      const { key, val } = (e ?? {}) as { key?: unknown; val?: unknown };
      if (typeof key === 'string' && typeof val === 'string') attrs.set(key, val);
    }
  } else if (typeof raw === 'object' && raw !== null) {
    for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') attrs.set(k, v);
  }
  if (attrs.size === 0) return undefined;
  const out: CephPrepended = {};
  const acl = attrs.get(ACL_ATTR);
  if (acl !== undefined) out.acl = decodeCephAcl(Buffer.from(acl, 'base64'));
  const tags = attrs.get(TAGS_ATTR);
  out.tags = tags === undefined ? '' : decodeCephTags(Buffer.from(tags, 'base64'));
  return out;
}
