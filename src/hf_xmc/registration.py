"""Register hf-xmc's models with the `transformers` Auto classes without importing torch on `import hf_xmc`.

`AutoConfig.register` / `AutoModel.register` need the classes themselves, and in transformers 5 even a config class
imports torch (`configuration_utils` -> `modeling_rope_utils`); the Auto mappings resolve lazy entries only for
modules inside `transformers.models`. So `import hf_xmc` cannot register up front without costing seconds and
hundreds of MB for users who only read data. Instead it defers:

- if transformers' Auto modules are already imported, `hf_xmc.models.register_auto_classes()` runs at once;
- otherwise a post-import hook waits for `transformers.models.auto.configuration_auto` and `.modeling_auto`, and arms
  the registries they define (the `_extra_content` dicts that `register()` writes into): the first time transformers
  *reads* one of them (`AutoConfig.from_pretrained`, `AutoModel.from_pretrained`, `model_type in CONFIG_MAPPING`),
  the hf-xmc models are imported and registered, then the read proceeds. Nothing is imported while transformers'
  own modules are still executing, so there is no partial-import cycle.

`import hf_xmc; AutoModel.from_pretrained(folder)` therefore returns the hf-xmc class, as it would with eager
registration.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
from collections.abc import Callable

CONFIG_AUTO_MODULE = "transformers.models.auto.configuration_auto"
MODELING_AUTO_MODULE = "transformers.models.auto.modeling_auto"
# The modules defining the registries `register_auto_classes` writes to: `CONFIG_MAPPING` for AutoConfig, one
# `_LazyAutoMapping` per Auto model class (all of them are armed, whichever a method registers with).
WATCHED_MODULES = (CONFIG_AUTO_MODULE, MODELING_AUTO_MODULE)

_lock = threading.RLock()
_registered = False
_registering = False


def register_now() -> bool:
    """Import the hf-xmc models and register them with the Auto classes (once); returns whether it is done.

    A registration attempted while an import it needs is half done (an `ImportError`) is left for the next read.
    """
    global _registered, _registering
    with _lock:
        if _registered or _registering:
            return _registered
        _registering = True
        try:
            from .models import register_auto_classes

            register_auto_classes()
            _registered = True
        except ImportError:
            pass
        finally:
            _registering = False
    return _registered


class _RegisterOnRead(dict):
    """A registry dict that registers hf-xmc's models before its first read (writes never trigger it)."""

    def _ensure(self) -> None:
        if not _registered:
            register_now()

    def __contains__(self, key):
        self._ensure()
        return super().__contains__(key)

    def __getitem__(self, key):
        self._ensure()
        return super().__getitem__(key)

    def __iter__(self):
        self._ensure()
        return super().__iter__()

    def __len__(self):
        self._ensure()
        return super().__len__()

    def get(self, key, default=None):
        self._ensure()
        return super().get(key, default)

    def keys(self):
        self._ensure()
        return super().keys()

    def values(self):
        self._ensure()
        return super().values()

    def items(self):
        self._ensure()
        return super().items()


def _arm(module) -> None:
    """Replace the registry dict of every Auto mapping `module` defines by one that registers on first read."""
    for mapping in list(vars(module).values()):
        content = getattr(mapping, "_extra_content", None) if hasattr(mapping, "register") else None
        if type(content) is dict:
            mapping._extra_content = _RegisterOnRead(content)


class _NotifyingLoader(importlib.abc.Loader):
    """Runs the real loader, then `callback(module)`; anything else is the real loader's."""

    def __init__(self, loader, callback: Callable):
        self._loader = loader
        self._callback = callback

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._callback(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _PostImportHook(importlib.abc.MetaPathFinder):
    """Finds the watched modules with the other finders and wraps their loader so `_arm` runs after them."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in WATCHED_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and not isinstance(spec.loader, _NotifyingLoader):
                    spec.loader = _NotifyingLoader(spec.loader, _arm)
                return spec
        return None


def register_auto_classes_lazily() -> None:
    """Make the hf-xmc models known to the Auto classes, importing torch/transformers only when those are used."""
    if not any(isinstance(finder, _PostImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PostImportHook())
    loaded = [sys.modules[name] for name in WATCHED_MODULES if name in sys.modules]
    for module in loaded:  # imported before hf-xmc: arm them now (the hook only sees later imports)
        _arm(module)
    if loaded:
        register_now()  # torch is loaded already: registering costs only hf-xmc's own modules


__all__ = ["register_auto_classes_lazily", "register_now"]
