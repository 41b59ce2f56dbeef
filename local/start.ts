/**
 * `npm start`: the whole local stack plus the Vite dev server, on 127.0.0.1.
 * Ctrl-C stops every child; nothing is left listening.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { DEFAULT_PORTS, startStack } from './stack';

// Node 20.19+ is this project's engine; the SDK's notice about its 2027 releases is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const outputsFile = resolve('.local/outputs.json');
const withApp = !process.argv.includes('--no-app');

const stack = await startStack({
  gatewayPort: Number(process.env.PARLEY_GATEWAY_PORT ?? DEFAULT_PORTS.gateway),
  cognitoPort: Number(process.env.PARLEY_COGNITO_PORT ?? DEFAULT_PORTS.cognito),
  dataDir: resolve('.local'),
  outputsFile,
  gateway: { log: process.env.PARLEY_LOG ? (line) => console.log(`[gateway] ${line}`) : undefined },
});

const vite = withApp
  ? spawn(process.execPath, [resolve('node_modules/vite/bin/vite.js'), '--port', '5173', '--strictPort'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, PARLEY_OUTPUTS: outputsFile },
    })
  : undefined;

console.log(`
Parley local stack is up.
  WebSocket API   ${stack.websocketUrl}
  @connections    ${stack.managementEndpoint}
  DynamoDB Local  ${stack.dynamoEndpoint}
  cognito-local   ${stack.cognito.endpoint}  (pool ${stack.cognito.userPoolId}, sign-up code ${stack.outputs.custom.local.confirmationCode})
  Outputs         ${outputsFile}${withApp ? '\n  App             http://localhost:5173' : ''}

Try the tutorial flow in two terminals:
  npx wscat -c "${stack.websocketUrl}?token=$(npm run -s token -- alice)"
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
  await stack.close();
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
