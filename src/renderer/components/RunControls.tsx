import type { RunStatus } from '../../api/contract';
import { api } from '../api';
import { useAction } from '../useApi';

const CAN_RESUME = new Set<RunStatus>(['paused', 'stopped', 'interrupted', 'failed', 'diverged']);

/** Pause, resume and stop for one run; the buttons offered follow its status. */
export function RunControls({ runId, status }: { runId: number; status: RunStatus }) {
  const { error, run } = useAction();
  const act = (call: () => Promise<unknown>) => () => run(call);
  return (
    <span className="run-controls">
      {status === 'running' ? <button onClick={act(() => api.pauseRun({ id: runId }))}>Pause</button> : null}
      {CAN_RESUME.has(status) ? <button onClick={act(() => api.resumeRun({ id: runId }))}>Resume</button> : null}
      {status === 'running' || status === 'paused' || status === 'queued' ? (
        <button className="secondary" onClick={act(() => api.stopRun({ id: runId }))}>
          Stop
        </button>
      ) : null}
      {error ? <span className="field-error">{error}</span> : null}
    </span>
  );
}
