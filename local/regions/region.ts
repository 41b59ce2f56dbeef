/**
 * One region of local multi-region mode, in a process of its own, since
 * handlers read their configuration (region, tables, other regions' home
 * functions) once, at import, as in Lambda. It runs the region's gateway with
 * its handlers, its home function behind a Lambda Invoke endpoint, and the
 * event source mapping that feeds its fanout function from its chat replica's
 * stream. The parent (local/regions/index.ts) made the tables and runs the
 * replication between regions; stopping this process is a region outage.
 */
import { ENV } from '../../amplify/core/config';
import { FANOUT_STREAM, fanoutStreamFilter } from '../../amplify/realtime/defaults';
import { startLambdaService } from '../lambda';
import { startStack } from '../stack';
import { startEventSourceMapping } from './esm';
import { REGION_ERROR, type FromRegion, type RegionProcessConfig, type ToRegion } from './messages';

const send = (m: FromRegion) => process.send?.(m);

async function main(): Promise<void> {
  const config = JSON.parse(process.env.PARLEY_LOCAL_REGION ?? '') as RegionProcessConfig;
  const say = config.log ? (line: string) => console.log(line) : undefined;
  const stack = await startStack({
    region: config.region,
    dynamoEndpoint: config.dynamoEndpoint,
    cognito: config.cognito,
    gatewayPort: config.gatewayPort,
    tables: config.tables,
    gateway: { log: say },
    env: { [ENV.primaryRegion]: config.primary, [ENV.regions]: JSON.stringify(config.others) },
  });
  const lambda = await startLambdaService(
    { [config.homeFunction]: (event) => stack.handlers.home(event as unknown as Parameters<typeof stack.handlers.home>[0]) },
    config.lambdaPort,
  );
  const esm = startEventSourceMapping({
    endpoint: config.dynamoEndpoint,
    streamArn: config.chatStreamArn,
    region: config.region,
    filter: fanoutStreamFilter(config.region),
    handler: (event) => stack.handlers.fanout(event),
    batchSize: FANOUT_STREAM.batchSize,
    retryAttempts: FANOUT_STREAM.retryAttempts,
    pollMs: config.pollMs,
    checkpoint: config.checkpoint,
    onCheckpoint: (shardId, sequenceNumber) => send({ type: 'checkpoint', shardId, sequenceNumber }),
    log: (line) => console.error(`${REGION_ERROR}${line}`),
  });

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      await esm.stop();
      await lambda.close();
      await stack.close();
      process.exit(0);
    })());
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  // The parent is gone (killed, or crashed): a region must not outlive it.
  process.on('disconnect', () => void shutdown());
  process.on('message', (m: ToRegion) => {
    if (m.type === 'calls') send({ type: 'calls', calls: stack.iam.calls() });
  });
  send({ type: 'ready', websocketUrl: stack.websocketUrl, managementEndpoint: stack.managementEndpoint });
}

main().catch((err: unknown) => {
  send({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
});
