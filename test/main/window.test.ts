import { describe, expect, it } from 'vitest';
import { isAppUrl, secureWindowOptions } from '../../src/main/window';

describe('Electron window settings', () => {
  it('isolates and sandboxes the renderer without Node', () => {
    const prefs = secureWindowOptions('/x/preload/index.cjs').webPreferences;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      preload: '/x/preload/index.cjs',
    });
  });

  it('only treats the app page itself as a navigation target', () => {
    const app = 'file:///opt/app/out/renderer/index.html';
    expect(isAppUrl('file:///opt/app/out/renderer/index.html#/history', app)).toBe(true);
    expect(isAppUrl('https://example.com/', app)).toBe(false);
    expect(isAppUrl('file:///etc/passwd', app)).toBe(false);
    expect(isAppUrl('not a url', app)).toBe(false);
  });
});

describe('window contents hardening', () => {
  it('denies new windows, blocks navigation off the app page, redirects and webviews', async () => {
    const { EventEmitter } = await import('node:events');
    const { hardenContents } = await import('../../src/main/window');
    const app = 'file:///opt/app/out/renderer/index.html';
    const contents = Object.assign(new EventEmitter(), { openHandler: null as null | (() => unknown), setWindowOpenHandler(h: () => unknown) { this.openHandler = h; } });
    hardenContents(contents as never, app);
    expect(contents.openHandler?.()).toEqual({ action: 'deny' });
    const attempt = (name: string, url?: string) => {
      let prevented = false;
      contents.emit(name, { preventDefault: () => (prevented = true) }, url);
      return prevented;
    };
    expect(attempt('will-navigate', 'https://evil.example/')).toBe(true);
    expect(attempt('will-navigate', 'file:///etc/passwd')).toBe(true);
    expect(attempt('will-navigate', `${app}#/history`)).toBe(false);
    expect(attempt('will-redirect', app)).toBe(true);
    expect(attempt('will-attach-webview')).toBe(true);
  });
});
