/**
 * Figure 2: one message to every connection on a gateway that adds 20 ms to
 * each PostToConnection and answers 429 beyond 200 concurrent management
 * calls. Parley's `deliver()` (forEachLimit, 64 by default) through the
 * client it deploys with (`managementClient`: keep-alive, as many sockets as
 * the fan-out's concurrency), against the tutorial's unbounded Promise.all
 * on the SDK's default agent (50 sockets) and on an uncapped one, and a
 * sequential loop, all through the real SDK client to real sockets.
 */
import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { managementClient, managementNotifier, type ChatDeps } from '../../amplify/core/deps';
import { deliver, encodeEvent, forEachLimit } from '../../amplify/core/fanout';
import type { RoomConnection } from '../../amplify/core/connections';
import type { ServerEvent } from '../../amplify/core/protocol';
import { dynamoClient } from '../../local/dynamodb';
import type { WebSocketEvent } from '../../amplify/functions/runtime';
import { startGateway, type LambdaHandler } from '../../local/gateway';
import { closeAll, connectMany } from '../client';
import { progress, sleep, type Sizes } from '../env';
import type { Figure, Row } from '../report';
import { median, round } from '../stats';

const POST_LATENCY_MS = 20;
const MAX_CONCURRENT_CALLS = 200;
/** Parley's default (amplify/core/config.ts, PARLEY_FANOUT_CONCURRENCY). */
const PARLEY_CONCURRENCY = 64;

type Strategy = (client: ApiGatewayManagementApiClient, ids: readonly string[], data: Uint8Array) => Promise<{ failed: number }>;

interface Outcome {
  ms: number;
  /** CPU this process spent (user + system), which here includes the gateway's and the sockets' share. */
  cpuMs: number;
  failed: number;
  throttled: number;
  received: number;
}

/** A gateway with `n` real sockets on it, and counters for what reached them. */
interface Rig {
  n: number;
  ids: string[];
  endpoint: string;
  received(): number;
  throttled(): number;
}

async function withRig<T>(n: number, latencyMs: number, limit: number, use: (rig: Rig) => Promise<T>): Promise<T> {
  const ids: string[] = [];
  const gateway = await startGateway({
    routes: {
      $connect: (async (event: WebSocketEvent) => {
        ids.push(event.requestContext.connectionId);
        return { statusCode: 200 };
      }) as LambdaHandler,
    },
    postLatencyMs: latencyMs,
    maxConcurrentManagementCalls: limit,
  });
  try {
    progress(`  connecting ${n} WebSocket clients to a gateway with ${latencyMs} ms per post`);
    const sockets = await connectMany(n, () => gateway.url, 'fan-out sockets', { concurrency: 32 });
    try {
      let received = 0;
      for (const s of sockets) s.listeners.add(() => received++);
      return await use({ n, ids, endpoint: gateway.managementEndpoint, received: () => received, throttled: () => gateway.stats().throttled });
    } finally {
      await closeAll(sockets);
    }
  } finally {
    await gateway.close();
  }
}

export async function fanoutFigure(ctx: { dynamoEndpoint: string; sizes: Sizes }): Promise<Figure> {
  const { connections: n, warmRuns } = ctx.sizes.fanout;
  const ddb = dynamoClient(ctx.dynamoEndpoint);
  const clientsToClose: ApiGatewayManagementApiClient[] = [];
  const event: ServerEvent = { type: 'message', room: 'lobby', seq: 1, id: 'bench', senderId: 'bench', senderName: 'bench', text: 'fan-out probe', ts: Date.now() };
  const data = encodeEvent(event);

  // Parley's own path: deliver() with a Notifier, as the chat handler builds it. A 410 would prune through db; none is expected.
  const parley: Strategy = async (client, targets) => {
    const deps: ChatDeps = {
      db: DynamoDBDocumentClient.from(ddb),
      tables: { connections: 'bench-unused', chat: 'bench-unused', users: 'bench-unused' },
      notifier: managementNotifier(client),
      fanoutConcurrency: PARLEY_CONCURRENCY,
      homeRegion: 'local',
      now: Date.now,
    };
    const recipients: RoomConnection[] = targets.map((connectionId) => ({ connectionId, userId: 'u', userName: 'u', connectedAt: 0 }));
    const result = await deliver(deps, recipients, event);
    return { failed: result.failed + result.gone };
  };
  const post = (client: ApiGatewayManagementApiClient, id: string) => client.send(new PostToConnectionCommand({ ConnectionId: id, Data: data }));
  // The pool deliver() used before: each worker starts its next post the moment its last one answers.
  const perSlot: Strategy = async (client, targets) => {
    let failed = 0;
    let next = 0;
    const worker = async () => {
      while (next < targets.length) await post(client, targets[next++]!).catch(() => failed++);
    };
    await Promise.all(Array.from({ length: Math.min(PARLEY_CONCURRENCY, targets.length) }, worker));
    return { failed };
  };
  const sequential: Strategy = async (client, targets) => {
    let failed = 0;
    for (const id of targets) await post(client, id).catch(() => failed++);
    return { failed };
  };
  // allSettled counts every failure; the sample's Promise.all would answer 500 at the first while the rest carry on.
  const unbounded: Strategy = async (client, targets) => {
    const settled = await Promise.allSettled(targets.map((id) => post(client, id)));
    return { failed: settled.filter((s) => s.status === 'rejected').length };
  };

  /**
   * The client a strategy posts through: Parley's as deployed (managementClient, one per endpoint,
   * keep-alive with maxSockets = the fan-out's concurrency), or a fresh one with the SDK's default
   * agent (keep-alive, 50 sockets) or with an uncapped agent.
   */
  type Agents = 'deployed' | 'default' | 'uncapped';
  const clientFor = (endpoint: string, agents: Agents) => {
    if (agents === 'deployed') return managementClient(endpoint, PARLEY_CONCURRENCY);
    const client = new ApiGatewayManagementApiClient({
      endpoint,
      ...(agents === 'uncapped' ? { requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: Infinity }) } } : {}),
    });
    clientsToClose.push(client);
    return client;
  };

  const measure = async (rig: Rig, label: string, strategy: Strategy, agents: Agents, runs: number): Promise<Outcome[]> => {
    const client = clientFor(rig.endpoint, agents);
    // Warm the client's connections, as a warm Lambda container's would be: as many as either agent keeps.
    const warm = Math.max(50, PARLEY_CONCURRENCY);
    await forEachLimit(rig.ids.slice(0, warm), warm, (id) => post(client, id).then(() => undefined, () => undefined));
    await sleep(200);
    const outcomes: Outcome[] = [];
    for (let r = 0; r < runs; r++) {
      const before = { throttled: rig.throttled(), received: rig.received() };
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      const { failed } = await strategy(client, rig.ids, data);
      const ms = performance.now() - t0;
      const used = process.cpuUsage(cpu);
      // Frames still in flight to the sockets get a moment to land before they are counted.
      for (let w = 0; w < 40 && rig.received() - before.received < rig.n - failed; w++) await sleep(25);
      outcomes.push({ ms, cpuMs: (used.user + used.system) / 1000, failed, throttled: rig.throttled() - before.throttled, received: rig.received() - before.received });
      await sleep(300);
    }
    const t = median(outcomes.map((o) => o.ms));
    progress(`  ${label}: median ${t.toFixed(0)} ms over ${runs} run(s), failed ≤ ${Math.max(...outcomes.map((o) => o.failed))}, throttled ≤ ${Math.max(...outcomes.map((o) => o.throttled))}`);
    return outcomes;
  };

  try {
    const results = await withRig(n, POST_LATENCY_MS, MAX_CONCURRENT_CALLS, async (rig) => ({
      parley: await measure(rig, 'Parley deliver() as deployed', parley, 'deployed', warmRuns),
      allDefault: await measure(rig, 'Promise.all, SDK default agent', unbounded, 'default', warmRuns),
      allUncapped: await measure(rig, 'Promise.all, uncapped agent', unbounded, 'uncapped', warmRuns),
      sequential: await measure(rig, 'sequential loop', sequential, 'default', 1),
      perSlot: await measure(rig, 'pool refilled per slot (the previous deliver)', perSlot, 'deployed', warmRuns),
    }));
    // The same fan-out with nothing injected: what this one process (client, gateway and sockets) costs by itself.
    const [floor, floorPerSlot] = await withRig(n, 0, Number.POSITIVE_INFINITY, async (rig) => [
      await measure(rig, 'Parley deliver() as deployed, no injected latency', parley, 'deployed', warmRuns),
      await measure(rig, 'pool refilled per slot, no injected latency', perSlot, 'deployed', warmRuns),
    ]);

    const time = (o: Outcome[]) => round(median(o.map((x) => x.ms)), 0);
    const worst = (o: Outcome[], k: 'failed' | 'throttled') => Math.max(...o.map((x) => x[k]));
    const lost = (o: Outcome[]) => Math.max(...o.map((x) => n - x.received));
    const p = results.parley;
    const parleyMet = time(p) <= time(results.allDefault) && worst(p, 'throttled') === 0;
    const rows: Row[] = [
      { metric: 'fan-out time, Parley deliver() as deployed', unit: 'ms', parley: time(p), baseline: time(results.allDefault), better: 'lower', baselineLabel: 'Promise.all, SDK default agent', goal: { text: '≤ baseline (Promise.all, SDK default agent), 0 throttles', met: parleyMet } },
      { metric: 'fan-out time, Parley deliver() as deployed', unit: 'ms', parley: time(p), baseline: time(results.allUncapped), better: 'lower', baselineLabel: 'Promise.all, uncapped agent' },
      { metric: 'fan-out time, Parley deliver() as deployed', unit: 'ms', parley: time(p), baseline: time(results.sequential), better: 'lower', baselineLabel: 'sequential loop' },
      { metric: 'fan-out time with no injected latency (harness floor)', unit: 'ms', parley: time(floor!), baseline: null, better: 'lower' },
      // Why deliver() refills freed slots together: the same cap, the same client, each slot refilled at once.
      { metric: 'fan-out time, deliver() vs a pool refilled per slot', unit: 'ms', parley: time(p), baseline: time(results.perSlot), better: 'lower', baselineLabel: 'pool refilled per slot' },
      { metric: 'fan-out time, no injected latency, deliver() vs a pool refilled per slot', unit: 'ms', parley: time(floor!), baseline: time(floorPerSlot!), better: 'lower', baselineLabel: 'pool refilled per slot' },
      { metric: 'throttled calls (429) per fan-out, worst run', unit: 'calls', parley: worst(p, 'throttled'), baseline: worst(results.allDefault, 'throttled'), better: 'lower', baselineLabel: 'Promise.all, SDK default agent' },
      { metric: 'throttled calls (429) per fan-out, worst run', unit: 'calls', parley: worst(p, 'throttled'), baseline: worst(results.allUncapped, 'throttled'), better: 'lower', baselineLabel: 'Promise.all, uncapped agent' },
      { metric: 'posts failed after SDK retries, worst run', unit: 'posts', parley: worst(p, 'failed'), baseline: worst(results.allUncapped, 'failed'), better: 'lower', baselineLabel: 'Promise.all, uncapped agent' },
      { metric: 'frames not received, worst run', unit: 'frames', parley: lost(p), baseline: lost(results.allUncapped), better: 'lower', baselineLabel: 'Promise.all, uncapped agent' },
    ];
    const detail = (label: string, o: Outcome[]) =>
      `${label}: ${o.map((x) => `${x.ms.toFixed(0)} ms`).join(', ')} (process CPU ${o.map((x) => x.cpuMs.toFixed(0)).join('/')} ms); failed ${o.map((x) => x.failed).join('/')}; throttled ${o.map((x) => x.throttled).join('/')}; received ${o.map((x) => x.received).join('/')} of ${n}`;
    return {
      id: 2,
      title: `Fan-out of one message to ${n} connections, ${POST_LATENCY_MS} ms per post`,
      method:
        `${n} real WebSocket clients on a local gateway that delays every PostToConnection by ${POST_LATENCY_MS} ms and answers 429 beyond ${MAX_CONCURRENT_CALLS} concurrent management calls. ` +
        `Parley's deliver() posts through managementClient() from amplify/core/deps.ts, the client its handlers deploy with (keep-alive agent, maxSockets = the fan-out concurrency, ${PARLEY_CONCURRENCY}); each other strategy posts through a fresh SDK client of its own. ` +
        `One ${data.byteLength}-byte message event to all of them (each client's connections warmed first, as a warm container's are); time from the first post to the last answer, median of ${warmRuns} run(s) (sequential: 1). ` +
        `The floor row repeats Parley's run on a gateway with no injected latency and no limit.`,
      rows,
      notes: [
        `Parley's client has ${PARLEY_CONCURRENCY} sockets for deliver()'s ${PARLEY_CONCURRENCY} posts in flight. The SDK's default HTTP agent allows 50 sockets per client (@smithy/node-http-handler), so the tutorial's unbounded Promise.all on it is quietly bounded to 50, queueing in the agent; the uncapped-agent rows show what unbounded really does against a ${MAX_CONCURRENT_CALLS}-call limit.`,
        `At ${POST_LATENCY_MS} ms per post the latency floor is ${Math.ceil(n / PARLEY_CONCURRENCY)} waves × ${POST_LATENCY_MS} ms = ${Math.ceil(n / PARLEY_CONCURRENCY) * POST_LATENCY_MS} ms with ${PARLEY_CONCURRENCY} in flight (Parley) and ${Math.ceil(n / 50)} × ${POST_LATENCY_MS} = ${Math.ceil(n / 50) * POST_LATENCY_MS} ms with 50 (the default agent); the floor row shows what this process spends on the same fan-out with no latency at all (SigV4 signing and HTTP on the client side, the gateway's HTTP server and WebSocket writes, ${n} sockets reading): whichever is larger bounds every strategy here.`,
        `The SDK retries 429s (standard mode, 3 attempts, with a retry quota); "throttled" counts every 429 the gateway answered, "failed" the posts still failing after retries.`,
        detail('Parley deliver() as deployed', p),
        detail('Promise.all, default agent', results.allDefault),
        detail('Promise.all, uncapped agent', results.allUncapped),
        detail('sequential loop', results.sequential),
        detail('pool refilled per slot', results.perSlot),
        detail('Parley deliver() as deployed, no injected latency', floor!),
        detail('pool refilled per slot, no injected latency', floorPerSlot!),
      ],
    };
  } finally {
    for (const c of clientsToClose) c.destroy();
    ddb.destroy();
  }
}
