// Webhook verification with WebCrypto (crypto.subtle), as internal/webhook
// signs: Credits-Signature is "t=<unix seconds>,v1=<lowercase hex
// HMAC-SHA256>", keyed with the endpoint's whsec_… secret used as is, over
// "<t>.<raw body>". Several v1 entries may be present; one matching suffices.

/** The header carrying a delivery's signature. */
export const WEBHOOK_SIGNATURE_HEADER = 'Credits-Signature';

/** An event as POSTed to an endpoint. */
export interface WebhookEvent<D = Record<string, unknown>> {
  id: string;
  type: string;
  created_at: string;
  data: D;
}

export interface VerifyOptions {
  /** How far the signature's time may be from now, in seconds (default 300): bounds replays. */
  toleranceSeconds?: number;
  /** The time to check against (default: now). */
  now?: Date;
}

/** Why a delivery is not to be trusted. */
export class WebhookVerificationError extends Error {
  readonly reason: 'malformed' | 'expired' | 'mismatch';
  constructor(reason: 'malformed' | 'expired' | 'mismatch', message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

const encoder = new TextEncoder();

function fromHex(s: string): Uint8Array<ArrayBuffer> | null {
  if (s.length === 0 || s.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(s)) return null;
  const out = new Uint8Array(new ArrayBuffer(s.length / 2));
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function bytesOf(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/**
 * Verifies a delivery and returns its event. body is the raw request body
 * exactly as received (read it with request.text() or arrayBuffer() before
 * any JSON parsing). Throws WebhookVerificationError. Deliveries are at
 * least once: treat the event id as an idempotency key.
 */
export async function verifyWebhook<D = Record<string, unknown>>(
  secret: string,
  header: string | null | undefined,
  body: string | Uint8Array | ArrayBuffer,
  opts: VerifyOptions = {},
): Promise<WebhookEvent<D>> {
  let ts = '';
  const sigs: Uint8Array<ArrayBuffer>[] = [];
  for (const part of (header ?? '').split(',')) {
    const p = part.trim();
    const eq = p.indexOf('=');
    if (eq < 0) throw new WebhookVerificationError('malformed', 'signature header is missing or malformed');
    const k = p.slice(0, eq);
    const v = p.slice(eq + 1);
    if (k === 't') ts = v;
    if (k === 'v1') {
      const sig = fromHex(v);
      if (!sig) throw new WebhookVerificationError('malformed', 'signature header is missing or malformed');
      sigs.push(sig);
    }
  }
  if (!/^-?[0-9]+$/.test(ts) || sigs.length === 0) {
    throw new WebhookVerificationError('malformed', 'signature header is missing or malformed');
  }
  const tolerance = opts.toleranceSeconds ?? 300;
  const now = (opts.now ?? new Date()).getTime() / 1000;
  if (Math.abs(now - Number(ts)) > tolerance) {
    throw new WebhookVerificationError('expired', 'signature timestamp is outside the tolerance');
  }
  const raw = bytesOf(body);
  const prefix = encoder.encode(ts + '.');
  const signed = new Uint8Array(new ArrayBuffer(prefix.length + raw.length));
  signed.set(prefix, 0);
  signed.set(raw, prefix.length);
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  for (const sig of sigs) {
    // crypto.subtle.verify compares in constant time.
    if (await crypto.subtle.verify('HMAC', key, sig, signed)) {
      return JSON.parse(new TextDecoder().decode(raw)) as WebhookEvent<D>;
    }
  }
  throw new WebhookVerificationError('mismatch', 'no signature matches the body');
}
