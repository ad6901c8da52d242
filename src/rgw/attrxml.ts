/** The S3 XML documents of object tags and ACLs, read and written the same way by agent and zone. */
import { XMLParser } from 'fast-xml-parser';
import { canonicalTags, parseTags, type Acl, type Grant } from './attrs.js';

const subParser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, removeNSPrefix: true, isArray: (name) => name === 'Tag' || name === 'Grant' });

/** A GetObjectTagging answer in canonical form (see canonicalTags). */
export function parseTagging(body: string): string {
  const doc = subParser.parse(body) as { Tagging?: { TagSet?: { Tag?: { Key?: unknown; Value?: unknown }[] } | '' } };
  const set = doc.Tagging?.TagSet;
  const tags = (typeof set === 'object' ? set.Tag ?? [] : []).map((t): [string, string] => [String(t.Key ?? ''), String(t.Value ?? '')]);
  return canonicalTags(tags);
}

/** A GetObjectAcl answer: owner and grants with grantees as "id:", "uri:" or "email:". */
export function parseAcl(body: string): Acl {
  type G = { Grantee?: { ID?: unknown; URI?: unknown; EmailAddress?: unknown }; Permission?: unknown };
  const doc = subParser.parse(body) as { AccessControlPolicy?: { Owner?: { ID?: unknown }; AccessControlList?: { Grant?: G[] } | '' } };
  const p = doc.AccessControlPolicy ?? {};
  const list = typeof p.AccessControlList === 'object' ? p.AccessControlList.Grant ?? [] : [];
  const grants: Grant[] = [];
  for (const g of list) {
    const who = g.Grantee ?? {};
    const grantee = who.ID !== undefined ? `id:${String(who.ID)}` : who.URI !== undefined ? `uri:${String(who.URI)}` : who.EmailAddress !== undefined ? `email:${String(who.EmailAddress)}` : undefined;
    if (grantee && g.Permission !== undefined) grants.push({ grantee, permission: String(g.Permission) });
  }
  return { owner: String(p.Owner?.ID ?? ''), grants };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A GetObjectTagging answer for a canonical tag string. */
export function taggingXml(tags: string): string {
  const set = parseTags(tags).map(([k, v]) => `<Tag><Key>${esc(k)}</Key><Value>${esc(v)}</Value></Tag>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>${set}</TagSet></Tagging>`;
}

/** A GetObjectAcl answer. */
export function aclXml(acl: Acl, displayName: (id: string) => string = (id) => id): string {
  const grants = acl.grants.map((g) => {
    const i = g.grantee.indexOf(':');
    const [kind, value] = [g.grantee.slice(0, i), g.grantee.slice(i + 1)];
    const grantee = kind === 'id'
      ? `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${esc(value)}</ID><DisplayName>${esc(displayName(value))}</DisplayName></Grantee>`
      : kind === 'uri'
        ? `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>${esc(value)}</URI></Grantee>`
        : `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AmazonCustomerByEmail"><EmailAddress>${esc(value)}</EmailAddress></Grantee>`;
    return `<Grant>${grantee}<Permission>${esc(g.permission)}</Permission></Grant>`;
  }).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>${esc(acl.owner)}</ID><DisplayName>${esc(displayName(acl.owner))}</DisplayName></Owner><AccessControlList>${grants}</AccessControlList></AccessControlPolicy>`;
}

export type { Grant };
