/**
 * Figure 7 (full mode): many connections held open under steady traffic.
 * Counts drops (closes nobody asked for) and reconnects, proves every socket
 * alive with a WebSocket ping, and samples the resident memory of this
 * process (gateways, handlers, clients) and of the DynamoDB Local JVM.
 */
import type { BaselineStack } from '../baseline/stack';
import { BenchClient, closeAll } from '../client';
import { Deliveries } from '../deliveries';
import { deadlineAfter, progress, rssMiB, sleep, type Sizes } from '../env';
import type { Figure, Row } from '../report';
import { baselineSide, connectBaseline, joinParleyRoom, parleySide, settleAfterSetup, type Settle, type Side } from '../sides';
import { finite, round, summarize } from '../stats';

interface Held {
  target: number;
  openAtEnd: number;
  drops: number;
  reconnects: number;
  pings: number;
  pongs: number;
  p50: number;
  p99: number;
  lostPct: number;
  rss: { self: number[]; java: number[] };
}

/** Mean of the samples in [from, to) of the run, as fractions of its length. */
const window = (xs: number[], from: number, to: number) => {
  const part = xs.slice(Math.floor(xs.length * from), Math.max(Math.floor(xs.length * from) + 1, Math.floor(xs.length * to)));
  return part.reduce((s, x) => s + x, 0) / Math.max(1, part.length);
};
/** Growth from the second quarter of the hold (after warm-up) to the last. */
const growthPct = (xs: number[]) => (xs.length < 8 ? Number.NaN : round((100 * (window(xs, 0.75, 1) - window(xs, 0.25, 0.5))) / window(xs, 0.25, 0.5), 1));

async function hold(
  side: Side,
  rooms: { id: string; members: BenchClient[] }[],
  opts: { seconds: number; ratePerS: number; javaPid: number | undefined; reconnect: (c: BenchClient) => Promise<BenchClient> },
): Promise<Held> {
  const everyone = rooms.flatMap((r) => r.members);
  const deliveries = new Deliveries(side.extract);
  deliveries.attach(everyone);
  const rss = { self: [] as number[], java: [] as number[] };
  const sample = () => {
    const self = rssMiB('self');
    const java = opts.javaPid ? rssMiB(opts.javaPid) : undefined;
    if (self !== undefined) rss.self.push(self);
    if (java !== undefined) rss.java.push(java);
  };
  let reconnects = 0;
  let stopping = false;
  const reconnecting: Promise<void>[] = [];
  // A dropped socket is replaced once, like a client's reconnect; the count is the finding.
  for (const c of everyone) {
    void c.closed.then(() => {
      if (stopping || c.drops === 0) return;
      reconnecting.push(
        opts.reconnect(c).then(
          (fresh) => {
            reconnects++;
            everyone.push(fresh);
          },
          () => undefined,
        ),
      );
    });
  }

  const pingAt = everyone.map(() => Math.random() * opts.seconds * 1000 * 0.9);
  const pinged: Promise<boolean>[] = [];
  const pending: Promise<void>[] = [];
  const deadline = deadlineAfter(opts.seconds * 1000);
  const start = Date.now();
  let sent = 0;
  let nextSample = 0;
  let nextReport = 10_000;
  try {
    while (!deadline.passed()) {
      const elapsed = Date.now() - start;
      if (elapsed >= nextSample) {
        sample();
        nextSample += 1000;
      }
      if (elapsed >= nextReport) {
        progress(`  ${side.name} load: ${Math.round(elapsed / 1000)} s, ${everyone.filter((c) => c.open).length} open, ${sent} messages`);
        nextReport += 10_000;
      }
      for (; sent < Math.floor((elapsed / 1000) * opts.ratePerS); sent++) {
        const room = rooms[sent % rooms.length]!;
        const sender = room.members[Math.floor(sent / rooms.length) % room.members.length]!;
        if (sender.open) pending.push(deliveries.send(sender, (text) => side.frame(room.id, text), room.members.length - 1, 5000));
      }
      for (let i = 0; i < pingAt.length; i++) {
        if (pingAt[i]! <= elapsed) {
          pinged.push(everyone[i]!.ping());
          pingAt[i] = Number.POSITIVE_INFINITY;
        }
      }
      await sleep(20);
    }
    await Promise.all(pending);
    const pongs = (await Promise.all(pinged)).filter(Boolean).length;
    await Promise.all(reconnecting);
    sample();
    const got = deliveries.take();
    const s = summarize(got.samples);
    return {
      target: rooms.reduce((n, r) => n + r.members.length, 0),
      openAtEnd: rooms.flatMap((r) => r.members).filter((c) => c.open).length,
      drops: everyone.reduce((n, c) => n + c.drops, 0),
      reconnects,
      pings: pinged.length,
      pongs,
      p50: round(s.p50, 1),
      p99: round(s.p99, 1),
      lostPct: got.expected ? round((100 * (got.expected - got.received)) / got.expected, 2) : 0,
      rss,
    };
  } finally {
    stopping = true;
    deliveries.detach(everyone);
  }
}

export async function loadFigure(ctx: {
  sizes: Sizes;
  parleyClients: BenchClient[];
  parleyUrl: (index: number) => string;
  baseline: BaselineStack;
  javaPid: number | undefined;
  /** Until Parley's gateway has no invocation in flight. */
  parleySettled: Settle;
}): Promise<Figure> {
  const load = ctx.sizes.load;
  if (!load) throw new Error('load figure runs in full mode only');
  const per = Math.floor(load.connections / load.rooms);
  const parleyRooms = Array.from({ length: load.rooms }, (_, k) => ({ id: `load-${k}`, members: ctx.parleyClients.slice(k * per, (k + 1) * per) }));
  progress(`  Parley: ${load.rooms} rooms × ${per} members`);
  for (const r of parleyRooms) {
    await joinParleyRoom(r.members, r.id);
    await settleAfterSetup(ctx.parleySettled, `Parley, ${r.id}`);
  }
  progress(`  Parley: holding ${load.connections} connections for ${load.holdS} s at ${load.ratePerS} msg/s`);
  const opened: BenchClient[] = [];
  let parley: Held;
  let baseline: Held;
  try {
    parley = await hold(parleySide, parleyRooms, {
      seconds: load.holdS,
      ratePerS: load.ratePerS,
      javaPid: ctx.javaPid,
      reconnect: async (c) => {
        const fresh = await BenchClient.connect(ctx.parleyUrl(c.index), c.index);
        opened.push(fresh);
        return fresh;
      },
    });

    const rooms: { id: string; members: BenchClient[] }[] = [];
    for (let k = 0; k < load.rooms; k++) {
      const clients = await connectBaseline(ctx.baseline, per, `load-${k}`, k * per);
      opened.push(...clients);
      rooms.push({ id: `load-${k}`, members: clients });
    }
    progress(`  baseline: holding ${per * load.rooms} connections for ${load.holdS} s at ${load.ratePerS} msg/s`);
    baseline = await hold(baselineSide, rooms, {
      seconds: load.holdS,
      ratePerS: load.ratePerS,
      javaPid: ctx.javaPid,
      reconnect: async (c) => {
        const fresh = await BenchClient.connect(`${ctx.baseline.websocketUrl}?room=${rooms[Math.floor(c.index / per)]?.id ?? ''}`, c.index);
        opened.push(fresh);
        return fresh;
      },
    });
  } finally {
    await closeAll(opened);
  }

  const max = (xs: number[]) => (xs.length ? round(Math.max(...xs), 0) : null);
  const last = (xs: number[]) => (xs.length ? round(xs.at(-1)!, 0) : null);
  const bounded = (h: Held) => {
    const g = [growthPct(h.rss.self), growthPct(h.rss.java)].filter(Number.isFinite);
    return g.length ? g.every((x) => x < 20) : null;
  };
  const rows: Row[] = [
    { metric: 'connections open at the end', unit: 'conns', parley: parley.openAtEnd, baseline: baseline.openAtEnd, better: 'higher', goal: { text: `all ${parley.target}`, met: parley.openAtEnd === parley.target } },
    { metric: 'drops (closes nobody asked for)', unit: 'conns', parley: parley.drops, baseline: baseline.drops, better: 'lower', goal: { text: '0', met: parley.drops === 0 } },
    { metric: 'reconnects', unit: 'conns', parley: parley.reconnects, baseline: baseline.reconnects, better: 'lower' },
    { metric: 'WebSocket pings answered', unit: 'pongs', parley: parley.pongs, baseline: baseline.pongs, better: 'higher' },
    { metric: 'p50 send → receive under load', unit: 'ms', parley: finite(parley.p50), baseline: finite(baseline.p50), better: 'lower' },
    { metric: 'p99 send → receive under load', unit: 'ms', parley: finite(parley.p99), baseline: finite(baseline.p99), better: 'lower' },
    { metric: 'deliveries missing', unit: '%', parley: parley.lostPct, baseline: baseline.lostPct, better: 'lower', ratio: false },
    { metric: 'RSS, this process: max', unit: 'MiB', parley: max(parley.rss.self), baseline: max(baseline.rss.self), better: 'lower' },
    { metric: 'RSS, this process: growth over the hold', unit: '%', parley: finite(growthPct(parley.rss.self)), baseline: finite(growthPct(baseline.rss.self)), better: 'lower', ratio: false, goal: { text: '< 20%, process and JVM', met: bounded(parley) } },
    { metric: 'RSS, DynamoDB Local JVM: max', unit: 'MiB', parley: max(parley.rss.java), baseline: max(baseline.rss.java), better: 'lower' },
    { metric: 'RSS, DynamoDB Local JVM: growth over the hold', unit: '%', parley: finite(growthPct(parley.rss.java)), baseline: finite(growthPct(baseline.rss.java)), better: 'lower', ratio: false },
  ];
  const trace = (name: string, h: Held) =>
    `${name} RSS every ~10 s (this process / JVM, MiB): ${h.rss.self.filter((_, i) => i % 10 === 0).map((x, i) => `${round(x, 0)}/${round(h.rss.java[i * 10] ?? Number.NaN, 0)}`).join(', ')}; end ${last(h.rss.self)}/${last(h.rss.java)}`;
  return {
    id: 7,
    title: `Load: ${load.connections} connections held ${load.holdS} s with steady traffic`,
    method:
      `${load.connections} clients in ${load.rooms} rooms of ${per}, ${load.ratePerS} messages/s spread over rooms and members for ${load.holdS} s, every client pinged once at a random moment (WebSocket ping/pong); ` +
      `RSS of this process and of the DynamoDB Local JVM sampled each second from /proc. Growth compares the hold's last quarter with its second quarter. ` +
      `Parley's and the baseline's holds run one after the other in the same process, so the baseline's process RSS includes what Parley's run left behind.`,
    rows,
    notes: [
      trace('Parley', parley),
      trace('Baseline', baseline),
      'Parley stores every message (DynamoDB Local holds them in memory); the tutorial stores none.',
    ],
  };
}
