import type { Request } from 'express';
import { ApiError } from '../../errors.js';
import { SEVERITIES, type Severity } from './types.js';

/** `?severity=<level>`: keep findings at that severity and above; anything else is 422 naming the parameter. */
export function parseSeverity(req: Request): Severity | undefined {
  const v = req.query.severity;
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !(SEVERITIES as readonly string[]).includes(v)) {
    const msg = `must be one of ${SEVERITIES.join(', ')}`;
    throw new ApiError('validation_failed', `Invalid request query: severity: ${msg}`, { errors: [{ loc: ['query', 'severity'], msg, type: 'enum' }] });
  }
  return v as Severity;
}
