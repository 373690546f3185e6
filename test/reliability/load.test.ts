/**
 * Load (issue 9.2), the parts that are right or wrong rather than fast or slow: many clients get
 * the same true curves, revalidation answers 304 until the run changes, and WebSocket clients that
 * come and go leave no listeners, handles or heap behind. Speed is `npm run bench` (`--load`).
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { EventHub } from '../../src/engine/events';
import { createService } from '../../src/engine/service';
import { planRuns } from '../../src/engine/plan';
import { buildServer } from '../../src/server/app';
import { openDatabase, type Db } from '../../src/store/db';
import { downsampleMetric, insertMetrics } from '../../src/store/metrics';
import { finishRun, insertRuns, recordProgress } from '../../src/store/runs';
import { tempHome } from '../helpers';

interface Served {
  app: FastifyInstance;
  base: string;
  db: Db;
  home: string;
  hub: EventHub;
}
const served: Served[] = [];
afterEach(async () => {
  for (const s of served.splice(0)) {
    await s.app.close();
    s.db.close();
    fs.rmSync(s.home, { recursive: true, force: true });
  }
});

async function serve(): Promise<Served> {
  const home = tempHome();
  const db = openDatabase(home);
  const hub = new EventHub();
  const app = await buildServer({ service: createService({ db, home, mode: 'served' }, hub), host: '127.0.0.1', port: 0, token: null, staticDir: null });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const s = { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, db, home, hub };
  served.push(s);
  return s;
}

function bigRun(db: Db, points: number): number {
  const [id] = insertRuns(db, planRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [1], tags: [], overrides: {} })) as [number];
  insertMetrics(db, id, Array.from({ length: points }, (_, i) => ({ name: 'critic', step: i + 1, wallTime: i, value: Math.sin(i / 101) * (1 + (i % 7)) })));
  finishRun(db, id, { status: 'completed', stepsDone: points });
  return id;
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('served mode under many clients', () => {
  it('50 concurrent clients all get the true downsampled curve; unchanged curves revalidate with 304 until the run changes', async () => {
    const s = await serve();
    const id = bigRun(s.db, 200_000);
    const truth = downsampleMetric(s.db, id, 'critic', 500);
    const url = `${s.base}/api/runs/${id}/metrics?maxPoints=500`;
    const replies = await Promise.all(Array.from({ length: 50 }, () => fetch(url)));
    const etags = new Set(replies.map((r) => r.headers.get('etag')));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(etags.size).toBe(1);
    for (const reply of replies) {
      const body = (await reply.json()) as { series: { critic: { min: number[]; max: number[]; last: number[]; points: number } } };
      expect(body.series.critic).toMatchObject({ min: truth.min, max: truth.max, last: truth.last, points: 200_000 });
    }
    const etag = [...etags][0] as string;
    const revalidated = await Promise.all(Array.from({ length: 50 }, () => fetch(url, { headers: { 'if-none-match': etag } })));
    expect(revalidated.map((r) => r.status)).toEqual(Array(50).fill(304));
    expect(await revalidated[0]!.text()).toBe('');

    // New points (as a resumed run flushes them, with its step count) change the answer and its tag.
    insertMetrics(s.db, id, [{ name: 'critic', step: 200_001, wallTime: 1, value: 1e6 }]);
    recordProgress(s.db, id, 200_001);
    const changed = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(((await changed.json()) as { series: { critic: { max: number[] } } }).series.critic.max.at(-1)).toBe(1e6);
  }, 60_000);

  it('WebSocket clients connecting and leaving in loops leak no listeners, handles or heap', async () => {
    const s = await serve();
    const socketUrl = `${s.base.replace('http', 'ws')}/api/events`;
    const cycle = async (i: number) => {
      const socket = new WebSocket(socketUrl);
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      s.hub.publish({ type: 'runs-changed', runIds: [i + 1] });
      const closed = new Promise((resolve) => socket.once('close', resolve));
      // Half leave politely, half vanish without a closing handshake.
      if (i % 2) socket.close();
      else socket.terminate();
      await closed;
    };
    const measure = async () => {
      for (let i = 0; i < 50 && s.hub.size > 0; i++) await settle();
      await settle();
      global.gc?.();
      return { listeners: s.hub.size, handles: process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length, heap: process.memoryUsage().heapUsed };
    };
    for (let i = 0; i < 50; i++) await cycle(i);
    const before = await measure();
    for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 50 }, (_, i) => cycle(round * 50 + i)));
    const after = await measure();
    console.info(`WebSocket churn, 500 connections: listeners ${before.listeners} -> ${after.listeners}, TCP handles ${before.handles} -> ${after.handles}, heap ${(before.heap / 2 ** 20).toFixed(1)} -> ${(after.heap / 2 ** 20).toFixed(1)} MB`);
    expect(before.listeners).toBe(0);
    expect(after.listeners).toBe(0);
    expect(after.handles).toBe(before.handles);
    // 500 connections came and went; what stays must be far below what 500 leaked sockets would hold.
    expect(after.heap - before.heap).toBeLessThan(4 * 2 ** 20);
  }, 60_000);
});
