import type { Context } from 'aws-lambda';
import { disconnect } from '../../core/chat';
import { functionLog } from '../log';
import { depsFor, type WebSocketEvent, type WebSocketResult } from '../runtime';

const logs = functionLog('disconnect');

/** $disconnect is best effort in API Gateway too; TTL sweeps whatever a failure leaves. */
export const handler = async (event: WebSocketEvent, context?: Context): Promise<WebSocketResult> => {
  const { requestContext } = event;
  const log = logs.invocation(requestContext, context);
  try {
    await disconnect(depsFor(requestContext, log), requestContext.connectionId);
    log.info('disconnected');
  } catch (err) {
    log.error('disconnect failed', {}, err);
  }
  return { statusCode: 200 };
};
