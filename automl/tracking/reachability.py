"""Is the study's MLflow tracking server there? Asked once at launch, before Ray or any training."""

from __future__ import annotations

import urllib.error
import urllib.request

from automl.config import ConfigError

TIMEOUT_S = 5.0


def check_tracking_server(uri: str, timeout_s: float = TIMEOUT_S) -> None:
    """Raise a one-line :class:`ConfigError` naming ``uri`` when an ``http(s)://`` tracking
    server does not answer within ``timeout_s`` (file and database stores are not servers)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return  # it answered (a proxy or a server without /health): reachable
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise ConfigError("tracking_uri", f"the MLflow tracking server {uri} is unreachable ({reason}); "
                                          "start it or pass another --tracking-uri") from None
