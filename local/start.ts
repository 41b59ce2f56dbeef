/**
 * `npm start`: the whole local stack plus the Vite dev server, on 127.0.0.1.
 * Ctrl-C stops every child; nothing is left listening.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { TOKEN_QUERY_PARAMETER } from '../amplify/realtime/defaults';
import { assertPortsFree, PortsInUse } from './process';
import { DEFAULT_PORTS } from './ports';
import { startRegions } from './regions';
import { startStack } from './stack';

// Node 20.19+ is this project's engine; the SDK's notice about its 2027 releases is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const outputsFile = resolve('.local/outputs.json');
const withApp = !process.argv.includes('--no-app');
// `--regions 2`: two regions on this machine (local/regions), each with its gateway on the next port.
const regionsAt = process.argv.indexOf('--regions');
const regionCount = regionsAt >= 0 ? Number(process.argv[regionsAt + 1]) : 1;
if (!Number.isInteger(regionCount) || regionCount < 1 || regionCount > 2) {
  console.error('npm start: --regions takes 1 or 2');
  process.exit(2);
}

const gatewayPort = Number(process.env.PARLEY_GATEWAY_PORT ?? DEFAULT_PORTS.gateway);
const cognitoPort = Number(process.env.PARLEY_COGNITO_PORT ?? DEFAULT_PORTS.cognito);

// Before anything starts: a port held by a stray process fails much later, and misleadingly.
try {
  await assertPortsFree([
    ...Array.from({ length: regionCount }, (_, i) => ({
      port: gatewayPort + i,
      name: regionCount > 1 ? `the local API Gateway of region ${i + 1}` : 'the local API Gateway',
      remedy: 'set PARLEY_GATEWAY_PORT to another port',
    })),
    { port: cognitoPort, name: 'cognito-local', remedy: 'set PARLEY_COGNITO_PORT to another port' },
    ...(withApp ? [{ port: DEFAULT_PORTS.app, name: 'the Vite dev server', remedy: 'run `npm start -- --no-app`' }] : []),
  ]);
} catch (err) {
  if (!(err instanceof PortsInUse)) throw err;
  console.error(`npm start: not starting.\n${err.message}`);
  process.exit(1);
}

const gatewayLog = process.env.PARLEY_LOG ? (line: string) => console.log(`[gateway] ${line}`) : undefined;
const stack =
  regionCount === 1
    ? await startStack({ gatewayPort, cognitoPort, dataDir: resolve('.local'), outputsFile, gateway: { log: gatewayLog } })
    : undefined;
const regions =
  regionCount > 1
    ? await startRegions({
        count: regionCount,
        gatewayPorts: Array.from({ length: regionCount }, (_, i) => gatewayPort + i),
        cognitoPort,
        dataDir: resolve('.local'),
        outputsFile,
        log: Boolean(process.env.PARLEY_LOG),
      })
    : undefined;
const running = (stack ?? regions)!;
const { outputs, cognito } = running;

const vite = withApp
  ? spawn(process.execPath, [resolve('node_modules/vite/bin/vite.js'), '--port', String(DEFAULT_PORTS.app), '--strictPort'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, PARLEY_OUTPUTS: outputsFile },
    })
  : undefined;

const realtime = stack
  ? `  WebSocket API   ${stack.websocketUrl}\n  @connections    ${stack.managementEndpoint}\n  DynamoDB Local  ${stack.dynamoEndpoint}`
  : regions!.regions
      .map(
        (r, i) =>
          `  Region ${r.region}${i === 0 ? ' (primary)' : ''}\n    WebSocket API   ${r.websocketUrl}\n    @connections    ${r.managementEndpoint}\n    DynamoDB Local  ${r.dynamoEndpoint}`,
      )
      .join('\n') + '\n  Replication     70 ms one way, last writer wins';
console.log(`
Parley local stack is up${regions ? ` in ${regions.regions.length} regions` : ''}.
${realtime}
  cognito-local   ${cognito.endpoint}  (pool ${cognito.userPoolId}, sign-up code ${outputs.custom.local.confirmationCode})
  Outputs         ${outputsFile}${withApp ? `\n  App             http://localhost:${DEFAULT_PORTS.app}` : ''}

Try the tutorial flow in two terminals:
  npx wscat -c "${outputs.custom.websocketUrl}?${TOKEN_QUERY_PARAMETER}=$(npm run -s token -- alice)"
  > {"action":"sendmessage","message":"hello, everyone!"}
`);

let stopping = false;
async function shutdown(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\nStopping Parley…');
  if (vite && vite.exitCode === null) {
    vite.kill('SIGTERM');
    await new Promise((r) => vite.once('exit', r));
  }
  await running.close();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
vite?.on('exit', (code) => {
  if (!stopping) {
    console.error(`Vite exited (${code}); stopping the stack.`);
    void shutdown(code ?? 1);
  }
});
