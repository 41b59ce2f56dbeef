/**
 * Runs the real UI against cognito-local and the fake chat server, for
 * looking at it before the local gateway exists:
 *   npx tsx test/client/support/preview.ts   (then open http://127.0.0.1:5173)
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'vite';
import { startCognito } from '../../../local/cognito';
import { FakeChatServer } from './fakeServer';

const dir = mkdtempSync(join(tmpdir(), 'parley-preview-'));
const cognito = await startCognito({ dataDir: dir });
const chat = await FakeChatServer.start();
chat.room('random', 'Random');
chat.room('design', 'Design');
const outputs = join(dir, 'outputs.json');
mkdirSync(dir, { recursive: true });
writeFileSync(
  outputs,
  JSON.stringify({
    version: '1.4',
    auth: {
      aws_region: 'local',
      user_pool_id: cognito.userPoolId,
      user_pool_client_id: cognito.clientId,
      password_policy: { min_length: 8, require_lowercase: true, require_numbers: true, require_symbols: true, require_uppercase: true },
    },
    custom: { websocketUrl: chat.url, region: 'local', local: { userPoolEndpoint: cognito.endpoint, confirmationCode: '123456' } },
  }),
);
process.env.PARLEY_OUTPUTS = outputs;
const vite = await createServer({ configFile: 'vite.config.ts' });
await vite.listen();
console.log(JSON.stringify({ url: 'http://127.0.0.1:5173', chat: chat.url, cognito: cognito.endpoint }));
const stop = async () => {
  await vite.close();
  await chat.close();
  await cognito.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// Lets a driver post as other users: POST /post?room=&user=&text=
const { createServer: http } = await import('node:http');
http((req, res) => {
  const u = new URL(req.url ?? '/', 'http://x');
  if (u.pathname === '/post') chat.post(u.searchParams.get('room') ?? 'lobby', u.searchParams.get('user') ?? 'bob', u.searchParams.get('text') ?? '');
  if (u.pathname === '/drop') chat.drop(u.searchParams.get('user') ?? undefined);
  res.end('ok');
}).listen(5199, '127.0.0.1');
