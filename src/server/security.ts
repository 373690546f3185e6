import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';

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
 * Which Host headers the server answers: its own bound name; for a loopback bind the loopback names;
 * for a bind to every interface (0.0.0.0, ::) also this machine's name and interface addresses; and
 * the names given with --allow-host (a reverse proxy's or a DNS name), on any port. A DNS-rebound
 * page on another name cannot talk to the server, with or without a token.
 */
export function allowedHosts(host: string, port: number, extraNames: readonly string[] = []): (header: string | undefined) => boolean {
  const bracket = (n: string) => (n.includes(':') && !n.startsWith('[') ? `[${n}]` : n);
  const names = new Set<string>([bracket(host)]);
  if (isLoopbackHost(host) || host === '0.0.0.0' || host === '::') {
    names.add('127.0.0.1');
    names.add('localhost');
    names.add('[::1]');
  }
  if (host === '0.0.0.0' || host === '::') {
    names.add(os.hostname());
    for (const addresses of Object.values(os.networkInterfaces())) for (const a of addresses ?? []) names.add(bracket(a.address.split('%')[0] as string));
  }
  const exact = new Set([...names].map((n) => `${n}:${port}`.toLowerCase()));
  const anyPort = new Set(extraNames.map((n) => n.toLowerCase()));
  return (header) => {
    const value = (header ?? '').toLowerCase();
    if (exact.has(value)) return true;
    const name = value.replace(/:\d+$/, '');
    return anyPort.has(name);
  };
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
