"""Where the service's state lives: answers, calls in flight, the org's `Retry-After` and the calls budget.

`MemoryState` keeps them in this process: one instance's view (`AVAILABILITY_SHARED_STATE=off`). `TableState` is
a `MemoryState` that also shares them with every instance of the app through a table of `AzureWebJobsStorage`, so
N instances cost the org what one does. The composition root (availability/app.py) picks one from the settings.
"""

from .memory import MemoryState
from .rows import partition_for
from .table import TableState

__all__ = ["MemoryState", "TableState", "partition_for"]
