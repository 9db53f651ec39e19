// Colour arithmetic for the canvas (pure): parse the CSS colours the themes give, blend two
// colours, and tell a dark background from a light one.

export type RGB = [number, number, number];

/** `#rgb`, `#rrggbb`, `rgb(...)` / `rgba(...)` (alpha ignored), or null. */
export function parseColor(text: string): RGB | null {
  const s = text.trim().toLowerCase();
  let m = /^#([0-9a-f]{3})$/.exec(s);
  if (m) return [...m[1]].map((c) => parseInt(c + c, 16)) as RGB;
  m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/.exec(s);
  if (m) return [0, 2, 4].map((i) => parseInt(m![1].slice(i, i + 2), 16)) as RGB;
  m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/.exec(s);
  if (m) return [1, 2, 3].map((i) => Math.round(Number(m![i]))) as RGB;
  if (s === "white") return [255, 255, 255];
  if (s === "black") return [0, 0, 0];
  return null;
}

export function toHex([r, g, b]: RGB): string {
  const h = (v: number) => Math.max(0, Math.min(255, Math.round(v))).toString(16).padStart(2, "0");
  return `#${h(r)}${h(g)}${h(b)}`;
}

/** `a` blended towards `b` by `t` (0: a, 1: b), as `#rrggbb`; unparseable colours count as white. */
export function mix(a: string, b: string, t: number): string {
  const x = parseColor(a) ?? [255, 255, 255];
  const y = parseColor(b) ?? [255, 255, 255];
  return toHex([0, 1, 2].map((i) => x[i] + (y[i] - x[i]) * t) as RGB);
}

/** Relative luminance in [0, 1] (sRGB weights, no gamma: enough to sort light from dark). */
export function luminance(color: string): number {
  const c = parseColor(color) ?? [255, 255, 255];
  return (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;
}

export function isDark(background: string): boolean {
  return luminance(background) < 0.45;
}
