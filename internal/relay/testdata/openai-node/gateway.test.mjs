// The gateway driven by the official openai npm client. Started by
// internal/relay's TestOpenAINode, which stands up a gateway over the test
// database, passes the cases in CREDITS_CASES (base URL, keys, models,
// prompts) and, after this run, checks each case's charge in the ledger
// against what is written here to CREDITS_OUT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';

const cases = JSON.parse(process.env.CREDITS_CASES ?? 'null');
if (!cases) {
  throw new Error('CREDITS_CASES is not set: run this through `go test ./internal/relay -run TestOpenAINode`');
}
const token = ' tok'; // every token the simulator streams

function client(key, opts = {}) {
  return new OpenAI({ apiKey: key, baseURL: cases.baseURL + '/v1', ...opts });
}

function record(name, value) {
  writeFileSync(join(process.env.CREDITS_OUT, name + '.json'), JSON.stringify(value));
}

test('a streamed chat completion reports the usage the gateway bills', async () => {
  const c = cases.stream;
  const stream = await client(c.key).chat.completions.create({
    model: c.model,
    messages: [{ role: 'user', content: c.text }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.model, c.model, 'the public model name');
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, token.repeat(c.tokens));
  assert.ok(usage, 'the usage chunk the client asked for');
  assert.equal(usage.completion_tokens, c.tokens);
  assert.equal(usage.prompt_tokens_details?.cached_tokens, c.cached);
  record('stream', usage);
});

test('a stream aborted mid-way with an AbortController', async () => {
  const c = cases.abort;
  const controller = new AbortController();
  const stream = await client(c.key).chat.completions.create(
    { model: c.model, messages: [{ role: 'user', content: c.text }], stream: true },
    { signal: controller.signal },
  );
  let seen = 0;
  let abortError = null;
  try {
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) seen++;
      if (seen === c.abortAfter) controller.abort();
    }
  } catch (err) {
    abortError = err;
  }
  assert.ok(abortError === null || abortError instanceof OpenAI.APIUserAbortError,
    `the SDK ends the stream or raises APIUserAbortError, not ${abortError}`);
  assert.ok(seen >= c.abortAfter && seen < c.tokens, `read ${seen} of ${c.tokens} tokens before leaving`);
  record('abort', { seen });
});

test('insufficient credit raises the SDK\'s RateLimitError with code insufficient_quota, once', async () => {
  const c = cases.quota;
  let calls = 0;
  const counting = (url, init) => { calls++; return fetch(url, init); };
  await assert.rejects(
    client(c.key, { fetch: counting }).chat.completions.create({
      model: c.model, messages: [{ role: 'user', content: c.text }], stream: true, max_tokens: 1000,
    }),
    (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `RateLimitError, not ${err?.constructor?.name}`);
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 429);
      assert.equal(err.code, 'insufficient_quota');
      assert.equal(err.type, 'insufficient_quota');
      return true;
    },
  );
  assert.equal(calls, 1, 'x-should-retry: false: the SDK does not retry');

  await assert.rejects(
    client('sk-' + 'x'.repeat(48)).chat.completions.create({
      model: c.model, messages: [{ role: 'user', content: 'hi' }],
    }),
    (err) => err instanceof OpenAI.AuthenticationError && err.code === 'invalid_api_key',
  );
  record('quota', { calls });
});

test('64 concurrent streams on a small balance', async () => {
  const c = cases.concurrent;
  const openai = client(c.key, { maxRetries: 0 });
  const one = async () => {
    const stream = await openai.chat.completions.create({
      model: c.model, messages: [{ role: 'user', content: c.text }], stream: true, max_tokens: c.tokens,
    });
    let n = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) n++;
    }
    return n;
  };
  const results = await Promise.allSettled(Array.from({ length: c.streams }, one));
  let served = 0;
  let refused = 0;
  for (const r of results) {
    if (r.status === 'fulfilled') {
      assert.equal(r.value, c.tokens, 'a stream served is served whole');
      served++;
    } else {
      const err = r.reason;
      assert.ok(err instanceof OpenAI.RateLimitError && err.code === 'insufficient_quota',
        `refused only for credit, not ${err}`);
      refused++;
    }
  }
  assert.equal(served + refused, c.streams);
  assert.ok(served > 0, 'some streams are served');
  assert.ok(refused > 0, 'the balance does not cover all of them');
  record('concurrent', { served, refused });
});
