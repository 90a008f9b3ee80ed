"""yolo-b256-workbook helpers: the package every notebook, command, benchmark and DDP worker imports.

Folders follow the workbook's pipeline: core (paths, profiles, offline mode), data, tricks, train, measure, deploy,
diagnose, workbook (what the notebooks stand on). Importing the package makes the workbook offline before
Ultralytics is imported (see `helpers.core.offline`).
"""

from helpers.core import offline as _offline

OFFLINE = _offline.configure()

from helpers.core import profiles  # noqa: E402


def _plan_fields() -> dict:
    """TrainPlan's fields and defaults, for the profiles: core imports no train module, so the package joins them."""
    import dataclasses

    from helpers.train.plan import TrainPlan

    return {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(TrainPlan)}


profiles.use_plan_fields(_plan_fields)

__all__ = ["OFFLINE", "profiles", "record"]


def __getattr__(name: str):
    """`helpers.record` for the notebooks, imported when first used: the package itself loads no workbook module."""
    if name == "record":
        from helpers.workbook.record import record

        return record
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")
__version__ = "0.1.0"
