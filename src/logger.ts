// pino, configured once. Sessions take child loggers (`logger.child({ session: id })`); nothing
// logs argument values or secrets: log command names and sizes, never payloads.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/types.js';

export type { Logger };

export function createLogger(level: LogLevel, format: 'json' | 'pretty' = 'json', destination?: NodeJS.WritableStream): Logger {
  const redact = {
    paths: ['password', '*.password', '*.*.password', 'auth.password', 'sentinelAuth.password', 'key', '*.key'],
    censor: '[redacted]',
  };
  if (format === 'pretty') {
    return pino({
      level,
      redact,
      transport: { target: 'pino-pretty', options: { colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return destination ? pino({ level, redact }, destination as pino.DestinationStream) : pino({ level, redact });
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
