import { useEffect, useState } from 'react';
import type { Step } from '../model';
import { isBox, overlayOf, type Point } from '../overlay';

/**
 * A screenshot at full resolution (or fitted to the pane) with the step's action drawn on it.
 * The overlay is an SVG in the image's natural pixels laid over the image, so it follows every
 * rendered size.
 */
export function Shot(props: { src: string; step: Step; overlay: boolean; fit: boolean; alt: string; onMissing?: () => void; retry?: number }) {
  const [natural, setNatural] = useState<{ w: number; h: number } | undefined>();
  const [failed, setFailed] = useState(false);
  const [attempt, setAttempt] = useState(0);
  // On a live run a screenshot may land after its step: look again at each poll until it does.
  useEffect(() => {
    if (failed && props.retry !== undefined) {
      setFailed(false);
      setAttempt((n) => n + 1);
    }
  }, [props.retry]);
  if (failed) return <div className="shot-missing">{props.retry !== undefined ? `Waiting for the ${props.alt} screenshot…` : `No ${props.alt} screenshot for this step.`}</div>;
  return (
    <div className={`shot ${props.fit ? 'fit' : 'actual'}`}>
      <div className="shot-frame">
        <img
          src={attempt ? `${props.src}?attempt=${attempt}` : props.src}
          alt={props.alt}
          loading="lazy"
          decoding="async"
          data-testid="shot-img"
          onLoad={(e) => setNatural({ w: e.currentTarget.naturalWidth, h: e.currentTarget.naturalHeight })}
          onError={() => {
            setFailed(true);
            props.onMissing?.();
          }}
        />
        {natural && props.overlay && <ActionOverlay step={props.step} w={natural.w} h={natural.h} />}
      </div>
      {natural && <div className="shot-meta">{natural.w}×{natural.h}px</div>}
    </div>
  );
}

function ActionOverlay({ step, w, h }: { step: Step; w: number; h: number }) {
  const o = overlayOf(step, w);
  const r = Math.max(6, Math.round(Math.max(w, h) / 90));
  // Labels sit above-right of their point; the typed text goes below it so both stay readable.
  const label = (p: Point, text: string, cls: string, below = false) => {
    const fs = Math.max(11, Math.round(r * 1.3));
    const tw = Math.min(w * 0.6, text.length * fs * 0.62 + fs);
    const x = Math.min(Math.max(0, p.x + r * 1.5), Math.max(0, w - tw));
    const y = Math.min(Math.max(fs * 1.6, below ? p.y + r * 2.5 + fs * 1.4 : p.y - r), h);
    return (
      <g className={cls}>
        <rect x={x} y={y - fs * 1.4} width={tw} height={fs * 1.7} rx={fs * 0.3} />
        <text x={x + fs * 0.5} y={y - fs * 0.2} fontSize={fs}>
          {text.length > 80 ? `${text.slice(0, 79)}…` : text}
        </text>
      </g>
    );
  };
  const g = o.grounding;
  const anchor: Point | undefined = o.points[0] ?? o.path?.[0] ?? (g ? (isBox(g) ? { x: g.x + g.w / 2, y: g.y + g.h / 2 } : g) : undefined);
  return (
    <svg className="overlay" viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" aria-label={`${o.kind} overlay`} data-scale={o.scale} data-space={o.space}>
      {g && isBox(g) && <rect className="ov-ground" x={g.x} y={g.y} width={g.w} height={g.h} />}
      {g && !isBox(g) && <circle className="ov-ground" cx={g.x} cy={g.y} r={r * 2.2} />}
      {g && o.label && label(isBox(g) ? { x: g.x, y: g.y } : g, o.label, 'ov-label')}
      {o.path && o.path.length > 1 && (
        <g className="ov-drag">
          <polyline points={o.path.map((p) => `${p.x},${p.y}`).join(' ')} />
          <circle cx={o.path[0]!.x} cy={o.path[0]!.y} r={r * 0.7} />
          <circle className="end" cx={o.path[o.path.length - 1]!.x} cy={o.path[o.path.length - 1]!.y} r={r} />
        </g>
      )}
      {o.points.map((p, i) => (
        <g key={i} className="ov-click" data-x={p.x} data-y={p.y}>
          <circle className="ring" cx={p.x} cy={p.y} r={r * 1.8} />
          <circle className="dot" data-testid="click-dot" cx={p.x} cy={p.y} r={r * 0.5} />
          <line x1={p.x - r * 3} y1={p.y} x2={p.x - r * 1.2} y2={p.y} />
          <line x1={p.x + r * 1.2} y1={p.y} x2={p.x + r * 3} y2={p.y} />
          <line x1={p.x} y1={p.y - r * 3} x2={p.x} y2={p.y - r * 1.2} />
          <line x1={p.x} y1={p.y + r * 1.2} x2={p.x} y2={p.y + r * 3} />
        </g>
      ))}
      {o.scroll && anchor && (
        <line className="ov-scroll" x1={anchor.x} y1={anchor.y} x2={anchor.x + Math.sign(o.scroll.x) * r * 6} y2={anchor.y + Math.sign(o.scroll.y) * r * 6} />
      )}
      {o.text && label(anchor ?? { x: r, y: r * 4 }, `⌨ ${o.text}`, 'ov-text', true)}
    </svg>
  );
}
