"""The groups of ``manage.py wechat_gateway`` (one module each: health, accounts, login, poll, inbox,
typing…).

A group module defines ``register(subparsers)``, which adds its sub-parser(s) and sets
``handler=<function(command, options)>`` on them with ``set_defaults``; the handler writes to
``command.stdout`` and raises ``CommandError`` on bad input. Modules are found in this package, so a
new group needs no change to the command.
"""
import importlib
import pkgutil


def groups():
    """The group modules, in name order."""
    return [importlib.import_module(f"{__name__}.{info.name}")
            for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
            if not info.name.startswith("_")]
