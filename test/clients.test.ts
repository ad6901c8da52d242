/**
 * Debian's real S3 clients against one embedded zone, with each client's defaults: aws-cli
 * (/usr/bin/aws), boto3 (/usr/bin/python3), s3cmd and rclone. `.ci/run` installs them; a missing
 * one fails here naming the package. Clients run as child processes (async: the zone shares this
 * process's event loop).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import { startZone, type RunningZone } from '../src/zone/server.js';
import { Readable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const CLIENTS: Record<string, { bin: string; pkg: string }> = {
  aws: { bin: '/usr/bin/aws', pkg: 'awscli' },
  python3: { bin: '/usr/bin/python3', pkg: 'python3-boto3' },
  s3cmd: { bin: '/usr/bin/s3cmd', pkg: 's3cmd' },
  rclone: { bin: '/usr/bin/rclone', pkg: 'rclone' },
};

interface Ran { code: number; stdout: string; stderr: string }

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { env, maxBuffer: 64 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const MiB = 1024 * 1024;

describe('real S3 clients against the embedded zone', () => {
  let t: TestRealm;
  let zone: RunningZone;
  let alice: { accessKey: string; secretKey: string };
  let dir: string;
  let baseEnv: NodeJS.ProcessEnv;

  before(async () => {
    for (const [name, c] of Object.entries(CLIENTS)) assert.ok(existsSync(c.bin), `${name}: ${c.bin} is missing; install Debian's ${c.pkg} (.ci/run does)`);
    t = await makeRealm();
    const z = t.realm.zones[0];
    zone = await startZone({ realm: t.realm, zoneName: z.name, dataDir: join(t.dir, z.name) });
    const r = await call(zone.url, 'PUT', '/admin/user?uid=alice&display-name=Alice', t);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    alice = { accessKey: k.access_key, secretKey: k.secret_key };
    dir = join(t.dir, 'clients');
    mkdirSync(dir, { recursive: true });
    // Nothing from the developer's own setup (pyenv, AWS profiles, CA bundles) leaks in.
    baseEnv = { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8' };
  });
  after(async () => {
    await zone?.close();
    t?.cleanup();
  });

  const file = (name: string, bytes: Buffer) => {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, bytes);
    return p;
  };
  const stored = async (bucket: string, key: string) => call(zone.url, 'GET', `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`, alice);
  const listed = async (bucket: string) => [...(await call(zone.url, 'GET', `/${bucket}?list-type=2`, alice)).text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);

  describe('aws-cli (Debian awscli)', () => {
    let env: NodeJS.ProcessEnv;
    const aws = async (...args: string[]) => {
      const r = await run(CLIENTS.aws.bin, ['--endpoint-url', zone.url, ...args], env);
      assert.equal(r.code, 0, `aws ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    before(() => {
      const cfg = file('aws/config', Buffer.from('[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n'));
      env = { ...baseEnv, AWS_ACCESS_KEY_ID: alice.accessKey, AWS_SECRET_ACCESS_KEY: alice.secretKey, AWS_CONFIG_FILE: cfg, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws/none'), AWS_PAGER: '' };
    });

    it('mb, cp, sync twice (the second copies nothing), ls', async () => {
      await aws('s3', 'mb', 's3://awsb');
      for (let i = 0; i < 5; i++) file(`tree/d${i % 2}/f${i}.txt`, Buffer.from(`file ${i}`));
      const first = await aws('s3', 'sync', join(dir, 'tree'), 's3://awsb/tree');
      assert.equal((first.match(/upload:/g) ?? []).length, 5, first);
      const second = await aws('s3', 'sync', join(dir, 'tree'), 's3://awsb/tree');
      assert.equal(second.trim(), '', `nothing to copy the second time: ${second}`);
      const one = file('one.bin', randomBytes(100_000));
      await aws('s3', 'cp', one, 's3://awsb/one.bin');
      assert.equal(md5((await stored('awsb', 'one.bin')).body), md5(readFileSync(one)));
      assert.match(await aws('s3', 'ls', 's3://awsb/tree/d0/'), /f0\.txt/);
    });

    it('64 MiB with the defaults (multipart), a multipart copy (UploadPartCopy after GET ?tagging), presign, a wrong checksum refused', async () => {
      const big = file('big64.bin', randomBytes(64 * MiB));
      await aws('s3', 'cp', big, 's3://awsb/big64.bin');
      const head = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'awsb', '--key', 'big64.bin')) as { ETag: string; ContentLength: number };
      assert.match(head.ETag, /^"[0-9a-f]{32}-\d+"$/, 'uploaded in parts');
      assert.equal(head.ContentLength, 64 * MiB);
      assert.equal(md5((await stored('awsb', 'big64.bin')).body), md5(readFileSync(big)));
      await aws('s3', 'cp', 's3://awsb/big64.bin', 's3://awsb/copy of big64.bin');
      assert.equal(md5((await stored('awsb', 'copy of big64.bin')).body), md5(readFileSync(big)));
      const url = (await aws('s3', 'presign', 's3://awsb/one.bin', '--expires-in', '300')).trim();
      const got = await fetch(url);
      assert.equal(got.status, 200, await got.clone().text());
      assert.equal(md5(Buffer.from(await got.arrayBuffer())), md5(readFileSync(join(dir, 'one.bin'))), 'a presigned GET, with no credentials of its own');
      const wrong = await run(CLIENTS.aws.bin, ['--endpoint-url', zone.url, 's3api', 'put-object', '--bucket', 'awsb', '--key', 'sum', '--body', join(dir, 'one.bin'), '--checksum-crc32', 'AAAAAA=='], env);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /BadDigest/);
      assert.equal((await stored('awsb', 'sum')).status, 404, 'nothing stored');
    });

    it('delete-objects, then a recursive rm (DeleteObjects)', async () => {
      const out = JSON.parse(await aws('s3api', 'delete-objects', '--bucket', 'awsb', '--delete', JSON.stringify({ Objects: [{ Key: 'tree/d0/f0.txt' }, { Key: 'tree/d1/f1.txt' }] }))) as { Deleted?: { Key: string }[] };
      assert.deepEqual(out.Deleted?.map((d) => d.Key).sort(), ['tree/d0/f0.txt', 'tree/d1/f1.txt']);
      await aws('s3', 'rm', '--recursive', 's3://awsb/tree');
      await aws('s3', 'rm', 's3://awsb/big64.bin');
      await aws('s3', 'rm', 's3://awsb/copy of big64.bin');
      assert.deepEqual(await listed('awsb'), ['one.bin']);
    });

    it('tagging and ACL round trips', async () => {
      await aws('s3api', 'put-object-tagging', '--bucket', 'awsb', '--key', 'one.bin', '--tagging', JSON.stringify({ TagSet: [{ Key: 'team', Value: 'blue sky' }] }));
      const tags = JSON.parse(await aws('s3api', 'get-object-tagging', '--bucket', 'awsb', '--key', 'one.bin')) as { TagSet: { Key: string; Value: string }[] };
      assert.deepEqual(tags.TagSet, [{ Key: 'team', Value: 'blue sky' }]);
      await aws('s3api', 'put-object-acl', '--bucket', 'awsb', '--key', 'one.bin', '--acl', 'public-read');
      const acl = JSON.parse(await aws('s3api', 'get-object-acl', '--bucket', 'awsb', '--key', 'one.bin')) as { Owner: { ID: string }; Grants: { Grantee: { URI?: string; ID?: string }; Permission: string }[] };
      assert.equal(acl.Owner.ID, 'alice');
      assert.ok(acl.Grants.some((g) => g.Grantee.URI === 'http://acs.amazonaws.com/groups/global/AllUsers' && g.Permission === 'READ'), JSON.stringify(acl));
      assert.ok(acl.Grants.some((g) => g.Grantee.ID === 'alice' && g.Permission === 'FULL_CONTROL'), JSON.stringify(acl));
    });
  });

  describe('boto3 (Debian python3-boto3)', () => {
    const py = async (script: string) => {
      const r = await run(CLIENTS.python3.bin, ['-c', script], { ...baseEnv, AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') });
      assert.equal(r.code, 0, `boto3: ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    const client = () => `import boto3, json, botocore
s3 = boto3.client('s3', endpoint_url=${JSON.stringify(zone.url)}, region_name='us-east-1', aws_access_key_id=${JSON.stringify(alice.accessKey)}, aws_secret_access_key=${JSON.stringify(alice.secretKey)}, config=botocore.config.Config(s3={'addressing_style': 'path'}))
`;

    it('create, put, get, list, delete_objects, tagging and ACL', async () => {
      const out = await py(`${client()}
s3.create_bucket(Bucket='botob')
for i in range(4):
    s3.put_object(Bucket='botob', Key='k%d' % i, Body=b'x' * i, Metadata={'n': str(i)})
got = s3.get_object(Bucket='botob', Key='k3')
assert got['Body'].read() == b'xxx' and got['Metadata'] == {'n': '3'}, got
r = s3.delete_objects(Bucket='botob', Delete={'Objects': [{'Key': 'k0'}, {'Key': 'k1'}], 'Quiet': False})
s3.put_object_tagging(Bucket='botob', Key='k2', Tagging={'TagSet': [{'Key': 'a', 'Value': '1'}]})
s3.put_object_acl(Bucket='botob', Key='k2', ACL='authenticated-read')
print(json.dumps({'deleted': sorted(d['Key'] for d in r['Deleted']), 'left': [o['Key'] for o in s3.list_objects_v2(Bucket='botob')['Contents']],
  'tags': s3.get_object_tagging(Bucket='botob', Key='k2')['TagSet'], 'grants': sorted(g['Permission'] + ' ' + g['Grantee'].get('URI', g['Grantee'].get('ID', '')) for g in s3.get_object_acl(Bucket='botob', Key='k2')['Grants'])}))
`);
      assert.deepEqual(JSON.parse(out), {
        deleted: ['k0', 'k1'], left: ['k2', 'k3'], tags: [{ Key: 'a', Value: '1' }],
        grants: ['FULL_CONTROL alice', 'READ http://acs.amazonaws.com/groups/global/AuthenticatedUsers'],
      });
    });

    it('upload_file of 64 MiB (multipart by default), presigned PUT and GET, a wrong checksum refused', async () => {
      const big = file('boto64.bin', randomBytes(64 * MiB));
      const out = await py(`${client()}
import urllib.request
s3.upload_file(${JSON.stringify(big)}, 'botob', 'big')
etag = s3.head_object(Bucket='botob', Key='big')['ETag']
# boto3 presigns with SigV2 for a custom endpoint; the Content-Type is part of what it signs.
put_url = s3.generate_presigned_url('put_object', Params={'Bucket': 'botob', 'Key': 'presigned', 'ContentType': 'text/plain'}, ExpiresIn=300)
urllib.request.urlopen(urllib.request.Request(put_url, data=b'via presigned put', method='PUT', headers={'Content-Type': 'text/plain'})).read()
get_url = s3.generate_presigned_url('get_object', Params={'Bucket': 'botob', 'Key': 'presigned'}, ExpiresIn=300)
body = urllib.request.urlopen(get_url).read().decode()
try:
    s3.put_object(Bucket='botob', Key='badsum', Body=b'abc', ChecksumSHA256='n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=')
    refused = 'no'
except botocore.exceptions.ClientError as e:
    refused = e.response['Error']['Code']
print(json.dumps({'etag': etag, 'presigned': body, 'refused': refused}))
`);
      const r = JSON.parse(out) as { etag: string; presigned: string; refused: string };
      assert.match(r.etag, /^"[0-9a-f]{32}-\d+"$/);
      assert.equal(md5((await stored('botob', 'big')).body), md5(readFileSync(big)));
      assert.equal(r.presigned, 'via presigned put');
      assert.equal(r.refused, 'BadDigest');
    });
  });

  describe('s3cmd (Debian s3cmd)', () => {
    let cfg: string;
    const s3cmd = async (...args: string[]) => {
      const r = await run(CLIENTS.s3cmd.bin, ['-c', cfg, ...args], baseEnv);
      assert.equal(r.code, 0, `s3cmd ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    before(() => {
      const host = new URL(zone.url).host;
      cfg = String(file('s3cmd.cfg', Buffer.from(`[default]\naccess_key = ${alice.accessKey}\nsecret_key = ${alice.secretKey}\nhost_base = ${host}\nhost_bucket = ${host}\nuse_https = False\nbucket_location = us-east-1\n`)));
    });

    it('mb, put, sync, del -r and rb -r', async () => {
      await s3cmd('mb', 's3://s3cmdb');
      const a = file('s3cmd/a.txt', Buffer.from('alpha'));
      file('s3cmd/sub/b.txt', Buffer.from('beta'));
      await s3cmd('put', a, 's3://s3cmdb/a.txt');
      assert.equal((await stored('s3cmdb', 'a.txt')).text, 'alpha');
      await s3cmd('sync', `${join(dir, 's3cmd')}/`, 's3://s3cmdb/synced/');
      assert.deepEqual(await listed('s3cmdb'), ['a.txt', 'synced/a.txt', 'synced/sub/b.txt']);
      await s3cmd('del', '-r', 's3://s3cmdb/synced/');
      assert.deepEqual(await listed('s3cmdb'), ['a.txt']);
      const big = file('s3cmd64.bin', randomBytes(64 * MiB));
      await s3cmd('put', big, 's3://s3cmdb/big');
      assert.equal(md5((await stored('s3cmdb', 'big')).body), md5(readFileSync(big)), '64 MiB in 15 MiB parts (s3cmd\'s default)');
      assert.match(String((await call(zone.url, 'HEAD', '/s3cmdb/big', alice)).headers.etag), /-5"$/);
      await s3cmd('rb', '-r', 's3://s3cmdb');
      assert.equal((await call(zone.url, 'HEAD', '/s3cmdb', alice)).status, 404);
    });
  });

  describe('AWS SDK for JavaScript v3 with lib-storage (default checksum settings)', () => {
    it('Upload of a 64 MiB stream of unknown length (multipart, aws-chunked parts with CRC32 trailers), then GetObject', async () => {
      const s3 = new S3Client({ endpoint: zone.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: alice.accessKey, secretAccessKey: alice.secretKey } });
      try {
        await s3.send(new CreateBucketCommand({ Bucket: 'sdkb' }));
        const body = randomBytes(64 * MiB);
        await new Upload({ client: s3, params: { Bucket: 'sdkb', Key: 'streamed', Body: Readable.from([body.subarray(0, 20 * MiB), body.subarray(20 * MiB)]) } }).done();
        const got = await s3.send(new GetObjectCommand({ Bucket: 'sdkb', Key: 'streamed' }));
        assert.equal(md5(Buffer.from(await got.Body!.transformToByteArray())), md5(body));
        assert.match(String(got.ETag), /-\d+"$/);
      } finally {
        s3.destroy();
      }
    });
  });

  describe('rclone (Debian rclone)', () => {
    it('sync up and back: the same bytes; a second sync transfers nothing', async () => {
      const env = {
        ...baseEnv, RCLONE_CONFIG_Z_TYPE: 's3', RCLONE_CONFIG_Z_PROVIDER: 'Ceph', RCLONE_CONFIG_Z_ENDPOINT: zone.url,
        RCLONE_CONFIG_Z_ACCESS_KEY_ID: alice.accessKey, RCLONE_CONFIG_Z_SECRET_ACCESS_KEY: alice.secretKey, RCLONE_CONFIG_Z_REGION: 'us-east-1',
      };
      const rc = async (...args: string[]) => {
        const r = await run(CLIENTS.rclone.bin, args, env);
        assert.equal(r.code, 0, `rclone ${args.join(' ')}: ${r.stderr}`);
        return r.stderr + r.stdout;
      };
      const body = randomBytes(300_000);
      file('rc/up/x.bin', body);
      file('rc/up/y/z.txt', Buffer.from('zed'));
      const big = file('rc/up/big.bin', randomBytes(64 * MiB));
      await rc('mkdir', 'z:rcloneb');
      await rc('sync', join(dir, 'rc/up'), 'z:rcloneb/data');
      const again = await rc('sync', '-v', join(dir, 'rc/up'), 'z:rcloneb/data');
      assert.doesNotMatch(again, /Copied/, again);
      await rc('sync', 'z:rcloneb/data', join(dir, 'rc/down'));
      assert.equal(md5(readFileSync(join(dir, 'rc/down/x.bin'))), md5(body));
      assert.equal(readFileSync(join(dir, 'rc/down/y/z.txt'), 'utf8'), 'zed');
      assert.equal(md5(readFileSync(join(dir, 'rc/down/big.bin'))), md5(readFileSync(big)));
      // rclone's default upload cutoff is 200 MiB: 64 MiB goes as one PUT.
    });
  });
});
