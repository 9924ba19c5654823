import { randomInt } from 'node:crypto';

/**
 * One pass over JSON text before JSON.parse sees it: how deep it nests, whether an object repeats a
 * key, and what parsing it would cost, so that a body whose parse would hold the event loop too
 * long is refused (AUGUR_MAX_JSON_VALUES) before any of it is decoded or built.
 *
 * The cost is counted in "values", about what one small value costs to parse: each comma and each
 * object key counts one, and what V8's JSON.parse (Node 20) spends more on counts more, weighted
 * from `npm run bench:bounds` so that no shape costs much more per value than an SDK trace does
 * (README "Limits and leniency"):
 * - an object OBJECT_COST, an array ARRAY_COST;
 * - an object layout seen for the first time: each new prefix of a key sequence (`{"a":..,"b":..}`
 *   and `{"b":..,"a":..}` are two) makes V8 build a hidden class, ~1 µs, so it costs SHAPE_COST
 *   more (an SDK trace repeats a few hundred; objects of fresh keys make one per key, and 1M
 *   values of them took 2.9 s to parse);
 * - keys past an object's FAST_KEYS-th go into a hash table, ~0.3–1 µs each: DICT_KEY_COST;
 * - a key holding an escape is decoded and interned apart: ESCAPED_KEY_COST;
 * - text outside strings (numbers, literals, whitespace) one per PLAIN_BYTES_PER_VALUE bytes
 *   (slow-to-parse numbers), escapes in strings one per ESCAPES_PER_VALUE.
 * Plain string text costs a few ns a byte whatever its shape; the byte limit bounds it.
 */
export const OBJECT_COST = 2;
export const ARRAY_COST = 4;
export const SHAPE_COST = 24;
export const DICT_KEY_COST = 16;
export const ESCAPED_KEY_COST = 16;
/** V8 gives JSON objects up to this many keys a hidden class (fast properties); larger ones are dictionaries. */
export const FAST_KEYS = 128;

/** Objects with up to this many keys compare key hashes in a list; larger ones look their hashes up in a Map. */
const SMALL_OBJECT_KEYS = 24;
/** Strings are walked byte by byte this far before indexOf takes over (a native call costs more than a short walk). */
const SHORT_STRING = 48;
/** Text outside strings: this many bytes count one value (16 MiB of slow numbers took 100 ms or more to parse). */
export const PLAIN_BYTES_PER_VALUE = 8;
/** Escapes in strings: this many count one value (16 MiB of `\"` took 65–80 ms to parse). */
export const ESCAPES_PER_VALUE = 6;
const FNV_PRIME = 0x01000193;
/**
 * FNV-1a's offset basis, random per process: key hashes (for duplicates and layouts) cannot be
 * made to collide by a body written in advance. A collision only costs time (keys are compared
 * byte by byte) or under-counts a layout, never lets a duplicate through.
 */
const BASIS = randomInt(0x7fffffff) | 1;

export interface JsonScanLimits {
  /** Deepest nesting of arrays and objects. */
  depth: number;
  /** Most values (the cost above) one body may hold. */
  values: number;
  /** A key of the top-level object whose array value's object elements are located (JsonScan.elements). */
  elementsOf?: string;
}

export type JsonScanProblem = { problem: 'depth' } | { problem: 'duplicate'; key: string } | { problem: 'values' };

export interface JsonScan {
  /** The body's cost in values (when a limit was crossed: where the scan stopped). */
  values: number;
  problem?: JsonScanProblem;
  /** With `elementsOf`: [start, end) byte offsets of each object element of that array, in order. */
  elements?: number[];
}

/**
 * One open object: its keys as (hash, start, end) triples into the text (escaped keys into the
 * arena of decoded keys, start -1 - offset), a hash index once it has many, and the state of its
 * key sequence so far (its layout).
 */
interface KeySet {
  keys: number[];
  index?: Map<number, number | number[]>;
  shape: number;
}

/**
 * Layouts (key-sequence prefixes) seen in the body being scanned: an open-addressing set of 32-bit
 * states, kept between scans (a scan is synchronous) and emptied by moving to a new generation. Plain
 * module state rather than an object made per scan: V8 threw away scanJson's optimised code at every
 * full collection while it allocated one ("weak objects"), and the next large body was scanned 5–10×
 * slower until it was optimised again.
 */
let shapeStates = new Int32Array(1 << 12);
let shapeGens = new Uint32Array(1 << 12);
let shapeGen = 0;
let shapeCount = 0;

function newShapeGeneration(): void {
  shapeGen++;
  shapeCount = 0;
}

/** Adds a layout state; true when the body had not had it. */
function addShape(state: number): boolean {
  let mask = shapeStates.length - 1;
  let i = state & mask;
  for (;;) {
    if (shapeGens[i] !== shapeGen) break;
    if (shapeStates[i] === state) return false;
    i = (i + 1) & mask;
  }
  shapeStates[i] = state;
  shapeGens[i] = shapeGen;
  if (++shapeCount * 2 > shapeStates.length) {
    const states = shapeStates;
    const gens = shapeGens;
    shapeStates = new Int32Array(states.length * 2);
    shapeGens = new Uint32Array(states.length * 2);
    mask = shapeStates.length - 1;
    for (let k = 0; k < states.length; k++) {
      if (gens[k] !== shapeGen) continue;
      let j = states[k]! & mask;
      while (shapeGens[j] === shapeGen) j = (j + 1) & mask;
      shapeStates[j] = states[k]!;
      shapeGens[j] = shapeGen;
    }
  }
  return true;
}

/**
 * Scans `buf`. Refuses (as `problem`) nesting deeper than `limits.depth`, a key repeated in one
 * object at any depth (JSON.parse would keep the last one silently while the stored bytes keep both:
 * `{"step_index":9,"step_index":8}` would be stored as sent and acted on as 8), and a cost over
 * `limits.values`, stopping there. Keys are compared as their raw bytes, or decoded when they hold
 * an escape (`"a"` and `"\u0061"` are the same key). Malformed text may pass: JSON.parse refuses it.
 */
export function scanJson(buf: Buffer, limits: JsonScanLimits): JsonScan {
  const { depth: depthLimit, values: valueLimit } = limits;
  // One entry per open container: its keys (objects) or null (arrays).
  const stack: Array<KeySet | null> = [];
  // Made only when a key holds an escape, and the elementsOf key's bytes made once: a Buffer taken
  // from Node's pool in every scan made V8 drop scanJson's optimised code at full collections too.
  let decoded = NO_ARENA;
  newShapeGeneration();
  let values = 0;
  let stringBytes = 0;
  let escapes = 0;
  let expectKey = false;
  const n = buf.length;
  // elementsOf: the key's bytes; armed once it is read at the top level; the stack depth inside its array; the open element.
  const wanted = limits.elementsOf === undefined ? undefined : keyBuffer(limits.elementsOf);
  const elements: number[] | undefined = wanted ? [] : undefined;
  let armed = false;
  let inside = -1;
  let elementStart = -1;
  for (let i = nextMark(buf, 0); i < n; i = nextMark(buf, i + 1)) {
    switch (CLASS[buf[i]!]) {
      case QUOTE: {
        const start = i + 1;
        const end = stringEnd(buf, start);
        if (end < 0) return { values }; // unterminated: JSON.parse refuses it
        stringBytes += end - i + 1;
        escapes += escapesSeen;
        i = end;
        if (!expectKey) continue;
        expectKey = false;
        const keys = stack[stack.length - 1];
        if (!keys) continue;
        let hash = BASIS;
        let escaped = false;
        for (let j = start; j < end; j++) {
          const b = buf[j]!;
          if (b === 0x5c) escaped = true;
          hash = Math.imul(hash ^ b, FNV_PRIME);
        }
        let ks = start;
        let ke = end;
        if (escaped) {
          // The key as the bytes it means, appended to the arena; referred to as (-1 - offset, end).
          if (decoded === NO_ARENA) decoded = new Arena();
          const at = decoded.length;
          if (!decoded.unescape(buf, start, end)) return { values }; // a bad escape: JSON.parse refuses it
          ks = -1 - at;
          ke = decoded.length;
          values += ESCAPED_KEY_COST - 1;
          hash = BASIS;
          const bytes = decoded.bytes;
          for (let j = at; j < ke; j++) hash = Math.imul(hash ^ bytes[j]!, FNV_PRIME);
        }
        const dup = addKey(keys, buf, decoded, hash, ks, ke);
        if (dup !== undefined) return { values, problem: { problem: 'duplicate', key: dup } };
        if (keys.keys.length <= FAST_KEYS * 3) {
          keys.shape = Math.imul(keys.shape ^ hash, FNV_PRIME);
          values += addShape(keys.shape) ? 1 + SHAPE_COST : 1;
        } else values += DICT_KEY_COST;
        if (values > valueLimit) return { values, problem: { problem: 'values' } };
        if (wanted && stack.length === 1) armed = keyBytes(buf, decoded, ks, ke).equals(wanted);
        continue;
      }
      case OPEN_OBJECT:
        if (stack.length >= depthLimit) return { values, problem: { problem: 'depth' } };
        if (stack.length === inside) elementStart = i;
        armed = false;
        stack.push({ keys: [], shape: BASIS });
        expectKey = true;
        values += OBJECT_COST;
        if (values > valueLimit) return { values, problem: { problem: 'values' } };
        continue;
      case OPEN_ARRAY:
        if (stack.length >= depthLimit) return { values, problem: { problem: 'depth' } };
        if (armed && stack.length === 1) inside = 2;
        armed = false;
        stack.push(null);
        expectKey = false;
        values += ARRAY_COST;
        if (values > valueLimit) return { values, problem: { problem: 'values' } };
        continue;
      case CLOSE:
        stack.pop();
        expectKey = false;
        if (stack.length === inside && elementStart >= 0) {
          elements!.push(elementStart, i + 1);
          elementStart = -1;
        } else if (stack.length === inside - 1) inside = -1;
        continue;
      case COMMA:
        armed = false;
        expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
        if (++values > valueLimit) return { values, problem: { problem: 'values' } };
        continue;
    }
  }
  // Text outside strings (numbers, literals, whitespace) and escapes in strings cost the parser per byte.
  values += Math.floor((n - stringBytes) / PLAIN_BYTES_PER_VALUE) + Math.floor(escapes / ESCAPES_PER_VALUE);
  return values > valueLimit ? { values, problem: { problem: 'values' } } : { values, elements };
}

const PLAIN = 0;
const QUOTE = 1;
const OPEN_OBJECT = 2;
const OPEN_ARRAY = 3;
const CLOSE = 4;
const COMMA = 5;
/** What each byte means to the scan outside strings; most bytes mean nothing (one table load and compare each). */
const CLASS = new Uint8Array(256);
CLASS[0x22] = QUOTE;
CLASS[0x7b] = OPEN_OBJECT;
CLASS[0x5b] = OPEN_ARRAY;
CLASS[0x7d] = CLOSE;
CLASS[0x5d] = CLOSE;
CLASS[0x2c] = COMMA;

/** The index of the next byte at or after `i` that means something outside a string (n when none): a tight loop of its own. */
function nextMark(buf: Buffer, i: number): number {
  const n = buf.length;
  while (i < n && CLASS[buf[i]!] === PLAIN) i++;
  return i;
}

/** Escapes (`\"`, `\n`, `\u00e9`, …) in the string stringEnd found last. */
let escapesSeen = 0;

/**
 * The index of the quote closing a string whose text starts at `start`, or -1; counts its escapes
 * in escapesSeen. A stretch is walked by hand, then the next quote is found with indexOf (memchr)
 * and checked for an escaping backslash run; walking by hand again after an escaped quote keeps a
 * string dense with `\"` from costing one native call per quote. A stretch jumped over is walked
 * only when it holds a backslash.
 */
export function stringEnd(buf: Buffer, start: number): number {
  const n = buf.length;
  let escapes = 0;
  let j = start;
  for (;;) {
    const stop = Math.min(n, j + SHORT_STRING);
    for (; j < stop; j++) {
      const b = buf[j]!;
      if (b === 0x22) {
        escapesSeen = escapes;
        return j;
      }
      if (b === 0x5c) {
        j++;
        escapes++;
      }
    }
    if (j >= n) return -1;
    // j is not inside an escape: the backslashes right before the next quote, counted from j, tell whether it is escaped.
    const q = buf.indexOf(0x22, j);
    if (q < 0) return -1;
    if (buf.subarray(j, q).includes(0x5c)) {
      for (let k = j; k < q; k++) {
        if (buf[k] === 0x5c) {
          escapes++;
          k += buf[k + 1] === 0x75 ? 5 : 1; // \uXXXX: its hex digits hold no quote or backslash
        }
      }
    }
    let k = q - 1;
    while (k >= j && buf[k] === 0x5c) k--;
    if ((q - 1 - k) % 2 === 0) {
      escapesSeen = escapes;
      return q;
    }
    j = q + 1;
  }
}

/** Records a key of an open object; the key's text when the object already has it. */
function addKey(set: KeySet, buf: Buffer, decoded: Arena, hash: number, ks: number, ke: number): string | undefined {
  const keys = set.keys;
  if (set.index) {
    // The keys of this hash: one offset, or (after a collision, rare: the hash is seeded per process) several.
    const at = set.index.get(hash);
    if (at !== undefined) {
      for (const k of typeof at === 'number' ? [at] : at) {
        if (sameKey(buf, decoded, keys[k + 1]!, keys[k + 2]!, ks, ke)) return keyText(buf, decoded, ks, ke);
      }
    }
    indexKey(set.index, hash, keys.length);
  } else {
    for (let k = 0; k < keys.length; k += 3) {
      if (keys[k] === hash && sameKey(buf, decoded, keys[k + 1]!, keys[k + 2]!, ks, ke)) return keyText(buf, decoded, ks, ke);
    }
    if (keys.length >= SMALL_OBJECT_KEYS * 3) {
      set.index = new Map();
      for (let k = 0; k <= keys.length; k += 3) indexKey(set.index, k < keys.length ? keys[k]! : hash, k);
    }
  }
  keys.push(hash, ks, ke);
  return undefined;
}

function indexKey(index: Map<number, number | number[]>, hash: number, at: number): void {
  const held = index.get(hash);
  if (held === undefined) index.set(hash, at);
  else if (typeof held === 'number') index.set(hash, [held, at]);
  else held.push(at);
}

/**
 * Decoded escaped keys, one after another in one growing buffer: a body of many escaped keys costs
 * no allocation per key. Escapes are decoded as JSON.parse does; a lone surrogate is written as its
 * three-byte form (WTF-8), so two keys are equal bytes exactly when they are equal strings.
 */
class Arena {
  bytes = Buffer.alloc(256);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const next = Buffer.alloc(Math.max(this.bytes.length * 2, this.length + n));
    this.bytes.copy(next, 0, 0, this.length);
    this.bytes = next;
  }

  /** Appends what the string text buf[start, end) means; false for an escape JSON.parse would refuse. */
  unescape(buf: Buffer, start: number, end: number): boolean {
    this.reserve(end - start); // the decoded form is never longer than the escaped text
    const out = this.bytes;
    let o = this.length;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b !== 0x5c) {
        out[o++] = b;
        continue;
      }
      const e = buf[++i];
      switch (e) {
        case 0x22:
        case 0x5c:
        case 0x2f:
          out[o++] = e;
          break;
        case 0x62:
          out[o++] = 0x08;
          break;
        case 0x66:
          out[o++] = 0x0c;
          break;
        case 0x6e:
          out[o++] = 0x0a;
          break;
        case 0x72:
          out[o++] = 0x0d;
          break;
        case 0x74:
          out[o++] = 0x09;
          break;
        case 0x75: {
          let cp = hex4(buf, i + 1, end);
          if (cp < 0) return false;
          i += 4;
          // A high surrogate followed by an escaped low one is one code point.
          if (cp >= 0xd800 && cp < 0xdc00 && buf[i + 1] === 0x5c && buf[i + 2] === 0x75) {
            const lo = hex4(buf, i + 3, end);
            if (lo >= 0xdc00 && lo < 0xe000) {
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
              i += 6;
            }
          }
          if (cp < 0x80) out[o++] = cp;
          else if (cp < 0x800) {
            out[o++] = 0xc0 | (cp >> 6);
            out[o++] = 0x80 | (cp & 0x3f);
          } else if (cp < 0x10000) {
            out[o++] = 0xe0 | (cp >> 12);
            out[o++] = 0x80 | ((cp >> 6) & 0x3f);
            out[o++] = 0x80 | (cp & 0x3f);
          } else {
            out[o++] = 0xf0 | (cp >> 18);
            out[o++] = 0x80 | ((cp >> 12) & 0x3f);
            out[o++] = 0x80 | ((cp >> 6) & 0x3f);
            out[o++] = 0x80 | (cp & 0x3f);
          }
          break;
        }
        default:
          return false;
      }
    }
    this.length = o;
    return true;
  }
}

const NO_ARENA = new Arena();

const keyBuffers = new Map<string, Buffer>();
/** A key's UTF-8 bytes, made once per key (routes name a few). */
function keyBuffer(key: string): Buffer {
  let b = keyBuffers.get(key);
  if (!b) keyBuffers.set(key, (b = Buffer.from(key)));
  return b;
}

/** The value of four hex digits at buf[at, at + 4), or -1. */
function hex4(buf: Buffer, at: number, end: number): number {
  if (at + 4 > end) return -1;
  let v = 0;
  for (let k = at; k < at + 4; k++) {
    const c = buf[k]!;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (d < 0) return -1;
    v = (v << 4) | d;
  }
  return v;
}

/** A key's bytes: a range of the text, or (start < 0) of the arena. */
function keyBytes(buf: Buffer, decoded: Arena, start: number, end: number): Buffer {
  return start < 0 ? decoded.bytes.subarray(-1 - start, end) : buf.subarray(start, end);
}

function sameKey(buf: Buffer, decoded: Arena, s1: number, e1: number, s2: number, e2: number): boolean {
  return keyBytes(buf, decoded, s1, e1).equals(keyBytes(buf, decoded, s2, e2));
}

function keyText(buf: Buffer, decoded: Arena, start: number, end: number): string {
  return keyBytes(buf, decoded, start, end).toString('utf8');
}
