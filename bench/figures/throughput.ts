/**
 * Figure 4: messages per second across many rooms, offered open-loop at
 * rising rates (each message scheduled at its time whatever the backlog),
 * until p99 send → receive passes 100 ms or deliveries go missing.
 */
import { performance } from 'node:perf_hooks';
import type { BaselineStack } from '../baseline/stack';
import type { FloorStack } from '../floor';
import { closeAll, type BenchClient } from '../client';
import { Deliveries } from '../deliveries';
import { progress, sleep, type Sizes } from '../env';
import type { Figure, Row } from '../report';
import { baselineSide, connectBaseline, floorSide, joinParleyRoom, parleySide, settleAfterSetup, type Settle, type Side } from '../sides';
import { finite, round, summarize } from '../stats';

const P99_LIMIT_MS = 100;
const DRAIN_MS = 3000;

interface Step {
  offered: number;
  sentPerS: number;
  deliveriesPerS: number;
  p50: number;
  p99: number;
  lostPct: number;
  errors: number;
}

const passes = (s: Step) => s.p99 <= P99_LIMIT_MS && s.lostPct <= 0.5 && s.errors === 0;

/** One step: `rate` messages a second for `seconds`, room after room, each room's members taking turns to send. */
async function step(side: Side, rooms: readonly { id: string; members: readonly BenchClient[] }[], rate: number, seconds: number): Promise<Step> {
  const deliveries = new Deliveries(side.extract);
  const everyone = rooms.flatMap((r) => r.members);
  deliveries.attach(everyone);
  try {
    const total = Math.max(1, Math.round(rate * seconds));
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    let sent = 0;
    // Bounded by count, and by time should the event loop fall far behind.
    while (sent < total && performance.now() - t0 < seconds * 1000 * 3) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      for (; sent < due; sent++) {
        const room = rooms[sent % rooms.length]!;
        const sender = room.members[Math.floor(sent / rooms.length) % room.members.length]!;
        pending.push(deliveries.send(sender, (text) => side.frame(room.id, text), room.members.length - 1, DRAIN_MS));
      }
      await sleep(Math.max(1, 1000 / rate - 1));
    }
    const sendSeconds = (performance.now() - t0) / 1000;
    await Promise.all(pending);
    const seconds_ = (performance.now() - t0) / 1000;
    const got = deliveries.take();
    const s = summarize(got.samples);
    return {
      offered: rate,
      sentPerS: round(got.sent / sendSeconds, 1),
      deliveriesPerS: round(got.received / seconds_, 0),
      p50: round(s.p50, 1),
      p99: round(s.p99, 1),
      lostPct: got.expected ? round((100 * (got.expected - got.received)) / got.expected, 2) : 0,
      errors: got.errorFrames,
    };
  } finally {
    deliveries.detach(everyone);
  }
}

async function climb(side: Side, rooms: { id: string; members: readonly BenchClient[] }[], rates: number[], seconds: number): Promise<Step[]> {
  // A short warm-up at the lowest rate, not counted.
  await step(side, rooms, rates[0] ?? 10, 1);
  const steps: Step[] = [];
  for (const rate of rates) {
    const s = await step(side, rooms, rate, seconds);
    steps.push(s);
    progress(`  ${side.name} at ${rate} msg/s offered: sent ${s.sentPerS}/s, p50 ${s.p50} ms, p99 ${s.p99} ms, lost ${s.lostPct}%, errors ${s.errors}`);
    if (!passes(s)) break;
    await sleep(500);
  }
  return steps;
}

/** The baseline or the floor: rooms of its own clients, opened with ?room=. */
async function climbRooms(side: Side, stack: Pick<BaselineStack, 'websocketUrl' | 'gateway'>, roomCount: number, members: number, rates: number[], seconds: number): Promise<Step[]> {
  const opened: BenchClient[] = [];
  try {
    const rooms: { id: string; members: BenchClient[] }[] = [];
    for (let k = 0; k < roomCount; k++) {
      const clients = await connectBaseline(stack, members, `tp-${k}`, opened.length, side.name);
      opened.push(...clients);
      rooms.push({ id: `tp-${k}`, members: clients });
    }
    progress(`  ${side.name}: ${roomCount} rooms × ${members} members${side.name === 'baseline' ? ' (one table, Scan + room filter)' : ''}`);
    // The same wait as Parley's after its joins (the tutorial's $connect has no follow-up work, so it is short).
    await settleAfterSetup(() => stack.gateway.settled(), side.name);
    return await climb(side, rooms, rates, seconds);
  } finally {
    await closeAll(opened);
  }
}

export async function throughputFigure(ctx: {
  sizes: Sizes;
  parleyClients: readonly BenchClient[];
  /** Until Parley's gateway has no invocation in flight. */
  parleySettled: Settle;
  baseline: BaselineStack;
  floor: FloorStack;
}): Promise<Figure> {
  const { rooms: roomCount, members, ratesPerS, stepS } = ctx.sizes.throughput;
  if (ctx.parleyClients.length < roomCount * members) throw new Error(`need ${roomCount * members} Parley clients, have ${ctx.parleyClients.length}`);
  const parleyRooms = Array.from({ length: roomCount }, (_, k) => ({ id: `tp-${k}`, members: ctx.parleyClients.slice(k * members, (k + 1) * members) }));
  progress(`  Parley: ${roomCount} rooms × ${members} members`);
  // Settling after each room, not only after the last, keeps one room's roomcreated to the whole lobby from slowing the next room's joins.
  const settledJoins = { seconds: 0, done: true };
  for (const r of parleyRooms) {
    await joinParleyRoom(r.members, r.id);
    const s = await settleAfterSetup(ctx.parleySettled, `Parley, ${r.id}`);
    settledJoins.seconds = Math.round((settledJoins.seconds + s.seconds) * 10) / 10;
    settledJoins.done &&= s.done;
  }
  const parley = await climb(parleySide, parleyRooms, ratesPerS, stepS);

  const baseline = await climbRooms(baselineSide, ctx.baseline, roomCount, members, ratesPerS, stepS);
  const floor = await climbRooms(floorSide, ctx.floor, roomCount, members, ratesPerS, stepS);

  const best = (steps: Step[]) => steps.filter(passes).at(-1);
  const bp = best(parley);
  const bb = best(baseline);
  const bf = best(floor);
  const [pr, br] = [bp?.offered ?? 0, bb?.offered ?? 0];
  const rows: Row[] = [
    { metric: `sustained rate with p99 ≤ ${P99_LIMIT_MS} ms`, unit: 'msg/s', parley: pr, baseline: br, floor: bf?.offered ?? 0, better: 'higher', goal: { text: '≥ baseline', met: pr >= br } },
    { metric: 'deliveries per second at that rate', unit: 'msg/s', parley: finite(bp?.deliveriesPerS), baseline: finite(bb?.deliveriesPerS), floor: finite(bf?.deliveriesPerS), better: 'higher' },
    { metric: 'p99 at that rate', unit: 'ms', parley: finite(bp?.p99), baseline: finite(bb?.p99), floor: finite(bf?.p99), better: 'lower' },
  ];
  const table = (steps: Step[]) =>
    steps.map((s) => `${s.offered}/s → sent ${s.sentPerS}/s, p50 ${s.p50} ms, p99 ${s.p99} ms, lost ${s.lostPct}%, errors ${s.errors}`).join('; ');
  const ceiling = (steps: Step[], all: number[]) => (steps.length === all.length && steps.every(passes) ? ' (every step passed: the ceiling is higher)' : '');
  return {
    id: 4,
    title: `Throughput across ${roomCount} rooms of ${members}`,
    method:
      `Open-loop steps of ${stepS} s at ${ratesPerS.join(', ')} messages/s, spread round-robin over the rooms and their members (far below Parley's per-connection rate limit); ` +
      `a step passes with p99 ≤ ${P99_LIMIT_MS} ms, ≤ 0.5% of deliveries missing after ${DRAIN_MS / 1000} s, and no error frames; the climb stops at the first failing step. ` +
      `The baseline's rooms are its Scan with a room filter over one table of all ${roomCount * members} connections; the floor's, its in-memory map filtered by room (no database).`,
    rows,
    notes: [
      `Parley steps: ${table(parley)}${ceiling(parley, ratesPerS)}`,
      `Baseline steps: ${table(baseline)}${ceiling(baseline, ratesPerS)}`,
      `Floor steps: ${table(floor)}${ceiling(floor, ratesPerS)}`,
      `Setup is not measured: after its ${roomCount} room creations and ${roomCount * (members - 1)} joins were answered, Parley waited ${settledJoins.seconds} s in all${settledJoins.done ? '' : ' (and gave up once)'}, after each room's, for their follow-up work to end before the next room and the climb (each public room's roomcreated to every socket in the lobby, roomadded to the joiner's other sockets, presence), which shares this process and its management client with the sends measured. The baseline and the floor wait the same way after connecting.`,
      `Populations differ here: Parley's rooms sit among all ${ctx.parleyClients.length} of its online connections (opened once in run.ts), while the baseline's table holds only these ${roomCount * members}, so each of its Scans reads ${roomCount * members} rows rather than ${ctx.parleyClients.length}: that favours the baseline. Figure 3 measures both setups.`,
    ],
  };
}
