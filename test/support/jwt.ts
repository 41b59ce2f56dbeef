/** Hand-made JWTs for the authorizer's adversarial tests: same key as cognito-local, or a stranger's. */
import { createPrivateKey, createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const b64url = (value: object | string) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** cognito-local signs every pool's tokens with this key (kid CognitoLocal). */
export function cognitoLocalKey(): KeyObject {
  const dir = dirname(createRequire(import.meta.url).resolve('cognito-local/package.json'));
  const { jwk } = JSON.parse(readFileSync(join(dir, 'lib/keys/cognitoLocal.private.json'), 'utf8')) as { jwk: Record<string, string> };
  return createPrivateKey({ key: jwk, format: 'jwk' });
}

export const strangerKey = (): KeyObject => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

export function signJwt(payload: Record<string, unknown>, key: KeyObject, header: Record<string, unknown> = {}): string {
  const head = b64url({ alg: 'RS256', typ: 'JWT', kid: 'CognitoLocal', ...header });
  const body = b64url(payload);
  const signature = createSign('RSA-SHA256').update(`${head}.${body}`).sign(key).toString('base64url');
  return `${head}.${body}.${signature}`;
}

export function unsignedJwt(payload: Record<string, unknown>): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
}

export function decode(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
}
