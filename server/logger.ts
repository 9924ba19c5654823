import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stderr: stdout belongs to CLI results. */
export function createLogger(level = 'info'): Logger {
  return pino(
    {
      level,
      base: { service: 'augur' },
      // Credentials never reach a log line, even when a request is logged whole.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'password', 'api_key', 'token'],
    },
    pino.destination({ dest: 2, sync: false }),
  );
}
