// @vitest-environment jsdom
import { cleanup, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import ChatScreen from '../../src/chat/ChatScreen';
import { RegionStatus, type RegionStatusProps } from '../../src/chat/RegionStatus';
import { REGION_STORAGE_KEY } from '../../src/realtime/regions';
import type { WebSocketLike } from '../../src/realtime/types';
import { FakeChatServer } from './support/fakeServer';
import { fakeLayout } from './support/layout';

const waitFor = <T,>(fn: () => T) => vi.waitFor(fn, { timeout: 5000, interval: 20 });

function setup(over: Partial<RegionStatusProps> = {}) {
  const props: RegionStatusProps = {
    regions: ['us-east-1', 'eu-west-1'],
    current: 'eu-west-1',
    connected: true,
    preference: undefined,
    nearest: 'eu-west-1',
    failedOver: false,
    preferred: 'eu-west-1',
    onChange: vi.fn(),
    ...over,
  };
  const view = render(<RegionStatus {...props} />);
  return { props, ...view };
}

const regionSelect = () => screen.getByRole('combobox', { name: 'Chat region' }) as HTMLSelectElement;

describe('RegionStatus', () => {
  afterEach(cleanup);

  it('renders nothing with one region', () => {
    const { container } = setup({ regions: ['us-east-1'], current: 'us-east-1' });
    expect(container.innerHTML).toBe('');
    expect(screen.queryByRole('combobox')).toBeNull();
  });

  it('says where it is connected, as a status, and offers Automatic plus each region', () => {
    setup();
    expect(screen.getByRole('status').textContent).toBe('Connected · eu-west-1');
    expect([...regionSelect().options].map((o) => o.textContent)).toEqual(['Automatic (nearest: eu-west-1)', 'us-east-1', 'eu-west-1']);
    expect(regionSelect().value).toBe('auto');
  });

  it('says it is connecting, and names the region it could not reach after a failover', () => {
    setup({ current: 'us-east-1', connected: false, failedOver: true, preferred: 'eu-west-1' });
    expect(screen.getByRole('status').textContent).toBe('Connecting · us-east-1 (eu-west-1 unreachable)');
  });

  it('changes the preference: a region by name, Automatic as undefined', async () => {
    const user = userEvent.setup();
    const { props, rerender } = setup();
    await user.selectOptions(regionSelect(), 'us-east-1');
    expect(props.onChange).toHaveBeenLastCalledWith('us-east-1');
    rerender(<RegionStatus {...props} preference="us-east-1" />);
    expect(regionSelect().value).toBe('us-east-1');
    await user.selectOptions(regionSelect(), 'auto');
    expect(props.onChange).toHaveBeenLastCalledWith(undefined);
  });
});

describe('ChatScreen with several regions (against the fake server)', () => {
  let server: FakeChatServer;
  let restore: () => void;
  beforeEach(async () => {
    restore = fakeLayout();
    localStorage.clear();
    server = await FakeChatServer.start();
  });
  afterEach(async () => {
    cleanup();
    await server.close();
    restore();
  });

  const socketOptions = { createSocket: (url: string) => new WebSocket(url) as unknown as WebSocketLike, backoff: { baseMs: 20, maxMs: 100 } };

  it('connects to the nearest region, shows it, and moves when the user picks another, remembering the pick', async () => {
    const user = userEvent.setup();
    render(
      <ChatScreen
        user={{ id: 'u-alice', name: 'alice' }}
        websocketUrl={`${server.url}/a`}
        regions={[
          { region: 'region-a', websocketUrl: `${server.url}/a` },
          { region: 'region-b', websocketUrl: `${server.url}/b` },
        ]}
        getToken={async () => 'alice'}
        onSignOut={vi.fn()}
        socketOptions={socketOptions}
        // b is nearer, though a is the primary.
        routerOptions={{ probe: (url) => Promise.resolve(url.endsWith('/b') ? 5 : 80) }}
      />,
    );
    await waitFor(() => expect(screen.getByText('Connected · region-b')).toBeTruthy());
    expect(server.paths).toEqual(['/b']);
    await user.selectOptions(regionSelect(), 'region-a');
    await waitFor(() => expect(screen.getByText('Connected · region-a')).toBeTruthy());
    expect(server.paths).toEqual(['/b', '/a']);
    expect(JSON.parse(localStorage.getItem(REGION_STORAGE_KEY)!)).toMatchObject({ preference: 'region-a' });
  });

  it('shows no region indicator with one region', async () => {
    render(<ChatScreen user={{ id: 'u-alice', name: 'alice' }} websocketUrl={server.url} getToken={async () => 'alice'} onSignOut={vi.fn()} socketOptions={socketOptions} />);
    await waitFor(() => expect(screen.getByText('Welcome to #Lobby')).toBeTruthy());
    expect(screen.queryByRole('combobox', { name: 'Chat region' })).toBeNull();
    expect(screen.queryByText(/^Connected ·/)).toBeNull();
  });
});
