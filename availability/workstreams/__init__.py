"""The org's workstreams: read from `msdyn_liveworkstreams`, named by channel, kept for
`WORKSTREAMS_CACHE_SECONDS` and shared by every instance. `GET /api/workstreams`, the snapshot timer's `auto`
targets and the dashboard's names all read the one `WorkstreamDirectory` the composition root builds."""

from .channels import CHANNEL_NAMES, CHANNELS, OTHER, channel_of
from .directory import Listing, WorkstreamDirectory
from .records import Workstream, from_records
from .shared import SharedList

__all__ = ["CHANNELS", "CHANNEL_NAMES", "OTHER", "Listing", "SharedList", "Workstream", "WorkstreamDirectory",
           "channel_of", "from_records"]
