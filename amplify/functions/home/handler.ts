import type { HomeRequest, HomeResponse } from '../../core/home';

/** Placeholder until the home operations land (issue 10): refuses every request. */
export const handler = async (_event: HomeRequest): Promise<HomeResponse> => ({
  ok: false,
  error: { code: 'home_unavailable', message: 'not built yet' },
});
