import type { BrowserWindowConstructorOptions, WebContents } from 'electron';

/**
 * The only window settings the app uses, kept in one pure object so a test can assert them:
 * an isolated, sandboxed renderer with no Node and no remote content.
 */
export function secureWindowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1400,
    height: 900,
    minWidth: 900,
    minHeight: 600,
    title: 'DTQL Workbench',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  };
}

/** The app's pages come from its own files only: anything else is not a place to navigate to. */
export function isAppUrl(url: string, rendererUrl: string): boolean {
  try {
    const target = new URL(url);
    const base = new URL(rendererUrl);
    return target.protocol === base.protocol && target.host === base.host && target.pathname === base.pathname;
  } catch {
    return false;
  }
}

/**
 * Keeps a window on the app's page: new windows are denied, navigation anywhere else and every
 * redirect are blocked, and no <webview> may attach.
 */
export function hardenContents(contents: Pick<WebContents, 'setWindowOpenHandler' | 'on'>, rendererUrl: string): void {
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  contents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url, rendererUrl)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
}
