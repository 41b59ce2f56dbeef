import { useId } from 'react';

export interface RegionStatusProps {
  /** Every region, primary first. */
  regions: readonly string[];
  /** The region in use (or being tried); undefined before the first attempt. */
  current: string | undefined;
  connected: boolean;
  /** The region the user pinned; undefined: automatic. */
  preference: string | undefined;
  /** The nearest region as measured, shown beside "Automatic". */
  nearest?: string;
  /** `current` is a fallback: the preferred region cannot be reached. */
  failedOver: boolean;
  /** The region the app would rather use, named when it has failed over. */
  preferred?: string;
  onChange: (region: string | undefined) => void;
}

const AUTO = 'auto';

/**
 * Which region the chat runs through, and a choice of it. Nothing to show
 * or choose with one region, so it renders nothing then.
 */
export function RegionStatus({ regions, current, connected, preference, nearest, failedOver, preferred, onChange }: RegionStatusProps) {
  const selectId = useId();
  if (regions.length <= 1) return null;
  const where = current ?? 'choosing…';
  return (
    <div className="region">
      {/* A status, so a move (failover, or back) is read out without taking focus. */}
      <p className={`region-now${connected ? ' online' : ''}`} role="status">
        <span className="region-dot" aria-hidden="true" />
        {connected ? 'Connected' : 'Connecting'} · {where}
        {failedOver && preferred && <span className="region-note"> ({preferred} unreachable)</span>}
      </p>
      <label className="region-label" htmlFor={selectId}>
        Chat region
      </label>
      <select id={selectId} className="region-select" value={preference ?? AUTO} onChange={(e) => onChange(e.target.value === AUTO ? undefined : e.target.value)}>
        <option value={AUTO}>Automatic (nearest{nearest ? `: ${nearest}` : ''})</option>
        {regions.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
    </div>
  );
}
