import { useRef, useState } from 'react';
import type { DatasetDto } from '../../api/contract';
import { messageOf } from '../../api/errors';
import { api } from '../api';
import { ErrorNote } from './Status';

/**
 * Imports a D4RL or Minari file: an upload with a progress bar in a browser, the open dialog in
 * the desktop app (which can keep only a reference instead of a copy).
 */
export function DatasetImport({ onImported }: { onImported?: (d: DatasetDto) => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [name, setName] = useState('');
  const [keepCopy, setKeepCopy] = useState(true);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<DatasetDto | null>(null);
  const busy = progress !== null;

  const run = async (file: File | null) => {
    setError(null);
    setDone(null);
    setProgress(0);
    try {
      const imported = await api.importDataset(file, { name: name.trim() || undefined, keep: keepCopy ? 'copy' : 'reference' }, setProgress);
      if (imported) {
        setDone(imported);
        onImported?.(imported);
      }
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setProgress(null);
      if (input.current) input.current.value = '';
    }
  };

  return (
    <section className="dataset-import" aria-label="Import a dataset">
      <h2>Import a dataset</h2>
      <p className="muted small">A D4RL (.hdf5 with observations, actions, rewards, terminals) or Minari file. It is checked completely before anything is stored.</p>
      <div className="form-actions">
        <input placeholder="name (default: a Minari dataset id, else the file name)" value={name} onChange={(e) => setName(e.target.value)} aria-label="dataset name" disabled={busy} />
        {api.fileAccess === 'dialog' ? (
          <>
            <label>
              <input type="checkbox" checked={keepCopy} onChange={(e) => setKeepCopy(e.target.checked)} /> keep a copy in the data folder
            </label>
            <button type="button" disabled={busy} onClick={() => void run(null)}>
              Import…
            </button>
          </>
        ) : (
          <input ref={input} type="file" accept=".hdf5,.h5" aria-label="dataset file" disabled={busy} onChange={(e) => void run(e.target.files?.[0] ?? null)} />
        )}
      </div>
      {busy ? (
        <div className="import-progress" data-testid="import-progress">
          <progress value={progress < 1 ? progress : undefined} max={1} /> {progress < 1 ? `uploading ${Math.round(progress * 100)}%` : 'checking the file…'}
        </div>
      ) : null}
      {error ? <ErrorNote message={error} /> : null}
      {done ? (
        <p data-testid="import-done">
          Imported <strong>{done.name}</strong>: {done.transitions.toLocaleString()} transitions in {done.episodes.toLocaleString()} episodes
          {done.suggestedTask ? `, for ${done.suggestedTask}` : ''}.{done.warnings.map((w) => ` Warning: ${w}.`)}
        </p>
      ) : null}
    </section>
  );
}
