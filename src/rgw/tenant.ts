/**
 * RGW names a tenant's bucket "tenant/bucket" in metadata keys and logs, and "tenant:bucket" in
 * S3 requests. The agent reads the first form and must send the second; sent as it is, the slash
 * would address another bucket (or none, and a 404 would look like "gone").
 */
import { s3Encode } from './sign.js';

/** The bucket as an S3 path segment, percent-encoded, the tenant separator kept as a plain ':'. */
export function s3BucketSegment(metadataName: string): string {
  const i = metadataName.indexOf('/');
  return i < 0 ? s3Encode(metadataName, false) : `${s3Encode(metadataName.slice(0, i), false)}:${s3Encode(metadataName.slice(i + 1), false)}`;
}
