"""A local Procore API + S3 emulator: `bulkupload-emulator`, or `RunningEmulator` in tests."""

from __future__ import annotations

from .app import create_app
from .config import CompanyConfig, EmulatorConfig, FaultSettings
from .server import RunningEmulator

__all__ = ["CompanyConfig", "EmulatorConfig", "FaultSettings", "RunningEmulator", "create_app"]
