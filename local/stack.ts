/**
 * The whole of Parley on one machine: DynamoDB Local, cognito-local, and the
 * local API Gateway running the real Lambda handlers in this process.
 *
 * Handlers read their configuration once, at import, exactly as in Lambda, so
 * one process hosts one stack: start it once (npm start) or once per test file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ENV } from '../amplify/core/config';
import { CHAT_TABLE, CONNECTIONS_TABLE } from '../amplify/realtime/tables';
import { CONFIRMATION_CODE, localIdToken, startCognito, type LocalCognito } from './cognito';
import { createTable, dynamoClient, LOCAL_CREDENTIALS, startDynamo } from './dynamodb';
import { freePort } from './process';
import { startGateway, type GatewayOptions, type LambdaHandler, type LocalGateway } from './gateway';
import { STAGE_NAME } from '../amplify/realtime/defaults';
import type { RegionEndpoint } from '../amplify/regions/list';
import type { handler as homeHandler } from '../amplify/functions/home/handler';
import type { handler as fanoutHandler } from '../amplify/functions/fanout/handler';
import { asFunction, describeCalls, recordAwsCalls, type AwsCallRecorder } from './iam';

export interface StackOptions {
  gatewayPort?: number;
  cognitoPort?: number;
  dynamoPort?: number;
  /** Reuse a running DynamoDB Local instead of starting one (tests share one per run). */
  dynamoEndpoint?: string;
  /** Reuse a running cognito-local and its pool. */
  cognito?: Omit<LocalCognito, 'stop'>;
  /** Where cognito-local keeps its state; `.local` in the checkout by default. */
  dataDir?: string;
  /** Where to write the app's outputs file (same shape as amplify_outputs.json). */
  outputsFile?: string;
  /** Extra gateway behaviour: injected latency, limits, timeouts. */
  gateway?: Partial<Omit<GatewayOptions, 'routes' | 'authorizer' | 'port'>>;
  env?: Record<string, string>;
  echo?: boolean;
  /** AWS_REGION the handlers see; 'local' by default (local/regions names each region). */
  region?: string;
  /** Use these tables, already made (local/regions makes every region's replicas first). */
  tables?: LocalStack['tables'];
}

export interface LocalOutputs {
  version: string;
  auth: Record<string, unknown>;
  custom: {
    websocketUrl: string;
    region: string;
    /** Every region's endpoint, primary first (one in single-region mode). */
    regions: RegionEndpoint[];
    local: { userPoolEndpoint: string; confirmationCode: string };
  };
}

export interface LocalStack {
  websocketUrl: string;
  managementEndpoint: string;
  dynamoEndpoint: string;
  cognito: Omit<LocalCognito, 'stop'>;
  tables: { connections: string; chat: string; users: string };
  gateway: LocalGateway;
  /**
   * Which function (amplify/functions/<name>) each gateway route runs as, and
   * '$authorizer' the authorizer: what the bench's cost figure bills each
   * invocation at.
   */
  functions: Record<string, string>;
  /** Every AWS call the handlers made, as (function, IAM action, resource), checked against permissions.ts. */
  iam: AwsCallRecorder;
  outputs: LocalOutputs;
  outputsFile?: string;
  /**
   * The functions no WebSocket route runs, each as its role: the room's home
   * (invoked by another region's chat function) and the stream fan-out
   * (invoked by the event source mapping). local/regions serves them.
   */
  handlers: { home: typeof homeHandler; fanout: typeof fanoutHandler };
  /** A valid ID token for a local user, created on first use. */
  token(userName: string): Promise<string>;
  close(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<LocalStack> {
  const stops: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error(err));
  };
  try {
    const dynamo = opts.dynamoEndpoint ? undefined : await startDynamo(opts.dynamoPort, opts.echo);
    if (dynamo) stops.push(dynamo.stop);
    const dynamoEndpoint = opts.dynamoEndpoint ?? dynamo!.endpoint;

    let cognito = opts.cognito;
    if (!cognito) {
      const started = await startCognito({ port: opts.cognitoPort, dataDir: opts.dataDir ?? resolve('.local'), dynamoEndpoint, echo: opts.echo });
      stops.push(started.stop);
      cognito = started;
    }

    // Unique names let test files share one DynamoDB Local without seeing each other.
    const suffix = randomBytes(4).toString('hex');
    // The users table is cognito-local's: its Pre sign-up trigger claims names there.
    const tables = opts.tables ?? { connections: `parley-connections-${suffix}`, chat: `parley-chat-${suffix}`, users: cognito.usersTable };
    if (!opts.tables) {
      const ddb = dynamoClient(dynamoEndpoint);
      await createTable(ddb, CONNECTIONS_TABLE, tables.connections);
      await createTable(ddb, CHAT_TABLE, tables.chat);
      ddb.destroy();
    }

    // Handlers read the @connections endpoint at import, so the port is chosen before the gateway starts.
    const port = opts.gatewayPort ?? (await freePort());
    const stage = opts.gateway?.stage ?? STAGE_NAME;
    const managementEndpoint = `http://127.0.0.1:${port}/${stage}`;
    Object.assign(process.env, {
      AWS_REGION: opts.region ?? 'local',
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
      [ENV.connectionsTable]: tables.connections,
      [ENV.chatTable]: tables.chat,
      [ENV.usersTable]: tables.users,
      [ENV.managementEndpoint]: managementEndpoint,
      [ENV.userPoolId]: cognito.userPoolId,
      [ENV.userPoolClientId]: cognito.clientId,
      [ENV.tokenIssuer]: cognito.issuer,
      ...opts.env,
    });
    // Local mode has no IAM: record every call instead, and say at once when one is outside the grants.
    const iam = recordAwsCalls({
      tables,
      onViolation: (call) => console.warn(`[iam] denied in AWS (not granted in amplify/realtime/permissions.ts):\n${describeCalls([call])}`),
    });
    const [authorizer, connect, disconnect, chat, home, fanout] = await Promise.all([
      import('../amplify/functions/authorizer/handler'),
      import('../amplify/functions/connect/handler'),
      import('../amplify/functions/disconnect/handler'),
      import('../amplify/functions/chat/handler'),
      import('../amplify/functions/home/handler'),
      import('../amplify/functions/fanout/handler'),
    ]);
    const { ACTIONS } = await import('../amplify/core/protocol');
    // Each route runs as the function API Gateway integrates it with, so its AWS calls are attributed to that role.
    const chatFn = asFunction('chat', chat.handler as LambdaHandler);
    const routes: Record<string, LambdaHandler> = {
      $connect: asFunction('connect', connect.handler as LambdaHandler),
      $disconnect: asFunction('disconnect', disconnect.handler as LambdaHandler),
      $default: chatFn,
      ...Object.fromEntries(ACTIONS.map((a) => [a, chatFn])),
    };
    const authorizerFn = asFunction('authorizer', authorizer.handler as LambdaHandler);
    const functions: Record<string, string> = {
      $authorizer: 'authorizer',
      $connect: 'connect',
      $disconnect: 'disconnect',
      ...Object.fromEntries(Object.keys(routes).filter((r) => routes[r] === chatFn).map((r) => [r, 'chat'])),
    };
    const gateway = await startGateway({ ...opts.gateway, port, routes, authorizer: { handler: authorizerFn } });
    stops.push(() => gateway.close());

    const outputs = localOutputs([{ region: opts.region ?? 'local', websocketUrl: gateway.url }], cognito);
    if (opts.outputsFile) {
      mkdirSync(dirname(opts.outputsFile), { recursive: true });
      writeFileSync(opts.outputsFile, `${JSON.stringify(outputs, null, 2)}\n`);
    }
    const pool = cognito;
    return {
      websocketUrl: gateway.url,
      managementEndpoint: gateway.managementEndpoint,
      dynamoEndpoint,
      cognito: pool,
      tables,
      gateway,
      functions,
      handlers: { home: asFunction('home', home.handler), fanout: asFunction('fanout', fanout.handler) },
      iam,
      outputs,
      outputsFile: opts.outputsFile,
      token: (userName) => localIdToken(pool, userName),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The same shape as Amplify's amplify_outputs.json, plus what only local mode needs. */
export function localOutputs(regions: RegionEndpoint[], cognito: Omit<LocalCognito, 'stop'>): LocalOutputs {
  const [primary] = regions;
  if (!primary) throw new Error('local outputs need at least one region');
  return {
    version: '1.4',
    auth: {
      aws_region: 'local',
      user_pool_id: cognito.userPoolId,
      user_pool_client_id: cognito.clientId,
      username_attributes: ['email'],
      standard_required_attributes: ['email', 'preferred_username'],
      user_verification_types: ['email'],
      unauthenticated_identities_enabled: false,
      mfa_configuration: 'NONE',
      password_policy: { min_length: 8, require_lowercase: true, require_numbers: true, require_symbols: true, require_uppercase: true },
      groups: [],
    },
    custom: {
      websocketUrl: primary.websocketUrl,
      region: primary.region,
      regions,
      local: { userPoolEndpoint: cognito.endpoint, confirmationCode: CONFIRMATION_CODE },
    },
  };
}
