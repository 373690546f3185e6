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
