"""The CORS the Functions host itself applies on Linux Consumption and Flex Consumption, for the local host.

There the host always runs ASP.NET Core's CORS middleware in front of every function (Azure/azure-functions-host
src/WebJobs.Script.WebHost/WebScriptHostBuilderExtension.cs registers `JobHostCorsMiddleware` when
`IsAnyLinuxConsumption()`, which Flex counts as; Middleware/JobHostCorsMiddleware.cs, Configuration/
CorsOptionsSetup.cs; Azure/azure-functions-host#9012), with one policy: the platform's allowed origins
(`CORS_ALLOWED_ORIGINS`, a JSON array, and `CORS_SUPPORT_CREDENTIALS`), any header, any method. What that
middleware does (dotnet/aspnetcore src/Middleware/CORS/src/Infrastructure/CorsMiddleware.cs and CorsService.cs):
- a request without `Origin` passes untouched;
- a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) never reaches the app, whatever the
  path (no route, no key): 204, granting a listed origin the method and headers it asked for (no
  `Access-Control-Max-Age`), and nothing at all to any other origin;
- any other answer to a listed origin, the host's own 401 and 404 included, gets `Access-Control-Allow-Origin`
  (set over the app's own), and a second `Vary: Origin` when more than one origin is listed.

The infrastructure sets the platform's list from `PUBLIC_ALLOWED_ORIGINS`, so that is where the local host reads
it too, unless `CORS_ALLOWED_ORIGINS` is given as Azure would pass it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["PlatformCors"]

log = logging.getLogger("host")


@dataclass(frozen=True)
class PlatformCors:
    """The platform's CORS policy: its origins (lower-cased, as the policy builder keeps them)."""

    origins: tuple[str, ...] = ()
    support_credentials: bool = False

    @property
    def any_origin(self) -> bool:
        # CorsPolicy.AllowAnyOrigin: exactly one origin, "*".
        return self.origins == ("*",)

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> PlatformCors:
        """The policy of `CORS_ALLOWED_ORIGINS` if set, else of the origins of `PUBLIC_ALLOWED_ORIGINS`."""
        credentials = (environ.get("CORS_SUPPORT_CREDENTIALS") or "").strip().lower() == "true"
        given = environ.get("CORS_ALLOWED_ORIGINS")
        if given and given.strip():
            try:
                origins = json.loads(given)
                if not isinstance(origins, list) or not all(isinstance(item, str) for item in origins):
                    raise ValueError
            except ValueError:
                log.warning("CORS_ALLOWED_ORIGINS is not a JSON array of strings: no origin is allowed")
                return cls()
            return cls(tuple(origin.lower() for origin in origins), credentials)
        from availability.settings import load_settings

        # The app's own reading of the setting (a malformed one allows nothing, as the app then grants nothing).
        origins = load_settings({"PUBLIC_ALLOWED_ORIGINS": environ.get("PUBLIC_ALLOWED_ORIGINS") or ""}).public_origins
        return cls(tuple(origins), credentials)

    def allows(self, origin: str | None) -> bool:
        return bool(origin) and (self.any_origin or origin in self.origins)

    def preflight(self, origin: str | None, method: str | None, headers: str | None) -> list[tuple[str, str]]:
        """The headers of the 204 the host gives a preflight from `origin` asking for `method` and `headers`."""
        if not self.allows(origin):
            return []
        granted = self._grant(origin)
        asked = [name.strip() for name in (headers or "").split(",") if name.strip()]
        if asked:
            granted.append(("Access-Control-Allow-Headers", ",".join(asked)))
        if method:
            granted.append(("Access-Control-Allow-Methods", method))
        return granted + self._vary()

    def response(self, origin: str | None, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """`headers` of any other answer to a request from `origin`, with the host's CORS headers applied."""
        if not self.allows(origin):
            return headers
        granted = self._grant(origin)
        names = {name.lower() for name, _ in granted}
        return [(name, value) for name, value in headers if name.lower() not in names] + granted + self._vary()

    def _grant(self, origin: str | None) -> list[tuple[str, str]]:
        granted = [("Access-Control-Allow-Origin", "*" if self.any_origin else str(origin))]
        if self.support_credentials:
            granted.append(("Access-Control-Allow-Credentials", "true"))
        return granted

    def _vary(self) -> list[tuple[str, str]]:
        # CorsService.PopulateResult: VaryByOrigin is set for a list of more than one origin (or any origin with
        # credentials, which the policy refuses to build anyway).
        return [("Vary", "Origin")] if not self.any_origin and len(self.origins) > 1 else []
