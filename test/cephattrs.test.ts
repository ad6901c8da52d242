/**
 * Ceph's binary ACL and tag encodings as they arrive in a prepend-metadata document. The encoder
 * below writes the layout Ceph's encode() functions produce (versioned structures with a length),
 * so the decoder is checked against bytes of that shape, including fields a later release appends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCephAcl, decodeCephPrepended, decodeCephTags } from '../src/rgw/cephattrs.js';

const u8 = (n: number) => Buffer.from([n]);
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; };
const str = (s: string) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
const struct = (v: number, compat: number, ...body: Buffer[]) => {
  const inner = Buffer.concat(body);
  return Buffer.concat([u8(v), u8(compat), u32(inner.length), inner]);
};

interface G { type: number; id?: string; email?: string; flags: number; group?: number; extra?: Buffer }
const grant = (g: G) => struct(5, 3,
  struct(2, 2, u32(g.type)), str(g.id ?? ''), str(''), str(g.email ?? ''), struct(2, 2, i32(g.flags)), str('Display'), u32(g.group ?? 0), str(''), g.extra ?? Buffer.alloc(0));
const policy = (owner: string, grants: G[], o: { ownerExtra?: Buffer; policyVersion?: number } = {}) => struct(o.policyVersion ?? 2, 2,
  struct(3, 2, str(owner), str('Owner Name'), o.ownerExtra ?? Buffer.alloc(0)),
  struct(4, 3,
    u8(1),
    u32(1), str(owner), i32(15),
    u32(grants.length), ...grants.flatMap((g) => [str(g.id ?? g.email ?? ''), grant(g)]),
    u32(0),
    u32(0)));
const tags = (pairs: [string, string][]) => struct(1, 1, u32(pairs.length), ...pairs.flatMap(([k, v]) => [str(k), str(v)]));

const ALL = 'uri:http://acs.amazonaws.com/groups/global/AllUsers';
const AUTH = 'uri:http://acs.amazonaws.com/groups/global/AuthenticatedUsers';

describe('decodeCephAcl', () => {
  const cases: [string, Buffer, ReturnType<typeof decodeCephAcl>][] = [
    ['private: the owner has FULL_CONTROL', policy('alice', [{ type: 0, id: 'alice', flags: 15 }]), { owner: 'alice', grants: [{ grantee: 'id:alice', permission: 'FULL_CONTROL' }] }],
    ['public-read', policy('alice', [{ type: 0, id: 'alice', flags: 15 }, { type: 2, flags: 1, group: 1 }]),
      { owner: 'alice', grants: [{ grantee: 'id:alice', permission: 'FULL_CONTROL' }, { grantee: ALL, permission: 'READ' }] }],
    ['authenticated-read, a tenant user', policy('t1$bob', [{ type: 0, id: 't1$bob', flags: 15 }, { type: 2, flags: 1, group: 2 }]),
      { owner: 't1$bob', grants: [{ grantee: 'id:t1$bob', permission: 'FULL_CONTROL' }, { grantee: AUTH, permission: 'READ' }] }],
    ['several permissions in one grant become one grant each', policy('alice', [{ type: 0, id: 'carol', flags: 0x01 | 0x04 }]),
      { owner: 'alice', grants: [{ grantee: 'id:carol', permission: 'READ' }, { grantee: 'id:carol', permission: 'READ_ACP' }] }],
    ['an e-mail grantee', policy('alice', [{ type: 1, email: 'c@example.com', flags: 2 }]), { owner: 'alice', grants: [{ grantee: 'email:c@example.com', permission: 'WRITE' }] }],
    ['fields a later release appends are skipped', policy('alice', [{ type: 0, id: 'alice', flags: 15, extra: str('new field') }], { ownerExtra: u32(7), policyVersion: 3 }),
      { owner: 'alice', grants: [{ grantee: 'id:alice', permission: 'FULL_CONTROL' }] }],
    ['a referer grant (Swift) has no S3 form: not guessed', policy('alice', [{ type: 4, flags: 1 }]), undefined],
    ['an unknown group: not guessed', policy('alice', [{ type: 2, flags: 1, group: 9 }]), undefined],
    ['an unknown grantee kind: not guessed', policy('alice', [{ type: 3, flags: 1 }]), undefined],
    ['cut short', policy('alice', [{ type: 0, id: 'alice', flags: 15 }]).subarray(0, 40), undefined],
    ['an encoding from before lengths were written', Buffer.concat([u8(1), u8(1), str('alice')]), undefined],
    ['a count larger than the buffer', struct(2, 2, struct(3, 2, str('a'), str('b')), struct(4, 3, u8(1), u32(0xffffffff))), undefined],
    ['empty', Buffer.alloc(0), undefined],
  ];
  for (const [name, buf, want] of cases) it(name, () => assert.deepEqual(decodeCephAcl(buf), want));
});

describe('decodeCephTags', () => {
  const cases: [string, Buffer, string | undefined][] = [
    ['two tags, canonical order and encoding', tags([['z', '1'], ['a b', 'x&y']]), 'a%20b=x%26y&z=1'],
    ['none', tags([]), ''],
    ['cut short', tags([['k', 'v']]).subarray(0, 9), undefined],
  ];
  for (const [name, buf, want] of cases) it(name, () => assert.equal(decodeCephTags(buf), want));
});

describe('decodeCephPrepended', () => {
  const doc = (attrs: unknown) => Buffer.from(JSON.stringify({ attrs, mtime: '2026-12-03T10:00:00.000000Z' }));
  const b64 = (b: Buffer) => b.toString('base64');
  const acl = policy('alice', [{ type: 0, id: 'alice', flags: 15 }]);
  it('attrs as JSONFormatter writes a map: [{key, val}], base64 values', () => {
    assert.deepEqual(decodeCephPrepended(doc([{ key: 'user.rgw.acl', val: b64(acl) }, { key: 'user.rgw.etag', val: b64(Buffer.from('abc')) }, { key: 'user.rgw.x-amz-tagging', val: b64(tags([['k', 'v']])) }])),
      { acl: { owner: 'alice', grants: [{ grantee: 'id:alice', permission: 'FULL_CONTROL' }] }, tags: 'k=v' });
  });
  it('no tag attribute: no tags', () => {
    assert.deepEqual(decodeCephPrepended(doc({ 'user.rgw.acl': b64(acl), 'user.rgw.etag': 'YWJj' }))?.tags, '');
  });
  it('an ACL it cannot read is left to ?acl (undefined), the tags still read', () => {
    assert.deepEqual(decodeCephPrepended(doc([{ key: 'user.rgw.acl', val: b64(policy('a', [{ type: 4, flags: 1 }])) }, { key: 'user.rgw.etag', val: 'YWJj' }])), { acl: undefined, tags: '' });
  });
  it('not a Ceph document', () => {
    for (const b of [Buffer.from('not json'), Buffer.from('null'), doc('x'), doc([]), Buffer.from('{"format":"other"}')]) assert.equal(decodeCephPrepended(b), undefined);
  });
});
