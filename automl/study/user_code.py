"""The user's own code a study names by import path, and where it lives on the driver.

A study can name Python functions ``pkg.module:function`` in four places: its
``dataset.name``, its teacher's ``arch.family``, the ``arch.family`` values of its space's
``params`` and its space's ``function``. The driver imports them from its own folder
(``automl`` puts the current folder first on ``sys.path``, as ``python -m`` does). The
workers of a Ray cluster whose nodes share no disk need the modules too (a model family is
built there, a teacher of a user family is unpickled there): :func:`local_modules` names the
file or folder of each such top-level module that lives under the driver's folder and is not
an installed package, for Ray's ``runtime_env`` ``py_modules`` (automl/search/ray_boot.py).

Example:
    >>> from automl.study.user_code import top_level_names
    >>> top_level_names(["studies.shaped_digits:rows", "my_models:build", "studies.other:define"])
    ('studies', 'my_models')
"""

from __future__ import annotations

import importlib.util
import site
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automl.study.config import StudyConfig


def user_import_paths(cfg: StudyConfig) -> tuple[str, ...]:
    """Every ``pkg.module:function`` the study names, in file order, without repeats: its
    dataset, its teacher's family, the families its space's ``params`` can propose (``fixed``
    or ``categorical`` values of ``arch.family``) and its space's ``function``.

    A define-by-run space's candidates are known only when it runs: the families it returns
    are shipped when they live in the space function's own top-level module or package.
    """
    paths: list[str] = []
    if ":" in cfg.dataset.name:
        paths.append(cfg.dataset.name)
    paths.append(cfg.teacher.arch.family)
    for param in cfg.space.params:
        if param.path == "arch.family":
            paths.extend(v for v in param.candidates() if isinstance(v, str))
    if cfg.space.function is not None:
        paths.append(cfg.space.function)
    return tuple(dict.fromkeys(p for p in paths if ":" in p))


def top_level_names(paths: Iterable[str]) -> tuple[str, ...]:
    """The top-level module or package of each import path (``a.b:f`` -> ``a``), without repeats."""
    return tuple(dict.fromkeys(p.partition(":")[0].split(".")[0] for p in paths if p.partition(":")[0]))


def local_modules(paths: Iterable[str], root: str | Path | None = None) -> tuple[str, ...]:
    """The file (``name.py``) or folder(s) of each top-level module of ``paths`` that lives
    under ``root`` (default: the current folder) and not under a site-packages folder (an
    installed package is the cluster's to install): what a worker that does not share the
    driver's disk must be sent. ``automl`` itself is never sent (every worker runs it). A
    module that cannot be found here is left out (its import fails, with its own message,
    where it is used)."""
    names = tuple(n for n in top_level_names(paths) if n != "automl" and n not in sys.stdlib_module_names)
    if not names:
        return ()
    base = Path(root if root is not None else Path.cwd()).resolve()
    installed = sysconfig.get_paths()
    sites = [Path(p).resolve() for p in (*site.getsitepackages(), site.getusersitepackages(), installed["purelib"],
                                         installed["platlib"], installed["stdlib"], installed["platstdlib"])]
    out: list[str] = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)  # a top-level name: finds, does not import
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if spec.submodule_search_locations is not None:  # a package (a namespace one may have several folders)
            found = [Path(p) for p in spec.submodule_search_locations]
        elif spec.has_location and spec.origin and spec.origin.endswith(".py"):
            found = [Path(spec.origin)]
        else:  # built in, frozen or compiled: nothing to send as source
            found = []
        for location in found:
            location = location.resolve()
            if location.is_relative_to(base) and not any(location.is_relative_to(s) for s in sites):
                out.append(str(location))
    return tuple(dict.fromkeys(out))


__all__ = ["local_modules", "top_level_names", "user_import_paths"]
