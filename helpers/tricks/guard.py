"""NaN/Inf guard for the optimizer step: skip a bad step, lower the lr, restore the last good weights after N bad
steps in a row, and log every event.

A step is bad when the loss is not finite, or when the gradient norm is not finite and no GradScaler is in charge
(with fp16 AMP an infinite gradient is routine: the scaler skips that step and lowers its scale by itself).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field


@dataclass
class NaNGuard:
    max_bad: int = 3  # bad steps in a row before the last good weights are restored
    lr_drop: float = 0.5  # lr multiplier applied at each bad step
    min_lr_scale: float = 0.01
    snapshot_every: int = 10  # good optimizer steps between snapshots of the weights and optimizer state
    lr_scale: float = 1.0
    bad_in_row: int = 0
    good_steps: int = 0
    events: list[dict] = field(default_factory=list)
    _snapshot: tuple | None = None

    @staticmethod
    def is_bad(loss_finite: bool, grad_norm: float, scaler_enabled: bool) -> bool:
        return (not loss_finite) or (not scaler_enabled and not math.isfinite(grad_norm))

    def good(self, model, optimizer) -> None:
        """After a good step: reset the bad-step count; snapshot now and then (first good step included)."""
        self.bad_in_row = 0
        if self.good_steps % self.snapshot_every == 0:
            self._snapshot = ({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
                              copy.deepcopy(optimizer.state_dict()))
        self.good_steps += 1

    def bad(self, model, optimizer, where: dict) -> str:
        """After a bad step (already skipped by the caller): lower lr, maybe restore; returns the action taken."""
        self.bad_in_row += 1
        new_scale = max(self.lr_scale * self.lr_drop, self.min_lr_scale)
        factor = new_scale / self.lr_scale
        self.lr_scale = new_scale
        for g in optimizer.param_groups:
            g["lr"] *= factor
        action = "skip+lr_drop"
        if self.bad_in_row >= self.max_bad and self._snapshot is not None:
            weights, opt_state = self._snapshot
            model.load_state_dict(weights)
            lrs = [g["lr"] for g in optimizer.param_groups]
            optimizer.load_state_dict(copy.deepcopy(opt_state))
            for g, lr in zip(optimizer.param_groups, lrs):  # keep the lowered lr
                g["lr"] = lr
            self.bad_in_row = 0
            action = "restore"
        self.events.append({**where, "action": action, "lr_scale": round(self.lr_scale, 6)})
        return action

    def table(self):
        """The guard's events: where each bad step was, what was wrong and what the guard did."""
        from helpers.core.tables import Table

        heads = ("epoch", "step", "loss finite", "grad norm", "action", "lr scale")
        keys = ("epoch", "step", "loss_finite", "grad_norm", "action", "lr_scale")
        return Table(heads, [tuple(e.get(k, "-") for k in keys) for e in self.events],
                     f"{len(self.events)} guard event(s); lr scale now {self.lr_scale:g}")
