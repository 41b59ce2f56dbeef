/**
 * Figure 8: dollars per million delivered messages, Parley against the
 * tutorial's design, priced from what each side's run was counted using
 * (billing.ts) at the prices in prices.ts, and a month of chat for 100,
 * 10,000 and 1,000,000 monthly active users from those counts
 * (cost-model.ts).
 *
 * Scenarios, each a phase of messages sent one at a time:
 * (a) a room of 10 that is everyone online: Parley's room of 10 among its
 *     clients (only those 10 are online in the scenario, so only their
 *     connection minutes count); the baseline with 10 connections, its table
 *     holding only them.
 * (b) a room among many online (100 of 1,000 in full mode): Parley's room
 *     among that many connected; the baseline with as many connections, the
 *     room's opened with ?room=, measured twice: with the room in the frame
 *     (its Scan reads every row and the FilterExpression keeps the room's),
 *     and as the tutorial is written, without one (it posts to everyone).
 * Then what the monthly model needs besides sends: a few sessions (connect,
 * with Parley's authorizer, join a room, disconnect) on each side, and
 * Parley's keep-alive pings (the tutorial sends none).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { keys } from '../../amplify/core/keys';
import { DEFAULT_ROOM, LIMITS } from '../../amplify/core/protocol';
import type { LocalStack } from '../../local/stack';
import { startBaseline } from '../baseline/stack';
import {
  BASELINE_FUNCTIONS,
  BASELINE_ROUTES,
  COST_PARTS,
  SideMeter,
  combine,
  costOf,
  emptyUsage,
  meterParleyDynamo,
  parleyFunctionConfigs,
  scaled,
  totalBilledMs,
  totalInvocations,
  type Cost,
  type FunctionConfig,
  type Usage,
} from '../billing';
import { BenchClient, closeAll } from '../client';
import { ASSUMPTIONS, MAU_LEVELS, describeAssumptions, monthlyTable, perUnit, type SideProfile } from '../cost-model';
import { Deliveries } from '../deliveries';
import { progress, sleep, type Sizes } from '../env';
import { PRICES } from '../prices';
import type { Figure, Row } from '../report';
import { baselineSide, connectBaseline, joinParleyRoom, parleySide, type Side } from '../sides';
import { round } from '../stats';

const WARMUP = 2;
const suffix = randomBytes(3).toString('hex');
let reqs = 0;
const reqId = () => `cost-${suffix}-${++reqs}`;

interface Phase {
  usage: Usage;
  sent: number;
  /** Messages received by members other than the sender. */
  delivered: number;
  expected: number;
  errorFrames: number;
}

/**
 * Sends `count` messages into `room`, senders taking turns at Parley's pace
 * (each under its per-user rate limit), the next once every member has the
 * last; `online` are the scenario's connections, whose open time is billed.
 */
async function sendPhase(
  meter: SideMeter,
  side: Side,
  opts: { online: readonly BenchClient[]; members: readonly BenchClient[]; room: string; count: number; senders: number },
): Promise<Phase> {
  const { members } = opts;
  const deliveries = new Deliveries(side.extract);
  deliveries.attach(members);
  const who = members.slice(0, Math.min(opts.senders, members.length));
  const pause = Math.max(5, Math.ceil(120 / who.length));
  const send = async (i: number) => {
    await deliveries.send(who[i % who.length]!, (text) => side.frame(opts.room, text), members.length - 1, 5000);
    await sleep(pause);
  };
  try {
    for (let i = 0; i < WARMUP; i++) await send(i);
    deliveries.take();
    await meter.start(opts.online);
    for (let i = 0; i < opts.count; i++) await send(WARMUP + i);
    const usage = await meter.stop();
    const got = deliveries.take();
    return { usage, sent: got.sent, delivered: got.received, expected: got.expected, errorFrames: got.errorFrames };
  } finally {
    deliveries.detach(members);
  }
}

/** `n` sessions one after another: open a socket, optionally join `room`, close, and wait for its $disconnect. */
async function sessionPhase(meter: SideMeter, urls: readonly string[], room?: string): Promise<Usage> {
  await meter.start([]);
  for (const [k, url] of urls.entries()) {
    const c = await BenchClient.connect(url, k);
    try {
      if (room) {
        const reply = await c.request({ action: 'joinroom', room, reqId: reqId() });
        if (reply.type !== 'joined') throw new Error(`joinroom ${room}: ${JSON.stringify(reply)}`);
      }
    } finally {
      await c.close();
    }
    await meter.waitForRoute('$disconnect', k + 1);
  }
  return meter.stop();
}

/** Parley's heartbeat as the app sends it ({"action":"ping"}), `n` times across `clients`, each answered by a pong. */
async function pingPhase(meter: SideMeter, clients: readonly BenchClient[], n: number): Promise<Usage> {
  await meter.start(clients);
  for (let i = 0; i < n; i++) {
    const c = clients[i % clients.length]!;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => (c.listeners.delete(listen), reject(new Error('no pong within 5 s'))), 5000);
      const listen = (text: string) => {
        if (!text.includes('"type":"pong"')) return;
        clearTimeout(timer);
        c.listeners.delete(listen);
        resolve();
      };
      c.listeners.add(listen);
      c.send({ action: 'ping' });
    });
  }
  return meter.stop();
}

/** The app's heartbeat interval, read from the client that sends it (src/realtime/connection.ts). */
function heartbeatMs(): number {
  const source = readFileSync(new URL('../../src/realtime/connection.ts', import.meta.url), 'utf8');
  const expr = /heartbeatMs:\s*([\d_\s*]+),/.exec(source)?.[1];
  if (!expr) throw new Error('src/realtime/connection.ts: no default `heartbeatMs: <number>` found');
  return expr.split('*').reduce((p, f) => p * Number(f.replace(/[_\s]/g, '')), 1);
}

/** Parley's presence frames, by whether they went to the lobby (every connection is in it) or to another room. */
function classifyParley(frame: string): string {
  if (!frame.includes('"type":"presence"')) return 'other';
  try {
    return (JSON.parse(frame) as { room?: string }).room === DEFAULT_ROOM ? 'presence-lobby' : 'presence-room';
  } catch {
    return 'other';
  }
}

// ---------------------------------------------------------------- formatting

const perMillion = (dollars: number, n: number) => (n > 0 ? (dollars / n) * 1e6 : null);
const money = (x: number | null) => (x === null ? 'n/a' : x >= 100 ? `$${Math.round(x).toLocaleString('en-US')}` : x >= 1 ? `$${x.toFixed(2)}` : `$${x.toPrecision(2)}`);
const num = (x: number, digits = 2) => String(round(x, digits));

function breakdown(cost: Cost, n: number): string {
  return COST_PARTS.map((p) => `${p.label} ${money(perMillion(cost[p.key], n))}`).join(' + ');
}

const listing = (r: Record<string, number>, digits = 2) =>
  Object.entries(r)
    .filter(([, x]) => x !== 0)
    .map(([k, x]) => `${k} ${num(x, digits)}`)
    .join(', ') || 'none';

function unitsLine(u: Usage, n: number): string {
  const per = perUnit(u, n);
  const ops = Object.keys(per.callsByOperation).map((op) => `${op} ×${num(per.callsByOperation[op]!)} = ${num(per.unitsByOperation[op] ?? 0)} units`);
  return (
    `${num(per.framesIn)} frames in, ${num(per.framesOut)} frames out (${num(per.messagesIn + per.messagesOut)} billed messages), ` +
    `${num(totalInvocations(per))} invocations (${listing(per.invocationsByRoute)}), ${num(totalBilledMs(per), 1)} billed ms, ` +
    `${num(per.rru)} RRU, ${num(per.wru)} WRU (DynamoDB: ${ops.join(', ') || 'no calls'}), ${num(per.connectionMinutes, 4)} connection minutes`
  );
}

function describe(name: string, p: Phase, functions: Record<string, FunctionConfig>): string {
  const cost = costOf(p.usage, functions);
  const lost = p.expected - p.delivered;
  return (
    `${name}: ${money(perMillion(cost.total, p.delivered))} per million delivered = ${breakdown(cost, p.delivered)}. ` +
    `Per message sent: ${unitsLine(p.usage, p.sent)}. ${p.sent} sent, ${p.delivered} delivered` +
    `${lost ? `, ${lost} lost` : ''}${p.errorFrames ? `, ${p.errorFrames} error frames` : ''}` +
    `${p.usage.failedDynamoCalls ? `, ${p.usage.failedDynamoCalls} failed DynamoDB calls` : ''}, ${num(p.usage.seconds, 1)} s.`
  );
}

// ---------------------------------------------------------------- the figure

export async function costFigure(ctx: {
  sizes: Sizes;
  /** Parley's open clients (run.ts opens them once); the first `online` are scenario (b)'s population. */
  parleyClients: readonly BenchClient[];
  parley: Pick<LocalStack, 'gateway' | 'functions' | 'websocketUrl' | 'token'>;
  dynamoEndpoint: string;
}): Promise<Figure> {
  const { smallRoom, room, online, messages, senders, sessions, pings } = ctx.sizes.cost;
  const open = ctx.parleyClients.filter((c) => c.open);
  if (open.length < online) throw new Error(`figure 8 needs ${online} open Parley clients, has ${open.length}`);
  if (room + smallRoom + 1 > online) throw new Error(`rooms of ${room} and ${smallRoom} do not fit among ${online}`);

  const parleyFunctions = parleyFunctionConfigs(Object.values(ctx.parley.functions));
  // The lobby's Queries (presence on connect and disconnect) grow with who is in it: metered apart, to rescale in the model.
  const lobbyPk = JSON.stringify(keys.roomPk(DEFAULT_ROOM));
  const parleyMeter = new SideMeter({
    name: 'Parley',
    gateway: ctx.parley.gateway,
    functionOf: (r) => ctx.parley.functions[r] ?? 'chat',
    classify: classifyParley,
    labelCall: (operation, body) => (operation === 'Query' && body.includes(lobbyPk) ? 'lobby' : undefined),
  });
  meterParleyDynamo(parleyMeter);
  const tutorial = await startBaseline({ dynamoEndpoint: ctx.dynamoEndpoint });
  const baselineMeter = new SideMeter({ name: 'baseline', gateway: tutorial.gateway, functionOf: (r) => BASELINE_ROUTES[r] ?? r });
  baselineMeter.attachDynamo(tutorial.ddb);
  const roomA = `cost-a-${suffix}`;
  const roomB = `cost-b-${suffix}`;
  const opened: BenchClient[] = [];

  try {
    // ------------------------------------------------ Parley
    const population = open.slice(0, online);
    // Distinct creators from the latency figure's (client 0), whose room creations are rate-limited.
    const membersB = population.slice(1, 1 + room);
    const membersA = population.slice(online - smallRoom, online);
    await joinParleyRoom(membersA, roomA);
    await joinParleyRoom(membersB, roomB);

    progress(`  Parley (a): room of ${smallRoom} = everyone online, ${messages} messages`);
    const pA = await sendPhase(parleyMeter, parleySide, { online: membersA, members: membersA, room: roomA, count: messages, senders });
    progress(`  Parley (b): room of ${room} among ${online} online, ${messages} messages`);
    const pB = await sendPhase(parleyMeter, parleySide, { online: population, members: membersB, room: roomB, count: messages, senders });

    progress(`  Parley: ${sessions} sessions (sign-up first, not metered), ${pings} heartbeats`);
    const tokens: string[] = [];
    for (let k = 0; k < sessions; k++) tokens.push(await ctx.parley.token(`bench-cost-${suffix}-${k}`));
    const lobbySockets = ctx.parleyClients.filter((c) => c.open).length;
    const pSession = await sessionPhase(parleyMeter, tokens.map((t) => `${ctx.parley.websocketUrl}?token=${encodeURIComponent(t)}`), roomA);
    const pPing = await pingPhase(parleyMeter, membersA, pings);

    // ------------------------------------------------ baseline
    progress(`  baseline (a): ${smallRoom} connections, ${messages} messages`);
    const alone = await connectBaseline(tutorial, smallRoom);
    opened.push(...alone);
    const bA = await sendPhase(baselineMeter, baselineSide, { online: alone, members: alone, room: '', count: messages, senders });
    progress(`  baseline: ${sessions} sessions`);
    const bSession = await sessionPhase(baselineMeter, Array.from({ length: sessions }, () => tutorial.websocketUrl));
    await closeAll(alone);
    await baselineMeter.quiesce();

    progress(`  baseline (b): ${online} connections, ${room} of them with ?room=, ${messages} messages with the room and ${messages} without`);
    const others = await connectBaseline(tutorial, online - room, undefined, 0);
    opened.push(...others);
    const members = await connectBaseline(tutorial, room, roomB, online - room);
    opened.push(...members);
    const everyone = [...others, ...members];
    const bB = await sendPhase(baselineMeter, baselineSide, { online: everyone, members, room: roomB, count: messages, senders });
    const bAll = await sendPhase(baselineMeter, baselineSide, { online: everyone, members, room: '', count: messages, senders });
    await closeAll(everyone);
    await baselineMeter.quiesce();

    // ------------------------------------------------ per delivered message
    const dollars = (p: Phase, f: Record<string, FunctionConfig>) => perMillion(costOf(p.usage, f).total, p.delivered);
    const pa = dollars(pA, parleyFunctions);
    const ba = dollars(bA, BASELINE_FUNCTIONS);
    const pb = dollars(pB, parleyFunctions);
    const bb = dollars(bB, BASELINE_FUNCTIONS);
    const bAllb = dollars(bAll, BASELINE_FUNCTIONS);
    const withinOf = (p: number | null, b: number | null, k: number) => (p === null || b === null ? null : p <= k * b);
    const cheaper = (p: number | null, b: number | null, k: number) => (p === null || b === null || p === 0 ? null : b / p >= k);
    const unitRows = (label: string, p: Phase, b: Phase, baselineLabel?: string): Row[] => {
      const pu = perUnit(p.usage, p.sent);
      const bu = perUnit(b.usage, b.sent);
      const extra = baselineLabel ? { baselineLabel } : {};
      return [
        { metric: `${label}: API Gateway messages per message sent (in + out)`, unit: 'msgs', parley: round(pu.messagesIn + pu.messagesOut, 2), baseline: round(bu.messagesIn + bu.messagesOut, 2), better: 'lower', ...extra },
        { metric: `${label}: DynamoDB write units per message sent`, unit: 'WRU', parley: round(pu.wru, 2), baseline: round(bu.wru, 2), better: 'lower', ...extra },
        { metric: `${label}: DynamoDB read units per message sent`, unit: 'RRU', parley: round(pu.rru, 2), baseline: round(bu.rru, 2), better: 'lower', ...extra },
        { metric: `${label}: Lambda billed ms per message sent`, unit: 'ms', parley: round(totalBilledMs(pu), 1), baseline: round(totalBilledMs(bu), 1), better: 'lower', ...extra },
      ];
    };
    const fmtN = (n: number) => n.toLocaleString('en-US');
    const labelA = `(a) room of ${smallRoom} = everyone online`;
    const labelB = `(b) room of ${room} among ${fmtN(online)} online`;
    const rows: Row[] = [
      {
        metric: `${labelA}: $ per million delivered messages`,
        unit: '$',
        parley: pa === null ? null : round(pa, 2),
        baseline: ba === null ? null : round(ba, 2),
        better: 'lower',
        goal: { text: "≤ 1.2× the baseline's", met: withinOf(pa, ba, 1.2) },
      },
      ...unitRows(labelA, pA, bA),
      {
        metric: `${labelB}: $ per million delivered messages`,
        unit: '$',
        parley: pb === null ? null : round(pb, 2),
        baseline: bb === null ? null : round(bb, 2),
        better: 'lower',
        // No goal here: with the filter both post to the room, so only the Scan and the rest differ.
        baselineLabel: 'tutorial + room filter: Scan reads all, posts to the room',
      },
      {
        metric: `${labelB}: $ per million delivered messages`,
        unit: '$',
        parley: pb === null ? null : round(pb, 2),
        baseline: bAllb === null ? null : round(bAllb, 2),
        better: 'lower',
        baselineLabel: 'tutorial as written: posts to everyone online',
        // The issue's goal: the tutorial has no rooms, so a message for 100 people goes to all online.
        goal: { text: '≥ 5× cheaper', met: cheaper(pb, bAllb, 5) },
      },
      ...unitRows(labelB, pB, bB, 'tutorial + room filter'),
    ];

    // ------------------------------------------------ sessions and heartbeats
    const pSessionCost = costOf(pSession, parleyFunctions);
    const bSessionCost = costOf(bSession, BASELINE_FUNCTIONS);
    const hbMs = heartbeatMs();
    const pingsPerHour = 3_600_000 / hbMs;
    const perPing = perUnit({ ...pPing, connectionMinutes: 0 }, pings);
    const pingHourCost = costOf(perPing, parleyFunctions).total * pingsPerHour;
    rows.push(
      {
        metric: `one session (connect, join a room, disconnect; lobby of ${lobbySockets}): $ per million sessions`,
        unit: '$',
        parley: round((pSessionCost.total / sessions) * 1e6, 2),
        baseline: round((bSessionCost.total / sessions) * 1e6, 2),
        better: 'lower',
      },
      { metric: 'keep-alive: $ per million connected hours', unit: '$', parley: round(pingHourCost * 1e6, 2), baseline: 0, better: 'lower', ratio: false },
    );

    // ------------------------------------------------ the monthly model
    const n = (p: Phase) => p.sent;
    const A = { parley: perUnit(pA.usage, n(pA)), baseline: perUnit(bA.usage, n(bA)) };
    const B = { filtered: perUnit(bB.usage, n(bB)), all: perUnit(bAll.usage, n(bAll)) };
    const sendFn = 'sendmessage';
    // The baseline's per-send parts that grow with who is online, from (b): the Scan's units and time per row it read,
    // and (as written) the time per post, fitted from the same Scan posting to the room and to everyone.
    const postsA = smallRoom;
    const scanned = (u: Usage) => u.itemsReadByOperation.Scan ?? 0;
    const rowsB = scanned(B.filtered) + scanned(B.all);
    const msPerRow = rowsB > 0 ? ((B.filtered.msByOperation.Scan ?? 0) + (B.all.msByOperation.Scan ?? 0)) / rowsB : 0;
    const rruPerRow = rowsB > 0 ? ((B.filtered.unitsByOperation.Scan ?? 0) + (B.all.unitsByOperation.Scan ?? 0)) / rowsB : 0;
    const msPerPost = online > room ? Math.max(0, (totalBilledMs(B.all) - totalBilledMs(B.filtered)) / (online - room)) : 0;
    const outPerPost = { frames: A.baseline.framesOut / postsA, messages: A.baseline.messagesOut / postsA };
    const connectionsOnline = (o: number) => Math.max(o, ASSUMPTIONS.roomSize);
    if (ASSUMPTIONS.roomSize !== smallRoom) throw new Error(`the model's rooms of ${ASSUMPTIONS.roomSize} need scenario (a) measured at that size, not ${smallRoom}`);
    const baselineSend = (everyonePosted: boolean) => (o: number): Usage => {
      const N = connectionsOnline(o);
      const posts = everyonePosted ? N : postsA;
      const u = combine(emptyUsage(), A.baseline);
      u.framesOut = outPerPost.frames * posts;
      u.messagesOut = outPerPost.messages * posts;
      u.rru = Math.max(A.baseline.rru, rruPerRow * N);
      u.billedMs = { ...u.billedMs, [sendFn]: (u.billedMs[sendFn] ?? 0) + msPerPost * (posts - postsA) + msPerRow * Math.max(0, N - smallRoom) };
      return u;
    };
    const perSession = { parley: perUnit(pSession, sessions), baseline: perUnit(bSession, sessions) };
    const presence = { lobby: perSession.parley.framesOutBy['presence-lobby'] ?? 0, room: perSession.parley.framesOutBy['presence-room'] ?? 0 };
    // Parley's own time per post, from its (a) and (b) sends; in quick mode, where they post alike, the baseline's.
    const postsParley = { a: A.parley.framesOut, b: perUnit(pB.usage, n(pB)).framesOut };
    const parleyMsPerPost =
      postsParley.b - postsParley.a >= 1 ? Math.max(0, (totalBilledMs(perUnit(pB.usage, n(pB))) - totalBilledMs(A.parley)) / (postsParley.b - postsParley.a)) : msPerPost;
    const lobbyQuery = {
      calls: perSession.parley.labelled['lobby.calls'] ?? 0,
      units: perSession.parley.labelled['lobby.units'] ?? 0,
      items: perSession.parley.labelled['lobby.items'] ?? 0,
      ms: perSession.parley.labelled['lobby.ms'] ?? 0,
    };
    const parleySession = (o: number): Usage => {
      // Parley tells a room who came and went unless more than presenceMax people are in it (amplify/core/chat.ts
      // announce()), reading the room's rows until it has seen that many people: in the bench's lobby (few people,
      // many tabs) every row, in the model's (one tab each) at most presenceMax + 1.
      const people = connectionsOnline(o);
      const rows = lobbySockets > 0 ? Math.min(people, LIMITS.presenceMax + 1) / lobbySockets : 1;
      const lobby = lobbySockets > 0 && people <= LIMITS.presenceMax ? (presence.lobby / lobbySockets) * (people - 1) : 0;
      const inRoom = (presence.room / smallRoom) * (ASSUMPTIONS.roomSize - 1);
      const delta = lobby + inRoom - presence.lobby - presence.room;
      const u = combine(emptyUsage(), perSession.parley);
      u.framesOut += delta;
      u.messagesOut += delta;
      u.framesOutBy = { ...u.framesOutBy, 'presence-lobby': lobby, 'presence-room': inRoom };
      u.rru += lobbyQuery.units * (rows - 1);
      // The lobby's Query time and presence posts are $connect's and $disconnect's: rescale their share of those durations.
      const msDelta = lobbyQuery.ms * (rows - 1) + (lobby - presence.lobby) * parleyMsPerPost;
      const fns = ['connect', 'disconnect'].filter((fn) => (u.billedMs[fn] ?? 0) > 0);
      const before = fns.reduce((s2, fn) => s2 + u.billedMs[fn]!, 0);
      const billedMs = { ...u.billedMs };
      for (const fn of fns) billedMs[fn] = Math.max(0, billedMs[fn]! + (msDelta * billedMs[fn]!) / before);
      u.billedMs = billedMs;
      return u;
    };
    const sides: SideProfile[] = [
      { name: 'Parley', functions: parleyFunctions, send: () => A.parley, session: parleySession, perOnlineHour: () => scaled(perPing, pingsPerHour) },
      { name: 'tutorial + room filter', functions: BASELINE_FUNCTIONS, send: baselineSend(false), session: () => perSession.baseline, perOnlineHour: emptyUsage },
      { name: 'tutorial as written', functions: BASELINE_FUNCTIONS, send: baselineSend(true), session: () => perSession.baseline, perOnlineHour: emptyUsage },
    ];
    const table = monthlyTable(sides);
    const [parleyMonth, filteredMonth, allMonth] = table as [(typeof table)[0], (typeof table)[0], (typeof table)[0]];
    for (const [i, mau] of MAU_LEVELS.entries()) {
      for (const other of [filteredMonth, allMonth]) {
        rows.push({
          metric: `a month for ${fmtN(mau)} monthly active users`,
          unit: '$/month',
          parley: round(parleyMonth.estimates[i]!.cost.total, 2),
          baseline: round(other.estimates[i]!.cost.total, 2),
          better: 'lower',
          baselineLabel: other.side,
        });
      }
    }
    const monthLines = table.map(
      (t) =>
        `${t.side}: ` +
        t.estimates
          .map((e) => `${fmtN(e.mau)} MAU (${num(e.online, 1)} online) ${money(e.cost.total)} = ${COST_PARTS.map((p) => `${p.label} ${money(e.cost[p.key])}`).join(', ')}`)
          .join('; '),
    );

    const fnLine = (f: Record<string, FunctionConfig>) => Object.entries(f).map(([name, c]) => `${name} ${c.memoryMB} MB ${c.architecture}`).join(', ');
    const corrected = [pA, pB, bA, bB, bAll].reduce((s, p) => s + p.usage.transactCorrectionWru, 0) + pSession.transactCorrectionWru;
    return {
      id: 8,
      title: 'Cost: dollars per million delivered messages, and a month of chat',
      method:
        `Each side's run was metered phase by phase: API Gateway messages in and out (each billed in 32 KB units) and connection minutes of the scenario's online connections, from an observer on the local gateway; ` +
        `Lambda invocations per function and their duration (timed in-process from the handler's start to its settling, rounded up to 1 ms) at each function's memory and architecture; ` +
        `DynamoDB RRU and WRU as DynamoDB Local reports them to a ReturnConsumedCapacity=TOTAL middleware, transactional writes corrected to 2 WRU per KB per item. ` +
        `Priced at ${PRICES.region} on-demand list prices (bench/prices.ts, checked ${PRICES.checkedOn}). ${messages} messages one at a time per phase after ${WARMUP} unmetered, ${senders} senders in turn. ` +
        `Delivered = received by a member other than the sender, the same on both sides: the sender's own copy (baseline) or ack (Parley) is billed but not a delivery.`,
      rows,
      notes: [
        describe(`(a) Parley`, pA, parleyFunctions),
        describe(`(a) baseline`, bA, BASELINE_FUNCTIONS),
        describe(`(b) Parley`, pB, parleyFunctions),
        describe(`(b) baseline + room filter`, bB, BASELINE_FUNCTIONS),
        describe(`(b) baseline as written`, bAll, BASELINE_FUNCTIONS),
        `Scenarios: (a) Parley's room of ${smallRoom} sits among ${lobbySockets} connected clients, but only the ${smallRoom} are the scenario's, so only their connection minutes count; the baseline has exactly ${smallRoom} connections in its table. ` +
          `(b) Parley's room of ${room} among ${fmtN(online)} connected (all ${fmtN(online)} billed for connection minutes); the baseline has ${fmtN(online)} connections, ${room} opened with ?room=, and is measured with the room in the frame (Scan + FilterExpression: reads all ${fmtN(online)}, posts to ${room}) and without (the tutorial as written: posts to all ${fmtN(online)}, of whom ${room - 1} are the room's other members and count as deliveries).`,
        `Connection minutes per message depend on the bench's pace (one message at a time, a pause of ~${Math.ceil(120 / senders)} ms between sends, the same on both sides): a small share here; the monthly model bills online hours instead.`,
        `Sessions, per session: Parley (authorizer, $connect, joinroom, $disconnect; fresh users, signed up beforehand) ${unitsLine(pSession, sessions)}, ${money(perMillion(pSessionCost.total, sessions))} per million = ${breakdown(pSessionCost, sessions)}; ` +
          `of its frames out, ${num(presence.lobby)} were presence to the lobby's ${lobbySockets} sockets and ${num(presence.room)} presence to the room's ${smallRoom}; ` +
          `its lobby Queries: ${num(lobbyQuery.calls)} calls reading ${num(lobbyQuery.items)} rows, ${num(lobbyQuery.units)} RRU, ${num(lobbyQuery.ms, 1)} ms. ` +
          `Baseline ($connect PutItem, $disconnect DeleteItem, no authorizer, no rooms) ${unitsLine(bSession, sessions)}, ${money(perMillion(bSessionCost.total, sessions))} per million.`,
        `Keep-alive: the app pings every ${hbMs / 60_000} min while connected (src/realtime/connection.ts), ${num(pingsPerHour, 1)} an hour; one ping: ${unitsLine(pPing, pings).replace(/, [\d.]+ connection minutes$/, '')}. The tutorial sends none (its connections close after 10 idle minutes; the model keeps them open for free).`,
        `Monthly model (bench/cost-model.ts), from the per-message, per-session and per-ping units above: ${describeAssumptions()}. ` +
          `Parley's send is its (a) units (it reads the room's partition only, whoever else is online). The baseline's send is its (a) units plus what grows with the connections online, from (b): ` +
          `the Scan's ${num(rruPerRow, 4)} RRU and ${num(msPerRow, 4)} ms per row it reads (its measured round trips over (b)'s ${fmtN(online)}-row table), and ${num(msPerPost, 3)} billed ms per post (the as-written and filtered (b) sends' difference per extra post; as written, every message posts to everyone online). ` +
          `Parley's session is rescaled from the bench's lobby (${lobbySockets} sockets of few people) to the model's (one tab each): presence frames to the lobby (none above ${LIMITS.presenceMax} people, as announce() is) and to rooms of ${ASSUMPTIONS.roomSize}, the lobby Queries' read units and time by the rows they would read (at most ${LIMITS.presenceMax + 1}), and the presence posts' time at ${num(parleyMsPerPost, 3)} billed ms per post (${postsParley.b - postsParley.a >= 1 ? "Parley's (b) send against its (a)" : "the baseline's, as Parley's (a) and (b) post alike in this mode"}). ` +
          `Where fewer than a room are online on average (100 MAU), each message still reaches a full room. ` +
          `The baseline's Scan read units grow with its table by DynamoDB's own rule (bytes read), so they extrapolate well; its milliseconds per scanned row are DynamoDB Local's on this machine, measured over ${fmtN(online)} rows and extrapolated to tens of thousands: the weakest number here. ` +
          `Not included: free tiers, volume tiers above the first (API Gateway's first billion messages a month, Lambda's first 6 billion GB-s; 1,000,000 MAU passes the first), Cognito, DynamoDB storage (Parley keeps message history; the tutorial stores nothing), CloudWatch logs, data transfer, and cold starts (init time).`,
        ...monthLines,
        `Functions billed at: Parley ${fnLine(parleyFunctions)} (memoryMB from amplify/functions/*/resource.ts, architecture from amplify/realtime/function.ts); baseline ${fnLine(BASELINE_FUNCTIONS)} (aws-samples/simple-websockets-chat-app template.yaml: MemorySize 256, no Architectures, so x86_64).`,
        `DynamoDB Local doubles transactional writes but, within one table, counts items of the same size once (two 1 KB Puts in one TransactWriteItems report 2 WRU, not 4): the meter raises each transaction to 2 WRU per KB per item (Puts by their size, other items as 1 KB), +${num(corrected, 1)} WRU over these phases. Failed conditional writes are billed as writes. Transactional reads it already reports doubled.`,
        `Lambda durations are this machine's (${cpus().length} cores, shared): clients, gateway and handlers share one process and compete for the same cores, so both sides' milliseconds read high; they are a small share of either side's cost.`,
      ],
    };
  } finally {
    await closeAll(opened.filter((c) => c.open));
    parleyMeter.close();
    baselineMeter.close();
    await tutorial.close();
  }
}
