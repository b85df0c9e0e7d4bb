// The TypeScript client against a live server started by web/client's
// TestTypeScriptClient (CREDITS_URL, CREDITS_SERVICE_KEY; the charges the
// rate card expects in CREDITS_EXPECT). Run `npm run build` first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, CreditsError } from '../dist/index.js';

const baseUrl = process.env.CREDITS_URL;
const serviceKey = process.env.CREDITS_SERVICE_KEY;
const expect = JSON.parse(process.env.CREDITS_EXPECT ?? 'null');
if (!baseUrl || !serviceKey || !expect) {
  throw new Error('run through `go test ./web/client -run TestTypeScriptClient`, which starts the server');
}
const credits = createClient({ baseUrl, serviceKey });
// Amounts are decimal strings ('3.544', '50'): compare them as numbers.
const same = (a, b, msg) => assert.equal(Number(a), Number(b), msg ?? `${a} = ${b}`);

test('an account with credit', async () => {
  const acct = await credits.putAccount('ts-1', { name: 'TS one', verification: { status: 'verified', reference: 'kyc-ts-1' } });
  assert.equal(acct.external_id, 'ts-1');
  assert.equal(acct.verified, true);
  const { lot } = await credits.grant('ts-1', { amount: '50', kind: 'promo', reason_code: 'welcome', idempotency_key: 'welcome-ts-1' });
  same(lot.amount, '50');
});

test('reserve → commit charges the rate card\'s price', async () => {
  const r = await credits.reserve({ account: 'ts-1', model: 'deepseek-chat', max_input_tokens: 1000, max_output_tokens: 4096, idempotency_key: 'ts-call-1' });
  assert.match(r.id, /^rsv_/);
  assert.ok(Number(r.reserved) > 0);
  const held = await credits.balance('ts-1');
  same(held.reserved, r.reserved);
  const done = await credits.commit(r.id, { input_tokens: 812, output_tokens: 240 });
  same(done.charged, expect.commit);
  const again = await credits.commit(r.id, { input_tokens: 812, output_tokens: 240 });
  same(again.charged, expect.commit, 'a repeat returns the first result');
  const after = await credits.balance('ts-1');
  same(after.reserved, 0);
});

test('a usage batch: accepted, duplicate, rejected', async () => {
  const occurred_at = new Date().toISOString();
  const event = { idempotency_key: 'ts-call-2', account: 'ts-1', model: 'deepseek-chat', input_tokens: 1200, output_tokens: 300, occurred_at };
  const first = await credits.ingestUsage([event, { idempotency_key: 'ts-call-3', account: 'ts-1', model: 'no-such-model', input_tokens: 1, occurred_at }]);
  assert.equal(first.accepted, 1, JSON.stringify(first));
  assert.deepEqual(first.rejected.map((r) => [r.index, r.code]), [[1, 'unknown_model']]);
  const second = await credits.ingestUsage([event]);
  assert.equal(second.duplicates, 1);
  const page = await credits.ledger('ts-1', { limit: 1 });
  same(page.events[0].amount, -Number(expect.usage), 'the newest event is the batch\'s charge');
});

test('errors are CreditsError with the API\'s code', async () => {
  await credits.putAccount('ts-empty', { verification: { status: 'verified', reference: 'kyc-ts-2' } });
  await assert.rejects(
    credits.reserve({ account: 'ts-empty', model: 'deepseek-chat', max_input_tokens: 1000, max_output_tokens: 1000, idempotency_key: 'ts-none' }),
    (err) => err instanceof CreditsError && err.status === 402 && err.code === 'insufficient_credits',
  );
  await assert.rejects(credits.balance('no-such-account'), (err) => err instanceof CreditsError && err.status === 404 && err.code === 'not_found');
  const wrongKey = createClient({ baseUrl, serviceKey: 'sk_live_wrong' });
  await assert.rejects(wrongKey.rateCard(), (err) => err instanceof CreditsError && err.status === 401);
  await assert.rejects(
    credits.reserve({ account: 'ts-1', model: '', max_input_tokens: -1, max_output_tokens: 1, idempotency_key: 'x' }),
    (err) => err instanceof CreditsError && err.status === 400 && Array.isArray(err.fields) && err.fields.length > 0,
  );
});

test('a custom fetch is used for every call', async () => {
  const seen = [];
  const traced = createClient({ baseUrl: baseUrl + '/', serviceKey, fetch: (url, init) => { seen.push(init.method + ' ' + url); return fetch(url, init); } });
  const card = await traced.rateCard();
  assert.ok(card.models.some((m) => m.model === 'deepseek-chat'));
  assert.deepEqual(seen, ['GET ' + baseUrl + '/v1/rate-card']);
});
