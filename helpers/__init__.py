"""yolo-b256-workbook helpers: the package every notebook imports.

Importing it makes the workbook offline before Ultralytics is imported (see `helpers.offline`).
"""

from helpers import offline as _offline

OFFLINE = _offline.configure()

from helpers import profiles  # noqa: E402
from helpers.record import record  # noqa: E402

__all__ = ["OFFLINE", "profiles", "record"]
__version__ = "0.1.0"
