"""Progress and the tuning curve: a tqdm bar (optional import) with the best GFLOP/s
so far, else a line per batch on stderr; a PNG of best GFLOP/s against trials when
matplotlib is installed."""
from __future__ import annotations

import sys


def plot_curve(result, path):
    """Best GFLOP/s against trials as a PNG at path; None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(result.prior + 1, result.prior + len(result.curve) + 1)
    ax.plot(list(xs), list(result.curve), drawstyle="steps-post")
    ax.set_xlabel("trial")
    ax.set_ylabel("best GFLOP/s")
    ax.set_title(f"{result.task.name} {result.task.args}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


class Progress:
    """tqdm when installed, else a line per batch on stderr; silent when disabled."""

    def __init__(self, enabled, total: int, name: str):
        self.bar, self.enabled = None, enabled is not False
        if self.enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc=name, unit="trial")
            except ImportError:
                pass

    def update(self, n: int, done: int, total: int, best: float) -> None:
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix_str(f"best {best:.1f} GFLOP/s")
        elif self.enabled:
            print(f"autotune: {done}/{total} trials, best {best:.1f} GFLOP/s",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
