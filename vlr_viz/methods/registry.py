"""The registry of training methods: one object per method, found by name, added by `register` (a class decorator,
in the spirit of torchdistill's registries), by plug-in files (`load_plugin`) or by installed packages (the
``vlr_viz.methods`` entry-point group).

Nothing here imports torch, so configs and notebook parameters are checked without it. A method registered from
outside vlr_viz carries the content hash of its source file (``method.source``), which keys its stored runs: an
edited plug-in trains again.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path

from ..errors import ConfigError

ENTRY_POINT_GROUP = "vlr_viz.methods"

_METHODS: dict = {}
_ORIGIN: dict[str, str] = {}
"""The file that registered each method: only the same file may register a name again (an edited plug-in)."""
_REGISTERED: list[str] = []
_PLUGINS: dict[str, tuple[str, list[str]]] = {}
"""``{plug-in file: (content hash, the methods it registered)}``, in the order they were loaded."""
_ENTRY_POINTS = {"loaded": False}
_BUILT_IN = __name__.rpartition(".")[0] + "."


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def _source_of(cls: type) -> tuple[str, str | None]:
    """``(origin, content hash)`` of the code defining ``cls``: its module's file (hash ``None`` inside vlr_viz,
    whose code version keys runs already)."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if cls.__module__.startswith(_BUILT_IN):
        return cls.__module__, None
    if file and Path(file).is_file():
        return str(Path(file).resolve()), _digest(Path(file).read_bytes())
    try:
        text = inspect.getsource(cls)
    except (OSError, TypeError):
        text = cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}", _digest(text.encode())


def register(method):
    """Register a method class (or instance) under its ``name``; returns it unchanged, so it decorates a class::

        @register
        class MyMethod(Matching):
            name = "mine"
    """
    obj = method() if isinstance(method, type) else method
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"a registered method needs a name of letters, digits, '_', '.' or '-'; got {name!r}")
    origin, source = _source_of(type(obj))
    if name in _METHODS and _ORIGIN[name] != origin:
        raise ConfigError(f"method {name!r} is registered already (by {_ORIGIN[name]}); pick another name")
    weights = getattr(obj, "default_weights", None)
    if not isinstance(weights, dict) or not all(isinstance(k, str) for k in weights):
        raise ConfigError(f"method {name!r}: default_weights must map term names to weights; got {weights!r}")
    obj.source = source
    _METHODS[name], _ORIGIN[name] = obj, origin
    _REGISTERED.append(name)
    return method


def _load_entry_points() -> None:
    """Import every method of the ``vlr_viz.methods`` entry-point group once (a class not registered by its own
    module is registered here)."""
    if _ENTRY_POINTS["loaded"]:
        return
    _ENTRY_POINTS["loaded"] = True
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = point.load()
        except Exception as e:
            raise ConfigError(f"entry point {point.name} = {point.value} ({ENTRY_POINT_GROUP}) cannot be loaded: "
                              f"{type(e).__name__}: {' '.join(str(e).split())}") from e
        if isinstance(obj, type) and getattr(obj, "name", None) not in _METHODS:
            register(obj)


def method_names() -> tuple[str, ...]:
    """The names of the registered methods (built-ins first, then plug-ins in the order they were loaded)."""
    _load_entry_points()
    return tuple(_METHODS)


def get_method(name: str):
    """The method registered as ``name`` (a `TrainConfig.method`)."""
    _load_entry_points()
    if name not in _METHODS:
        raise ConfigError(f"unknown method {name!r}; registered: {', '.join(map(repr, _METHODS))} "
                          f"(a plug-in registers more: --plugin FILE, plugins = [FILE])")
    return _METHODS[name]


def term_names() -> tuple[str, ...]:
    """Every loss term that some registered method weighs by `TrainConfig.weights` (its ``default_weights``; the
    built-in ``sad`` names all of `vlr_viz.losses.DEFAULT_WEIGHTS`)."""
    return tuple(dict.fromkeys(t for name in method_names() for t in _METHODS[name].default_weights))


def plugin_file(path) -> Path:
    """The plug-in file ``path``, absolute: as given, else relative to the source checkout holding vlr_viz (so
    ``examples/rkd_loss.py`` is found from a notebook's folder too)."""
    given = Path(path).expanduser()
    for candidate in (given, Path(__file__).resolve().parents[2] / given):
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(f"plug-in {path}: no such file")


def load_plugin(path) -> list[str]:
    """Import the Python file ``path``, whose `register` calls add methods; returns their names.

    Loading the same unchanged file again does nothing; an edited file is imported again and replaces its methods.
    A missing file, one that fails to import and one that registers nothing raise `ConfigError` naming it.
    """
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise ConfigError(f"a plug-in must be the path of a Python file; got {path!r}")
    file = plugin_file(path)
    data = file.read_bytes()
    digest = _digest(data)
    if _PLUGINS.get(str(file), ("", []))[0] == digest:
        return list(_PLUGINS[str(file)][1])
    module_name = f"vlr_viz_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', file.stem)}_{digest[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None:
        raise ConfigError(f"plug-in {file}: not a Python file (a .py file is imported)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    before = len(_REGISTERED)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[module_name]
        raise ConfigError(f"plug-in {file}: cannot be imported: {type(e).__name__}: "
                          f"{' '.join(str(e).split())}") from e
    names = list(dict.fromkeys(_REGISTERED[before:]))
    if not names:
        raise ConfigError(f"plug-in {file}: registers no method (decorate a method class with "
                          f"vlr_viz.methods.register)")
    _PLUGINS[str(file)] = (digest, names)
    return names


def load_plugins(paths) -> list[str]:
    """`load_plugin` of each path; the names of the methods they registered."""
    if isinstance(paths, (str, Path)) or not isinstance(paths, (list, tuple)):
        raise ConfigError(f"plugins must be a list of Python files; got {paths!r}")
    return [name for path in paths for name in load_plugin(path)]


def loaded_plugins() -> list[str]:
    """The plug-in files loaded in this process, in order (worker processes load the same)."""
    return list(_PLUGINS)
