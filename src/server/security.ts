import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (net.isIPv6(bare)) return bare === '::1';
  return false;
}

/** Constant-time token check: both sides are hashed first so lengths never leak through timing. */
export function tokenMatches(expected: string, presented: string | undefined | null): boolean {
  if (!presented) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}

export const TOKEN_COOKIE = 'dtql_token';

export function bearerOf(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match ? (match[1] as string) : null;
}

export function cookieOf(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

/**
 * Which Host headers the server answers: its own bound name, and for a loopback bind the loopback
 * names, so a DNS-rebound page on another name cannot talk to a local server.
 */
export function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set<string>([host.includes(':') && !host.startsWith('[') ? `[${host}]` : host]);
  if (isLoopbackHost(host) || host === '0.0.0.0' || host === '::') {
    names.add('127.0.0.1');
    names.add('localhost');
    names.add('[::1]');
  }
  return new Set([...names].map((n) => `${n}:${port}`.toLowerCase()));
}

/** The page's own origin is the only one allowed to make requests or open the event socket. */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host.toLowerCase() === (hostHeader ?? '').toLowerCase();
  } catch {
    return false;
  }
}

/** Served-mode Content Security Policy: only the app's own scripts, styles and connections. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');
