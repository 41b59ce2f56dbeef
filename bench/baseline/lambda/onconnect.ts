import { handlers } from './runtime';

export const handler = handlers.connect;
