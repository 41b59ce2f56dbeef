/**
 * `npm run bench [-- --quick] [-- --only=1,3]`: Parley against the tutorial's
 * design (and, in figures 3 and 4, the floor: an echo handler on the same
 * gateway), figure by figure, on one machine. Prints a table, writes
 * bench/results/latest.json and latest.svg. Everything it starts it stops,
 * also on Ctrl-C or when its time limit runs out.
 */
import { HandlerLog, SIZES, machine, progress, type Mode } from './env';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCognito } from '../local/cognito';
import { startDynamo } from '../local/dynamodb';
import { startStack } from '../local/stack';
import { startBaseline } from './baseline/stack';
import { startFloor } from './floor';
import { closeAll } from './client';
import { bundlesFigure } from './figures/bundles';
import { costFigure } from './figures/cost';
import { fanoutFigure } from './figures/fanout';
import { latencyFigure } from './figures/latency';
import { loadFigure } from './figures/load';
import { readsFigure } from './figures/reads';
import { regionsFigure } from './figures/regions';
import { spaFigure } from './figures/spa';
import { throughputFigure } from './figures/throughput';
import { renderTable, writeResults, type Figure, type Results } from './report';
import { connectParley, settleAfterSetup } from './sides';
import { LIMITS } from '../amplify/core/protocol';

const args = process.argv.slice(2);
const mode: Mode = args.includes('--quick') ? 'quick' : 'full';
const onlyArg = args.find((a) => a.startsWith('--only='));
const only = onlyArg ? new Set(onlyArg.slice('--only='.length).split(',').map(Number)) : undefined;
const wanted = (id: number) => !only || only.has(id);
const sizes = SIZES[mode];
// Full mode measures three sides in figures 3 and 4: on a loaded machine that is well over ten minutes.
const LIMIT_MS = mode === 'quick' ? 180_000 : 20 * 60_000;

const startedAt = new Date();
const figures: Figure[] = [];
const stops: { name: string; stop: () => Promise<void> }[] = [];
const log = new HandlerLog();

async function stopAll(): Promise<void> {
  while (stops.length) {
    const { name, stop } = stops.pop()!;
    progress(`stopping ${name}`);
    await stop().catch((err: unknown) => progress(`  ${name} did not stop cleanly: ${String(err)}`));
  }
}

// Bounded in time as a whole: whatever hangs, everything started is stopped.
const watchdog = setTimeout(() => {
  progress(`time limit of ${LIMIT_MS / 1000} s reached; stopping`);
  void stopAll().finally(() => process.exit(2));
}, LIMIT_MS);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping`);
    void stopAll().finally(() => process.exit(130));
  });
}

async function figure(id: number, title: string, measure: () => Promise<Figure>): Promise<void> {
  if (!wanted(id)) return;
  progress(`figure ${id}: ${title}`);
  const t0 = Date.now();
  log.take();
  let result: Figure;
  try {
    result = await measure();
  } catch (err) {
    result = { id, title, method: '', rows: [], notes: [], error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    progress(`  figure ${id} failed: ${result.error}`);
  }
  result.seconds = (Date.now() - t0) / 1000;
  const logged = log.take();
  if (logged.count) result.notes.push(`Handlers logged ${logged.count} warning/error line(s) meanwhile, e.g.: ${logged.samples.join(' | ')}`);
  figures.push(result);
}

async function main(): Promise<number> {
  const m = machine();
  progress(`${mode} mode on ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, load ${m.loadAverage.join(' ')}`);

  // No servers needed, and the machine is at its quietest: first.
  await figure(5, 'Cold-start proxies: bundle size and module init', () => bundlesFigure({ sizes }));
  await figure(6, "The app's initial JavaScript, gzip", () => spaFigure());

  const live = [1, 2, 3, 4, 7, 8].filter((id) => wanted(id) && (id !== 7 || sizes.load));
  if (live.length) {
    progress('starting DynamoDB Local');
    const dynamo = await startDynamo();
    stops.push({ name: 'DynamoDB Local', stop: dynamo.stop });
    const javaPid = dynamo.child.process.pid;
    log.capture();
    stops.push({ name: 'log capture', stop: async () => log.release() });

    await figure(1, 'DynamoDB reads per message', () => readsFigure({ dynamoEndpoint: dynamo.endpoint, sizes }));
    await figure(2, 'Fan-out to many connections', () => fanoutFigure({ dynamoEndpoint: dynamo.endpoint, sizes }));

    if (live.some((id) => id >= 3)) {
      progress('starting cognito-local, the Parley stack, the baseline stack and the floor');
      const dataDir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
      stops.push({ name: 'cognito data', stop: async () => rmSync(dataDir, { recursive: true, force: true }) });
      const cognito = await startCognito({ dataDir, dynamoEndpoint: dynamo.endpoint });
      stops.push({ name: 'cognito-local', stop: cognito.stop });
      const stack = await startStack({ dynamoEndpoint: dynamo.endpoint, cognito });
      stops.push({ name: 'Parley stack', stop: stack.close });
      const baseline = await startBaseline({ dynamoEndpoint: dynamo.endpoint });
      stops.push({ name: 'baseline stack', stop: baseline.close });
      const floor = await startFloor();
      stops.push({ name: 'floor stack', stop: floor.close });

      const needed = Math.max(
        wanted(3) ? Math.max(...sizes.latency.roomSizes) : 0,
        wanted(4) ? sizes.throughput.rooms * sizes.throughput.members : 0,
        wanted(7) ? (sizes.load?.connections ?? 0) : 0,
        wanted(8) ? sizes.cost.online : 0,
      );
      progress(`connecting ${needed} Parley clients (at least ${sizes.users} users, at most ${LIMITS.maxConnectionsPerUser} tabs each)`);
      const parley = await connectParley(stack, needed, sizes.users);
      const parleyConnect = { count: needed, seconds: parley.seconds };
      stops.push({ name: `${parley.clients.length} Parley clients`, stop: () => closeAll(parley.clients) });
      const parleySettled = () => stack.gateway.settled();
      await settleAfterSetup(parleySettled, 'Parley clients');

      await figure(3, 'End-to-end latency', () => latencyFigure({ sizes, parleyClients: parley.clients.slice(0, Math.max(...sizes.latency.roomSizes)), parleyConnect, parleySettled, baseline, floor }));
      await figure(4, 'Throughput', () => throughputFigure({ sizes, parleyClients: parley.clients, parleySettled, baseline, floor }));
      await figure(8, 'Cost', () => costFigure({ sizes, parleyClients: parley.clients, parley: stack, dynamoEndpoint: dynamo.endpoint }));
      if (sizes.load) {
        await figure(7, 'Load', () => loadFigure({ sizes, parleyClients: parley.clients, parleyUrl: parley.urlFor, baseline, javaPid, parleySettled }));
      }
    }
  }
  await stopAll();
  // Its own two-region stack, once the single-region one has stopped, so the two never share the cores.
  await figure(9, 'Global reach (two local regions)', () => regionsFigure({ mode }));

  figures.sort((a, b) => a.id - b.id);
  const results: Results = {
    generatedAt: startedAt.toISOString(),
    mode,
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    machine: m,
    loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    figures,
  };
  // Quick runs (CI smoke) never overwrite the full run the README shows.
  const files = writeResults(results, resolve('bench/results'), mode === 'quick' ? 'quick' : 'latest');
  process.stdout.write(`\n${renderTable(results)}\nWritten: ${files.json}, ${files.svg}\n`);
  return figures.some((f) => f.error) ? 1 : 0;
}

main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exit(code);
  },
  async (err: unknown) => {
    progress(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await stopAll();
    process.exit(1);
  },
);
