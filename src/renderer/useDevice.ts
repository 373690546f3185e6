import type { AppInfo } from '../api/contract';
import { api } from './api';
import { useApi } from './useApi';

/** What runs train on here (a CPU until the app has said): it picks each task's default preset. */
export function useDevice(): AppInfo['device'] {
  return useApi(() => api.getInfo({}), []).data?.device ?? 'cpu';
}
