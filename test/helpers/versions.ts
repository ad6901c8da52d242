/** A versioned bucket's workload and its version list, read independently of the agent's code (raw XML, document order). */
import assert from 'node:assert/strict';
import { call } from './http.js';
import type { Creds } from './pair.js';

const field = (xml: string, n: string) => new RegExp(`<${n}>(.*?)</${n}>`, 's').exec(xml)?.[1] ?? '';

/** Every version and delete marker, newest first within a key, as "key id version|marker etag latest=..". */
export async function versionLines(base: string, who: Creds, bucket: string): Promise<string[]> {
  const out: string[] = [];
  let marker = '';
  for (;;) {
    const r = await call(base, 'GET', `/${bucket}?versions&max-keys=5${marker}`, who);
    assert.equal(r.status, 200, r.text.slice(0, 500));
    for (const m of r.text.matchAll(/<(Version|DeleteMarker)>(.*?)<\/\1>/gs)) {
      out.push(`${field(m[2], 'Key')} ${field(m[2], 'VersionId')} ${m[1] === 'DeleteMarker' ? 'marker' : `version ${field(m[2], 'ETag').replace(/&quot;|"/g, '')} ${field(m[2], 'Size')}`} latest=${field(m[2], 'IsLatest')}`);
    }
    if (field(r.text, 'IsTruncated') !== 'true') return out;
    marker = `&key-marker=${encodeURIComponent(field(r.text, 'NextKeyMarker'))}&version-id-marker=${encodeURIComponent(field(r.text, 'NextVersionIdMarker'))}`;
  }
}

export async function setVersioning(base: string, who: Creds, bucket: string, status: 'Enabled' | 'Suspended'): Promise<void> {
  const r = await call(base, 'PUT', `/${bucket}?versioning`, who, { body: `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>${status}</Status></VersioningConfiguration>` });
  assert.equal(r.status, 200, r.text);
}

/** PUT; returns the version id the gateway gave ('null' when it gave none). */
export async function putVersion(base: string, who: Creds, bucket: string, key: string, body: string): Promise<string> {
  const r = await call(base, 'PUT', `/${bucket}/${encodeURIComponent(key)}`, who, { body });
  assert.equal(r.status, 200, r.text);
  const id = r.headers['x-amz-version-id'];
  return typeof id === 'string' ? id : 'null';
}

export async function deleteKey(base: string, who: Creds, bucket: string, key: string, versionId?: string): Promise<void> {
  const r = await call(base, 'DELETE', `/${bucket}/${encodeURIComponent(key)}${versionId ? `?versionId=${encodeURIComponent(versionId)}` : ''}`, who);
  assert.equal(r.status, 204, r.text);
}

/**
 * Before a full sync: a null version from before versioning, several versions per key, a delete
 * marker, a specific old version deleted, a rollback (the current version deleted).
 */
export async function versionedHistory(base: string, who: Creds, bucket: string): Promise<void> {
  assert.equal((await call(base, 'PUT', `/${bucket}`, who)).status, 200);
  await putVersion(base, who, bucket, 'pre', 'before versioning');
  await setVersioning(base, who, bucket, 'Enabled');
  await putVersion(base, who, bucket, 'pre', 'after enabling');
  const k1 = await putVersion(base, who, bucket, 'k', 'one');
  await putVersion(base, who, bucket, 'k', 'two');
  await deleteKey(base, who, bucket, 'k');
  await deleteKey(base, who, bucket, 'k', k1);
  await putVersion(base, who, bucket, 'k', 'three');
  await putVersion(base, who, bucket, 'r', 'r one');
  const r2 = await putVersion(base, who, bucket, 'r', 'r two');
  await deleteKey(base, who, bucket, 'r', r2);
}

/**
 * After it: more versions and markers, suspend (null versions written and replaced), resume.
 * `nullOnTop: false` leaves out the suspended write to a key that has other versions: RGW cannot
 * create such a null version in a bucket whose versioning is enabled (README, Versioned buckets).
 */
export async function versionedChanges(base: string, who: Creds, bucket: string, o: { nullOnTop?: boolean } = {}): Promise<void> {
  await putVersion(base, who, bucket, 'k', 'four');
  await deleteKey(base, who, bucket, 'r');
  const n = await putVersion(base, who, bucket, 'n', 'n one');
  await putVersion(base, who, bucket, 'n', 'n two');
  await deleteKey(base, who, bucket, 'n', n);
  await setVersioning(base, who, bucket, 'Suspended');
  await putVersion(base, who, bucket, 's', 'null one');
  await putVersion(base, who, bucket, 's', 'null two');
  if (o.nullOnTop ?? true) await putVersion(base, who, bucket, 'pre', 'suspended write');
  await setVersioning(base, who, bucket, 'Enabled');
  await putVersion(base, who, bucket, 's', 'four');
}
