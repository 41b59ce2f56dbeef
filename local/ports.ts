/** The fixed ports of `npm start`, and of `npm run dev` for the app: one list, read by local/start.ts and vite.config.ts. */
export const DEFAULT_PORTS = { gateway: 3001, cognito: 9229, app: 5173 } as const;
