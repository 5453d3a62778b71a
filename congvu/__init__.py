"""The composition root: the ``congvu`` command and the composed configuration.

congvu/ is the only package that imports every other: it composes the service
(milter/), the console (web/) and the capability packages' tables into one
configuration file (:mod:`congvu.config`, found by the rule in
:mod:`congvu.configsource`) and their commands into one ``congvu`` command
(:mod:`congvu.cli`). It also holds the try-out province (``congvu example load``),
which needs them all. Nothing imports congvu/.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from congvu.config import CongvuConfig, load_config, parse_config
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "congvu.config": ("CongvuConfig", "load_config", "parse_config"),
    })

__all__ = ["CongvuConfig", "load_config", "parse_config"]
