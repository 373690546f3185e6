import { useRef, useState, type ReactNode } from 'react';
import { messageOf } from '../../api/errors';
import { fileNameOf, pngOfCanvas, pngOfSvg, saveBlob, saveText, svgOfElement } from '../save';

interface Props {
  title: string;
  /** What the caption shows, where it is more than the title. */
  caption?: ReactNode;
  children: ReactNode;
  /** For a chart drawn on a canvas: the same picture as an SVG document. */
  svgOf?: () => string;
  testId?: string;
  className?: string;
}

/**
 * A chart with its title and two buttons that save it as PNG or SVG. SVG charts (recharts) are
 * serialised as drawn; canvas charts give their PNG directly and their SVG through `svgOf`.
 */
export function ChartFrame({ title, caption, children, svgOf, testId, className }: Props) {
  const ref = useRef<HTMLElement>(null);
  const [error, setError] = useState<string | null>(null);
  const name = fileNameOf(title);
  // The chart's own surface: recharts draws each legend icon as a small svg.recharts-surface too,
  // and the legend may come first.
  const chartSvg = (): SVGSVGElement | null => ref.current?.querySelector('.recharts-wrapper > svg.recharts-surface') ?? ref.current?.querySelector('svg') ?? null;
  const save = (format: 'png' | 'svg') => {
    setError(null);
    const run = async () => {
      const canvas = ref.current?.querySelector('canvas');
      if (format === 'png' && canvas) return saveBlob(`${name}.png`, await pngOfCanvas(canvas));
      if (format === 'svg' && svgOf) return saveText(`${name}.svg`, svgOf(), 'image/svg+xml');
      const svg = chartSvg();
      if (!svg) throw new Error('this chart has nothing drawn yet');
      const text = svgOfElement(svg);
      if (format === 'svg') return saveText(`${name}.svg`, text, 'image/svg+xml');
      const box = svg.getBoundingClientRect();
      return saveBlob(`${name}.png`, await pngOfSvg(text, box.width, box.height));
    };
    run().catch((err: unknown) => setError(messageOf(err)));
  };
  return (
    <figure className={`chart ${className ?? ''}`} ref={ref} data-testid={testId}>
      <figcaption>
        <span>{caption ?? title}</span>
        <span className="chart-save">
          <button className="link" onClick={() => save('png')} title={`save ${title} as PNG`}>
            PNG
          </button>
          <button className="link" onClick={() => save('svg')} title={`save ${title} as SVG`}>
            SVG
          </button>
        </span>
      </figcaption>
      {children}
      {error ? <span className="field-error">{error}</span> : null}
    </figure>
  );
}
