interface Props {
  preset: string;
  onPreset(preset: string): void;
  /** The seed field's label: "seed" where one run per algorithm starts, "seeds" where a list may. */
  seedLabel: 'seed' | 'seeds';
  seeds: string;
  onSeeds(text: string): void;
  steps: string;
  onSteps(text: string): void;
}

/**
 * The options the two bandit pages share: the preset, the seed(s) (blank: each task's official
 * seed) and the training steps (blank: the preset's).
 */
export function BanditRunOptions({ preset, onPreset, seedLabel, seeds, onSeeds, steps, onSteps }: Props) {
  return (
    <>
      <label>
        preset{' '}
        <select value={preset} onChange={(e) => onPreset(e.target.value)} aria-label="preset">
          <option value="quick">quick (minutes per run)</option>
          <option value="paper">paper (full batch, an hour or more per run on a CPU)</option>
        </select>
      </label>
      <label>
        {seedLabel} <input value={seeds} placeholder="official" onChange={(e) => onSeeds(e.target.value)} size={seedLabel === 'seeds' ? 10 : 6} aria-label={seedLabel} />
      </label>
      <label>
        training steps <input value={steps} placeholder="preset" onChange={(e) => onSteps(e.target.value)} size={7} aria-label="training steps" />
      </label>
    </>
  );
}
