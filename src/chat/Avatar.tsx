import { colourOf, initials } from './format';

export function Avatar({ id, name, size = 36 }: { id: string; name: string; size?: number }) {
  return (
    <span className="avatar" aria-hidden="true" style={{ background: colourOf(id), width: size, height: size, fontSize: size * 0.4 } as React.CSSProperties}>
      {initials(name)}
    </span>
  );
}
