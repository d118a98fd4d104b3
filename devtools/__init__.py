"""What only local development needs: the local Functions host, the stack that runs it beside the sandbox and
Azurite, the demo backfill, and the one client of the sandbox's control endpoints. Never deployed."""
