/**
 * Figure 3: send → receive latency through the whole local stack, one
 * message at a time (the next goes out once every member has the last), at
 * several room sizes, and the time to open as many connections as Parley has
 * online. Three sides: Parley, the baseline (the tutorial's sample) and the
 * floor (an echo handler on the same gateway, no database).
 *
 * Parley's room of N always sits among all of its M online connections (run.ts
 * opens them once for figures 3, 4 and 7). The baseline and the floor are
 * measured in two setups: the same population (M online, N of them opened
 * with ?room=, so every Scan reads all M rows), and the tutorial's own shape,
 * where the room is everyone online (only N connections, no room).
 */
import { DEFAULT_ROOM } from '../../amplify/core/protocol';
import type { BaselineStack } from '../baseline/stack';
import { closeAll, connectMany, type BenchClient } from '../client';
import { Deliveries } from '../deliveries';
import { deadlineAfter, progress, sleep, type Sizes } from '../env';
import type { FloorStack } from '../floor';
import type { Figure, Row } from '../report';
import { baselineSide, floorSide, joinParleyRoom, parleySide, settleAfterSetup, type Settle, type Side } from '../sides';
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

/** A side without rooms of its own: the baseline or the floor, measured in both setups. */
interface Setups {
  /** N of M online, by N (N < M). */
  among: Map<number, Measured>;
  /** Room = everyone online: only N connected, by N. */
  alone: Map<number, Measured>;
  /** Opening M connections, 16 handshakes at a time. */
  connectSeconds: number;
}

const roomName = (n: number) => `lat-${n}`;
const fmt = (n: number) => n.toLocaleString('en-US');

async function waitForPopulation(stack: { population(): Promise<number> }, n: number, what: string): Promise<void> {
  // Closing a socket runs its $disconnect after the close: wait until the rows (or the floor's map) have caught up.
  const deadline = deadlineAfter(20_000);
  let now = await stack.population();
  while (now !== n && !deadline.passed()) {
    await sleep(100);
    now = await stack.population();
  }
  if (now !== n) throw new Error(`${what}: ${now} connections remembered, expected ${n}`);
}

async function measureSetups(
  side: Side,
  stack: Pick<BaselineStack, 'websocketUrl' | 'population'>,
  ctx: { sizes: Sizes; online: number },
): Promise<Setups> {
  const { roomSizes, messages, senders } = ctx.sizes.latency;
  const { online } = ctx;
  const smaller = roomSizes.filter((n) => n < online);
  const inRooms = smaller.reduce((s, n) => s + n, 0);
  if (inRooms > online) throw new Error(`rooms of ${smaller.join(' + ')} do not fit among ${online} online`);
  // The same population as Parley's: M connections, each smaller room's members first, the rest in no room.
  const urlFor = (i: number) => {
    let first = 0;
    for (const n of smaller) {
      if (i < first + n) return `${stack.websocketUrl}?room=${roomName(n)}`;
      first += n;
    }
    return stack.websocketUrl;
  };
  const t0 = Date.now();
  let clients = await connectMany(online, urlFor, `${side.name} clients`, { concurrency: 16 });
  const connectSeconds = (Date.now() - t0) / 1000;
  const among = new Map<number, Measured>();
  const alone = new Map<number, Measured>();
  try {
    await waitForPopulation(stack, online, side.name);
    let first = 0;
    for (const n of smaller) {
      progress(`  ${side.name}, room of ${n} of ${online} online: ${messages[n]} messages`);
      among.set(n, await measureRoom(side, clients.slice(first, first + n), roomName(n), messages[n] ?? 20, senders));
      first += n;
    }
    // Room = everyone online, largest first, closing connections down to each size (those in no room are kept).
    const fillers = clients.slice(inRooms);
    const roomed = clients.slice(0, inRooms);
    for (const n of [...roomSizes].sort((a, b) => b - a)) {
      if (n > online) continue;
      const keep = [...fillers, ...roomed].slice(0, n);
      const gone = clients.filter((c) => !keep.includes(c));
      await closeAll(gone);
      clients = keep;
      await waitForPopulation(stack, n, side.name);
      progress(`  ${side.name}, room = all ${n} online: ${messages[n]} messages`);
      alone.set(n, await measureRoom(side, clients, '', messages[n] ?? 20, senders));
    }
  } finally {
    await closeAll(clients);
  }
  return { among, alone, connectSeconds };
}

export async function latencyFigure(ctx: {
  sizes: Sizes;
  parleyClients: readonly BenchClient[];
  /** How long opening the Parley clients took (run.ts opens them once for figures 3, 4 and 7); all of them stay online. */
  parleyConnect: { count: number; seconds: number };
  /** Until Parley's gateway has no invocation in flight. */
  parleySettled: Settle;
  baseline: BaselineStack;
  floor: FloorStack;
}): Promise<Figure> {
  const { roomSizes, senders } = ctx.sizes.latency;
  const online = ctx.parleyConnect.count;
  const parley = new Map<number, Measured>();

  for (const size of roomSizes) {
    if (size > ctx.parleyClients.length) throw new Error(`room of ${size} needs ${size} Parley clients, have ${ctx.parleyClients.length}`);
    const members = ctx.parleyClients.slice(0, size);
    // Every connection is in the lobby from the start, so a room of everyone online is the lobby.
    const room = size >= online ? DEFAULT_ROOM : roomName(size);
    await joinParleyRoom(members, room);
    await settleAfterSetup(ctx.parleySettled, 'Parley');
    progress(`  Parley, room of ${size} of ${online} online: ${ctx.sizes.latency.messages[size]} messages`);
    parley.set(size, await measureRoom(parleySide, members, room, ctx.sizes.latency.messages[size] ?? 20, senders));
  }
  const baseline = await measureSetups(baselineSide, ctx.baseline, { sizes: ctx.sizes, online });
  const floor = await measureSetups(floorSide, ctx.floor, { sizes: ctx.sizes, online });

  const value = (m: Measured | undefined, k: keyof Summary) => {
    const x = finite(m?.[k]);
    return x === null ? null : round(x, 1);
  };
  const atMost = (p: number | null, b: number | null, text: string) => ({ text, met: p === null || b === null ? null : p <= b });
  const rows: Row[] = [];
  for (const n of roomSizes) {
    const p = parley.get(n);
    if (n < online) {
      // The same population on every side: the comparison the goals are about.
      for (const k of ['p50', 'p95', 'p99', 'max'] as const) {
        const [pv, bv] = [value(p, k), value(baseline.among.get(n), k)];
        rows.push({
          metric: `room of ${fmt(n)} among ${fmt(online)} online: ${k} send → receive`,
          unit: 'ms',
          parley: pv,
          baseline: bv,
          floor: value(floor.among.get(n), k),
          better: 'lower',
          ...(k === 'p50' || k === 'p99' ? { goal: atMost(pv, bv, `≤ baseline, both ${fmt(n)} of ${fmt(online)} online`) } : {}),
        });
      }
      // The tutorial's own shape: its room is everyone it has.
      for (const k of ['p50', 'p99'] as const) {
        rows.push({
          metric: `room of ${fmt(n)}: ${k} send → receive`,
          unit: 'ms',
          parley: value(p, k),
          baseline: value(baseline.alone.get(n), k),
          baselineLabel: `only those ${fmt(n)} online`,
          floor: value(floor.alone.get(n), k),
          better: 'lower',
        });
      }
    } else {
      // Everyone online: one setup, the same on every side.
      for (const k of ['p50', 'p95', 'p99', 'max'] as const) {
        const [pv, bv] = [value(p, k), value(baseline.alone.get(n), k)];
        rows.push({
          metric: `room of ${fmt(n)} = everyone online: ${k} send → receive`,
          unit: 'ms',
          parley: pv,
          baseline: bv,
          floor: value(floor.alone.get(n), k),
          better: 'lower',
          ...(k === 'p50' || k === 'p99' ? { goal: atMost(pv, bv, `≤ baseline, both ${fmt(n)} online`) } : {}),
        });
      }
    }
  }
  const pc = round(ctx.parleyConnect.seconds, 1);
  const bc = round(baseline.connectSeconds, 1);
  rows.push({
    metric: `time to open ${fmt(online)} connections, 16 handshakes at a time`,
    unit: 's',
    parley: pc,
    baseline: bc,
    floor: round(floor.connectSeconds, 1),
    better: 'lower',
    goal: { text: '≤ 1.5× baseline', met: pc <= 1.5 * bc },
  });
  const line = (name: string, m: Map<number, Measured>) =>
    `${name}: ${[...m].map(([size, x]) => `${size} → ${x.n} deliveries, ${x.lost} lost, ${x.errors} error frames`).join('; ')}`;
  return {
    id: 3,
    title: 'End-to-end latency, send → receive, through the full local stack',
    method:
      `Real ws clients (Parley's with real Cognito ID tokens) on the local API Gateway; the sender's clock starts as its sendmessage frame goes out and stops as each other member receives the message. ` +
      `One message at a time, ${senders} senders taking turns (within Parley's rate limit), ${WARMUP_MESSAGES} warm-up messages not counted. Parley sends as the app does (room + clientMsgId). ` +
      `Parley's room of N sits among all ${fmt(online)} of its online connections. The baseline (the tutorial's sample) and the floor (an echo handler, no database) are measured both ways: ` +
      `"among ${fmt(online)} online" opens ${fmt(online)} connections, N of them with ?room=, so the baseline's Scan reads all ${fmt(online)} rows and filters; ` +
      `"only those N online" is the tutorial's own shape, its room being every connection it has.`,
    rows,
    notes: [
      line('Parley', parley),
      line(`Baseline, among ${fmt(online)} online`, baseline.among),
      line('Baseline, only those N online', baseline.alone),
      line(`Floor, among ${fmt(online)} online`, floor.among),
      line('Floor, only those N online', floor.alone),
      `Floor: the same gateway with handlers that keep connections in memory and post each message with Promise.all through one keep-alive management client (the one Parley deploys with). Any design pays at least that here; Parley's figure reads as the floor plus Parley's own cost.`,
      `Opening a connection: Parley's $connect runs its REQUEST authorizer first (verifies the Cognito ID token against the pool's keys and checks the name registry), then writes the connection (its row and the user's socket slot in one transaction, its lobby row beside them, then the lobby's membership version) and, for a user's first socket only, reads the lobby to announce them (silent in a large lobby). ` +
        `The baseline's is one PutItem of the connection id (no authorizer: the tutorial has none); the floor's remembers the id in memory. Parley's connections were opened in run.ts before this figure, the others' here; all ${fmt(online)} on each side, 16 at a time.`,
      `Clients, gateways and handlers share one Node process on this machine, and DynamoDB Local is a JVM beside it: every frame's send, its handler, each post and each receive compete for the same cores. Figure 1's breakdown shows which DynamoDB calls a Parley send waits for.`,
    ],
  };
}
