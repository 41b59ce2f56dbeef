/**
 * Several regions on one machine (`npm start -- --regions 2`, the two-region
 * tests, bench figure 9). Per region: a DynamoDB Local (or a table set on a
 * shared one), its own connections table, a replica of the chat and users
 * tables, and a process (region.ts) with its gateway, home function and
 * stream fan-out. Between regions: replication with last-writer-wins and a
 * one-way delay (replication.ts). One cognito-local, in the primary, as
 * Cognito is: every region's authorizer verifies its tokens.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RegionEndpoint } from '../../amplify/regions/list';
import { LOCAL_REGIONS } from '../../amplify/regions/list';
import { homeFunctionName } from '../../amplify/regions/names';
import { CHAT_TABLE, CONNECTIONS_TABLE, USERS_TABLE } from '../../amplify/realtime/tables';
import { localIdToken, startCognito, type LocalCognito } from '../cognito';
import { createTable, dynamoClient, startDynamo } from '../dynamodb';
import type { RecordedCall } from '../iam';
import { freePort, startChild, type Child } from '../process';
import { localOutputs, type LocalOutputs } from '../stack';
import { REGION_ERROR, type FromRegion, type RegionProcessConfig, type ToRegion } from './messages';
import { startReplication, type Replication } from './replication';
import { enableStream } from './streams';

export interface RegionsOptions {
  /** How many regions, from LOCAL_REGIONS (primary first). */
  count?: number;
  /** One-way replication delay between regions. */
  delayMs?: number;
  jitterMs?: number;
  reorderRate?: number;
  /** Stream polling interval of the replicators and the event source mappings. */
  pollMs?: number;
  /** Use these DynamoDB Locals (by region; one may serve several), instead of starting one per region. */
  dynamoEndpoints?: string[];
  /** Use this cognito-local; its users table must be on the primary's DynamoDB Local. */
  cognito?: Omit<LocalCognito, 'stop'>;
  dataDir?: string;
  cognitoPort?: number;
  /** Fixed gateway ports by region (npm start); free ports otherwise. */
  gatewayPorts?: number[];
  outputsFile?: string;
  /** Echo the gateways' logs. */
  log?: boolean;
}

export interface LocalRegion {
  region: string;
  websocketUrl: string;
  managementEndpoint: string;
  dynamoEndpoint: string;
  tables: { connections: string; chat: string; users: string };
  /** This region's Lambda Invoke endpoint, where other regions reach its home function. */
  lambdaEndpoint: string;
  running(): boolean;
  /** A region outage: its gateway (every socket closes), home function and fan-out stop. Its tables stay. */
  stop(): Promise<void>;
  /** Back, on the same ports; its fan-out resumes where it stopped. */
  start(): Promise<void>;
}

export interface LocalRegions {
  regions: LocalRegion[];
  primary: string;
  cognito: Omit<LocalCognito, 'stop'>;
  replication: Replication;
  outputs: LocalOutputs;
  token(userName: string): Promise<string>;
  /** Every AWS call each region's handlers made, so far, attributed to their functions. */
  calls(): Promise<RecordedCall[]>;
  close(): Promise<void>;
}

const REGION_ENTRY = fileURLToPath(new URL('./region.ts', import.meta.url));
const ROOT = resolve(dirname(REGION_ENTRY), '../..');

/** The same name in every region, as in AWS (amplify/regions/names.ts); each region's Lambda endpoint tells them apart. */
const HOME_FUNCTION = homeFunctionName('local');

export async function startRegions(opts: RegionsOptions = {}): Promise<LocalRegions> {
  const count = opts.count ?? 2;
  if (count < 1 || count > LOCAL_REGIONS.length) throw new Error(`Local mode runs 1 to ${LOCAL_REGIONS.length} regions, not ${count}`);
  const names = LOCAL_REGIONS.slice(0, count);
  const primary = names[0]!;
  const stops: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: unknown) => console.error(err));
  };
  try {
    const endpoints: string[] = [];
    for (const [i] of names.entries()) {
      const given = opts.dynamoEndpoints?.[i];
      if (given) endpoints.push(given);
      else {
        const dynamo = await startDynamo(undefined, false);
        stops.push(dynamo.stop);
        endpoints.push(dynamo.endpoint);
      }
    }
    let cognito = opts.cognito;
    if (!cognito) {
      const started = await startCognito({ port: opts.cognitoPort, dataDir: opts.dataDir ?? resolve('.local'), dynamoEndpoint: endpoints[0]! });
      stops.push(started.stop);
      cognito = started;
    }

    // Tables per region. The users table of the primary is cognito-local's (its Pre sign-up trigger claims names there).
    const suffix = randomBytes(4).toString('hex');
    const tables = names.map((region, i) => ({
      connections: `parley-connections-${suffix}-${region}`,
      chat: `parley-chat-${suffix}-${region}`,
      users: i === 0 ? cognito.usersTable : `parley-users-${suffix}-${region}`,
    }));
    const streams: string[] = [];
    for (const [i, t] of tables.entries()) {
      const ddb = dynamoClient(endpoints[i]!);
      await createTable(ddb, CONNECTIONS_TABLE, t.connections);
      await createTable(ddb, CHAT_TABLE, t.chat);
      if (i > 0) await createTable(ddb, USERS_TABLE, t.users);
      streams.push(await enableStream(ddb, t.chat));
      ddb.destroy();
    }

    const delayMs = opts.delayMs ?? 70;
    const pollMs = opts.pollMs ?? 10;
    const replicaSet = (id: 'chat' | 'users') => ({
      keys: [(id === 'chat' ? CHAT_TABLE : USERS_TABLE).partitionKey, (id === 'chat' ? CHAT_TABLE : USERS_TABLE).sortKey],
      replicas: names.map((region, i) => ({ region, endpoint: endpoints[i]!, table: tables[i]![id] })),
    });
    const replication = await startReplication({
      tables: { chat: replicaSet('chat'), users: replicaSet('users') },
      // The users table predates the regions (cognito-local made it): copy what it holds first.
      seed: ['users'],
      delayMs,
      jitterMs: opts.jitterMs ?? 10,
      reorderRate: opts.reorderRate ?? 0.05,
      pollMs,
      log: (line) => console.error(line),
    });
    stops.push(() => replication.stop());

    const ports = await Promise.all(
      names.map(async (_, i) => ({ gateway: opts.gatewayPorts?.[i] ?? (await freePort()), lambda: await freePort() })),
    );
    const routes = names.map((_, i) => ({ homeFunction: HOME_FUNCTION, endpoint: `http://127.0.0.1:${ports[i]!.lambda}` }));
    const pastCalls: RecordedCall[] = [];

    const regions = names.map((region, i): LocalRegion & { child?: Child; checkpoint: Record<string, string> } => {
      const config = (checkpoint: Record<string, string>): RegionProcessConfig => ({
        region,
        primary,
        dynamoEndpoint: endpoints[i]!,
        cognito: cognito!,
        tables: tables[i]!,
        chatStreamArn: streams[i]!,
        gatewayPort: ports[i]!.gateway,
        lambdaPort: ports[i]!.lambda,
        homeFunction: routes[i]!.homeFunction,
        others: Object.fromEntries(names.flatMap((other, j) => (j === i ? [] : [[other, routes[j]!]]))),
        pollMs,
        checkpoint,
        log: opts.log ?? false,
      });
      const self: LocalRegion & { child?: Child; checkpoint: Record<string, string> } = {
        region,
        websocketUrl: `ws://127.0.0.1:${ports[i]!.gateway}/production`,
        managementEndpoint: `http://127.0.0.1:${ports[i]!.gateway}/production`,
        dynamoEndpoint: endpoints[i]!,
        tables: tables[i]!,
        lambdaEndpoint: routes[i]!.endpoint,
        checkpoint: {},
        running: () => self.child !== undefined,
        async start() {
          if (self.child) return;
          self.child = await spawnRegion(config(self.checkpoint), (m) => {
            if (m.type === 'checkpoint') self.checkpoint[m.shardId] = m.sequenceNumber;
          });
          self.child.process.once('exit', () => (self.child = undefined));
        },
        async stop() {
          const child = self.child;
          if (!child) return;
          pastCalls.push(...(await askCalls(child.process)));
          await child.stop();
          self.child = undefined;
        },
      };
      return self;
    });
    stops.push(async () => void (await Promise.all(regions.map((r) => r.stop()))));
    await Promise.all(regions.map((r) => r.start()));

    const endpointsList: RegionEndpoint[] = regions.map((r) => ({ region: r.region, websocketUrl: r.websocketUrl }));
    const outputs = localOutputs(endpointsList, cognito);
    if (opts.outputsFile) {
      mkdirSync(dirname(opts.outputsFile), { recursive: true });
      writeFileSync(opts.outputsFile, `${JSON.stringify(outputs, null, 2)}\n`);
    }
    const pool = cognito;
    return {
      regions,
      primary,
      cognito: pool,
      replication,
      outputs,
      token: (userName) => localIdToken(pool, userName),
      async calls() {
        const live = await Promise.all(regions.map((r) => (r.child ? askCalls(r.child.process) : Promise.resolve([]))));
        return [...pastCalls, ...live.flat()];
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Starts a region process and waits until its gateway answers, or fails with its output. */
function spawnRegion(config: RegionProcessConfig, onMessage: (m: FromRegion) => void): Promise<Child> {
  const child = startChild(process.execPath, ['--import', 'tsx', REGION_ENTRY], {
    cwd: ROOT,
    env: { ...process.env, PARLEY_LOCAL_REGION: JSON.stringify(config), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    name: config.region,
    echo: config.log,
    ipc: true,
    // Its gateway waits for handlers still running, up to their integration timeout.
    stopTimeoutMs: 10_000,
    // Errors a region reports (a failing fan-out, say) matter even when its log is off.
    onLine: config.log ? undefined : (line) => line.startsWith(REGION_ERROR) && console.error(`[${config.region}] ${line}`),
  });
  const { process: proc } = child;
  proc.on('message', onMessage);
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => (proc.kill('SIGKILL'), reject(new Error(`${config.region} did not start in 60 s:\n${child.tail()}`))), 60_000);
    proc.on('message', (m: FromRegion) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolveStart(child);
      } else if (m.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${config.region} failed to start: ${m.error}`));
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${config.region} exited (${code}) while starting:\n${child.tail()}`));
    });
  });
}

function askCalls(child: ChildProcess): Promise<RecordedCall[]> {
  if (!child.connected) return Promise.resolve([]);
  return new Promise((resolveCalls) => {
    const timer = setTimeout(() => (child.off('message', on), resolveCalls([])), 5_000);
    const on = (m: FromRegion) => {
      if (m.type !== 'calls') return;
      clearTimeout(timer);
      child.off('message', on);
      resolveCalls(m.calls);
    };
    child.on('message', on);
    child.send({ type: 'calls' } satisfies ToRegion);
  });
}
