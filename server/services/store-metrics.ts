import type { Metrics } from './metrics.js';

/** Never timed: lifecycle calls, not traffic. */
const UNTIMED = new Set<string | symbol>(['close', 'constructor', 'then']);

/**
 * The store with every method call timed into `augur_backend_call_duration_seconds{backend,
 * operation}` and failures counted in `augur_backend_call_errors_total` (unless `callerFault`
 * says the caller caused them). A Proxy, so any port
 * (objects, metadata, presence, and whatever stores come next) is wrapped the same way without
 * knowing its interface; methods run on the real store (`this` is never the proxy, so private
 * fields work). Each operation's series and wrapper are made once, on its first call.
 */
export function instrumentStore<T extends object>(store: T, backend: string, metrics: Metrics, callerFault: (err: unknown) => boolean = () => false): T {
  const wrapped = new Map<string | symbol, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function' || typeof prop === 'symbol') return value;
      let fn = wrapped.get(prop);
      if (!fn && UNTIMED.has(prop)) wrapped.set(prop, (fn = (value as (...args: unknown[]) => unknown).bind(target)));
      if (!fn) {
        const { duration, errors } = metrics.backend(backend, prop);
        const original = value as (...args: unknown[]) => unknown;
        // performance.now() (a double) rather than hrtime.bigint() (a BigInt per call); the
        // rejection path rethrows so callers see the store's own error.
        const seconds = (start: number): number => (performance.now() - start) / 1000;
        fn = function timed(this: unknown): unknown {
          const start = performance.now();
          let out: unknown;
          try {
            // eslint-disable-next-line prefer-rest-params
            out = Reflect.apply(original, target, arguments);
          } catch (err) {
            duration.observe(seconds(start));
            if (!callerFault(err)) errors.inc();
            throw err;
          }
          if (!(out instanceof Promise)) {
            duration.observe(seconds(start));
            return out;
          }
          return out.then(
            (v: unknown) => {
              duration.observe(seconds(start));
              return v;
            },
            (err: unknown) => {
              duration.observe(seconds(start));
              if (!callerFault(err)) errors.inc();
              throw err;
            },
          );
        };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}

/**
 * Every store of the set wrapped, each labelled with its key (objects, metadata, presence, ...).
 * `callerFault` tells refusals caused by the caller (a conflict, an upload over its limit or
 * refused for its content) from the backend's own failures: only the latter count as errors.
 */
export function instrumentStores<S extends object>(stores: S, metrics: Metrics, callerFault?: (err: unknown) => boolean): S {
  const out = {} as Record<string, unknown>;
  for (const [name, store] of Object.entries(stores)) out[name] = typeof store === 'object' && store !== null ? instrumentStore(store, name, metrics, callerFault) : store;
  return out as S;
}
