"""Who an MCP tool runs for. Apart from the tools so that the gate in front of the SDK
(app.mcp.auth) needs neither them nor the SDK."""

from dataclasses import dataclass

from app.core.config import Settings
from app.core.database import Database


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a tool runs for (the token's subject) and what it runs on."""

    user_id: str
    database: Database
    settings: Settings
