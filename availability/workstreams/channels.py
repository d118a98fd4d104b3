"""A workstream's channel: the org's `msdyn_streamsource` code and the readable name the API gives it.

The codes are those of the `msdyn_streamsource` choice as Microsoft documents it
(https://learn.microsoft.com/dynamics365/customer-service/develop/reference/entities/msdyn_ocsystemmessage,
"msdyn_streamsource Choices/Options"); 192350000 is the record-routing channel ("Entity Records" in the choice's
metadata, not on that page). A code not listed here is the channel `other`, with its code passed on as is.
"""

from __future__ import annotations

__all__ = ["CHANNELS", "CHANNEL_NAMES", "OTHER", "channel_of"]

OTHER = "other"

# readable name -> (display name, the codes of that channel)
CHANNELS: dict[str, tuple[str, tuple[int, ...]]] = {
    "chat": ("Chat", (192360000,)),  # Live chat
    "voice": ("Voice", (192440000, 192370000)),  # Voice call (today's voice channel), Voice (the older one)
    "video": ("Video", (192380000,)),
    "co-browse": ("Co-browse", (192390000,)),
    "screen-sharing": ("Screen sharing", (192400000,)),
    "sms": ("SMS", (192340000,)),
    "whatsapp": ("WhatsApp", (192300000,)),
    "facebook": ("Facebook", (192330000,)),
    "line": ("LINE", (192310000,)),
    "wechat": ("WeChat", (192320000,)),
    "twitter": ("Twitter", (192350001,)),
    "teams": ("Teams", (19241000,)),
    "apple-messages": ("Apple Messages for Business", (192450000,)),
    "google-business-messages": ("Google Business Messages", (192450001,)),
    "custom": ("Custom messaging", (192350002,)),
    "records": ("Records", (192350000,)),
    OTHER: ("Other", ()),
}
CHANNEL_NAMES: tuple[str, ...] = tuple(CHANNELS)
_BY_CODE: dict[int, str] = {code: name for name, (_, codes) in CHANNELS.items() for code in codes}


def channel_of(code: int | None) -> str:
    """The readable channel of a `msdyn_streamsource` code; `other` for an unknown or missing one."""
    return _BY_CODE.get(code, OTHER) if code is not None else OTHER
