import { describe, expect, it } from 'vitest';
import { AVATAR_COLOURS, colourOf, contrastRatio } from '../../src/chat/format';

describe('avatar colours', () => {
  it('computes WCAG contrast as the spec does', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrastRatio('#ffffff', '#ffffff')).toBe(1);
    // The colour axe flagged: white on a 46 % green.
    expect(contrastRatio('#ffffff', '#2dbe69')).toBeCloseTo(2.41, 1);
  });

  it('keeps white initials at 4.5:1 or more on every colour', () => {
    for (const c of AVATAR_COLOURS) expect(contrastRatio('#ffffff', c), c).toBeGreaterThanOrEqual(4.5);
  });

  it('gives a person one colour, and spreads people over the palette', () => {
    expect(colourOf('u-alice')).toBe(colourOf('u-alice'));
    const used = new Set(Array.from({ length: 200 }, (_, i) => colourOf(`user-${i}`)));
    expect(used.size).toBe(AVATAR_COLOURS.length);
  });
});
