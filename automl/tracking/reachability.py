"""Is the study's MLflow tracking server there? Asked once at launch, before Ray or any training."""

from __future__ import annotations

import urllib.error
import urllib.request

from automl.config import ConfigError

TIMEOUT_S = 5.0


def tracking_server_down(uri: str, timeout_s: float = TIMEOUT_S) -> str | None:
    """Why the ``http(s)://`` tracking server at ``uri`` does not answer (``None``: it does, or
    ``uri`` is a file or database store, which is no server)."""
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return None  # it answered (a proxy or a server without /health): reachable
    except (OSError, ValueError) as err:
        return str(getattr(err, "reason", err))
    return None


def check_tracking_server(uri: str, timeout_s: float = TIMEOUT_S) -> None:
    """Raise a one-line :class:`ConfigError` naming ``uri`` when its server does not answer
    within ``timeout_s``."""
    reason = tracking_server_down(uri, timeout_s)
    if reason is not None:
        raise ConfigError("tracking_uri", f"the MLflow tracking server {uri} is unreachable ({reason}); "
                                          "start it or pass another --tracking-uri")
