"""The package's public names are exactly `__all__`, and every error has one root."""

from __future__ import annotations

import inspect

import bulkupload
from bulkupload import errors


def test_all_matches_the_real_exports() -> None:
    public = {name for name in vars(bulkupload) if not name.startswith("_")}
    modules = {name for name, value in vars(bulkupload).items() if inspect.ismodule(value)}
    assert set(bulkupload.__all__) - {"__version__"} == public - modules
    for name in bulkupload.__all__:
        assert hasattr(bulkupload, name), name


def test_every_error_class_is_exported_and_under_one_root() -> None:
    classes = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == errors.__name__
    ]
    for cls in classes:
        assert issubclass(cls, bulkupload.BulkUploadError), cls
        assert cls.__name__ in bulkupload.__all__, cls
