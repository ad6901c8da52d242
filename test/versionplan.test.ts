/** Table tests of the version-list decision: what goes, what is created, in which order. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { planVersions, versionListDifference, type VersionEntry } from '../src/sync/versionplan.js';
import { parseVersionList } from '../src/client/s3.js';

const md5 = (c: string) => c.repeat(32);
/** "a1" = a version with id a1 and ETag from its first letter; "dm:x" = a delete marker with id x. Newest first. */
function list(spec: string): VersionEntry[] {
  if (!spec) return [];
  return spec.split(' ').map((t) =>
    t.startsWith('dm:') ? { versionId: t.slice(3), deleteMarker: true, etag: '', size: 0 } : { versionId: t, deleteMarker: false, etag: md5(t[0]), size: 1 });
}
const ids = (v: VersionEntry[]) => v.map((x) => x.versionId).join(' ');

describe('planVersions', () => {
  const rows: [string, string, string, { idsKept?: boolean; delete?: boolean }, string, string][] = [
    // name, source (newest first), destination, options, removed ids, created ids (oldest first)
    ['equal', 'b2 a1', 'b2 a1', {}, '', ''],
    ['both empty', '', '', {}, '', ''],
    ['new version on top', 'c3 b2 a1', 'b2 a1', {}, '', 'c3'],
    ['first sync', 'dm:x c3 b2', '', {}, '', 'b2 c3 x'],
    ['delete marker added', 'dm:x b2 a1', 'b2 a1', {}, '', 'x'],
    ['specific old version removed on the source', 'c3 a1', 'c3 b2 a1', {}, 'b2', ''],
    ['rollback: the current version removed', 'b2 a1', 'c3 b2 a1', {}, 'c3', ''],
    ['key gone everywhere on the source', '', 'b2 a1', {}, 'b2 a1', ''],
    ['gap: a middle version missing is created after the ones above go', 'c3 b2 a1', 'c3 a1', {}, 'c3', 'b2 c3'],
    ['gap at the bottom', 'c3 b2 a1', 'c3 b2', {}, 'c3 b2', 'a1 b2 c3'],
    ['destination-only version, additive sync keeps it', 'b2 a1', 'z9 b2 a1', { delete: false }, '', ''],
    ['destination-only version, mirror removes it', 'b2 a1', 'z9 b2 a1', {}, 'z9', ''],
    ['out of order on the destination', 'c3 b2 a1', 'b2 c3 a1', {}, 'b2 c3', 'b2 c3'],
    ['null version replaced on the source (suspended PUT)', 'nnew b2', 'null b2', {}, 'null', 'nnew'],
    ['ids not kept: matched by content, in order', 'c3 b2 a1', 'cX bY', { idsKept: false }, 'cX bY', 'a1 b2 c3'],
    ['ids not kept: equal by content', 'dm:x b2 a1', 'dm:q bY aZ', { idsKept: false }, '', ''],
    ['ids not kept: new version on top', 'c3 b2 a1', 'bY aZ', { idsKept: false }, '', 'c3'],
    ['same id, other content: recreated', 'b2', 'b2x', {}, 'b2x', 'b2'],
  ];
  for (const [name, s, d, o, wantRemoved, wantCreated] of rows) {
    it(name, () => {
      // 'b2x' in the destination list: id b2x; to model "same id, other content" give it id b2 and another ETag.
      const dst = list(d).map((v) => (v.versionId === 'b2x' ? { ...v, versionId: 'b2', etag: md5('e') } : v));
      const p = planVersions(list(s), dst, { idsKept: o.idsKept ?? true, delete: o.delete ?? true });
      assert.equal([...p.remove].sort().join(' '), wantRemoved.split(' ').filter(Boolean).map((x) => (x === 'b2x' ? 'b2' : x)).sort().join(' '));
      assert.equal(ids(p.create), wantCreated);
    });
  }

  it('multipart ETags match by size (a copy has other parts)', () => {
    const s: VersionEntry[] = [{ versionId: 'v', deleteMarker: false, etag: `${md5('a')}-3`, size: 10 }];
    const d: VersionEntry[] = [{ versionId: 'v', deleteMarker: false, etag: md5('b'), size: 10 }];
    assert.deepEqual(planVersions(s, d, { idsKept: true, delete: true }), { remove: [], create: [], recreated: 0 });
    assert.equal(planVersions(s, [{ ...d[0], size: 11 }], { idsKept: true, delete: true }).create.length, 1);
  });

  it('carrying out any plan makes the lists equal (a destination that stacks what is created on top)', () => {
    const entry = fc.record({ versionId: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'null'), deleteMarker: fc.boolean(), etag: fc.constantFrom(md5('1'), md5('2')), size: fc.constantFrom(1, 2) })
      .map((v) => (v.deleteMarker ? { ...v, etag: '', size: 0 } : v));
    const uniq = (a: VersionEntry[]) => a.filter((v, i) => a.findIndex((x) => x.versionId === v.versionId) === i);
    fc.assert(fc.property(fc.array(entry, { maxLength: 6 }).map(uniq), fc.array(entry, { maxLength: 6 }).map(uniq), fc.boolean(), (src, dst, idsKept) => {
      const p = planVersions(src, dst, { idsKept, delete: true });
      const removed = new Set(p.remove);
      const after = [...[...p.create].reverse(), ...dst.filter((v) => !removed.has(v.versionId))];
      assert.equal(versionListDifference(src, after, idsKept), undefined, JSON.stringify({ src, dst, p }));
      // And an equal pair needs nothing.
      const again = planVersions(src, after, { idsKept, delete: true });
      assert.deepEqual([again.remove, again.create], [[], []]);
    }), { numRuns: 2000 });
  });
});

describe('versionListDifference', () => {
  it('names the first difference, newest first', () => {
    assert.equal(versionListDifference(list('b2 a1'), list('b2 a1'), true), undefined);
    assert.match(versionListDifference(list('c3 b2 a1'), list('b2 a1'), true)!, /position 1 .*c3 on the source.*b2 on the destination.*3 versions on the source, 2/);
    assert.match(versionListDifference(list('dm:x a1'), list('a1'), true)!, /delete marker x on the source/);
    assert.match(versionListDifference(list('a1'), list(''), true)!, /\(none\) on the destination/);
    assert.equal(versionListDifference(list('b2 a1'), list('bX aY'), false), undefined);
  });
});

describe('real Ceph captures (test/fixtures/ceph-versioning, from Pacific 16.2.15, Reef 18.2.7, Tentacle 20.2.4)', () => {
  for (const release of ['pacific', 'reef', 'tentacle']) {
    it(`${release}: ListObjectVersions keeps the order of versions and delete markers; every key's change is a versioned entry`, () => {
      const xml = readFileSync(new URL(`../../test/fixtures/ceph-versioning/${release}/versions-east.xml`, import.meta.url), 'utf8');
      const page = parseVersionList(xml);
      // Document order, independently of the parser: every Version/DeleteMarker element in turn.
      const raw = [...xml.matchAll(/<(Version|DeleteMarker)>.*?<VersionId>(.*?)<\/VersionId>/gs)].map((m) => `${m[1] === 'DeleteMarker' ? 'dm' : 'v'}:${m[2]}`);
      assert.deepEqual(page.versions.map((v) => `${v.deleteMarker ? 'dm' : 'v'}:${v.versionId}`), raw);
      assert.ok(page.versions.some((v) => v.deleteMarker) && page.versions.some((v) => !v.deleteMarker), 'both kinds captured');
      // Within a key the newest comes first: the first entry of each key is the latest.
      for (const key of new Set(page.versions.map((v) => v.key))) assert.equal(page.versions.find((v) => v.key === key)?.isLatest, true, key);
      const bilog = JSON.parse(readFileSync(new URL(`../../test/fixtures/ceph-versioning/${release}/bilog.json`, import.meta.url), 'utf8')) as { object: string; op: string; versioned?: boolean }[];
      // The agent syncs a key version by version when its bucket is versioned or an entry says so.
      const versionedKeys = new Set(bilog.filter((e) => e.versioned === true).map((e) => e.object));
      for (const key of new Set(page.versions.map((v) => v.key))) assert.ok(versionedKeys.has(key), `${key} has a versioned bilog entry`);
      // A suspended bucket's null-version writes are the one unversioned kind ("write", instance "").
      for (const e of bilog.filter((x) => x.versioned === false && !x.object.startsWith('_multipart_'))) assert.equal(e.op, 'write', JSON.stringify(e));
    });
  }
});
