"""Installs the fault tests' hook (fault_hook.py) in a process started with this folder on
PYTHONPATH and FAULT_HOOK_AT set; does nothing otherwise."""
import os

if os.environ.get("FAULT_HOOK_AT"):
    import fault_hook

    fault_hook.install_from_environment()
