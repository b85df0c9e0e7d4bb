// verifyWebhook (WebCrypto) against deliveries signed by internal/webhook:
// CREDITS_WEBHOOK holds the secret, the raw body and Go-made headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyWebhook, WebhookVerificationError } from '../dist/index.js';

const v = JSON.parse(process.env.CREDITS_WEBHOOK ?? 'null');
if (!v) throw new Error('run through `go test ./web/client -run TestTypeScriptClient`');

const reason = (r) => (err) => err instanceof WebhookVerificationError && err.reason === r;

test('a delivery signed by the server verifies and parses', async () => {
  const event = await verifyWebhook(v.secret, v.header, v.body);
  assert.equal(event.id, 'evt_ts');
  assert.equal(event.type, 'balance.low');
  const fromBytes = await verifyWebhook(v.secret, v.header, new TextEncoder().encode(v.body));
  assert.equal(fromBytes.data.account, 'ts-1');
});

test('any one of several v1 signatures may match', async () => {
  const rotatedV1 = v.rotated.split(',')[1];
  await verifyWebhook(v.secret, v.header + ',' + rotatedV1, v.body);
  await verifyWebhook(v.secret, v.rotated.split(',')[0] + ',' + rotatedV1 + ',' + v.header.split(',')[1], v.body);
});

test('a changed body, another secret, an old timestamp or a bad header are refused', async () => {
  await assert.rejects(verifyWebhook(v.secret, v.header, v.body.replace('1.000000', '9.000000')), reason('mismatch'));
  await assert.rejects(verifyWebhook(v.secret + 'x', v.header, v.body), reason('mismatch'));
  await assert.rejects(verifyWebhook(v.secret, v.old, v.body), reason('expired'));
  await verifyWebhook(v.secret, v.old, v.body, { toleranceSeconds: 7200 });
  for (const h of ['', null, 't=1', 'v1=00', 't=x,v1=00', 't=1,v1=zz', 'garbage']) {
    await assert.rejects(verifyWebhook(v.secret, h, v.body), reason('malformed'), String(h));
  }
});
