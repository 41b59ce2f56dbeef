/**
 * Figure 3: send → receive latency through the whole local stack, one
 * message at a time (the next goes out once every member has the last), at
 * several room sizes. Parley's rooms are rooms; the tutorial has none, so
 * its "room" is every connection it has, grown to each size in turn.
 */
import { DEFAULT_ROOM } from '../../amplify/core/protocol';
import type { BaselineStack } from '../baseline/stack';
import { closeAll, type BenchClient } from '../client';
import { Deliveries } from '../deliveries';
import { deadlineAfter, progress, sleep, type Sizes } from '../env';
import type { Figure, Row } from '../report';
import { baselineSide, connectBaseline, joinParleyRoom, parleySide, type Side } from '../sides';
import { finite, round, summarize, type Summary } from '../stats';

const WARMUP_MESSAGES = 5;

interface Measured extends Summary {
  lost: number;
  errors: number;
}

/** Sends `count` messages into a room of `members`, senders taking turns, and summarizes every delivery. */
async function measureRoom(side: Side, members: readonly BenchClient[], room: string, count: number, senders: number): Promise<Measured> {
  const deliveries = new Deliveries(side.extract);
  deliveries.attach(members);
  const who = members.slice(0, Math.min(senders, members.length));
  // Each sender stays under Parley's 10 actions/s: its turns come at least ~120 ms apart.
  const pause = Math.max(5, Math.ceil(120 / who.length));
  const deadline = deadlineAfter(90_000);
  try {
    for (let i = 0; i < WARMUP_MESSAGES + count && !deadline.passed(); i++) {
      if (i === WARMUP_MESSAGES) deliveries.take();
      await deliveries.send(who[i % who.length]!, (text) => side.frame(room, text), members.length - 1, 5000);
      await sleep(pause);
    }
    const got = deliveries.take();
    return { ...summarize(got.samples), lost: got.expected - got.received, errors: got.errorFrames };
  } finally {
    deliveries.detach(members);
  }
}

export async function latencyFigure(ctx: {
  sizes: Sizes;
  parleyClients: readonly BenchClient[];
  /** How long opening the Parley clients took (run.ts opens them once for figures 3, 4 and 7). */
  parleyConnect: { count: number; seconds: number };
  baseline: BaselineStack;
}): Promise<Figure> {
  const { roomSizes, messages, senders } = ctx.sizes.latency;
  const parley = new Map<number, Measured>();
  const baseline = new Map<number, Measured>();
  const largest = ctx.parleyClients.length;

  for (const size of roomSizes) {
    const members = ctx.parleyClients.slice(0, size);
    // Everyone is in the lobby from the start, so the largest room is the lobby.
    const room = size >= largest ? DEFAULT_ROOM : `lat-${size}`;
    await joinParleyRoom(members, room);
    progress(`  Parley, room of ${size}: ${messages[size]} messages`);
    parley.set(size, await measureRoom(parleySide, members, room, messages[size] ?? 20, senders));
  }

  const tutorial: BenchClient[] = [];
  let baselineConnectMs = 0;
  try {
    for (const size of roomSizes) {
      const t0 = Date.now();
      tutorial.push(...(await connectBaseline(ctx.baseline, size - tutorial.length, undefined, tutorial.length)));
      baselineConnectMs += Date.now() - t0;
      progress(`  baseline, ${size} connections: ${messages[size]} messages`);
      baseline.set(size, await measureRoom(baselineSide, tutorial, '', messages[size] ?? 20, senders));
    }
  } finally {
    await closeAll(tutorial);
  }

  const rows: Row[] = [];
  for (const size of roomSizes) {
    const p = parley.get(size);
    const b = baseline.get(size);
    for (const k of ['p50', 'p95', 'p99', 'max'] as const) {
      const goalMs = size === 100 ? ({ p50: 10, p99: 25 } as Partial<Record<typeof k, number>>)[k] : undefined;
      const value = finite(p?.[k]);
      rows.push({
        metric: `room of ${size}: ${k} send → receive`,
        unit: 'ms',
        parley: value === null ? null : round(value, 1),
        baseline: finite(b?.[k]) === null ? null : round(b![k], 1),
        better: 'lower',
        ...(goalMs ? { goal: { text: `< ${goalMs} ms`, met: value === null ? null : value < goalMs } } : {}),
      });
    }
  }
  rows.push({
    metric: `time to open ${ctx.parleyConnect.count} connections, 16 handshakes at a time`,
    unit: 's',
    parley: round(ctx.parleyConnect.seconds, 1),
    baseline: ctx.parleyConnect.count === tutorial.length ? round(baselineConnectMs / 1000, 1) : null,
    better: 'lower',
  });
  const line = (name: string, m: Map<number, Measured>) =>
    `${name}: ${[...m].map(([size, x]) => `${size} → ${x.n} deliveries, ${x.lost} lost, ${x.errors} error frames`).join('; ')}`;
  return {
    id: 3,
    title: 'End-to-end latency, send → receive, through the full local stack',
    method:
      `Real ws clients with real Cognito ID tokens on the local API Gateway; the sender's clock starts as its sendmessage frame goes out and stops as each other member receives the message. ` +
      `One message at a time, ${senders} senders taking turns (within Parley's rate limit), ${WARMUP_MESSAGES} warm-up messages not counted. Parley sends as the app does (room + clientMsgId). ` +
      `The baseline has no rooms: its room of N is N connected clients, and every send Scans them all.`,
    rows,
    notes: [
      line('Parley', parley),
      line('Baseline', baseline),
      `Opening a Parley connection verifies the token (authorizer), registers it and tells the lobby (a Query of the lobby's connections, which every connection joins first); the tutorial's is one PutItem.`,
      `Clients, gateway and handlers share one Node process on this machine, and DynamoDB Local is a JVM beside it: every frame's send, its handler, each post and each receive compete for the same cores. Figure 1's breakdown shows which DynamoDB calls a Parley send waits for.`,
    ],
  };
}
