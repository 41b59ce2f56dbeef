/**
 * The sides as the latency, throughput and load figures drive them: how to
 * open clients, put them in a room, and frame a message. Parley, the
 * baseline (the tutorial's sample) and the floor (an echo handler on the
 * same gateway, bench/floor.ts), which speaks the baseline's frames.
 */
import { DEFAULT_ROOM, LIMITS } from '../amplify/core/protocol';
import { forEachLimit } from '../amplify/core/fanout';
import type { LocalStack } from '../local/stack';
import type { BaselineStack } from './baseline/stack';
import { connectMany, type BenchClient } from './client';
import { baselineMessageText, parleyMessageText } from './deliveries';
import { progress } from './env';

export interface Side {
  name: 'Parley' | 'baseline' | 'floor';
  /** Pulls the bench text out of a frame a member received. */
  extract(frame: string): string | undefined;
  /** The frame that sends `text` to `room`. */
  frame(room: string, text: string): object;
}

// ---------------------------------------------------------------- Parley

export const parleySide: Side = {
  name: 'Parley',
  extract: parleyMessageText,
  // As the app sends: with a clientMsgId (bench texts are unique, so they serve).
  frame: (room, text) => ({ action: 'sendmessage', room, message: text, clientMsgId: text.replace(/[^A-Za-z0-9_-]/g, '-') }),
};

/**
 * Opens `n` Parley clients with real Cognito tokens, timing the handshakes
 * (not the sign-ups). Every connection belongs to one of `users` users, or
 * more if the per-user socket cap needs it (several tabs each): besides
 * saving sign-ups, it keeps presence quiet while a room fills, since a user
 * already present is not announced again.
 */
export async function connectParley(
  stack: LocalStack,
  n: number,
  users: number,
): Promise<{ clients: BenchClient[]; urlFor: (index: number) => string; seconds: number }> {
  // Parley allows a person LIMITS.maxConnectionsPerUser sockets, so n sockets need at least n / that many people.
  const people = Math.max(users, Math.ceil(n / LIMITS.maxConnectionsPerUser));
  const tokens: string[] = [];
  for (let u = 0; u < people; u++) tokens.push(await stack.token(`bench-user-${u}`));
  const urlFor = (i: number) => `${stack.websocketUrl}?token=${encodeURIComponent(tokens[i % people]!)}`;
  const t0 = Date.now();
  const clients = await connectMany(n, urlFor, 'Parley clients', { concurrency: 16 });
  return { clients, urlFor, seconds: (Date.now() - t0) / 1000 };
}

let reqs = 0;
const reqId = () => `bench-${++reqs}`;

/**
 * Puts every client in `room`: the first creates it, the rest join. Every
 * client starts in the lobby already. Creating rooms is rate-limited per
 * person, so a refused creation waits as told and tries again, as the app does.
 */
export async function joinParleyRoom(clients: readonly BenchClient[], room: string): Promise<void> {
  if (room === DEFAULT_ROOM || clients.length === 0) return;
  const [first, ...rest] = clients as [BenchClient, ...BenchClient[]];
  let created = await first.request({ action: 'createroom', room, reqId: reqId() });
  for (let i = 0; i < 20 && created.type === 'error' && created.code === 'rate_limited'; i++) {
    const wait = typeof created.retryAfterMs === 'number' ? created.retryAfterMs : 1000;
    await new Promise((r) => setTimeout(r, wait));
    created = await first.request({ action: 'createroom', room, reqId: reqId() });
  }
  if (created.type === 'error' && created.code !== 'room_exists') throw new Error(`createroom ${room}: ${JSON.stringify(created)}`);
  const joiners = created.type === 'error' ? clients : rest;
  await forEachLimit(joiners, 16, async (c) => {
    const reply = await c.request({ action: 'joinroom', room, reqId: reqId() });
    if (reply.type !== 'joined') throw new Error(`joinroom ${room}: ${JSON.stringify(reply)}`);
  });
}

/** Resolves once a gateway has no work in flight (LocalGateway.settled). */
export type Settle = () => Promise<void>;

/**
 * Setup is not measurement: a join or a room creation is answered before its
 * follow-up work ends (presence, `roomadded` to the user's other sockets, and
 * for a public room `roomcreated` to every socket in the lobby), and that work
 * shares this process, its cores and its management client with whatever is
 * measured next. So a figure waits for the gateway to settle after its
 * setup, at most `ms`, and says how long it waited.
 */
export async function settleAfterSetup(settle: Settle, what: string, ms = 120_000): Promise<{ seconds: number; done: boolean }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([
    settle().then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
  const seconds = Math.round((Date.now() - t0) / 100) / 10;
  if (seconds >= 0.5 || !done) progress(`  ${what}: waited ${seconds} s for the setup's follow-up work${done ? '' : ' (gave up: still running)'}`);
  return { seconds, done };
}

// ---------------------------------------------------------------- baseline

export const baselineSide: Side = {
  name: 'baseline',
  extract: baselineMessageText,
  // The tutorial's frame; `room` only matters when the connections were opened with one.
  frame: (room, text) => (room ? { action: 'sendmessage', message: text, room } : { action: 'sendmessage', message: text }),
};

/** Opens `n` baseline (or floor) clients, optionally all in one room (the tutorial has none; see baseline/handlers.ts). */
export function connectBaseline(stack: Pick<BaselineStack, 'websocketUrl'>, n: number, room?: string, offset = 0, what = 'baseline'): Promise<BenchClient[]> {
  const url = room ? `${stack.websocketUrl}?room=${encodeURIComponent(room)}` : stack.websocketUrl;
  return connectMany(n, () => url, `${what} clients${room ? ` (${room})` : ''}`, { concurrency: 16, offset });
}

// ---------------------------------------------------------------- floor

/** The floor speaks the baseline's frames and posts what it posts. */
export const floorSide: Side = { ...baselineSide, name: 'floor' };
