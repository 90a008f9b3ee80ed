"""The tutorials' stability recipe as plan fields, and the augmentation presets.

Each piece of the recipe is its own trick with its own options (`helpers.tricks.registry`), so each can be switched
off alone: the clip (`clip_norm`, helpers.tricks.clip), the warm restart (`restart_epoch` ..., schedule), staged loss
gains (`loss_stages`), the NaN guard (`nan_guard` ..., guard), early stop with a reason (`early_stop`, convergence),
`empty_cache_every` and atomic checkpoints (`atomic_save`, checkpoint_io). `tutorial(epochs)` gives the values the
tutorials use, as notebook 04 runs them; `plan.replace(**tutorial(plan.epochs))` applies them.
"""

from __future__ import annotations

from typing import Any

AUGMENT_PRESETS: dict[str, dict[str, float]] = {
    # Ultralytics' mosaic *is* a probability (0..1); there is no mosaic_prob argument.
    "b256": {"mosaic": 1.0, "scale": 0.5, "mixup": 0.0, "copy_paste": 0.1},  # the workbook's recipe
    "ultralytics-default": {"mosaic": 1.0, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "copy_paste": 0.0,
                            "mixup": 0.0},
    "long-run": {"mosaic": 1.0, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "copy_paste": 0.15, "mixup": 0.0},
    "long-run-light-mosaic": {"mosaic": 0.5, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "copy_paste": 0.1,
                              "mixup": 0.0},
}
PIECES = ("clip", "warm_restart", "loss_stages", "lr0", "warmup_0", "nan_guard", "early_stop", "empty_cache",
          "atomic_save")


def tutorial(epochs: int, *, without: tuple[str, ...] = (), clip_norm: float = 10.0, restart_at: float = 0.6,
             restart_fraction: float = 0.7, restart_decay: float = 0.95, lr0: float = 0.01,
             empty_cache_every: int = 5) -> dict[str, Any]:
    """The plan fields of the tutorials' recipe for a run of `epochs` (notebook 04's defaults: lr0 0.01 without
    warm-up, clip 10, a restart at 60% to 0.7 x lr0, the 600-epoch loss stages scaled, the NaN guard, early stop after
    a third of the run without gain, empty_cache every 5 epochs, atomic checkpoints), less the pieces in `without`
    (names of PIECES), which then keep the plan's own value."""
    unknown = sorted(set(without) - set(PIECES))
    if unknown:
        raise ValueError(f"no recipe piece named {unknown}; the pieces: {PIECES}")
    pieces = {
        "clip": dict(clip_norm=clip_norm),
        "warm_restart": dict(restart_epoch=max(1, round(restart_at * epochs)) if epochs > 1 else None,
                             restart_fraction=restart_fraction, restart_after="exp", restart_decay=restart_decay),
        "loss_stages": dict(loss_stages="tutorial"),
        "lr0": dict(lr_fixed=lr0),
        "warmup_0": dict(warmup_fixed=0.0),
        "nan_guard": dict(nan_guard=True),
        "early_stop": dict(early_stop=max(3, epochs // 3)),
        "empty_cache": dict(empty_cache_every=empty_cache_every),
        "atomic_save": dict(atomic_save=True),
    }
    return {k: v for name, fields in pieces.items() if name not in without for k, v in fields.items()}
