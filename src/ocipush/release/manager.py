"""Finding, loading and calling plugins.

Load order: built-ins, then entry points of the ``ocipush`` group, then the project's
``plugins`` list, then ``-p NAME``. For "first answer wins" hooks the last registered
answers first, so a project's plugin overrides an installed one, which overrides a built-in.
Nothing outside this module touches ``pm.hook``: each hook has a typed method here.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import pluggy

from ocipush.errors import (
    ConfigProblem,
    OcipushError,
    PluginError,
    PluginLoadError,
)
from ocipush.registry.keychain import Credentials
from ocipush.release import hookspecs
from ocipush.release.hookresults import check_result

if TYPE_CHECKING:
    from ocipush.oci.blobs import Blob
    from ocipush.oci.images import Taggable
    from ocipush.oci.reference import Registry, Repository
    from ocipush.release.config import TargetConfig
    from ocipush.release.plan import Plan, PushItem, Target, TargetResult
    from ocipush.release.project import Project
    from ocipush.release.reader import ConfigReader

__all__ = ["BUILTIN_PLUGINS", "ESSENTIAL_PLUGINS", "TABLES_ATTRIBUTE", "PluginManager"]

log = logging.getLogger(__name__)

#: Built-in features, registered exactly like third-party plugins, by name.
BUILTIN_PLUGINS: dict[str, str] = {
    "layout": "ocipush.plugins.layout_target",
    "registry": "ocipush.plugins.registry_target",
    "archive": "ocipush.plugins.archive_target",
    "files": "ocipush.plugins.files",
    "artifacts": "ocipush.plugins.artifacts",
    "mediatypes": "ocipush.plugins.mediatypes",
    "scratch": "ocipush.plugins.scratch",
    "image": "ocipush.plugins.image",
    "outputs": "ocipush.plugins.outputs",
    "attestations": "ocipush.plugins.attestations",
    "signing": "ocipush.plugins.signing",
}
#: Without these no configured target could be built, so ``-p no:`` refuses them.
ESSENTIAL_PLUGINS = frozenset({"layout", "registry"})
#: A plugin's list of the ``[tool.ocipush]`` keys it owns; by default its own name.
TABLES_ATTRIBUTE = "OCIPUSH_TABLES"


def _tables_of(plugin: object, name: str) -> tuple[str, ...]:
    tables = getattr(plugin, TABLES_ATTRIBUTE, None)
    return tuple(tables) if isinstance(tables, (list, tuple)) else (name,)


class PluginManager:
    """The plugins of one run, and one typed method per hook.

    :param project_root: where the project's own plugin modules are imported from.
    :param configured: module names from ``[tool.ocipush] plugins``.
    :param requested: ``-p`` arguments: ``NAME`` loads a module, ``no:NAME`` blocks one.
    :param entry_points: whether to load plugins installed in the ``ocipush`` group.
    :param problems: when given, a configured or requested plugin that cannot be imported
        is recorded here (by its key path, or ``-p NAME``) instead of stopping the load, so
        it does not hide the run's other problems.
    """

    def __init__(
        self,
        *,
        project_root: Path | None = None,
        configured: Sequence[str] = (),
        requested: Sequence[str] = (),
        entry_points: bool = True,
        problems: list[ConfigProblem] | None = None,
    ) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._problems = problems
        #: Plugins that failed to import (their problem is recorded).
        self.unavailable: set[str] = set()
        self._entry_point_names: set[str] = set()
        blocked = {r[3:] for r in requested if r.startswith("no:")}
        self.blocked = frozenset(blocked)
        refused = sorted(blocked & ESSENTIAL_PLUGINS)
        if refused:
            raise PluginLoadError(
                f"plugin {refused[0]!r} is essential and cannot be disabled with -p no:"
            )
        for name in blocked:
            self._pm.set_blocked(name)
        for name, module in BUILTIN_PLUGINS.items():
            if name not in blocked:
                self._register(importlib.import_module(module), name)
        if entry_points:
            self._load_entry_points(blocked)
        with _importable_from(project_root):
            for number, module in enumerate(configured):
                where = f"[tool.ocipush] plugins entry {module!r}"
                self._load_module(module, blocked, where, f"tool.ocipush.plugins[{number}]")
            loaded = [r for r in requested if not r.startswith("no:")]
            for module in loaded:
                if self._pm.has_plugin(module) or module in blocked:
                    continue
                self._load_module(module, blocked, f"-p {module}", f"-p {module}")
        self._warn_unknown_blocked(blocked, [*configured, *loaded])
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as error:
            name = self._pm.get_name(error.plugin) or repr(error.plugin)
            raise PluginLoadError(
                f"plugin {name!r} implements a hook ocipush does not have: {error}"
            ) from None

    def _register(self, plugin: object, name: str) -> None:
        try:
            self._pm.register(plugin, name)
        except (pluggy.PluginValidationError, ValueError) as error:
            raise PluginLoadError(f"plugin {name!r} cannot be registered: {error}") from None
        for hook in self._pm.get_hookcallers(plugin) or []:
            for impl in hook.get_hookimpls():
                if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                    raise PluginLoadError(
                        f"plugin {name!r}: {hook.name} is a hook wrapper, which ocipush "
                        "does not support; implement the hook directly"
                    )

    def _load_entry_points(self, blocked: set[str]) -> None:
        for entry_point in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME):
            self._entry_point_names.add(entry_point.name)
            if entry_point.name in blocked or self._pm.has_plugin(entry_point.name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as error:
                raise PluginLoadError(
                    f"plugin {entry_point.name!r} (entry point {entry_point.value}) failed "
                    f"to load: {type(error).__name__}: {error}"
                ) from error
            self._register(plugin, entry_point.name)

    def _load_module(self, module: str, blocked: set[str], where: str, path: str) -> None:
        if module in blocked:
            return
        try:
            plugin: ModuleType = importlib.import_module(module)
        except Exception as error:
            failure = f"failed to import: {type(error).__name__}: {error}"
            if self._problems is None:
                raise PluginLoadError(f"plugin {module!r} ({where}) {failure}") from error
            self._problems.append(ConfigProblem(path, f"plugin {module!r} {failure}"))
            self.unavailable.add(module)
            return
        self._register(plugin, module)

    def _warn_unknown_blocked(self, blocked: set[str], named: Sequence[str]) -> None:
        """``-p no:NAME`` of a plugin that does not exist is most likely a typo: say so."""
        known = {*BUILTIN_PLUGINS, *self._entry_point_names, *named, *self.names()}
        for name in sorted(blocked - known):
            log.warning(
                "-p no:%s: there is no plugin named %r, so nothing was disabled; known plugins: %s",
                name,
                name,
                ", ".join(sorted(known)),
            )

    def names(self) -> list[str]:
        """Registered plugin names: each may own ``[tool.ocipush.<name>]``."""
        return sorted(name for name, plugin in self._pm.list_name_plugin() if plugin is not None)

    def table_owners(self) -> dict[str, str]:
        """The ``[tool.ocipush]`` keys the registered plugins own, each with its plugin."""
        return {
            table: name
            for name, plugin in self._pm.list_name_plugin()
            if plugin is not None
            for table in _tables_of(plugin, name)
        }

    def disabled_tables(self) -> dict[str, str]:
        """The keys plugins disabled with ``-p no:NAME`` would own, each with its plugin."""
        owners = {}
        for name in self.blocked:
            module = BUILTIN_PLUGINS.get(name)
            plugin = importlib.import_module(module) if module is not None else None
            owners.update(dict.fromkeys(_tables_of(plugin, name), name))
        return owners

    # -- calling --------------------------------------------------------------------------

    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        """Implementations in call order (tryfirst, then last-registered first)."""
        return list(reversed(getattr(self._pm.hook, hook_name).get_hookimpls()))

    def _in_registration_order(self, hook_name: str) -> list[pluggy.HookImpl]:
        """tryfirst, then the rest in the order they were registered, then trylast: the
        order contributions are stacked in (built-in layers first, plugins after)."""
        impls = self._impls(hook_name)
        first = [i for i in impls if i.tryfirst]
        last = [i for i in impls if i.trylast]
        middle = [i for i in impls if not (i.tryfirst or i.trylast)]
        return [*first, *reversed(middle), *last]

    def _collect(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Every implementation's sequence result, concatenated in registration order."""
        collected: list[Any] = []
        for impl in self._in_registration_order(hook_name):
            with _blame(impl.plugin_name, hook_name):
                result = impl.function(*(kwargs[name] for name in impl.argnames))
            if result is not None:
                check_result(impl.plugin_name, hook_name, result)
                collected.extend(cast("Sequence[Any]", result))
        return collected

    def _call(self, hook_name: str, *, first: bool = False, **kwargs: Any) -> list[Any]:
        results = []
        for impl in self._impls(hook_name):
            with _blame(impl.plugin_name, hook_name):
                result = impl.function(*(kwargs[name] for name in impl.argnames))
            if result is not None:
                check_result(impl.plugin_name, hook_name, result)
                results.append(result)
                if first:
                    break
        return results

    def configure(self, project: Project, config: ConfigReader) -> dict[str, object]:
        """Let every plugin read its tables with ``config`` (problems are recorded there).

        :return: what each plugin returned (its settings), by plugin name.
        """
        configured: dict[str, object] = {}
        for impl in self._in_registration_order("ocipush_configure"):
            arguments: dict[str, Any] = {"project": project, "config": config}
            with _blame(impl.plugin_name, "ocipush_configure"):
                result = impl.function(*(arguments[name] for name in impl.argnames))
            if result is not None:
                configured[impl.plugin_name] = result
        return configured

    def validate_problems(self, project: Project) -> list[ConfigProblem]:
        """Every plugin's problems (``ocipush_validate``), in call order."""
        return self._collect("ocipush_validate", project=project)

    def file_media_type(self, path: Path, project: Project) -> str:
        answers = self._call("ocipush_file_media_type", first=True, path=path, project=project)
        return str(answers[0]) if answers else "application/octet-stream"

    def add_layers(self, project: Project) -> list[Blob]:
        return self._collect("ocipush_add_layers", project=project)

    def build_image(self, project: Project, layers: Sequence[Blob]) -> Taggable | None:
        answers = self._call("ocipush_build_image", first=True, project=project, layers=layers)
        return answers[0] if answers else None

    def add_artifacts(self, project: Project, image: Taggable | None) -> list[PushItem]:
        return self._collect("ocipush_add_artifacts", project=project, image=image)

    def add_signatures(
        self, project: Project, image: Taggable | None, items: Sequence[PushItem]
    ) -> list[PushItem]:
        return self._collect("ocipush_add_signatures", project=project, image=image, items=items)

    def make_target(
        self, config: TargetConfig, ref: str, tags: Sequence[str], project: Project
    ) -> Target:
        answers = self._call(
            "ocipush_make_target", first=True, config=config, ref=ref, tags=tags, project=project
        )
        if not answers:
            raise PluginError(f"no plugin knows how to publish to {ref!r}")
        return answers[0]  # type: ignore[no-any-return]

    def add_targets(self, project: Project) -> list[Target]:
        return self._collect("ocipush_add_targets", project=project)

    def modify_plan(self, plan: Plan, project: Project) -> Plan:
        for impl in self._in_registration_order("ocipush_modify_plan"):
            arguments: dict[str, Any] = {"plan": plan, "project": project}
            with _blame(impl.plugin_name, "ocipush_modify_plan"):
                changed = cast("Plan | None", impl.function(*(arguments[n] for n in impl.argnames)))
            if changed is not None:
                check_result(impl.plugin_name, "ocipush_modify_plan", changed)
                plan = changed
        return plan

    def after_push(self, results: Sequence[TargetResult], project: Project) -> None:
        self._call("ocipush_after_push", results=results, project=project)

    def credentials(self, registry: Registry, repository: Repository | None) -> Credentials | None:
        """The first plugin's credentials for ``registry``, labelled with the plugin's name
        (a :data:`ocipush.registry.keychain.CredentialProvider`)."""
        arguments = {
            "registry": registry.host,
            "repository": None if repository is None else repository.path,
        }
        for impl in self._impls("ocipush_credentials"):
            with _blame(impl.plugin_name, "ocipush_credentials"):
                found = impl.function(*(arguments[name] for name in impl.argnames))
            if found is None:
                continue
            if not isinstance(found, Credentials):
                raise PluginError(
                    f"plugin {impl.plugin_name!r} answered ocipush_credentials with a "
                    f"{type(found).__name__}; return ocipush.registry.keychain.Credentials or None"
                )
            return replace(found, source=f"plugin {impl.plugin_name}: {found.source}")
        return None


@contextmanager
def _blame(plugin_name: str, hook_name: str) -> Iterator[None]:
    """Let ocipush's own errors through; name the plugin for anything else."""
    try:
        yield
    except OcipushError:
        raise
    except Exception as error:
        # No traceback logged here: the front end shows it, with this cause, at -vv.
        raise PluginError(
            f"plugin {plugin_name!r} failed in {hook_name}: {type(error).__name__}: {error}"
        ) from error


@contextmanager
def _importable_from(root: Path | None) -> Iterator[None]:
    """Let ``import`` find the project's own modules (``ci.oci_hooks``) while loading."""
    if root is None:
        yield
        return
    entry = str(root.resolve())
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)
