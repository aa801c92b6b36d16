"""`once`: report and exit; non-zero exit code on failure (config.EXIT_*)."""

from __future__ import annotations

from taskbeacon_agent.config import Config
from taskbeacon_agent.reporter import Reporter, bounded


def run(cfg: Config, mode: str = "once") -> int:
    rep = Reporter(cfg, mode)
    return bounded(lambda: rep.report("start", cfg.budget), cfg.budget, rep.timed_out)
