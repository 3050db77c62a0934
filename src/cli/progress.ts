/**
 * Per-epoch progress: a cli-progress bar on a terminal, plain lines otherwise (logs, pipes).
 */
import cliProgress from 'cli-progress';

export interface ProgressValues {
  loss: number;
  top1: number;
  imagesPerSecond: number;
}

export interface EpochProgress {
  update(done: number, values: ProgressValues): void;
  stop(): void;
}

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * Starts the progress display of one epoch. `write` receives whole lines in plain mode (at
 * most one every `intervalMs`, and the last one).
 */
export function startEpochProgress(
  label: string,
  total: number,
  options: { tty?: boolean; write?: (line: string) => void; intervalMs?: number } = {},
): EpochProgress {
  const tty = options.tty ?? Boolean(process.stdout.isTTY);
  const write = options.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  const start = Date.now();
  const format = (done: number, v: ProgressValues) => {
    const elapsed = (Date.now() - start) / 1000;
    const left = done > 0 ? (elapsed / done) * (total - done) : NaN;
    return { loss: v.loss.toFixed(4), top1: (100 * v.top1).toFixed(1), ips: v.imagesPerSecond.toFixed(1), etaText: eta(left) };
  };
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} | loss {loss} | top-1 {top1}% | {ips} img/s | ETA {etaText}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { loss: '-', top1: '-', ips: '-', etaText: '--' });
    return {
      update: (done, v) => bar.update(done, format(done, v)),
      stop: () => bar.stop(),
    };
  }
  const interval = options.intervalMs ?? 10000;
  let last = 0;
  let lastLine = '';
  return {
    update(done, v) {
      const f = format(done, v);
      lastLine = `${label} ${done}/${total} | loss ${f.loss} | top-1 ${f.top1}% | ${f.ips} img/s | ETA ${f.etaText}`;
      if (Date.now() - last >= interval || done === total) {
        last = Date.now();
        write(lastLine);
        lastLine = '';
      }
    },
    stop() {
      if (lastLine) write(lastLine);
    },
  };
}
