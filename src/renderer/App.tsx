import { HashRouter, NavLink, Navigate, Route, Routes } from 'react-router-dom';
import { api } from './api';
import { useApi } from './useApi';
import { TasksPage } from './pages/TasksPage';
import { LivePage } from './pages/LivePage';
import { ComparePage } from './pages/ComparePage';
import { HistoryPage } from './pages/HistoryPage';
import { RunPage } from './pages/RunPage';
import { ReproducePage } from './pages/ReproducePage';
import { SweepsPage } from './pages/SweepsPage';

const PAGES = [
  { path: '/tasks', label: 'Tasks' },
  { path: '/live', label: 'Live run' },
  { path: '/sweeps', label: 'Sweeps' },
  { path: '/compare', label: 'Compare' },
  { path: '/history', label: 'History' },
  { path: '/reproduce', label: 'Reproduce' },
];

export function App() {
  const info = useApi(() => api.getInfo({}), []);
  return (
    <HashRouter>
      <div className="shell">
        <header className="topbar">
          <span className="brand">DTQL Workbench</span>
          <nav aria-label="Pages">
            {PAGES.map((p) => (
              <NavLink key={p.path} to={p.path} className={({ isActive }) => (isActive ? 'nav active' : 'nav')}>
                {p.label}
              </NavLink>
            ))}
          </nav>
          <span className="muted small" data-testid="app-info">
            {info.data ? `${info.data.mode} · ${info.data.home}` : info.error ? `back end unreachable: ${info.error}` : ''}
          </span>
        </header>
        <main className="content">
          <Routes>
            <Route path="/" element={<Navigate to="/tasks" replace />} />
            <Route path="/tasks" element={<TasksPage />} />
            <Route path="/tasks/:taskId" element={<TasksPage />} />
            <Route path="/live" element={<LivePage />} />
            <Route path="/sweeps" element={<SweepsPage />} />
            <Route path="/compare" element={<ComparePage />} />
            <Route path="/history" element={<HistoryPage />} />
            <Route path="/reproduce" element={<ReproducePage />} />
            <Route path="/runs/:runId" element={<RunPage />} />
            <Route path="*" element={<p>Page not found.</p>} />
          </Routes>
        </main>
      </div>
    </HashRouter>
  );
}
