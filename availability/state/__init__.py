"""Where the service's state lives: answers, calls in flight, the org's `Retry-After` and circuit, the calls budget
and the cap on calls in flight.

`State` is what every backend offers. `MemoryState` keeps it all in this process: one instance's view
(`AVAILABILITY_SHARED_STATE=off`). `TableState` puts a `MemoryState` in front of one table (of
`AVAILABILITY_STATE_STORAGE`, else `AzureWebJobsStorage`) and shares the rest with every instance of the app, so N
instances cost the org what one does. The composition root (availability/app.py) picks one from the settings.
"""

from .base import State
from .memory import MemoryState
from .rows import partition_for
from .table import TableState

__all__ = ["MemoryState", "State", "TableState", "partition_for"]
