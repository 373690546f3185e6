import { useEffect, useRef } from 'react';

/** Matplotlib's viridis, through five anchors, for the reward colouring of the dataset. */
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [VIRIDIS[i] as [number, number, number], VIRIDIS[i + 1] as [number, number, number]];
  return `rgb(${a.map((v, k) => Math.round(v + f * ((b[k] as number) - v))).join(',')})`;
}

export interface Domain {
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

/** A square domain holding every point, with a margin: both sides of a comparison share the dataset's. */
export function domainOf(...pointSets: ArrayLike<number>[]): Domain {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const points of pointSets) {
    for (let i = 0; i < points.length; i++) {
      const v = points[i] as number;
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  if (!Number.isFinite(lo)) return { xMin: -1, xMax: 1, yMin: -1, yMax: 1 };
  const pad = (hi - lo) * 0.05 + 0.5;
  return { xMin: lo - pad, xMax: hi + pad, yMin: lo - pad, yMax: hi + pad };
}

interface Props {
  data: { actions: number[]; rewards: number[] };
  policy: number[] | null;
  domain: Domain;
  size?: number;
  label: string;
}

/** Room under the plot for the key to its marks. */
const LEGEND_HEIGHT = 18;

/** One primitive of the scatter, drawn the same way on a canvas and in an SVG file. */
type Mark =
  | { kind: 'rect'; x: number; y: number; w: number; h: number; fill: string }
  | { kind: 'dot'; x: number; y: number; r: number; fill?: string; stroke?: string }
  | { kind: 'frame'; x: number; y: number; w: number; h: number; stroke: string }
  | { kind: 'text'; x: number; y: number; text: string };

/**
 * Dataset actions coloured by reward with a colour bar, and the policy's actions in red on top,
 * as the paper's toy figure draws them.
 */
function scatterMarks({ data, policy, domain, size: plot = 360 }: Omit<Props, 'label'>): Mark[] {
  const marks: Mark[] = [];
  const px = (x: number) => ((x - domain.xMin) / (domain.xMax - domain.xMin)) * plot;
  const py = (y: number) => plot - ((y - domain.yMin) / (domain.yMax - domain.yMin)) * plot;
  let rMin = Number.POSITIVE_INFINITY;
  let rMax = Number.NEGATIVE_INFINITY;
  for (const r of data.rewards) {
    rMin = Math.min(rMin, r);
    rMax = Math.max(rMax, r);
  }
  const span = rMax - rMin || 1;
  for (let i = 0; i < data.rewards.length; i++) {
    const fill = viridis(((data.rewards[i] as number) - rMin) / span);
    marks.push({ kind: 'rect', x: px(data.actions[2 * i] as number) - 1, y: py(data.actions[2 * i + 1] as number) - 1, w: 2, h: 2, fill });
  }
  if (policy) {
    // Actions beyond the data's range sit on the frame as open rings, so a policy that left the
    // data stays visible without shrinking the data to a dot.
    const clampX = (x: number) => Math.min(plot - 3, Math.max(3, px(x)));
    const clampY = (y: number) => Math.min(plot - 3, Math.max(3, py(y)));
    for (let i = 0; i < policy.length; i += 2) {
      const x = policy[i] as number;
      const y = policy[i + 1] as number;
      const outside = !(x >= domain.xMin && x <= domain.xMax && y >= domain.yMin && y <= domain.yMax);
      marks.push(outside ? { kind: 'dot', x: clampX(x), y: clampY(y), r: 3, stroke: 'rgba(220, 20, 20, 0.7)' } : { kind: 'dot', x: px(x), y: py(y), r: 2.2, fill: 'rgba(220, 20, 20, 0.5)' });
    }
  }
  marks.push({ kind: 'frame', x: 0.5, y: 0.5, w: plot - 1, h: plot - 1, stroke: '#98a2b3' });
  for (let k = 0; k < plot; k++) marks.push({ kind: 'rect', x: plot + 10, y: k, w: 12, h: 1, fill: viridis(1 - k / plot) });
  marks.push({ kind: 'text', x: plot + 24, y: 10, text: rMax.toFixed(1) });
  marks.push({ kind: 'text', x: plot + 24, y: plot - 2, text: rMin.toFixed(1) });
  marks.push({ kind: 'text', x: plot + 8, y: plot / 2, text: 'reward' });
  // The key, inside the picture so an exported file explains itself.
  const key = plot + LEGEND_HEIGHT / 2 + 2;
  marks.push({ kind: 'rect', x: 4, y: key - 3, w: 6, h: 6, fill: viridis(0.6) });
  marks.push({ kind: 'text', x: 14, y: key + 3, text: 'dataset action (colour: reward)' });
  marks.push({ kind: 'dot', x: 178, y: key, r: 2.6, fill: 'rgba(220, 20, 20, 0.7)' });
  marks.push({ kind: 'text', x: 184, y: key + 3, text: 'policy action' });
  marks.push({ kind: 'dot', x: 262, y: key, r: 3, stroke: 'rgba(220, 20, 20, 0.7)' });
  marks.push({ kind: 'text', x: 268, y: key + 3, text: 'beyond the plot' });
  return marks;
}

function paint(ctx: CanvasRenderingContext2D, marks: Mark[], width: number, height: number): void {
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.font = '10px sans-serif';
  for (const m of marks) {
    if (m.kind === 'rect') {
      ctx.fillStyle = m.fill;
      ctx.fillRect(m.x, m.y, m.w, m.h);
    } else if (m.kind === 'dot') {
      ctx.beginPath();
      ctx.arc(m.x, m.y, m.r, 0, 2 * Math.PI);
      if (m.fill) {
        ctx.fillStyle = m.fill;
        ctx.fill();
      }
      if (m.stroke) {
        ctx.strokeStyle = m.stroke;
        ctx.stroke();
      }
    } else if (m.kind === 'frame') {
      ctx.strokeStyle = m.stroke;
      ctx.strokeRect(m.x, m.y, m.w, m.h);
    } else {
      ctx.fillStyle = '#344054';
      ctx.fillText(m.text, m.x, m.y);
    }
  }
}

const escapeXml = (text: string) => text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);
const fmt = (v: number) => String(Math.round(v * 100) / 100);

/** The scatter as a standalone SVG document, mark for mark what the canvas shows. */
export function scatterSvg(props: Omit<Props, 'label'>, title: string): string {
  const size = props.size ?? 360;
  const body = scatterMarks(props).map((m) => {
    if (m.kind === 'rect') return `<rect x="${fmt(m.x)}" y="${fmt(m.y)}" width="${m.w}" height="${m.h}" fill="${m.fill}"/>`;
    if (m.kind === 'dot') return `<circle cx="${fmt(m.x)}" cy="${fmt(m.y)}" r="${m.r}" fill="${m.fill ?? 'none'}"${m.stroke ? ` stroke="${m.stroke}"` : ''}/>`;
    if (m.kind === 'frame') return `<rect x="${m.x}" y="${m.y}" width="${m.w}" height="${m.h}" fill="none" stroke="${m.stroke}"/>`;
    return `<text x="${fmt(m.x)}" y="${fmt(m.y)}" font-size="10" fill="#344054">${escapeXml(m.text)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size + 56}" height="${size + LEGEND_HEIGHT}" font-family="sans-serif">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...body,
    '</svg>',
  ].join('\n');
}

/** The scatter on a canvas: 11,000 points redraw in a few milliseconds. */
export function BanditScatter({ data, policy, domain, size = 360, label }: Props) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return;
    paint(ctx, scatterMarks({ data, policy, domain, size }), canvas.width, canvas.height);
  }, [data, policy, domain, size]);
  return <canvas ref={ref} width={size + 56} height={size + LEGEND_HEIGHT} aria-label={`${label}; red dots: policy actions, open red rings: policy actions beyond the plot`} role="img" data-testid="bandit-scatter" />;
}
