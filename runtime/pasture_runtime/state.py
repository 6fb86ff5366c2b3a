"""What the app holds while it runs: config, engine, names, admission, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from .admission import Admission
from .config import RuntimeConfig
from .engine import Engine
from .metrics import Metrics
from .modelinfo import ModelInfo
from .names import ModelRegistry


@dataclass
class Runtime:
    config: RuntimeConfig
    registry: ModelRegistry
    metrics: Metrics
    engine: Engine | None = None
    admission: Admission | None = None
    info: ModelInfo | None = None
    started_ns: int = 0
    draining: bool = False
    # Stops the uvicorn server once a drain finished (set by the CLI).
    on_drained: list[object] = field(default_factory=list)

    @property
    def model_label(self) -> str:
        """The `model` label on every pasture_* series: the primary name."""
        return self.registry.primary.name

    @property
    def ready(self) -> bool:
        return self.engine is not None and self.admission is not None and not self.draining
