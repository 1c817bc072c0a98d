"""The operators' web dashboard, served by the maintenance service at `/`.

The page and its assets ship inside the package (no CDN at run time). Everything it shows comes
through `/api/dashboard/*` on the same origin: service endpoints are fetched server-side, so the
dashboard works with CORS closed; the stores the maintenance service already reads are queried
directly.
"""

from trader.services.maintenance_service.dashboard.router import build_dashboard_router

__all__ = ["build_dashboard_router"]
