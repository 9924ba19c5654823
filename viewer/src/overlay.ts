import type { Step } from './model.js';
import { isObj, num, str } from './util.js';

/**
 * What an action looks like on its screenshot, in the screenshot's natural pixels. Actions carry
 * coordinates in their own space (action.coordinate_space); screenshots are captured at viewport
 * scale unless the step says otherwise, so a known viewport width (or screenshot_scale / device
 * scale factor) gives the factor from action space to image pixels.
 */
export interface Point {
  x: number;
  y: number;
}
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}
export interface Overlay {
  kind: string;
  points: Point[];
  path?: Point[];
  text?: string;
  scroll?: Point;
  grounding?: Box | Point;
  label?: string;
  space: string;
  scale: number;
}

export const isBox = (v: Box | Point): v is Box => 'w' in v;

function pt(v: unknown): Point | undefined {
  if (Array.isArray(v) && v.length >= 2 && typeof v[0] === 'number' && typeof v[1] === 'number') return { x: v[0], y: v[1] };
  if (isObj(v) && num(v.x) !== undefined && num(v.y) !== undefined) return { x: v.x as number, y: v.y as number };
  return undefined;
}

function box(v: unknown): Box | Point | undefined {
  if (Array.isArray(v) && v.length === 4 && v.every((n) => typeof n === 'number')) {
    const [x1, y1, x2, y2] = v as number[];
    return { x: Math.min(x1!, x2!), y: Math.min(y1!, y2!), w: Math.abs(x2! - x1!), h: Math.abs(y2! - y1!) };
  }
  if (isObj(v)) {
    const w = num(v.width) ?? num(v.w);
    const h = num(v.height) ?? num(v.h);
    if (num(v.x) !== undefined && num(v.y) !== undefined && w !== undefined && h !== undefined) return { x: v.x as number, y: v.y as number, w, h };
    const l = num(v.x1) ?? num(v.left);
    const t = num(v.y1) ?? num(v.top);
    const r = num(v.x2) ?? num(v.right);
    const b = num(v.y2) ?? num(v.bottom);
    if (l !== undefined && t !== undefined && r !== undefined && b !== undefined) return { x: l, y: t, w: r - l, h: b - t };
    if (v.bbox !== undefined) return box(v.bbox);
  }
  return pt(v);
}

function viewportWidth(step: Step): number | undefined {
  const p = step.action?.params ?? {};
  for (const v of [step.viewport, p.viewport, isObj(step.observation) ? step.observation.viewport : undefined, isObj(step.env_fingerprint) ? step.env_fingerprint.viewport : undefined]) {
    if (isObj(v) && num(v.width)) return v.width as number;
  }
  return num(p.viewport_width) ?? num(step.viewport_width);
}

/** Factor from the action's coordinate space to the screenshot's natural pixels. */
export function spaceScale(step: Step, naturalWidth: number): number {
  const space = step.action?.coordinate_space ?? 'screenshot_px';
  const p = step.action?.params ?? {};
  const obs = isObj(step.observation) ? step.observation : {};
  const dsf = num(p.device_scale_factor) ?? num(step.device_scale_factor) ?? num(obs.device_scale_factor);
  const shotScale = num(p.screenshot_scale) ?? num(step.screenshot_scale) ?? num(obs.screenshot_scale);
  const vw = viewportWidth(step);
  if (space === 'viewport_css_px' || space === 'dom_client_rect') {
    if (vw && naturalWidth) return naturalWidth / vw;
    return shotScale ?? 1;
  }
  if (space === 'device_px') {
    if (vw && dsf && naturalWidth) return naturalWidth / (vw * dsf);
    return shotScale && dsf ? shotScale / dsf : 1;
  }
  return 1;
}

export function overlayOf(step: Step, naturalWidth: number): Overlay {
  const a = step.action ?? {};
  const p = (isObj(a.params) ? a.params : {}) as Record<string, unknown>;
  const kind = str(a.type) ?? str(step.step_type) ?? 'action';
  const scale = spaceScale(step, naturalWidth);
  const s = (q: Point): Point => ({ x: q.x * scale, y: q.y * scale });
  const points: Point[] = [];
  const at = pt(p) ?? pt(p.coordinate) ?? pt(p.coordinates) ?? pt(p.position) ?? pt(p.point);
  let path: Point[] | undefined;
  const rawPath = Array.isArray(p.path) ? p.path : Array.isArray(p.points) ? p.points : undefined;
  if (rawPath) path = rawPath.map(pt).filter((q): q is Point => !!q).map(s);
  else {
    const from = pt(p.start) ?? pt(p.from) ?? pt(p.start_coordinate) ?? (num(p.start_x) !== undefined ? pt({ x: p.start_x, y: p.start_y }) : undefined);
    const to = pt(p.end) ?? pt(p.to) ?? pt(p.end_coordinate) ?? (num(p.end_x) !== undefined ? pt({ x: p.end_x, y: p.end_y }) : undefined) ?? (from ? at : undefined);
    if (from && to) path = [s(from), s(to)];
  }
  if (!path && at) points.push(s(at));
  const g = step.grounding;
  const raw = g ? box(g.coordinates ?? g.bbox ?? g.box) : undefined;
  const grounding: Box | Point | undefined = !raw ? undefined : isBox(raw) ? { x: raw.x * scale, y: raw.y * scale, w: raw.w * scale, h: raw.h * scale } : s(raw);
  const dx = num(p.dx) ?? num(p.scroll_x) ?? num(p.delta_x);
  const dy = num(p.dy) ?? num(p.scroll_y) ?? num(p.delta_y);
  const text = str(p.text) ?? str(p.key) ?? (Array.isArray(p.keys) ? p.keys.join('+') : undefined);
  return {
    kind,
    points,
    path,
    text,
    scroll: dx !== undefined || dy !== undefined ? { x: dx ?? 0, y: dy ?? 0 } : undefined,
    grounding,
    label: str(g?.target_label),
    space: a.coordinate_space ?? 'screenshot_px',
    scale,
  };
}
