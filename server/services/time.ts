/** Epoch milliseconds (how the stores keep time) as the RFC 3339 strings the API answers with. */
export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : iso(ms));
