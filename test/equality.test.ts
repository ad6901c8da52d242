/** Table tests of the pure decisions of the copy path and verify: what "equal" means, what a copy sends, what integrity means. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isEqual, listingVerdict, objectDifferences, objectState, sameContent, storageClassComparable, tagsNeeded, type ObjectState } from '../src/sync/equality.js';
import { attrsFromHeaders, grantHeaders, type ObjectAttrs } from '../src/rgw/attrs.js';
import { copyHeaders, integrityProblem, sourceDigests } from '../src/client/transfer.js';
import { parseAcl, parseTagging } from '../src/client/s3.js';

const MD5A = 'a'.repeat(32);
const MD5B = 'b'.repeat(32);
const MULTI = `${'c'.repeat(32)}-3`;
const attrs = (h: Record<string, string> = {}): ObjectAttrs => attrsFromHeaders(h, ['rgw-agent-source-etag']);
const st = (size: number, etag: string, h: Record<string, string> = {}, extra: Partial<ObjectState> = {}): ObjectState => ({ size, etag, attrs: attrs(h), ...extra });

describe('equality: one definition for the copy decision and verify', () => {
  it('listingVerdict', () => {
    const rows: [string, { size: number; etag: string }, { size: number; etag: string }, ReturnType<typeof listingVerdict>][] = [
      ['same plain ETag', { size: 1, etag: MD5A }, { size: 1, etag: MD5A }, 'same'],
      ['sizes differ', { size: 1, etag: MD5A }, { size: 2, etag: MD5A }, 'different'],
      ['plain ETags differ', { size: 1, etag: MD5A }, { size: 1, etag: MD5B }, 'different'],
      // (13) multipart on the source, single PUT on the destination: only the note on the destination tells.
      ['multipart source, plain destination', { size: 1, etag: MULTI }, { size: 1, etag: MD5A }, 'ask'],
      ['plain source, multipart destination', { size: 1, etag: MD5A }, { size: 1, etag: MULTI }, 'ask'],
      ['multipart, sizes differ', { size: 1, etag: MULTI }, { size: 3, etag: MD5A }, 'different'],
    ];
    for (const [name, s, d, want] of rows) assert.equal(listingVerdict(s, d), want, name);
  });

  it('sameContent: the ETag noted on a copy counts as the source ETag', () => {
    assert.equal(sameContent(st(5, MULTI), st(5, MD5A, {}, { sourceEtag: MULTI })), true);
    assert.equal(sameContent(st(5, MULTI), st(5, MD5A, {}, { sourceEtag: `${MD5B}-3` })), false);
    assert.equal(sameContent(st(5, MULTI), st(6, MD5A, {}, { sourceEtag: MULTI })), false);
    assert.equal(sameContent(st(5, MD5A), st(5, MD5A)), true);
  });

  it('objectDifferences: same size and ETag is not equal when any replicated attribute differs', () => {
    const rows: [string, ObjectState, ObjectState, boolean][] = [
      ['identical', st(1, MD5A, { 'content-type': 'text/a' }), st(1, MD5A, { 'content-type': 'text/a' }), true],
      ['no type vs binary/octet-stream', st(1, MD5A), st(1, MD5A, { 'content-type': 'binary/octet-stream' }), true],
      ['content-type', st(1, MD5A, { 'content-type': 'text/a' }), st(1, MD5A, { 'content-type': 'text/b' }), false],
      ['user metadata', st(1, MD5A, { 'x-amz-meta-k': '1' }), st(1, MD5A, { 'x-amz-meta-k': '2' }), false],
      ['user metadata missing', st(1, MD5A, { 'x-amz-meta-k': '1' }), st(1, MD5A), false],
      ['the agent note is not user metadata', st(1, MULTI), st(1, MD5A, { 'x-amz-meta-rgw-agent-source-etag': MULTI }, { sourceEtag: MULTI }), true],
      ['cache-control', st(1, MD5A, { 'cache-control': 'max-age=1' }), st(1, MD5A), false],
      ['content-disposition', st(1, MD5A, { 'content-disposition': 'inline' }), st(1, MD5A, { 'content-disposition': 'attachment' }), false],
      ['content-encoding', st(1, MD5A, { 'content-encoding': 'gzip' }), st(1, MD5A), false],
      ['content-language', st(1, MD5A, { 'content-language': 'de' }), st(1, MD5A), false],
      ['expires', st(1, MD5A, { expires: 'Thu, 01 Jan 2037 00:00:00 GMT' }), st(1, MD5A), false],
      ['website redirect', st(1, MD5A, { 'x-amz-website-redirect-location': '/x' }), st(1, MD5A), false],
      ['storage class where the destination names classes', st(1, MD5A, { 'x-amz-storage-class': 'COLD' }), st(1, MD5A, { 'x-amz-storage-class': 'WARM' }), false],
      ['storage class where the destination has none', st(1, MD5A, { 'x-amz-storage-class': 'COLD' }), st(1, MD5A), true],
      ['STANDARD named or not', st(1, MD5A), st(1, MD5A, { 'x-amz-storage-class': 'STANDARD' }), true],
      ['STANDARD source, other class on the destination', st(1, MD5A), st(1, MD5A, { 'x-amz-storage-class': 'COLD' }), false],
      ['body', st(1, MD5A), st(1, MD5B), false],
    ];
    for (const [name, s, d, equal] of rows) assert.equal(isEqual(objectDifferences(s, d)), equal, name);
  });

  it('objectDifferences: tags and ACL grants where both sides know them; the ACL owner is not compared', () => {
    const withTA = (tags?: string, grants: [string, string][] = [], owner = 'alice'): ObjectState => {
      const s = st(1, MD5A);
      s.attrs.tags = tags;
      s.attrs.acl = grants.length || owner !== 'alice' ? { owner, grants: grants.map(([grantee, permission]) => ({ grantee, permission })) } : undefined;
      return s;
    };
    assert.equal(isEqual(objectDifferences(withTA('a=1'), withTA('a=2'))), false, 'tags differ');
    assert.equal(isEqual(objectDifferences(withTA('a=1'), withTA(undefined))), true, 'a destination without tagging');
    assert.equal(isEqual(objectDifferences(withTA(''), withTA(''))), true);
    const full: [string, string] = ['id:alice', 'FULL_CONTROL'];
    const pub: [string, string] = ['uri:http://acs.amazonaws.com/groups/global/AllUsers', 'READ'];
    assert.equal(isEqual(objectDifferences(withTA('', [full, pub]), withTA('', [pub, full]))), true, 'grant order is not a difference');
    assert.equal(isEqual(objectDifferences(withTA('', [full, pub]), withTA('', [full]))), false, 'a lost grant is');
    assert.equal(isEqual(objectDifferences(withTA('', [full], 'alice'), withTA('', [full], 'sync-agent'))), true, 'owners differ: the bucket owner wrote the copy');
    assert.deepEqual(objectDifferences(withTA('', [full, pub]), withTA('', [full])).attrs, [
      'ACL id:alice=FULL_CONTROL, uri:http://acs.amazonaws.com/groups/global/AllUsers=READ on the source, id:alice=FULL_CONTROL on the destination',
    ]);
  });

  it('objectDifferences: a class the destination refused is not a difference (copied as STANDARD)', () => {
    assert.equal(isEqual(objectDifferences(st(1, MD5A, { 'x-amz-storage-class': 'COLD' }), st(1, MD5A, { 'x-amz-storage-class': 'STANDARD' }), { destinationRefusesClass: true })), true);
    assert.equal(storageClassComparable(attrs({ 'x-amz-storage-class': 'COLD' }), attrs({ 'x-amz-storage-class': 'STANDARD' })), true);
  });

  it('objectDifferences reports in verify\'s words', () => {
    assert.deepEqual(objectDifferences(st(1, MD5A, { 'content-type': 'text/plain', 'cache-control': 'no-cache' }), st(2, MD5B, { 'content-type': 'text/x' })), {
      content: `source 1 bytes ETag ${MD5A}, destination 2 bytes ETag ${MD5B}`,
      attrs: ['Content-Type "text/plain" on the source, "text/x" on the destination', 'Cache-Control "no-cache" on the source, (none) on the destination'],
    });
  });

  it('objectState of a HEAD without full attributes (older callers): Content-Type and user metadata', () => {
    const s = objectState({ size: 3, etag: MD5A, contentType: 'text/a', meta: { k: 'v', 'rgw-agent-source-etag': MULTI } });
    assert.deepEqual(s, { size: 3, etag: MD5A, sourceEtag: MULTI, attrs: { headers: { 'content-type': 'text/a' }, meta: { k: 'v' }, storageClass: 'STANDARD' } });
  });

  it('tagsNeeded: only when a HEAD counts tags on either side', () => {
    assert.deepEqual([tagsNeeded(0, 0), tagsNeeded(1, 0), tagsNeeded(0, 2)], [false, true, true]);
  });
});

describe('what a stream copy sends', () => {
  it('copyHeaders: every replicated header, metadata, class unless STANDARD or refused, tags, grants, the ETag note', () => {
    const a = attrs({
      'content-type': 'text/a', 'cache-control': 'max-age=9', 'content-disposition': 'inline', 'content-encoding': 'gzip', 'content-language': 'fr',
      expires: 'Thu, 01 Jan 2037 00:00:00 GMT', 'x-amz-website-redirect-location': '/r', 'x-amz-meta-k': 'v', 'x-amz-meta-rgw-agent-source-etag': 'stale',
      'x-amz-storage-class': 'COLD', 'x-amz-tagging-count': '2', etag: 'ignored',
    });
    const acl = { owner: 'alice', grants: [{ grantee: 'id:alice', permission: 'FULL_CONTROL' }, { grantee: 'uri:http://acs.amazonaws.com/groups/global/AllUsers', permission: 'READ' }, { grantee: 'email:b@x.org', permission: 'READ' }] };
    assert.deepEqual(copyHeaders({ attrs: a, etag: MULTI, tags: 'a=1&b=2', acl }, { storageClass: true, noteEtag: true }), {
      'content-type': 'text/a', 'cache-control': 'max-age=9', 'content-disposition': 'inline', 'content-encoding': 'gzip', 'content-language': 'fr',
      expires: 'Thu, 01 Jan 2037 00:00:00 GMT', 'x-amz-website-redirect-location': '/r', 'x-amz-meta-k': 'v', 'x-amz-meta-rgw-agent-source-etag': MULTI,
      'x-amz-storage-class': 'COLD', 'x-amz-tagging': 'a=1&b=2',
      'x-amz-grant-full-control': 'id="alice"', 'x-amz-grant-read': 'emailAddress="b@x.org", uri="http://acs.amazonaws.com/groups/global/AllUsers"',
    });
    assert.deepEqual(copyHeaders({ attrs: attrs({ 'x-amz-storage-class': 'COLD' }), etag: MD5A, tags: '' }, { storageClass: false, noteEtag: false }), { 'content-type': 'binary/octet-stream' }, 'refused class, plain ETag, no tags');
    assert.deepEqual(copyHeaders({ attrs: attrs({ 'x-amz-storage-class': 'STANDARD' }), etag: MD5A }, { storageClass: true, noteEtag: false }), { 'content-type': 'binary/octet-stream' }, 'STANDARD is never sent');
  });

  it('grantHeaders leaves out what no header can carry', () => {
    assert.deepEqual(grantHeaders({ owner: 'o', grants: [{ grantee: 'id:a"b', permission: 'READ' }, { grantee: 'id:x', permission: 'BOGUS' }, { grantee: 'id:y', permission: 'write_acp' }] }), { 'x-amz-grant-write-acp': 'id="y"' });
  });

  it('parseTagging and parseAcl read S3 answers', () => {
    assert.equal(parseTagging('<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>b</Key><Value>2 2</Value></Tag><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>'), 'a=1&b=2%202');
    assert.equal(parseTagging('<Tagging><TagSet/></Tagging>'), '');
    const acl = parseAcl(`<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>alice</ID></Owner><AccessControlList>
      <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>alice</ID><DisplayName>A</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>
      <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>
    </AccessControlList></AccessControlPolicy>`);
    assert.deepEqual(acl, { owner: 'alice', grants: [{ grantee: 'id:alice', permission: 'FULL_CONTROL' }, { grantee: 'uri:http://acs.amazonaws.com/groups/global/AllUsers', permission: 'READ' }] });
  });
});

describe('integrity of a relayed body', () => {
  const body = Buffer.from('hello world');
  const md5 = createHash('md5').update(body).digest('hex');
  const sha256 = createHash('sha256').update(body).digest('base64');
  const got = (o: Partial<{ bytes: number; md5: string; destinationEtag: string; checksums: Record<string, string> }> = {}) => ({ bytes: body.length, md5, checksums: {}, ...o });

  it('integrityProblem', () => {
    const rows: [string, ReturnType<typeof sourceDigests>, ReturnType<typeof got>, RegExp | undefined][] = [
      ['plain ETag, all well', sourceDigests({ etag: `"${md5}"` }, true), got({ destinationEtag: md5 }), undefined],
      ['plain ETag, damaged before the agent', sourceDigests({ etag: `"${md5}"` }, true), got({ md5: MD5B, destinationEtag: MD5B }), /source's ETag/],
      ['multipart ETag, damaged after the agent', sourceDigests({ etag: `"${MULTI}"` }, true), got({ destinationEtag: MD5B }), /destination stored MD5/],
      ['multipart ETag, nothing to check before the agent', sourceDigests({ etag: `"${MULTI}"` }, true), got({ md5: MD5B, destinationEtag: MD5B }), undefined],
      ['Content-MD5 given', sourceDigests({ etag: `"${MULTI}"`, 'content-md5': Buffer.from(md5, 'hex').toString('base64') }, true), got({ md5: MD5B, destinationEtag: MD5B }), /Content-MD5/],
      ['sha256 checksum given', sourceDigests({ etag: `"${MULTI}"`, 'x-amz-checksum-sha256': sha256 }, true), got({ checksums: { 'x-amz-checksum-sha256': 'AAAA' } }), /x-amz-checksum-sha256/],
      ['composite checksum: not checkable', sourceDigests({ etag: `"${MULTI}"`, 'x-amz-checksum-sha256': `${sha256}-3` }, true), got({ checksums: {} }), undefined],
      ['a range: the ETag and checksums are the whole object\'s', sourceDigests({ etag: `"${md5}"`, 'x-amz-checksum-sha256': sha256 }, false), got({ md5: MD5B, destinationEtag: MD5B }), undefined],
      ['short body', sourceDigests({ etag: `"${MULTI}"` }, true), got({ bytes: 3 }), /3 of 11 bytes/],
      ['a destination ETag that is not an MD5 (encryption, ...) is not a verdict', sourceDigests({ etag: `"${MULTI}"` }, true), got({ destinationEtag: MULTI }), undefined],
    ];
    for (const [name, src, g, want] of rows) {
      const p = integrityProblem(body.length, src, g);
      if (want) assert.match(p ?? '', want, name);
      else assert.equal(p, undefined, name);
    }
  });
});
